//! Seldon v1 over REST: reads the JSON (body, `json` query parameter or form field) into a SeldonMessage, calls
//! the protocol's logic ([`super`]), and writes the reply or the error in Seldon's JSON shape.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use oxserve_protocol::RequestLimits;
use oxserve_protocol::seldon::{Feedback, SeldonMessage, pyjson};
use utoipa::openapi::RefOr;
use utoipa::openapi::path::HttpMethod;

use crate::error::{ServeError, json_response};
use crate::openapi::{
    Doc, DocRouter, HealthStatusResponses, NotImplementedResponses, PingResponses,
    SeldonMetadataResponses, SeldonResponses, TAG_PROBES, TAG_SELDON, json_form, json_query,
    seed_example,
};
use crate::state::ServerState;

type Shared = State<Arc<ServerState>>;

/// Seldon's routes: the microservice API (`/predict`, `/send-feedback`, ...) and the executor's (`/api/v1.0/…`,
/// `/api/v0.1/…`).
/// Each route carries its documentation: the handler's `#[utoipa::path]`, with the operation id (and summary)
/// of the path it is added at; the routes served on GET too take the request in the `json` query parameter.
pub(crate) fn routes() -> DocRouter {
    DocRouter::new()
        .route(
            "/predict",
            get(predict).post(predict),
            both(
                doc::<__path_predict>()
                    .summary("The model node's prediction route (what the executor calls)")
                    .map(|op| op.description = None),
                "predict",
            ),
        )
        .route(
            "/api/v1.0/predictions",
            post(predict),
            doc::<__path_predict>(),
        )
        .route(
            "/api/v0.1/predictions",
            post(predict),
            doc::<__path_predict>().id("predictionsV01").deprecated(),
        )
        .route(
            "/send-feedback",
            get(feedback).post(feedback),
            both(doc::<__path_feedback>(), "sendFeedback"),
        )
        .route(
            "/api/v1.0/feedback",
            post(feedback),
            doc::<__path_feedback>(),
        )
        .route(
            "/api/v0.1/feedback",
            post(feedback),
            doc::<__path_feedback>().id("feedbackV01").deprecated(),
        )
        .route(
            "/transform-input",
            get(transform).post(transform),
            both(doc::<__path_transform>(), "transformInput"),
        )
        .route(
            "/transform-output",
            get(transform_output).post(transform_output),
            both(
                doc::<__path_transform>()
                    .summary("Passes the payload through (a model's transform-output)"),
                "transformOutput",
            ),
        )
        .route(
            "/route",
            get(route).post(route),
            both(doc::<__path_route>(), "route"),
        )
        .route(
            "/aggregate",
            get(aggregate).post(aggregate),
            both(doc::<__path_aggregate>(), "aggregate"),
        )
        .route(
            "/metadata",
            get(metadata),
            doc::<__path_metadata>().id("nodeMetadata"),
        )
        .route(
            "/api/v1.0/metadata",
            get(metadata),
            doc::<__path_metadata>(),
        )
        .route("/health/ping", get(ping), doc::<__path_ping>())
        .route(
            "/health/status",
            get(health_status),
            doc::<__path_health_status>(),
        )
        .route(
            "/api/v1.0/health/status",
            get(health_status),
            doc::<__path_health_status>().id("healthStatusV1"),
        )
}

/// A route served on POST with a body and on GET with the body's JSON in the `json` query parameter (the
/// wrapper's node routes), with the ids `{id}` and `{id}Get`.
fn both(post: Doc, id: &str) -> Doc {
    let get = post
        .clone()
        .on(HttpMethod::Get)
        .id(&format!("{id}Get"))
        .map(|op| {
            op.request_body = None;
            op.parameters
                .get_or_insert_with(Vec::new)
                .push(RefOr::T(json_query()));
        });
    post.id(id).and(get)
}

/// A handler's documentation, its JSON body also accepted as a form's `json` field (as [`request_json`] reads
/// it).
fn doc<P>() -> Doc
where
    P: utoipa::Path + utoipa::__dev::SchemaReferences + for<'t> utoipa::__dev::Tags<'t>,
{
    Doc::of::<P>().map(|op| {
        if let Some(RefOr::T(body)) = &mut op.request_body {
            body.content.insert(
                "application/x-www-form-urlencoded".to_owned(),
                RefOr::T(json_form()),
            );
        }
    })
}

/// The wrapper's message when a request has no readable JSON.
const NO_JSON: &str = "Can't find JSON in data";

