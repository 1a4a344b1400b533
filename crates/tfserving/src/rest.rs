//! TF Serving's REST routes. axum cannot capture `{name}:predict` in one segment, so one wildcard route takes
//! every path under `/v1/` and [`parse_route`] reads it as TF Serving's path patterns do (case-insensitive);
//! any other path under `/v1/` is a 400 `Malformed request`, as in TF Serving.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use oxserve_core::PredictRequest;
use oxserve_protocol::RequestLimits;
use oxserve_protocol::tfserving::{self, RequestError};
use oxserve_runtime::rest::{Doc, DocRouter};
use oxserve_runtime::{ServeError, ServerState};
use utoipa::openapi::path::{
    HttpMethod, OperationBuilder, Parameter, ParameterBuilder, ParameterIn,
};
use utoipa::openapi::request_body::{RequestBody, RequestBodyBuilder};
use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::openapi::{ContentBuilder, Required, ResponseBuilder};

use crate::{TfServingStatus as _, VersionChoice, all_outputs, resolve};

/// The routes: every method on every path under `/v1/`.
pub(crate) fn routes() -> DocRouter {
    DocRouter::new().wildcard("/v1/{*path}", any(handle), docs())
}

/// The paths [`parse_route`] reads, as the OpenAPI document lists them (with the runtime's): status and
/// signature metadata of the latest version, a version or a label, and `:predict` on each (`:classify` and
/// `:regress` answer 501). TF Serving also reads the path case-insensitively; the document shows one spelling.
fn docs() -> Vec<(String, Doc)> {
    let mut docs = Vec::new();
    for (suffix, id, what) in [
        ("", "", "the latest version"),
        ("/versions/{version}", "Version", "a version"),
        ("/labels/{label}", "Label", "a labelled version"),
    ] {
        let path = format!("/v1/models/{{name}}{suffix}");
        let params = move |op: OperationBuilder| {
            let op = op.parameter(param("name", "the model's name"));
            match id {
                "Version" => op.parameter(param("version", "the version's number")),
                "Label" => op.parameter(param(
                    "label",
                    "a version label (any label names the served version)",
                )),
                _ => op,
            }
        };
        docs.push((
            path.clone(),
            doc(move || {
                (
                    HttpMethod::Get,
                    params(operation(
                        &format!("tfServingStatus{id}"),
                        &format!("Model status of {what}"),
                        &[
                            (200, "the version's status (`model_version_status`)"),
                            NOT_FOUND,
                        ],
                    )),
                )
            }),
        ));
        docs.push((
            format!("{path}/metadata"),
            doc(move || {
                (
                    HttpMethod::Get,
                    params(operation(
                        &format!("tfServingMetadata{id}"),
                        &format!("Signature metadata of {what}"),
                        &[
                            (
                                200,
                                "the `serving_default` signature (`metadata.signature_def`)",
                            ),
                            NOT_FOUND,
                        ],
                    )),
                )
            }),
        ));
        docs.push((
            format!("{path}:predict"),
            doc(move || (HttpMethod::Post, params(operation(
                &format!("tfServingPredict{id}"),
                &format!("Predicts with {what}: `instances` (row format) or `inputs` (columnar)"),
                &[
                    (200, "`predictions` (row format) or `outputs` (columnar)"),
                    (400, "the request cannot be read, or the model refuses it"),
                    NOT_FOUND,
                    (413, "the body is larger than the server's limit"),
                    (429, "the server is overloaded"),
                    (500, "the model failed"),
                ],
            ))
            .request_body(Some(json_body("`{\"instances\": [...]}` or `{\"inputs\": ...}`, with an optional `signature_name`"))))),
        ));
    }
    for verb in ["classify", "regress"] {
        docs.push((
            format!("/v1/models/{{name}}:{verb}"),
            doc(move || {
                (
                    HttpMethod::Post,
                    operation(
                        &format!(
                            "tfServing{}",
                            if verb == "classify" {
                                "Classify"
                            } else {
                                "Regress"
                            }
                        ),
                        &format!("`:{verb}` (tf.Example input): not implemented, use `:predict`"),
                        &[(501, "not implemented")],
                    )
                    .parameter(param("name", "the model's name"))
                    .request_body(Some(json_body("TF Serving's `:{verb}` request"))),
                )
            }),
        ));
    }
    docs
}

/// A 404 as TF Serving words it.
const NOT_FOUND: (u16, &str) = (
    404,
    "no such model or version (`Servable not found for request: …`)",
);

/// A route's documentation, built only when the document is ([`Doc::lazy`]).
fn doc(build: impl Fn() -> (HttpMethod, OperationBuilder) + Send + Sync + 'static) -> Doc {
    Doc::lazy(move || {
        let (method, op) = build();
        Doc::operation(method, op.build())
    })
}

