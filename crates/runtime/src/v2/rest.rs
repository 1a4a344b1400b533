//! The Open Inference Protocol (V2) over REST: decodes the JSON (or binary-tensor) body with
//! `oxserve_protocol::v2::decode_rest`, calls the protocol's logic ([`super`]), and writes the reply or the error
//! as `{"error": …}`.

use std::sync::Arc;

use axum::extract::{Path, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use oxserve_protocol::v2;
use oxserve_protocol::v2::InferenceRequest;

use super::check_model;
use crate::error::{ServeError, json_response};
use crate::openapi::{
    Doc, DocRouter, TAG_V2, V2InferResponses, V2LiveResponses, V2MetadataResponses,
    V2ModelReadyResponses, V2ReadyResponses, V2ServerMetadataResponses,
};
use crate::repository::ServedModel;
use crate::state::ServerState;

type Shared = State<Arc<ServerState>>;

/// The V2 routes.
pub(crate) fn routes() -> DocRouter {
    DocRouter::new()
        .route(
            "/v2",
            get(server_metadata),
            Doc::of::<__path_server_metadata>(),
        )
        .route("/v2/health/live", get(live), Doc::of::<__path_live>())
        .route("/v2/health/ready", get(ready), Doc::of::<__path_ready>())
        .route(
            "/v2/models/{name}/ready",
            get(model_ready),
            Doc::of::<__path_model_ready>(),
        )
        .route(
            "/v2/models/{name}/versions/{version}/ready",
            get(model_version_ready),
            Doc::of::<__path_model_version_ready>(),
        )
        .route(
            "/v2/models/{name}",
            get(model_metadata),
            Doc::of::<__path_model_metadata>(),
        )
        .route(
            "/v2/models/{name}/versions/{version}",
            get(model_version_metadata),
            Doc::of::<__path_model_version_metadata>(),
        )
        .route(
            "/v2/models/{name}/infer",
            post(infer),
            Doc::of::<__path_infer>(),
        )
        .route(
            "/v2/models/{name}/versions/{version}/infer",
            post(infer_version),
            Doc::of::<__path_infer_version>(),
        )
}

/// The example body of the infer routes.
fn infer_example() -> serde_json::Value {
    serde_json::json!({
        "inputs": [{"name": "input-0", "shape": [1, 4], "datatype": "FP64", "data": [1, 2, 3, 4]}]
    })
}

/// The server's name, version and extensions.
fn server_metadata_json() -> serde_json::Value {
    serde_json::json!({
        "name": super::SERVER_NAME,
        "version": super::SERVER_VERSION,
        "extensions": super::EXTENSIONS,
    })
}

#[utoipa::path(get, path = "/v2", tag = TAG_V2, operation_id = "v2ServerMetadata",
    summary = "Server metadata",
    responses(V2ServerMetadataResponses))]
pub(crate) async fn server_metadata() -> Response {
    json_response(
        StatusCode::OK,
        server_metadata_json().to_string().into_bytes(),
    )
}

#[utoipa::path(get, path = "/v2/health/live", tag = TAG_V2, operation_id = "v2Live",
    summary = "Server liveness",
    responses(V2LiveResponses))]
pub(crate) async fn live() -> Response {
    json_response(StatusCode::OK, br#"{"live":true}"#.to_vec())
}

#[utoipa::path(get, path = "/v2/health/ready", tag = TAG_V2, operation_id = "v2Ready",
    summary = "Server readiness",
    responses(V2ReadyResponses))]
pub(crate) async fn ready(State(state): Shared) -> Response {
    if state.is_ready() {
        json_response(StatusCode::OK, br#"{"ready":true}"#.to_vec())
    } else {
        // KServe's server: 503 with an error body (probes and tritonclient read the status alone).
        json_response(
            StatusCode::SERVICE_UNAVAILABLE,
            br#"{"error":"server is shutting down"}"#.to_vec(),
        )
    }
}

#[utoipa::path(get, path = "/v2/models/{name}/ready", tag = TAG_V2, operation_id = "v2ModelReady",
    summary = "Model readiness",
    params(("name" = String, Path, description = "the model's name")),
    responses(V2ModelReadyResponses))]
pub(crate) async fn model_ready(State(state): Shared, Path(name): Path<String>) -> Response {
    ready_reply(&state, &name, None)
}

#[utoipa::path(get, path = "/v2/models/{name}/versions/{version}/ready", tag = TAG_V2, operation_id = "v2ModelVersionReady",
    summary = "Model version readiness",
    params(("name" = String, Path, description = "the model's name"), ("version" = String, Path, description = "the model's version")),
    responses(V2ModelReadyResponses))]
pub(crate) async fn model_version_ready(
    State(state): Shared,
    Path((name, version)): Path<(String, String)>,
) -> Response {
    ready_reply(&state, &name, Some(&version))
}