/// Reads the request's JSON text the way Seldon's wrapper does: the `json` query parameter, a `json` form field,
/// or the body itself.
/// The request is taken whole, not through the `HeaderMap` and `RawQuery` extractors, which copy the headers and
/// the query string for every request.
/// A component server also reads `multipart/form-data` as the wrapper does ([`super::multipart`]).
pub(crate) async fn request_json(
    request: Request,
    state: &ServerState,
) -> Result<Bytes, ServeError> {
    let limit = state.max_body_bytes;
    let (parts, body) = request.into_parts();
    if let Some(q) = parts.uri.query()
        && let Some(json) = form_field(q.as_bytes(), "json")
    {
        return Ok(Bytes::from(json));
    }
    let bytes = crate::rest::body_bytes(body, limit).await?;
    let content_type = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if content_type.starts_with("application/x-www-form-urlencoded")
        && let Some(json) = form_field(&bytes, "json")
    {
        return Ok(Bytes::from(json));
    }
    if content_type.starts_with("multipart/form-data") && super::is_component(state) {
        return super::multipart::to_json(&bytes, content_type)
            .map(Bytes::from)
            .map_err(ServeError::BadRequest);
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

/// A handler's outcome in Seldon's JSON: the reply as `write` writes it (as the wrapper's `jsonify` does), or the
/// error's `{"status": …}` body; a reply that cannot be written is a 500.
fn reply_with<T>(
    result: Result<T, ServeError>,
    write: impl FnOnce(&T) -> serde_json::Result<Vec<u8>>,
) -> Response {
    let body = result.and_then(|reply| {
        write(&reply).map_err(|e| ServeError::Internal(format!("cannot encode reply: {e}")))
    });
    match body {
        Ok(body) => json_response(StatusCode::OK, body),
        Err(e) => e.into_seldon_response(),
    }
}

/// [`reply_with`] through serde.
fn reply<T: serde::Serialize>(result: Result<T, ServeError>) -> Response {
    reply_with(result, pyjson::to_vec)
}

/// [`reply_with`] for a `SeldonMessage`, written by [`pyjson::message_to_vec`] (the common reply without serde).
fn reply_message(result: Result<SeldonMessage, ServeError>) -> Response {
    reply_with(result, pyjson::message_to_vec)
}

/// `POST /predict`, `/api/v1.0/predictions`, `/api/v0.1/predictions` (and `GET /predict?json=`).
#[utoipa::path(post, path = "/api/v1.0/predictions", tag = TAG_SELDON, operation_id = "predictions",
    summary = "Runs a prediction on a SeldonMessage",
    description = "Seldon's external prediction route. The body is a SeldonMessage with `data` (`ndarray`, \
        `tensor` or `tftensor`); the reply carries the model's output in the same form, named `t:0…`.",
    request_body(content = SeldonMessage, content_type = "application/json", example = seed_example),
    responses(SeldonResponses))]
pub(crate) async fn predict(State(state): Shared, request: Request) -> Response {
    reply_message(
        async {
            let json = request_json(request, &state).await?;
            let message = parse_message(&json, state.max_body_bytes)?;
            super::predict(&state, message).await
        }
        .await,
    )
}

/// `POST /send-feedback`, `/api/v1.0/feedback`, `/api/v0.1/feedback`.
#[utoipa::path(post, path = "/api/v1.0/feedback", tag = TAG_SELDON, operation_id = "feedback",
    summary = "Sends feedback (a reward) on an earlier prediction",
    request_body(content = Feedback, content_type = "application/json"),
    responses(SeldonResponses))]
pub(crate) async fn feedback(State(state): Shared, request: Request) -> Response {
    reply(
        async {
            let json = request_json(request, &state).await?;
            let value: serde_json::Value = serde_json::from_slice(&json)
                .map_err(|_| ServeError::BadRequest(NO_JSON.into()))?;
            let feedback =
                Feedback::from_value(value, &RequestLimits::from_body_limit(state.max_body_bytes))?;
            super::send_feedback(&state, feedback).await
        }
        .await,
    )
}

/// `POST /transform-input`, `/transform-output`: a MODEL node passes the payload through, with `t:i` names.
#[utoipa::path(post, path = "/transform-input", tag = TAG_SELDON, operation_id = "transformInput",
    summary = "Passes the payload through (a model's transform-input)",
    request_body(content = SeldonMessage, content_type = "application/json"),
    responses(SeldonResponses))]