/// An operation tagged TF Serving, with its responses: a JSON object on success, `{"error": "…"}` otherwise.
fn operation(id: &str, summary: &str, responses: &[(u16, &str)]) -> OperationBuilder {
    let mut op = OperationBuilder::new()
        .tag("TF Serving")
        .operation_id(Some(id))
        .summary(Some(summary));
    for (status, description) in responses {
        let schema = if *status < 300 {
            ObjectBuilder::new().schema_type(Type::Object).build()
        } else {
            ObjectBuilder::new()
                .property("error", ObjectBuilder::new().schema_type(Type::String))
                .required("error")
                .build()
        };
        op = op.response(
            status.to_string(),
            ResponseBuilder::new()
                .description(*description)
                .content(
                    "application/json",
                    ContentBuilder::new().schema(Some(schema)).build(),
                )
                .build(),
        );
    }
    op
}

fn param(name: &str, description: &str) -> Parameter {
    ParameterBuilder::new()
        .name(name)
        .parameter_in(ParameterIn::Path)
        .required(Required::True)
        .description(Some(description))
        .schema(Some(ObjectBuilder::new().schema_type(Type::String)))
        .build()
}

fn json_body(description: &str) -> RequestBody {
    RequestBodyBuilder::new()
        .required(Some(Required::True))
        .description(Some(description))
        .content(
            "application/json",
            ContentBuilder::new()
                .schema(Some(ObjectBuilder::new().schema_type(Type::Object)))
                .build(),
        )
        .build()
}

/// What a path under `/v1/` asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Route {
    /// `GET /v1/models/{name}[/versions/{n}|/labels/{l}]`.
    Status(String, VersionChoice),
    /// `GET .../metadata`.
    Metadata(String, VersionChoice),
    /// `POST ...:predict`.
    Predict(String, VersionChoice),
    /// `POST ...:classify` or `:regress`.
    Unsupported(&'static str),
}

async fn handle(
    State(state): State<Arc<ServerState>>,
    method: Method,
    uri: Uri,
    body: Body,
) -> Response {
    match serve(&state, &method, &uri, body).await {
        Ok(response) => response,
        Err(e) => e.into_tf_serving_response(),
    }
}

async fn serve(
    state: &Arc<ServerState>,
    method: &Method,
    uri: &Uri,
    body: Body,
) -> Result<Response, ServeError> {
    match parse_route(method, uri.path())? {
        Route::Status(name, choice) => {
            let version = resolve(state, &name, &choice)?;
            Ok(json_ok(
                tfserving::status_json(version).to_string().into_bytes(),
            ))
        }
        Route::Metadata(name, choice) => {
            let version = resolve(state, &name, &choice)?;
            let json = tfserving::metadata_json(&name, version, state.model.metadata());
            Ok(json_ok(json.to_string().into_bytes()))
        }
        Route::Predict(name, choice) => {
            resolve(state, &name, &choice)?;
            let bytes = oxserve_runtime::rest::body_bytes(body, state.max_body_bytes).await?;
            let decoded = tfserving::decode_predict(
                &bytes,
                &state.model.metadata().inputs,
                &RequestLimits::from_body_limit(state.max_body_bytes),
            )
            .map_err(bad_request)?;
            let response = state
                .predict(PredictRequest {
                    inputs: decoded.inputs,
                    outputs: all_outputs(state),
                })
                .await?;
            let body = tfserving::encode_predict(decoded.format, &response.outputs)
                .map_err(bad_request)?;
            Ok(json_ok(body))
        }
        Route::Unsupported(verb) => Err(ServeError::NotImplemented(verb)),
    }
}

fn bad_request(e: RequestError) -> ServeError {
    ServeError::BadRequest(e.to_string())
}

