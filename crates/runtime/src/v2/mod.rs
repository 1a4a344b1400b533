//! The Open Inference Protocol (V2) without its transports: which model a request names, the server's and the
//! model's metadata, and the inference itself ([`infer`]). [`rest`] (JSON and binary tensors over HTTP) and
//! [`grpc`] (`inference.GRPCInferenceService`) decode the request with `oxserve_protocol::v2`, call these, and
//! encode the reply or the error.

pub(crate) mod grpc;
pub(crate) mod rest;

use oxserve_core::{PredictRequest, PredictResponse};
use oxserve_protocol::RequestLimits;

use crate::error::ServeError;
use crate::state::ServerState;

/// The server's name in V2 server metadata.
pub(crate) const SERVER_NAME: &str = "oxserve";
/// The server's version in V2 server metadata.
pub(crate) const SERVER_VERSION: &str = env!("CARGO_PKG_VERSION");
/// The V2 extensions this server supports.
pub(crate) const EXTENSIONS: &[&str] = &["binary_tensor_data"];

/// Checks a V2 model name (and version) against the served model.
pub(crate) fn check_model(
    state: &ServerState,
    name: &str,
    version: Option<&str>,
) -> Result<(), ServeError> {
    if name != state.model_name {
        return Err(ServeError::ModelNotFound(format!("Model {name} not found")));
    }
    if let Some(v) = version
        && state.model_version.as_deref() != Some(v)
    {
        return Err(ServeError::ModelNotFound(format!(
            "Model {name} with version {v} not found"
        )));
    }
    Ok(())
}

/// The versions V2 metadata lists.
pub(crate) fn versions(state: &ServerState) -> Vec<String> {
    state.model_version.iter().cloned().collect()
}

/// The budget every decoded tensor of one request is charged to, from the body (message) limit.
pub(crate) fn limits(state: &ServerState) -> RequestLimits {
    RequestLimits::from_body_limit(state.max_body_bytes)
}

/// Runs one decoded inference on the model: where a V2 request, from either transport, meets the model.
pub(crate) async fn infer(
    state: &ServerState,
    request: PredictRequest,
) -> Result<PredictResponse, ServeError> {
    state.predict(request).await
}