pub(crate) async fn transform(State(state): Shared, request: Request) -> Response {
    reply_message(
        async {
            let json = request_json(request, &state).await?;
            let message = parse_message(&json, state.max_body_bytes)?;
            super::transform_input(&state, message).await
        }
        .await,
    )
}

/// `POST /transform-output` (documented with [`transform`]).
pub(crate) async fn transform_output(State(state): Shared, request: Request) -> Response {
    reply_message(
        async {
            let json = request_json(request, &state).await?;
            let message = parse_message(&json, state.max_body_bytes)?;
            super::transform_output(&state, message).await
        }
        .await,
    )
}

/// `POST /route`: a ROUTER component's choice; not implemented by a MODEL.
#[utoipa::path(post, path = "/route", tag = TAG_SELDON, operation_id = "route",
    summary = "Routing (not implemented by a model)",
    request_body(content = SeldonMessage, content_type = "application/json"),
    responses(NotImplementedResponses))]
pub(crate) async fn route(State(state): Shared, request: Request) -> Response {
    if !super::is_component(&state) {
        return ServeError::NotImplemented("route").into_seldon_response();
    }
    reply_message(
        async {
            let json = request_json(request, &state).await?;
            let message = parse_message(&json, state.max_body_bytes)?;
            super::route(&state, message).await
        }
        .await,
    )
}

/// `POST /aggregate`: a COMBINER component's `SeldonMessageList` (`{"seldonMessages":[…]}` or a bare list);
/// not implemented by a MODEL.
#[utoipa::path(post, path = "/aggregate", tag = TAG_SELDON, operation_id = "aggregate",
    summary = "Aggregation (not implemented by a model)",
    request_body(content = SeldonMessage, content_type = "application/json"),
    responses(NotImplementedResponses))]
pub(crate) async fn aggregate(State(state): Shared, request: Request) -> Response {
    if !super::is_component(&state) {
        return ServeError::NotImplemented("aggregate").into_seldon_response();
    }
    reply_message(
        async {
            let json = request_json(request, &state).await?;
            let messages = parse_message_list(&json, state.max_body_bytes)?;
            super::aggregate(&state, messages).await
        }
        .await,
    )
}

/// Parses a `SeldonMessageList`: `{"seldonMessages":[…]}` or a bare JSON list of messages; anything else is
/// the wrapper's `Invalid request data type: …`. Every message is charged to the body limit's budget.
fn parse_message_list(
    json: &[u8],
    max_body_bytes: usize,
) -> Result<Vec<SeldonMessage>, ServeError> {
    let value: serde_json::Value =
        serde_json::from_slice(json).map_err(|_| ServeError::BadRequest(NO_JSON.into()))?;
    let items = match value {
        serde_json::Value::Array(items) => items,
        serde_json::Value::Object(mut map)
            if map.len() == 1 && map.get("seldonMessages").is_some_and(|v| v.is_array()) =>
        {
            match map.remove("seldonMessages") {
                Some(serde_json::Value::Array(items)) => items,
                _ => Vec::new(),
            }
        }
        other => {
            return Err(ServeError::BadRequest(format!(
                "Invalid request data type: {other}"
            )));
        }
    };
    items
        .iter()
        .map(|item| {
            let bytes = serde_json::to_vec(item)
                .map_err(|e| ServeError::Internal(format!("cannot re-encode a message: {e}")))?;
            parse_message(&bytes, max_body_bytes)
        })
        .collect()
}

/// `GET /metadata`, `/api/v1.0/metadata`.
#[utoipa::path(get, path = "/api/v1.0/metadata", tag = TAG_SELDON, operation_id = "metadata",
    summary = "The model's Seldon metadata", responses(SeldonMetadataResponses))]
pub(crate) async fn metadata(State(state): Shared) -> Response {
    match &state.seldon_metadata {
        Some(meta) => reply(Ok(meta)),
        None => ServeError::BadMetadata.into_seldon_response(),
    }
}

/// `GET /health/ping` → `pong`.
#[utoipa::path(get, path = "/health/ping", tag = TAG_PROBES, operation_id = "ping",
    summary = "Answers `pong`", responses(PingResponses))]
pub(crate) async fn ping() -> Response {
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], "pong").into_response()
}

/// `GET /health/status`, `/api/v1.0/health/status`.
#[utoipa::path(get, path = "/health/status", tag = TAG_SELDON, operation_id = "healthStatus",
    summary = "Health: a SeldonMessage with `strData: healthy`", responses(HealthStatusResponses))]
pub(crate) async fn health_status(State(state): Shared) -> Response {
    reply_message(super::health(&state).await)
}
