//! The Open Inference Protocol (V2) without its transports: which model a request names, the server's and the
//! model's metadata, and the inference itself ([`infer`]). [`rest`] (JSON and binary tensors over HTTP) and
//! [`grpc`] (`inference.GRPCInferenceService`) decode the request with `oxserve_protocol::v2`, call these, and
//! encode the reply or the error.

pub(crate) mod grpc;
pub(crate) mod repository;
pub(crate) mod rest;

use std::cell::Cell;
use std::sync::Arc;

use oxserve_core::{PredictRequest, PredictResponse};
use oxserve_protocol::RequestLimits;

use crate::error::ServeError;
use crate::repository::ServedModel;
use crate::state::ServerState;

/// The server's name in V2 server metadata.
pub(crate) const SERVER_NAME: &str = "oxserve";
/// The server's version in V2 server metadata.
pub(crate) const SERVER_VERSION: &str = env!("CARGO_PKG_VERSION");
/// The V2 extensions this server supports.
pub(crate) const EXTENSIONS: &[&str] = &["binary_tensor_data"];

/// Resolves a V2 model name (and version) to a loaded model of the repository: an unknown, unloaded or
/// other-version name is NOT_FOUND (404), in V2's error shape.
pub(crate) fn check_model(
    state: &ServerState,
    name: &str,
    version: Option<&str>,
) -> Result<Arc<ServedModel>, ServeError> {
    if let Some(served) = state.repository.get(name, version) {
        return Ok(served);
    }
    match version {
        Some(v) if state.repository.get(name, None).is_some() => Err(ServeError::ModelNotFound(
            format!("Model {name} with version {v} not found"),
        )),
        _ => Err(ServeError::ModelNotFound(format!("Model {name} not found"))),
    }
}

/// The versions V2 metadata lists.
pub(crate) fn versions(served: &ServedModel) -> Vec<String> {
    served.version.iter().cloned().collect()
}

/// The model's metadata as V2 lists it: a table model's columns as its inputs ([`oxserve_core::Model::table_columns`]).
pub(crate) fn metadata(served: &ServedModel) -> std::borrow::Cow<'_, oxserve_core::ModelMetadata> {
    let metadata = served.model.metadata();
    match served.model.table_columns() {
        Some(columns) => std::borrow::Cow::Owned(oxserve_core::ModelMetadata {
            inputs: columns.to_vec(),
            ..metadata.clone()
        }),
        None => std::borrow::Cow::Borrowed(metadata),
    }
}

/// Appends a V2 request's own parameters for a model that reads them ([`Model::takes_request_parameters`]):
/// every key but `content_type` and `headers` (the two MLServer's `Parameters` declares; it hands the rest to
/// the model as `model_extra`), as one 0-d BYTES input holding their JSON object. Nothing when there are none.
///
/// [`Model::takes_request_parameters`]: oxserve_core::Model::takes_request_parameters
pub(crate) fn add_request_parameters(
    served: &ServedModel,
    parameters: &serde_json::Map<String, serde_json::Value>,
    request: &mut PredictRequest,
) -> Result<(), ServeError> {
    if !served.model.takes_request_parameters() {
        return Ok(());
    }
    let extra: serde_json::Map<String, serde_json::Value> = parameters
        .iter()
        .filter(|(k, _)| k.as_str() != "content_type" && k.as_str() != "headers")
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    if extra.is_empty() {
        return Ok(());
    }
    let json = serde_json::Value::Object(extra).to_string().into_bytes();
    let tensor = oxserve_core::Tensor::new(vec![], oxserve_core::TensorData::Bytes(vec![json]))
        .map_err(|e| ServeError::Internal(e.to_string()))?;
    request.inputs.push(oxserve_core::NamedTensor::new(
        oxserve_core::REQUEST_PARAMETERS_INPUT,
        tensor,
    ));
    Ok(())
}

/// The budget every decoded tensor of one request is charged to, from the body (message) limit.
pub(crate) fn limits(state: &ServerState) -> RequestLimits {
    RequestLimits::from_body_limit(state.max_body_bytes)
}

/// Runs one decoded inference on the model: where a V2 request, from either transport, meets the model, and is
/// counted and timed in the model's own series.
pub(crate) async fn infer(
    state: &ServerState,
    served: &ServedModel,
    request: PredictRequest,
) -> Result<PredictResponse, ServeError> {
    let start = std::time::Instant::now();
    let result = state.predict_served(served, request).await;
    if let Some(series) = &served.series {
        series.observe(result.is_ok(), start.elapsed().as_secs_f64());
    }
    result
}

/// The id of a V2 REST reply whose request named none: a random (version 4) UUID, as MLServer answers.
///
/// Ids need to be unique, not secret, so each thread draws them from its own generator (SplitMix64), seeded once
/// from the operating system's randomness: one `getrandom` system call per request was 3% of a small request's
/// time.
pub(crate) fn request_id() -> String {
    thread_local! {
        static STATE: Cell<u64> = Cell::new(seed());
    }
    fn seed() -> u64 {
        let (high, low) = uuid::Uuid::new_v4().as_u64_pair();
        high ^ low
    }
    fn next(state: &Cell<u64>) -> u64 {
        let mut z = state.get().wrapping_add(0x9e37_79b9_7f4a_7c15);
        state.set(z);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    let bits = STATE.with(|state| (u128::from(next(state)) << 64) | u128::from(next(state)));
    uuid::Builder::from_random_bytes(bits.to_le_bytes())
        .into_uuid()
        .to_string()
}

#[cfg(test)]
mod tests {
    #[test]
    fn request_ids_are_distinct_version_4_uuids() {
        let ids: std::collections::HashSet<String> =
            (0..1000).map(|_| super::request_id()).collect();
        assert_eq!(ids.len(), 1000);
        for id in ids.iter().take(10) {
            let uuid = uuid::Uuid::parse_str(id).unwrap_or_default();
            assert_eq!(uuid.get_version_num(), 4, "{id}");
        }
    }
}