fn ready_reply(state: &ServerState, name: &str, version: Option<&str>) -> Response {
    match check_model(state, name, version) {
        Ok(_) => json_response(
            StatusCode::OK,
            serde_json::json!({"name": name, "ready": state.is_ready()})
                .to_string()
                .into_bytes(),
        ),
        Err(e) => e.into_v2_response(),
    }
    .into_response()
}

#[utoipa::path(get, path = "/v2/models/{name}", tag = TAG_V2, operation_id = "v2ModelMetadata",
    summary = "Model metadata",
    params(("name" = String, Path, description = "the model's name")),
    responses(V2MetadataResponses))]
pub(crate) async fn model_metadata(State(state): Shared, Path(name): Path<String>) -> Response {
    metadata_reply(&state, &name, None)
}

#[utoipa::path(get, path = "/v2/models/{name}/versions/{version}", tag = TAG_V2, operation_id = "v2ModelVersionMetadata",
    summary = "Model version metadata",
    params(("name" = String, Path, description = "the model's name"), ("version" = String, Path, description = "the model's version")),
    responses(V2MetadataResponses))]
pub(crate) async fn model_version_metadata(
    State(state): Shared,
    Path((name, version)): Path<(String, String)>,
) -> Response {
    metadata_reply(&state, &name, Some(&version))
}

fn metadata_reply(state: &ServerState, name: &str, version: Option<&str>) -> Response {
    let served = match check_model(state, name, version) {
        Ok(served) => served,
        Err(e) => return e.into_v2_response(),
    };
    let meta = v2::model_metadata_rest(
        &served.name,
        super::versions(&served),
        &super::metadata(&served),
    );
    match serde_json::to_vec(&meta) {
        Ok(body) => json_response(StatusCode::OK, body),
        Err(e) => ServeError::Internal(e.to_string()).into_v2_response(),
    }
}

#[utoipa::path(post, path = "/v2/models/{name}/infer", tag = TAG_V2, operation_id = "v2Infer",
    summary = "Runs an inference",
    params(("name" = String, Path, description = "the model's name")),
    request_body(content = InferenceRequest, content_type = "application/json", example = infer_example),
    responses(V2InferResponses))]
pub(crate) async fn infer(
    State(state): Shared,
    Path(name): Path<String>,
    request: Request,
) -> Response {
    infer_reply(&state, &name, None, request).await
}

#[utoipa::path(post, path = "/v2/models/{name}/versions/{version}/infer", tag = TAG_V2, operation_id = "v2InferVersion",
    summary = "Runs an inference",
    params(("name" = String, Path, description = "the model's name"), ("version" = String, Path, description = "the model's version")),
    request_body(content = InferenceRequest, content_type = "application/json", example = infer_example),
    responses(V2InferResponses))]
pub(crate) async fn infer_version(
    State(state): Shared,
    Path((name, version)): Path<(String, String)>,
    request: Request,
) -> Response {
    infer_reply(&state, &name, Some(&version), request).await
}

async fn infer_reply(
    state: &ServerState,
    name: &str,
    version: Option<&str>,
    request: Request,
) -> Response {
    let result = match check_model(state, name, version) {
        Ok(served) => v2_infer(state, &served, request).await,
        Err(e) => Err(e),
    };
    result.unwrap_or_else(ServeError::into_v2_response)
}

/// Decodes, runs and encodes one V2 REST inference. The request is taken whole (the `HeaderMap` extractor would
/// copy its headers).
async fn v2_infer(
    state: &ServerState,
    served: &ServedModel,
    request: Request,
) -> Result<Response, ServeError> {
    let (parts, body) = request.into_parts();
    let header_len = match parts.headers.get(v2::HEADER_CONTENT_LENGTH) {
        None => None,
        Some(v) => Some(
            v.to_str()
                .ok()
                .and_then(|s| s.trim().parse::<usize>().ok())
                .ok_or_else(|| {
                    ServeError::BadRequest(format!("bad {} header", v2::HEADER_CONTENT_LENGTH))
                })?,
        ),
    };
    let chunks = crate::rest::body_chunks(body, state.max_body_bytes).await?;
    let mut decoded = v2::decode_rest_chunks(&chunks, header_len, &super::limits(state))?;
    let id = decoded.id.clone().unwrap_or_else(super::request_id);
    super::add_request_parameters(served, &decoded.parameters, &mut decoded.request)?;
    let response = super::infer(state, served, decoded.request).await?;
    let mut reply = v2::InferenceResponse::from_outputs(
        &served.name,
        served.version.as_deref(),
        id,
        response.outputs,
    )?;
    if let Some(content_type) = served.model.output_content_type() {
        for output in &mut reply.outputs {
            output
                .parameters
                .get_or_insert_with(Default::default)
                .extend(v2::codecs::output_parameters(content_type));
        }
    }
    let encoded = v2::encode_response(reply, &decoded.binary_outputs)?;
    let mut reply = json_response(StatusCode::OK, encoded.body);
    if let Some(len) = encoded.header_len {
        let headers = reply.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/octet-stream"),
        );
        headers.insert(v2::HEADER_CONTENT_LENGTH, HeaderValue::from(len));
    }
    Ok(reply)
}
