//! KServe's V1 data plane over REST: the routes, read as FastAPI reads KServe's (`/v1/models/{model_name}`,
//! `…:predict`, `…:explain`, the name URL-unescaped), each handler calling the protocol's logic ([`super`]) and
//! writing its JSON or the error as `{"error": …}`. axum cannot capture `{name}:predict` in one segment, so one
//! wildcard takes every path under `/v1/models/` and [`route`] reads it; its documented paths are the three
//! handlers'.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::{Method, StatusCode, Uri};
use axum::response::Response;
use axum::routing::{any, get};

use crate::error::{ServeError, json_response};
use crate::openapi::{
    Doc, DocRouter, TAG_KSERVE_V1, V1ExplainResponses, V1LiveResponses, V1ModelReadyResponses,
    V1ModelsResponses, V1PredictResponses,
};
use crate::state::ServerState;

type Shared = State<Arc<ServerState>>;

/// The path prefix of the model routes.
const MODELS: &str = "/v1/models";

/// KServe's liveness route, `GET /` (served on every server).
pub(crate) fn live_routes() -> DocRouter {
    DocRouter::new().route("/", get(live), Doc::of::<__path_live>())
}

/// The V1 model routes: the list, and the wildcard under it (readiness, `:predict`, `:explain`).
pub(crate) fn routes() -> DocRouter {
    DocRouter::new()
        .route(MODELS, get(list_models), Doc::of::<__path_list_models>())
        .wildcard("/v1/models/{*rest}", any(dispatch), wildcard_docs())
}

/// The paths the wildcard serves, documented by their handlers.
fn wildcard_docs() -> Vec<(String, Doc)> {
    vec![
        ("/v1/models/{name}".into(), Doc::of::<__path_model_ready>()),
        (
            "/v1/models/{name}:predict".into(),
            Doc::of::<__path_predict>(),
        ),
        (
            "/v1/models/{name}:explain".into(),
            Doc::of::<__path_explain>(),
        ),
    ]
}

/// What a path under `/v1/models/` asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Route {
    Ready(String),
    Predict(String),
    Explain(String),
}

/// Why a path under `/v1/models/` is not one of V1's routes.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Miss {
    /// No V1 route has this path: 404.
    NotFound,
    /// The path is a V1 route for `allow` only: 405 with an `Allow` header (RFC 9110).
    Method { allow: Method },
}

impl Miss {
    fn into_response(self) -> Response {
        match self {
            Miss::NotFound => ServeError::RouteNotFound.into_kserve_v1_response(),
            Miss::Method { allow } => {
                let mut response = ServeError::MethodNotAllowed.into_kserve_v1_response();
                if let Ok(value) = axum::http::HeaderValue::from_str(allow.as_str()) {
                    response
                        .headers_mut()
                        .insert(axum::http::header::ALLOW, value);
                }
                response
            }
        }
    }
}

/// Reads `/v1/models/{name}` (GET) and `/v1/models/{name}:predict|explain` (POST); a name is one non-empty
/// segment (URL-unescaped), the verb what follows its last `:`. A known path with another method is 405 naming
/// the method it takes, anything else 404.
fn route(method: &Method, path: &str) -> Result<Route, Miss> {
    let rest = path
        .strip_prefix(MODELS)
        .and_then(|r| r.strip_prefix('/'))
        .filter(|r| !r.is_empty() && !r.contains('/'))
        .ok_or(Miss::NotFound)?;
    let name = |raw: &str| {
        percent_encoding::percent_decode_str(raw)
            .decode_utf8_lossy()
            .into_owned()
    };
    let verb = rest
        .rsplit_once(':')
        .filter(|(head, verb)| !head.is_empty() && matches!(*verb, "predict" | "explain"));
    match (verb, method) {
        (Some((head, "predict")), &Method::POST) => Ok(Route::Predict(name(head))),
        (Some((head, _)), &Method::POST) => Ok(Route::Explain(name(head))),
        (Some(_), _) => Err(Miss::Method {
            allow: Method::POST,
        }),
        (None, &Method::GET) => Ok(Route::Ready(name(rest))),
        (None, _) => Err(Miss::Method { allow: Method::GET }),
    }
}

/// A JSON reply or a V1 error.
fn reply(result: Result<Vec<u8>, ServeError>) -> Response {
    match result {
        Ok(body) => json_response(StatusCode::OK, body),
        Err(e) => e.into_kserve_v1_response(),
    }
}

fn json_value(value: &serde_json::Value) -> Response {
    json_response(StatusCode::OK, value.to_string().into_bytes())
}

