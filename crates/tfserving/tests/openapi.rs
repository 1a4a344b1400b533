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
            // The runtime's 32 operations (and KServe V1's `GET /`) and TF Serving's 11.
            Ok(checked) => assert!(checked >= 44, "only {checked} operations"),
            Err(problems) => panic!("{problems}"),
        }
    }
}

/// Without the extension (xgboost-, lightgbm-server), the runtime's own KServe V1 routes are served and
/// documented.
#[tokio::test]
async fn kserve_v1_routes_are_documented_and_served() {
    for version in [None, Some("3")] {
        let state = state(Arc::new(SumModel::default()), "m", version);
        match oxserve_runtime::rest::check_document(state, &[]).await {
            // The runtime's 32 operations and KServe V1's 5.
            Ok(checked) => assert!(checked >= 37, "only {checked} operations"),
            Err(problems) => panic!("{problems}"),
        }
    }
}
