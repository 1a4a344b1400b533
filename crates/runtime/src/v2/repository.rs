//! The V2 model repository API over REST (MLServer's routes, which Triton and KServe's TrainedModel agent share):
//! `POST /v2/repository/index`, `POST /v2/repository/models/{name}/load`, `…/unload`. The gRPC calls of the
//! same names are in [`super::grpc`] (on `inference.GRPCInferenceService` and on MLServer's
//! `inference.model_repository.ModelRepositoryService`); all of them call [`index_rows`] and
//! [`crate::repository::ModelRepository`]'s `load` / `unload`.

use std::sync::Arc;

use axum::extract::{Path, Request, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::post;

use crate::error::{ServeError, json_response};
use crate::openapi::{
    Doc, DocRouter, TAG_V2, V2RepositoryIndexResponses, V2RepositoryLoadResponses,
    V2RepositoryUnloadResponses,
};
use crate::repository::{IndexEntry, RepositoryError};
use crate::state::ServerState;

type Shared = State<Arc<ServerState>>;

/// The repository routes.
pub(crate) fn routes() -> DocRouter {
    DocRouter::new()
        .route(
            "/v2/repository/index",
            post(index),
            Doc::of::<__path_index>(),
        )
        .route(
            "/v2/repository/models/{name}/load",
            post(load),
            Doc::of::<__path_load>(),
        )
        .route(
            "/v2/repository/models/{name}/unload",
            post(unload),
            Doc::of::<__path_unload>(),
        )
}

impl From<RepositoryError> for ServeError {
    fn from(e: RepositoryError) -> ServeError {
        match e {
            RepositoryError::NotFound(message) => ServeError::ModelNotFound(message),
            e @ RepositoryError::LoadFailed { .. } => ServeError::Internal(e.to_string()),
        }
    }
}

/// One index row as MLServer writes it.
pub(crate) fn index_json(rows: &[IndexEntry]) -> serde_json::Value {
    rows.iter()
        .map(|row| {
            serde_json::json!({
                "name": row.name,
                "version": row.version,
                "state": row.state.as_str(),
                "reason": row.reason,
            })
        })
        .collect()
}

/// Reads the index request's `ready` flag: an empty body is `{}`; anything else must be a JSON object.
fn ready_flag(body: &[u8]) -> Result<bool, ServeError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(false);
    }
    match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(serde_json::Value::Object(map)) => match map.get("ready") {
            None | Some(serde_json::Value::Null) => Ok(false),
            Some(serde_json::Value::Bool(ready)) => Ok(*ready),
            Some(_) => Err(ServeError::BadRequest("`ready` must be a boolean".into())),
        },
        Ok(_) => Err(ServeError::BadRequest(
            "the index request must be a JSON object".into(),
        )),
        Err(e) => Err(ServeError::BadRequest(format!("invalid JSON: {e}"))),
    }
}

/// The index rows (only the READY ones when `ready`), read off the async workers: the index walks the models
/// folder. Every transport's index call answers from this.
pub(crate) async fn index_rows(
    state: &Arc<ServerState>,
    ready: bool,
) -> Result<Vec<IndexEntry>, ServeError> {
    let repository = state.repository.clone();
    tokio::task::spawn_blocking(move || repository.index(ready))
        .await
        .map_err(|e| ServeError::Internal(format!("index task failed: {e}")))
}

/// The index example body.
fn index_example() -> serde_json::Value {
    serde_json::json!({"ready": false})
}

#[utoipa::path(post, path = "/v2/repository/index", tag = TAG_V2, operation_id = "v2RepositoryIndex",
    summary = "Lists every model the repository holds or finds on disk, with its state",
    request_body(content = Object, content_type = "application/json", example = index_example),
    responses(V2RepositoryIndexResponses))]
pub(crate) async fn index(State(state): Shared, request: Request) -> Response {
    let result = async {
        let body = crate::rest::body_bytes(request.into_body(), state.max_body_bytes).await?;
        let rows = index_rows(&state, ready_flag(&body)?).await?;
        Ok::<_, ServeError>(json_response(
            StatusCode::OK,
            index_json(&rows).to_string().into_bytes(),
        ))
    }
    .await;
    result.unwrap_or_else(ServeError::into_v2_response)
}

#[utoipa::path(post, path = "/v2/repository/models/{name}/load", tag = TAG_V2, operation_id = "v2RepositoryModelLoad",
    summary = "Loads (or reloads) a model from the models folder",
    params(("name" = String, Path, description = "the model's name")),
    responses(V2RepositoryLoadResponses))]
pub(crate) async fn load(State(state): Shared, Path(name): Path<String>) -> Response {
    match state.repository.load(&name).await {
        Ok(()) => empty_ok(),
        Err(e) => ServeError::from(e).into_v2_response(),
    }
}

#[utoipa::path(post, path = "/v2/repository/models/{name}/unload", tag = TAG_V2, operation_id = "v2RepositoryModelUnload",
    summary = "Unloads a model",
    params(("name" = String, Path, description = "the model's name")),
    responses(V2RepositoryUnloadResponses))]
pub(crate) async fn unload(State(state): Shared, Path(name): Path<String>) -> Response {
    match state.repository.unload(&name).await {
        Ok(()) => empty_ok(),
        Err(e) => ServeError::from(e).into_v2_response(),
    }
}

fn empty_ok() -> Response {
    let mut response = Response::new(axum::body::Body::empty());
    *response.status_mut() = StatusCode::OK;
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_index_body_is_empty_or_an_object() {
        assert!(!ready_flag(b"").unwrap_or(true));
        assert!(ready_flag(br#"{"ready":true}"#).unwrap_or(false));
        assert!(ready_flag(b"[1]").is_err());
        assert!(ready_flag(br#"{"ready":1}"#).is_err());
        assert!(ready_flag(b"{").is_err());
    }
}
