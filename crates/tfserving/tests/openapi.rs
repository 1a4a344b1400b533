//! The document at `/api/v1.0/doc/openapi.json` and the router agree in both directions with TF Serving's
//! routes added (onnx-server's REST API): every route served is documented, every documented operation served.

mod common;

use std::sync::Arc;

use common::{SumModel, state};

#[tokio::test]
async fn tf_serving_routes_are_documented_and_served() {
    for version in [None, Some("3")] {
        let state = state(Arc::new(SumModel::default()), "m", version);
        match oxserve_runtime::rest::check_document(state, &oxserve_tfserving::extensions().rest)
            .await
        {
            // The runtime's 32 operations and TF Serving's 11.
            Ok(checked) => assert!(checked >= 43, "only {checked} operations"),
            Err(problems) => panic!("{problems}"),
        }
    }
}

/// The KServe v1 variant (xgboost- and lightgbm-server) serves and documents the same paths.
#[tokio::test]
async fn kserve_v1_routes_are_documented_and_served() {
    for version in [None, Some("3")] {
        let state = state(Arc::new(SumModel::default()), "m", version);
        match oxserve_runtime::rest::check_document(
            state,
            &[oxserve_tfserving::kserve_v1_extension()],
        )
        .await
        {
            Ok(checked) => assert!(checked >= 43, "only {checked} operations"),
            Err(problems) => panic!("{problems}"),
        }
    }
}
