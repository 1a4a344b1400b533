//! Seldon v1 over REST: reads the JSON (body, `json` query parameter or form field) into a SeldonMessage, calls
//! the protocol's logic ([`super`]), and writes the reply or the error in Seldon's JSON shape.

use std::sync::Arc;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use oxserve_core::Tensor;
use oxserve_protocol::RequestLimits;
use oxserve_protocol::seldon::{DefaultData, Feedback, Meta, Payload, SeldonMessage, pyjson};

use super::{default_names, reply_meta};
use crate::error::{ServeError, json_response};
use crate::state::ServerState;

type Shared = State<Arc<ServerState>>;

/// Seldon's routes: the microservice API (`/predict`, `/send-feedback`, ...) and the executor's (`/api/v1.0/…`,
/// `/api/v0.1/…`).
pub(crate) fn routes() -> Router<Arc<ServerState>> {
    Router::new()
        .route("/predict", get(predict).post(predict))
        .route("/api/v1.0/predictions", post(predict))
        .route("/api/v0.1/predictions", post(predict))
        .route("/send-feedback", get(feedback).post(feedback))
        .route("/api/v1.0/feedback", post(feedback))
        .route("/api/v0.1/feedback", post(feedback))
        .route("/transform-input", get(transform).post(transform))
        .route("/transform-output", get(transform).post(transform))
        .route("/route", get(route).post(route))
        .route("/aggregate", get(aggregate).post(aggregate))
        .route("/metadata", get(metadata))
        .route("/api/v1.0/metadata", get(metadata))
        .route("/health/ping", get(ping))
        .route("/health/status", get(health_status))
        .route("/api/v1.0/health/status", get(health_status))
}

/// The wrapper's message when a request has no readable JSON.
const NO_JSON: &str = "Can't find JSON in data";

/// Reads the request's JSON text the way Seldon's wrapper does: the `json` query parameter, a `json` form field,
/// or the body itself.
pub(crate) async fn request_json(
    headers: &HeaderMap,
    query: Option<&str>,
    body: Body,
    limit: usize,
) -> Result<Bytes, ServeError> {
    if let Some(q) = query
        && let Some(json) = form_field(q.as_bytes(), "json")
    {
        return Ok(Bytes::from(json));
    }
    let bytes = axum::body::to_bytes(body, limit)
        .await
        .map_err(|_| ServeError::TooLarge(limit))?;
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if content_type.starts_with("application/x-www-form-urlencoded")
        && let Some(json) = form_field(&bytes, "json")
    {
        return Ok(Bytes::from(json));
    }
    if content_type.starts_with("multipart/form-data") {
        return Err(ServeError::BadRequest(
            "multipart/form-data requests are not supported; send the SeldonMessage as a JSON body"
                .into(),
        ));
    }
    Ok(bytes)
}

fn form_field(form: &[u8], name: &str) -> Option<String> {
    serde_urlencoded::from_bytes::<Vec<(String, String)>>(form)
        .ok()?
        .into_iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v)
}

/// Parses a SeldonMessage in one pass; only a failed parse is looked at again, to answer with the wrapper's
/// wording (`Can't find JSON in data`, `Invalid request data type: …`).
/// Every tensor the message declares is charged to a budget derived from the body limit.
fn parse_message(json: &[u8], max_body_bytes: usize) -> Result<SeldonMessage, ServeError> {
    match SeldonMessage::from_json(json, &RequestLimits::from_body_limit(max_body_bytes)) {
        Ok(message) => Ok(message),
        Err(e) => {
            let value: serde_json::Value =
                serde_json::from_slice(json).map_err(|_| ServeError::BadRequest(NO_JSON.into()))?;
            if value.is_object() {
                Err(ServeError::BadRequest(format!("Invalid request: {e}")))
            } else {
                Err(ServeError::BadRequest(format!(
                    "Invalid request data type: {value}"
                )))
            }
        }
    }
}

fn ok_json(message: &impl serde::Serialize) -> Response {
    match pyjson::to_vec(message) {
        Ok(body) => json_response(StatusCode::OK, body),
        Err(e) => ServeError::Internal(format!("cannot encode reply: {e}")).into_seldon_response(),
    }
}

