//! Open Inference Protocol (V2) REST routes.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;

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
        .route("/v2/models/{name}/versions/{version}/ready", get(model_version_ready))
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
    json_response(StatusCode::OK, server_metadata_json().to_string().into_bytes())
}

async fn live() -> Response {
    json_response(StatusCode::OK, br#"{"live":true}"#.to_vec())
}

async fn ready(State(state): Shared) -> Response {
    if state.is_ready() {
        json_response(StatusCode::OK, br#"{"ready":true}"#.to_vec())
    } else {
        ServeError::Overloaded.into_v2_response()
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
            return Err(ServeError::ModelNotFound(format!("Model {name} with version {v} not found")));
        }
        Ok(())
    }
}

async fn model_ready(State(state): Shared, Path(name): Path<String>) -> Response {
    ready_reply(&state, &name, None)
}

async fn model_version_ready(State(state): Shared, Path((name, version)): Path<(String, String)>) -> Response {
    ready_reply(&state, &name, Some(&version))
}

fn ready_reply(state: &ServerState, name: &str, version: Option<&str>) -> Response {
    match state.check_model(name, version) {
        Ok(()) => json_response(
            StatusCode::OK,
            serde_json::json!({"name": name, "ready": state.is_ready()}).to_string().into_bytes(),
        ),
        Err(e) => e.into_v2_response(),
    }
    .into_response()
}
