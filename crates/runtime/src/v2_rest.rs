//! Open Inference Protocol (V2) REST routes.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use oxserve_protocol::RequestLimits;
use oxserve_protocol::v2;

use crate::error::{ServeError, json_response};
use crate::state::ServerState;

type Shared = State<Arc<ServerState>>;

/// The V2 routes.
pub(crate) fn routes() -> Router<Arc<ServerState>> {
    Router::new()
        .route("/v2", get(server_metadata))
        .route("/v2/health/live", get(live))
        .route("/v2/health/ready", get(ready))
        .route("/v2/models/{name}/ready", get(model_ready))
        .route(
            "/v2/models/{name}/versions/{version}/ready",
            get(model_version_ready),
        )
        .route("/v2/models/{name}", get(model_metadata))
        .route(
            "/v2/models/{name}/versions/{version}",
            get(model_version_metadata),
        )
        .route("/v2/models/{name}/infer", post(infer))
        .route(
            "/v2/models/{name}/versions/{version}/infer",
            post(infer_version),
        )
}

/// The server's name, version and extensions.
pub(crate) fn server_metadata_json() -> serde_json::Value {
    serde_json::json!({
        "name": "oxserve",
        "version": env!("CARGO_PKG_VERSION"),
        "extensions": ["binary_tensor_data"],
    })
}

async fn server_metadata() -> Response {
    json_response(
        StatusCode::OK,
        server_metadata_json().to_string().into_bytes(),
    )
}

async fn live() -> Response {
    json_response(StatusCode::OK, br#"{"live":true}"#.to_vec())
}

async fn ready(State(state): Shared) -> Response {
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

impl ServerState {
    /// Checks a V2 model name (and version) against the served model.
    pub(crate) fn check_model(&self, name: &str, version: Option<&str>) -> Result<(), ServeError> {
        if name != self.model_name {
            return Err(ServeError::ModelNotFound(format!("Model {name} not found")));
        }
        if let Some(v) = version
            && self.model_version.as_deref() != Some(v)
        {
            return Err(ServeError::ModelNotFound(format!(
                "Model {name} with version {v} not found"
            )));
        }
        Ok(())
    }
}

async fn model_ready(State(state): Shared, Path(name): Path<String>) -> Response {
    ready_reply(&state, &name, None)
}

async fn model_version_ready(
    State(state): Shared,
    Path((name, version)): Path<(String, String)>,
) -> Response {
    ready_reply(&state, &name, Some(&version))
}

fn ready_reply(state: &ServerState, name: &str, version: Option<&str>) -> Response {
    match state.check_model(name, version) {
        Ok(()) => json_response(
            StatusCode::OK,
            serde_json::json!({"name": name, "ready": state.is_ready()})
                .to_string()
                .into_bytes(),
        ),
        Err(e) => e.into_v2_response(),
    }
    .into_response()
}

impl ServerState {
    /// The versions V2 metadata lists.
    pub(crate) fn v2_versions(&self) -> Vec<String> {
        self.model_version.iter().cloned().collect()
    }

    /// Decodes, runs and encodes one V2 REST inference.
    async fn v2_infer(&self, headers: &HeaderMap, body: Body) -> Result<Response, ServeError> {
        let header_len = match headers.get(v2::HEADER_CONTENT_LENGTH) {
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
        let bytes = axum::body::to_bytes(body, self.max_body_bytes)
            .await
            .map_err(|_| ServeError::TooLarge(self.max_body_bytes))?;
        let decoded = v2::decode_rest(
            &bytes,
            header_len,
            &RequestLimits::from_body_limit(self.max_body_bytes),
        )
        .map_err(|e| ServeError::BadRequest(e.to_string()))?;
        let id = decoded
            .id
            .clone()
            .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        let response = self.predict(decoded.request).await?;
        let encoded = v2::encode_rest(
            &self.model_name,
            self.model_version.as_deref(),
            id,
            response.outputs,
            &decoded.binary_outputs,
        )
        .map_err(|e| ServeError::BadRequest(e.to_string()))?;
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
}

async fn model_metadata(State(state): Shared, Path(name): Path<String>) -> Response {
    metadata_reply(&state, &name, None)
}

async fn model_version_metadata(
    State(state): Shared,
    Path((name, version)): Path<(String, String)>,
) -> Response {
    metadata_reply(&state, &name, Some(&version))
}

fn metadata_reply(state: &ServerState, name: &str, version: Option<&str>) -> Response {
    if let Err(e) = state.check_model(name, version) {
        return e.into_v2_response();
    }
    let meta = v2::model_metadata_rest(
        &state.model_name,
        state.v2_versions(),
        state.model.metadata(),
    );
    match serde_json::to_vec(&meta) {
        Ok(body) => json_response(StatusCode::OK, body),
        Err(e) => ServeError::Internal(e.to_string()).into_v2_response(),
    }
}

async fn infer(
    State(state): Shared,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    infer_reply(&state, &name, None, &headers, body).await
}

async fn infer_version(
    State(state): Shared,
    Path((name, version)): Path<(String, String)>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    infer_reply(&state, &name, Some(&version), &headers, body).await
}

async fn infer_reply(
    state: &ServerState,
    name: &str,
    version: Option<&str>,
    headers: &HeaderMap,
    body: Body,
) -> Response {
    let result = match state.check_model(name, version) {
        Ok(()) => state.v2_infer(headers, body).await,
        Err(e) => Err(e),
    };
    result.unwrap_or_else(ServeError::into_v2_response)
}
