//! KServe's V1 data plane without its transport, as KServe's Python model server answers it
//! (`kserve/protocol/rest/v1_endpoints.py`, `dataplane.py`, `errors.py`): liveness, the model list, model
//! readiness, `:predict` and `:explain`. [`rest`] is the axum adapter.
//!
//! | route | answer | errors |
//! |---|---|---|
//! | `GET /` | `{"status":"alive"}` | |
//! | `GET /v1/models` | `{"models":[name]}` | |
//! | `GET /v1/models/{name}` | `{"name":…,"ready":true}` | 404 no such model, 503 not ready (shutting down) |
//! | `POST /v1/models/{name}:predict` | `{"predictions":…}` | 400 not JSON / no rows / refused by the model, 404, 413, 429, 500 |
//! | `POST /v1/models/{name}:explain` | | 400 not JSON, 404, 501 `Could not find explainer_host.` |
//!
//! Error bodies are `{"error": …}` with KServe's wording where KServe words it (`Model with name m does not
//! exist.`, `Model with name m is not ready.`, `Unrecognized request format: …`). One deliberate difference:
//! input the model refuses (wrong feature count, bad values) is 400, the runtime's classification, where
//! KServe's sklearn/xgboost/lightgbm servers wrap every exception of `predict` into a 500 `InferenceError`.
//!
//! `:predict` asks the model for [`ServerState::kserve_v1_output`] (the server's choice: sklearn-server's
//! `predict`, or `predict_proba` under `PREDICT_PROBA=true`), else its default output (the raw
//! `Booster.predict` of the tree servers).

pub(crate) mod rest;

use oxserve_core::PredictRequest;
use oxserve_protocol::kserve_v1;
use oxserve_protocol::tfserving::RequestError;

use crate::error::ServeError;
use crate::state::ServerState;

/// The protocol's label in metrics.
pub(crate) const PROTOCOL: &str = "kserve_v1";

/// `GET /`: KServe's liveness body.
pub(crate) fn live() -> serde_json::Value {
    serde_json::json!({ "status": "alive" })
}

/// `GET /v1/models`: the names of the models served (one).
pub(crate) fn models(state: &ServerState) -> serde_json::Value {
    serde_json::json!({ "models": [state.model_name] })
}

/// The served model by name, or KServe's `ModelNotFound` (404).
pub(crate) fn check_model(state: &ServerState, name: &str) -> Result<(), ServeError> {
    if name == state.model_name {
        Ok(())
    } else {
        Err(ServeError::ModelNotFound(format!(
            "Model with name {name} does not exist."
        )))
    }
}

/// `GET /v1/models/{name}`: `{"name", "ready": true}`, or KServe's `ModelNotReady` (503) once the server is
/// shutting down.
pub(crate) fn model_ready(
    state: &ServerState,
    name: &str,
) -> Result<serde_json::Value, ServeError> {
    check_model(state, name)?;
    if !state.is_ready() {
        return Err(ServeError::NotReady(format!(
            "Model with name {name} is not ready."
        )));
    }
    Ok(serde_json::json!({ "name": name, "ready": true }))
}

/// A body KServe could not decode (`InvalidInput`, 400), or rows it cannot read.
fn bad_request(e: RequestError) -> ServeError {
    match e {
        e @ RequestError::Json { .. } => {
            ServeError::BadRequest(format!("Unrecognized request format: {e}"))
        }
        RequestError::Invalid(message) => ServeError::BadRequest(message),
    }
}

/// `POST /v1/models/{name}:predict`: decodes the rows, runs the model (the same call as every protocol's) and
/// writes `{"predictions": …}`.
pub(crate) async fn predict(
    state: &ServerState,
    name: &str,
    body: &[u8],
) -> Result<Vec<u8>, ServeError> {
    check_model(state, name)?;
    let inputs = kserve_v1::decode_predict(
        body,
        &state.model.metadata().inputs,
        &crate::v2::limits(state),
    )
    .map_err(bad_request)?;
    let response = state
        .predict(PredictRequest {
            inputs,
            outputs: state.kserve_v1_output.iter().cloned().collect(),
        })
        .await?;
    kserve_v1::encode_predict(&response.outputs).map_err(bad_request)
}

/// `POST /v1/models/{name}:explain`: the body is decoded as KServe decodes it, then answered as KServe's
/// `Model.explain` answers without an explainer: 501.
pub(crate) fn explain(state: &ServerState, name: &str, body: &[u8]) -> Result<Vec<u8>, ServeError> {
    check_model(state, name)?;
    kserve_v1::check_json(body).map_err(bad_request)?;
    Err(ServeError::NoExplainer)
}

/// The output to ask for on V1: the first of the server's `preferred` names the model has, else its default.
pub(crate) fn resolve_output(state: &ServerState, preferred: &[&str]) -> Option<String> {
    let outputs = &state.model.metadata().outputs;
    preferred
        .iter()
        .find(|name| outputs.iter().any(|o| o.name == **name))
        .map(|name| name.to_string())
}