/// `POST /predict`, `/api/v1.0/predictions`, `/api/v0.1/predictions` (and `GET /predict?json=`).
pub(crate) async fn predict(
    State(state): Shared,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let result = async {
        let json = request_json(&headers, query.as_deref(), body, state.max_body_bytes).await?;
        let message = parse_message(&json, state.max_body_bytes)?;
        super::predict(&state, message).await
    }
    .await;
    match result {
        Ok(reply) => ok_json(&reply),
        Err(e) => e.into_seldon_response(),
    }
}

/// `POST /send-feedback`, `/api/v1.0/feedback`, `/api/v0.1/feedback`.
pub(crate) async fn feedback(
    State(state): Shared,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let result = async {
        let json = request_json(&headers, query.as_deref(), body, state.max_body_bytes).await?;
        let value: serde_json::Value =
            serde_json::from_slice(&json).map_err(|_| ServeError::BadRequest(NO_JSON.into()))?;
        if !value.is_object() {
            return Err(ServeError::BadRequest(format!(
                "Invalid JSON: a Feedback must be an object, got {value}"
            )));
        }
        let feedback =
            Feedback::from_value(value, &RequestLimits::from_body_limit(state.max_body_bytes))
                .map_err(|e| ServeError::BadRequest(format!("Invalid JSON: {e}")))?;
        state.metrics.feedback(feedback.reward);
        let request_meta = feedback
            .request
            .as_ref()
            .map(|r| r.meta.clone())
            .unwrap_or_default();
        // The wrapper builds this reply through protobuf, so empty fields vanish: an empty ndarray when the
        // request had data, an empty tensor otherwise.
        let has_data = matches!(
            feedback.request.as_ref().map(|r| &r.payload),
            Some(Payload::Data(_))
        );
        let data = if has_data {
            serde_json::json!({"ndarray": []})
        } else {
            serde_json::json!({"tensor": {"shape": [0]}})
        };
        Ok::<_, ServeError>(
            serde_json::json!({"data": data, "meta": reply_meta(&state, &request_meta)}),
        )
    }
    .await;
    match result {
        Ok(reply) => ok_json(&reply),
        Err(e) => e.into_seldon_response(),
    }
}

/// `POST /transform-input`, `/transform-output`: a MODEL node passes the payload through, with `t:i` names.
pub(crate) async fn transform(
    State(state): Shared,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let result = async {
        let json = request_json(&headers, query.as_deref(), body, state.max_body_bytes).await?;
        let message = parse_message(&json, state.max_body_bytes)?;
        let meta = reply_meta(&state, &message.meta);
        let payload = match message.payload {
            Payload::Data(DefaultData { array, .. }) => {
                let names = match array.tensor().map(Tensor::shape) {
                    Some([_, cols, ..]) => default_names(*cols),
                    _ => Vec::new(),
                };
                Payload::Data(DefaultData { names, array })
            }
            other => other,
        };
        Ok::<_, ServeError>(SeldonMessage {
            meta,
            payload,
            status: None,
        })
    }
    .await;
    match result {
        Ok(reply) => ok_json(&reply),
        Err(e) => e.into_seldon_response(),
    }
}

/// `POST /route`: not implemented by a MODEL.
pub(crate) async fn route() -> Response {
    ServeError::NotImplemented("route").into_seldon_response()
}

/// `POST /aggregate`: not implemented by a MODEL.
pub(crate) async fn aggregate() -> Response {
    ServeError::NotImplemented("aggregate").into_seldon_response()
}

/// `GET /metadata`, `/api/v1.0/metadata`.
pub(crate) async fn metadata(State(state): Shared) -> Response {
    match &state.seldon_metadata {
        Some(meta) => ok_json(meta),
        None => ServeError::BadMetadata.into_seldon_response(),
    }
}

/// `GET /health/ping` → `pong`.
pub(crate) async fn ping() -> Response {
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], "pong").into_response()
}

/// `GET /health/status`, `/api/v1.0/health/status`.
pub(crate) async fn health_status(State(state): Shared) -> Response {
    let reply = SeldonMessage {
        meta: reply_meta(&state, &Meta::default()),
        payload: Payload::StrData("healthy".into()),
        status: None,
    };
    ok_json(&reply)
}