async fn dispatch(State(state): Shared, method: Method, uri: Uri, body: Body) -> Response {
    match route(&method, uri.path()) {
        Ok(Route::Ready(name)) => model_ready(&state, &name),
        Ok(Route::Predict(name)) => predict(&state, &name, body).await,
        Ok(Route::Explain(name)) => explain(&state, &name, body).await,
        Err(miss) => miss.into_response(),
    }
}

#[utoipa::path(get, path = "/", tag = TAG_KSERVE_V1, operation_id = "kserveLive",
    summary = "Liveness (KServe): the process answers",
    responses(V1LiveResponses))]
pub(crate) async fn live() -> Response {
    json_value(&super::live())
}

#[utoipa::path(get, path = "/v1/models", tag = TAG_KSERVE_V1, operation_id = "kserveModels",
    summary = "The models served",
    responses(V1ModelsResponses))]
pub(crate) async fn list_models(State(state): Shared) -> Response {
    json_value(&super::models(&state))
}

#[utoipa::path(get, path = "/v1/models/{name}", tag = TAG_KSERVE_V1, operation_id = "kserveModelReady",
    summary = "Model readiness",
    params(("name" = String, Path, description = "the model's name")),
    responses(V1ModelReadyResponses))]
pub(crate) fn model_ready(state: &ServerState, name: &str) -> Response {
    match super::model_ready(state, name) {
        Ok(value) => json_value(&value),
        Err(e) => e.into_kserve_v1_response(),
    }
}

/// The body, bounded by the server's limit.
async fn read_body(state: &ServerState, body: Body) -> Result<bytes::Bytes, ServeError> {
    crate::rest::body_bytes(body, state.max_body_bytes).await
}

#[utoipa::path(post, path = "/v1/models/{name}:predict", tag = TAG_KSERVE_V1, operation_id = "kservePredict",
    summary = "Predicts: `instances` (or `inputs`), one entry per row",
    params(("name" = String, Path, description = "the model's name")),
    request_body(content = serde_json::Value, content_type = "application/json",
        description = "`{\"instances\": [[...], ...]}` or `{\"inputs\": [[...], ...]}`",
        example = json!({"instances": [[6.8, 2.8, 4.8, 1.4], [6.0, 3.4, 4.5, 1.6]]})),
    responses(V1PredictResponses))]
pub(crate) async fn predict(state: &ServerState, name: &str, body: Body) -> Response {
    let result = match read_body(state, body).await {
        Ok(bytes) => super::predict(state, name, &bytes).await,
        Err(e) => Err(e),
    };
    reply(result)
}

async fn explain_reply(state: &ServerState, name: &str, body: Body) -> Result<Vec<u8>, ServeError> {
    let bytes = read_body(state, body).await?;
    super::explain(state, name, &bytes)
}

#[utoipa::path(post, path = "/v1/models/{name}:explain", tag = TAG_KSERVE_V1, operation_id = "kserveExplain",
    summary = "Explains: no explainer serves beside the model (501, as KServe without an explainer)",
    params(("name" = String, Path, description = "the model's name")),
    request_body(content = serde_json::Value, content_type = "application/json",
        description = "the same body as `:predict`"),
    responses(V1ExplainResponses))]
pub(crate) async fn explain(state: &ServerState, name: &str, body: Body) -> Response {
    reply(explain_reply(state, name, body).await)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_read_as_fastapi_reads_kserves() {
        let r = |m: Method, p: &str| route(&m, p);
        let only = |allow: Method| Err(Miss::Method { allow });
        assert_eq!(r(Method::GET, "/v1/models/m"), Ok(Route::Ready("m".into())));
        assert_eq!(
            r(Method::POST, "/v1/models/my%20m:predict"),
            Ok(Route::Predict("my m".into()))
        );
        assert_eq!(
            r(Method::POST, "/v1/models/a:b:explain"),
            Ok(Route::Explain("a:b".into()))
        );
        assert_eq!(r(Method::GET, "/v1/models/m:predict"), only(Method::POST));
        assert_eq!(r(Method::TRACE, "/v1/models/m:explain"), only(Method::POST));
        assert_eq!(r(Method::POST, "/v1/models/m"), only(Method::GET));
        // FastAPI's `{model_name}` is one or more characters: `:predict` alone is a name, read on GET only.
        assert_eq!(r(Method::POST, "/v1/models/:predict"), only(Method::GET));
        for missing in ["/v1/models/m/x", "/v1/models/", "/v2/models/m"] {
            assert_eq!(r(Method::POST, missing), Err(Miss::NotFound), "{missing}");
        }
        // `:classify` is not a V1 verb: the name is `m:classify`.
        assert_eq!(
            r(Method::GET, "/v1/models/m:classify"),
            Ok(Route::Ready("m:classify".into()))
        );
    }
}
