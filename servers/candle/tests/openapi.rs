//! The document at `/api/v1.0/doc/openapi.json` and candle-server's router agree in both directions, `/embed`
//! included: every route served is documented, every documented operation served.

use std::sync::Arc;

use oxserve_core::{Model, ModelError, ModelMetadata, PredictRequest, PredictResponse};
use oxserve_runtime::metrics::{FeedbackIdentity, Metrics};
use oxserve_runtime::{ServerState, rest::check_document};

/// No model is needed to check routing: this one refuses everything.
struct Refuses(ModelMetadata);

impl Model for Refuses {
    fn metadata(&self) -> &ModelMetadata {
        &self.0
    }

    fn predict(&self, _: PredictRequest) -> Result<PredictResponse, ModelError> {
        Err(ModelError::BadInput("refused".into()))
    }
}

#[tokio::test]
async fn embed_is_documented_and_served() {
    let Ok(metrics) = Metrics::new(FeedbackIdentity::default()) else {
        panic!("metrics")
    };
    let state = Arc::new(ServerState::new(
        Arc::new(Refuses(ModelMetadata::default())),
        "minilm".into(),
        None,
        None,
        None,
        metrics,
        0,
    ));
    let extensions = [oxserve_candle_server::embed_extension()];
    match check_document(state, &extensions).await {
        Ok(checked) => assert!(checked >= 33, "only {checked} operations"),
        Err(problems) => panic!("{problems}"),
    }
}