fn json_ok(body: Vec<u8>) -> Response {
    let mut response = (StatusCode::OK, body).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// Reads a path under `/v1/` as TF Serving's patterns do:
/// `POST /v1/models/{name}[/versions/{n}|/labels/{l}]:(predict|classify|regress)` and
/// `GET /v1/models[/{name}][/versions/{n}|/labels/{l}][/metadata]`. Names and labels are URL-unescaped.
pub(crate) fn parse_route(method: &Method, path: &str) -> Result<Route, ServeError> {
    let malformed = || ServeError::BadRequest(format!("Malformed request: {method} {path}"));
    let rest = match path.get(..10) {
        Some(head) if head.eq_ignore_ascii_case("/v1/models") => &path[10..],
        _ => return Err(malformed()),
    };
    if *method == Method::GET {
        if rest.is_empty() {
            return Err(ServeError::BadRequest(
                "Missing model name in request.".into(),
            ));
        }
        let segments: Vec<&str> = rest
            .strip_prefix('/')
            .ok_or_else(malformed)?
            .split('/')
            .collect();
        let (&name, tail) = segments.split_first().ok_or_else(malformed)?;
        let (choice, tail) = version_choice(tail).map_err(|e| e.unwrap_or_else(malformed))?;
        let name = segment(name).ok_or_else(malformed)?;
        return match tail {
            [] => Ok(Route::Status(name, choice)),
            [m] if m.eq_ignore_ascii_case("metadata") => Ok(Route::Metadata(name, choice)),
            _ => Err(malformed()),
        };
    }
    if *method != Method::POST {
        return Err(malformed());
    }
    let rest = rest.strip_prefix('/').ok_or_else(malformed)?;
    let (head, verb) = rest.rsplit_once(':').ok_or_else(malformed)?;
    let segments: Vec<&str> = head.split('/').collect();
    let (&name, tail) = segments.split_first().ok_or_else(malformed)?;
    let (choice, tail) = version_choice(tail).map_err(|e| e.unwrap_or_else(malformed))?;
    let name = segment(name).ok_or_else(malformed)?;
    if !tail.is_empty() {
        return Err(malformed());
    }
    match verb.to_ascii_lowercase().as_str() {
        "predict" => Ok(Route::Predict(name, choice)),
        "classify" => Ok(Route::Unsupported(
            ":classify (tf.Example input; use :predict)",
        )),
        "regress" => Ok(Route::Unsupported(
            ":regress (tf.Example input; use :predict)",
        )),
        _ => Err(malformed()),
    }
}

/// Reads an optional `versions/{n}` or `labels/{l}` off the front of `segments`. `Err(None)` is a malformed
/// path; `Err(Some(e))` a version that does not fit an int64.
#[allow(clippy::type_complexity)]
fn version_choice<'a, 'b>(
    segments: &'a [&'b str],
) -> Result<(VersionChoice, &'a [&'b str]), Option<ServeError>> {
    match segments {
        [kind, value, tail @ ..] if kind.eq_ignore_ascii_case("versions") => {
            if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
                return Err(None);
            }
            let n = value.parse::<i64>().map_err(|_| {
                Some(ServeError::BadRequest(format!(
                    "Failed to convert version: {value}"
                )))
            })?;
            Ok((VersionChoice::Number(n), tail))
        }
        [kind, value, tail @ ..] if kind.eq_ignore_ascii_case("labels") => {
            let label = segment(value).ok_or(None)?;
            Ok((VersionChoice::Label(label), tail))
        }
        _ => Ok((VersionChoice::Latest, segments)),
    }
}

/// A name or label segment: non-empty, no `:`, URL-unescaped.
fn segment(raw: &str) -> Option<String> {
    if raw.is_empty() || raw.contains(':') {
        return None;
    }
    Some(
        percent_encoding::percent_decode_str(raw)
            .decode_utf8_lossy()
            .into_owned(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(method: Method, path: &str) -> Result<Route, String> {
        parse_route(&method, path).map_err(|e| e.to_string())
    }

    #[test]
    fn paths_read_as_tf_serving_reads_them() {
        let m = || "m".to_string();
        assert_eq!(
            route(Method::GET, "/v1/models/m"),
            Ok(Route::Status(m(), VersionChoice::Latest))
        );
        assert_eq!(
            route(Method::GET, "/v1/Models/m/Versions/3/METADATA"),
            Ok(Route::Metadata(m(), VersionChoice::Number(3)))
        );
        assert_eq!(
            route(Method::POST, "/v1/models/m/labels/stable:predict"),
            Ok(Route::Predict(m(), VersionChoice::Label("stable".into())))
        );
        assert_eq!(
            route(Method::POST, "/v1/models/my%20model:predict"),
            Ok(Route::Predict("my model".into(), VersionChoice::Latest))
        );
        assert_eq!(
            route(Method::GET, "/v1/models"),
            Err("Missing model name in request.".into())
        );
        assert_eq!(
            route(Method::POST, "/v1/models/m/versions/x:predict"),
            Err("Malformed request: POST /v1/models/m/versions/x:predict".into())
        );
        assert_eq!(
            route(
                Method::POST,
                "/v1/models/m/versions/99999999999999999999:predict"
            ),
            Err("Failed to convert version: 99999999999999999999".into())
        );
        assert!(route(Method::POST, "/v1/models/m/versions/1/labels/a:predict").is_err());
        assert!(route(Method::POST, "/v1/models/m:explain").is_err());
        assert!(route(Method::POST, "/v1/models/a:b:predict").is_err());
        assert!(route(Method::DELETE, "/v1/models/m").is_err());
        assert!(route(Method::GET, "/v1/foo").is_err());
        assert!(matches!(
            route(Method::POST, "/v1/models/m:classify"),
            Ok(Route::Unsupported(_))
        ));
    }
}
