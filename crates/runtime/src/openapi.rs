//! The REST API's OpenAPI 3.1 document and the Swagger UI that shows it, as Seldon's executor serves them at
//! `/api/v1.0/doc/` (and the Python wrapper at `/seldon.json`).
//!
//! The document lists the routes [`crate::rest::app`] serves, with the schemas of `oxserve_protocol`'s own wire
//! types (its `openapi` feature: derived from their serde attributes, or written next to their hand-written
//! serde) and every status the runtime's one error table ([`crate::error`]) can give each route. The Swagger
//! UI's assets (from the npm package `swagger-ui-dist`, refreshed by `scripts/update-swagger-ui.sh`) are
//! compiled into the binary; nothing is fetched at run time.
//!
//! Every URL the page uses is relative, and so is the document's server (`../../..`, resolved against
//! `…/api/v1.0/doc/openapi.json`), so "Try it out" posts to the right place both directly and behind an
//! ingress prefix such as `/seldon/<namespace>/<model>/` that the proxy strips.

use std::sync::{Arc, LazyLock};

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};
use utoipa::openapi::path::{
    Operation, OperationBuilder, Parameter, ParameterBuilder, ParameterIn,
};
use utoipa::openapi::request_body::RequestBodyBuilder;
use utoipa::openapi::tag::TagBuilder;
use utoipa::openapi::{
    ComponentsBuilder, ContentBuilder, HttpMethod, InfoBuilder, OpenApi, OpenApiBuilder, PathItem,
    PathsBuilder, Ref, Required, ResponseBuilder, ServerBuilder, Tag,
};

use oxserve_protocol::{seldon, v2};

use crate::error::{ServeError, json_response};
use crate::state::ServerState;

/// Where the UI lives; Seldon's executor also answers the older `v0.1` path.
const DOC_PREFIXES: [&str; 2] = ["/api/v1.0/doc", "/api/v0.1/doc"];

/// The document's server: from `…/api/v1.0/doc/openapi.json` three levels up is the root the routes hang from,
/// whatever prefix a proxy stripped in front of it.
const RELATIVE_SERVER: &str = "../../..";

/// The seed's first prediction, the example body of the predictions route.
const SEED_EXAMPLE: &str = r#"{"data":{"ndarray":[[1,2,3,4]]}}"#;

const TAG_SELDON: &str = "Seldon v1";
const TAG_V2: &str = "Open Inference Protocol (V2)";
const TAG_PROBES: &str = "Probes";

/// The routes of the document and the UI: `/api/v1.0/doc/` (and `v0.1`), its assets, `openapi.json` (also as
/// the executor's `seldon.json`), and the wrapper's `/seldon.json`.
pub(crate) fn routes() -> Router<Arc<ServerState>> {
    let mut router = Router::new().route("/seldon.json", get(document));
    for prefix in DOC_PREFIXES {
        router = router
            .route(prefix, get(redirect_to_slash))
            .route(
                &format!("{prefix}/"),
                get(|headers: HeaderMap| async move { asset(&INDEX_HTML, &headers) }),
            )
            .route(
                &format!("{prefix}/index.html"),
                get(|headers: HeaderMap| async move { asset(&INDEX_HTML, &headers) }),
            )
            .route(
                &format!("{prefix}/swagger-initializer.js"),
                get(|headers: HeaderMap| async move { asset(&INITIALIZER_JS, &headers) }),
            )
            .route(
                &format!("{prefix}/swagger-ui.css"),
                get(|headers: HeaderMap| async move { asset(&SWAGGER_CSS, &headers) }),
            )
            .route(
                &format!("{prefix}/swagger-ui-bundle.js"),
                get(|headers: HeaderMap| async move { asset(&SWAGGER_BUNDLE, &headers) }),
            )
            .route(&format!("{prefix}/openapi.json"), get(document))
            .route(&format!("{prefix}/seldon.json"), get(document));
    }
    router
}

/// `/api/v1.0/doc` → `doc/`: relative, so the redirect stays under a proxy's prefix, and the page's relative
/// URLs then resolve inside the folder.
async fn redirect_to_slash() -> Response {
    (
        StatusCode::PERMANENT_REDIRECT,
        [(header::LOCATION, HeaderValue::from_static("doc/"))],
    )
        .into_response()
}

/// `openapi.json`: built per request (it names the served model in its examples); not cached by clients, since
/// it changes with the server.
async fn document(State(state): State<Arc<ServerState>>) -> Response {
    match openapi(&state.model_name, state.model_version.as_deref()).to_json() {
        Ok(body) => {
            let mut response = json_response(StatusCode::OK, body.into_bytes());
            response
                .headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
            response
        }
        Err(e) => ServeError::Internal(format!("cannot encode the OpenAPI document: {e}"))
            .into_seldon_response(),
    }
}

/// A file compiled into the binary, with its content type, caching policy and an ETag computed once.
struct Asset {
    body: &'static [u8],
    content_type: &'static str,
    cache_control: &'static str,
    etag: HeaderValue,
}

impl Asset {
    fn new(body: &'static [u8], content_type: &'static str, cache_control: &'static str) -> Self {
        // FNV-1a: stable, dependency-free, and enough to tell two builds' assets apart.
        let hash = body.iter().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
            (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
        });
        let etag = HeaderValue::from_str(&format!("\"{hash:016x}\""))
            .unwrap_or(HeaderValue::from_static("\"0\""));
        Asset {
            body,
            content_type,
            cache_control,
            etag,
        }
    }
}

/// Our pages change with the server, so clients revalidate them (cheap with the ETag).
const REVALIDATE: &str = "no-cache";
/// The vendored bundle changes only with a new server build; an hour, then revalidation with the ETag.
const CACHE_HOUR: &str = "public, max-age=3600";

static INDEX_HTML: LazyLock<Asset> = LazyLock::new(|| {
    Asset::new(
        include_bytes!("../assets/swagger-ui/index.html"),
        "text/html; charset=utf-8",
        REVALIDATE,
    )
});
static INITIALIZER_JS: LazyLock<Asset> = LazyLock::new(|| {
    Asset::new(
        include_bytes!("../assets/swagger-ui/swagger-initializer.js"),
        "text/javascript; charset=utf-8",
        REVALIDATE,
    )
});
static SWAGGER_CSS: LazyLock<Asset> = LazyLock::new(|| {
    Asset::new(
        include_bytes!("../assets/swagger-ui/swagger-ui.css"),
        "text/css; charset=utf-8",
        CACHE_HOUR,
    )
});
static SWAGGER_BUNDLE: LazyLock<Asset> = LazyLock::new(|| {
    Asset::new(
        include_bytes!("../assets/swagger-ui/swagger-ui-bundle.js"),
        "text/javascript; charset=utf-8",
        CACHE_HOUR,
    )
});

/// Serves an asset, answering `304 Not Modified` when the client already holds this version.
fn asset(asset: &Asset, request: &HeaderMap) -> Response {
    let fresh = request
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|tags| {
            tags.split(',')
                .any(|t| t.trim() == "*" || t.trim().as_bytes() == asset.etag.as_bytes())
        });
    let headers = [
        (
            header::CONTENT_TYPE,
            HeaderValue::from_static(asset.content_type),
        ),
        (
            header::CACHE_CONTROL,
            HeaderValue::from_static(asset.cache_control),
        ),
        (header::ETAG, asset.etag.clone()),
        (
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ),
    ];
    if fresh {
        (StatusCode::NOT_MODIFIED, headers).into_response()
    } else {
        (StatusCode::OK, headers, asset.body).into_response()
    }
}

/// The OpenAPI document of the REST routes; the served model's name and version are the examples of V2's
/// `{name}` and `{version}`.
pub(crate) fn openapi(model_name: &str, model_version: Option<&str>) -> OpenApi {
    let seldon_predict = || {
        operation(TAG_SELDON, "Runs a prediction on a SeldonMessage", SEED_RESPONSES)
            .description(Some(
                "Seldon's external prediction route. The body is a SeldonMessage with `data` (`ndarray`, \
                 `tensor` or `tftensor`); the reply carries the model's output in the same form, named `t:0…`.",
            ))
            .request_body(Some(seldon_body("SeldonMessage", Some(seed_example()))))
    };
    let seldon_node = |summary: &str| {
        operation(TAG_SELDON, summary, SEED_RESPONSES)
            .request_body(Some(seldon_body("SeldonMessage", None)))
    };
    let feedback = || {
        operation(
            TAG_SELDON,
            "Sends feedback (a reward) on an earlier prediction",
            SEED_RESPONSES,
        )
        .request_body(Some(seldon_body("Feedback", None)))
    };
    let not_implemented = |summary: &str| {
        operation(
            TAG_SELDON,
            summary,
            &[
                (400, "not implemented by a model", Body::SeldonError),
                SELDON_413,
                SELDON_405,
            ],
        )
        .request_body(Some(seldon_body("SeldonMessage", None)))
    };
    let metadata = || {
        operation(
            TAG_SELDON,
            "The model's Seldon metadata",
            &[
                (200, "the metadata", Body::Json("SeldonModelMetadata")),
                (500, "the metadata fails Seldon's schema", Body::SeldonError),
            ],
        )
    };
    let health_status = || {
        operation(
            TAG_SELDON,
            "Health: a SeldonMessage with `strData: healthy`",
            &[(200, "healthy", Body::Json("SeldonMessage"))],
        )
    };

    let name = path_param("name", "the model's name", model_name);
    let version = path_param(
        "version",
        "the model's version",
        model_version.unwrap_or("1"),
    );
    let v2_model = |summary: &str, responses: &[(u16, &str, Body)], with_version: bool| {
        let mut op = operation(TAG_V2, summary, responses).parameter(name.clone());
        if with_version {
            op = op.parameter(version.clone());
        }
        op
    };
    let v2_infer = |with_version: bool| {
        v2_model("Runs an inference", V2_INFER_RESPONSES, with_version).request_body(Some(
            RequestBodyBuilder::new()
                .required(Some(Required::True))
                .content(
                    "application/json",
                    ContentBuilder::new()
                        .schema(Some(Ref::from_schema_name("InferenceRequest")))
                        .example(Some(json!({
                            "inputs": [{"name": "input-0", "shape": [1, 4], "datatype": "FP64", "data": [1, 2, 3, 4]}]
                        })))
                        .build(),
                )
                .build(),
        ))
    };
    let v2_metadata_responses: &[(u16, &str, Body)] = &[
        (200, "the model's metadata", Body::Json("V2ModelMetadata")),
        (404, "no such model or version", Body::V2Error),
        (500, "the metadata cannot be encoded", Body::V2Error),
    ];
    let v2_ready_responses: &[(u16, &str, Body)] = &[
        (
            200,
            "whether the model is ready",
            Body::Json("V2ModelReady"),
        ),
        (404, "no such model or version", Body::V2Error),
    ];

    let paths = PathsBuilder::new()
        .path(
            "/api/v1.0/predictions",
            post(seldon_predict().operation_id(Some("predictions"))),
        )
        .path(
            "/api/v1.0/feedback",
            post(feedback().operation_id(Some("feedback"))),
        )
        .path(
            "/api/v1.0/metadata",
            get_op(metadata().operation_id(Some("metadata"))),
        )
        .path(
            "/api/v1.0/health/status",
            get_op(health_status().operation_id(Some("healthStatusV1"))),
        )
        .path(
            "/api/v0.1/predictions",
            post(
                seldon_predict()
                    .operation_id(Some("predictionsV01"))
                    .deprecated(Some(utoipa::openapi::Deprecated::True)),
            ),
        )
        .path(
            "/api/v0.1/feedback",
            post(
                feedback()
                    .operation_id(Some("feedbackV01"))
                    .deprecated(Some(utoipa::openapi::Deprecated::True)),
            ),
        )
        .path(
            "/predict",
            both(
                || {
                    seldon_node("The model node's prediction route (what the executor calls)")
                        .operation_id(Some("predict"))
                },
                "predictGet",
            ),
        )
        .path(
            "/send-feedback",
            both(
                || feedback().operation_id(Some("sendFeedback")),
                "sendFeedbackGet",
            ),
        )
        .path(
            "/transform-input",
            both(
                || {
                    seldon_node("Passes the payload through (a model's transform-input)")
                        .operation_id(Some("transformInput"))
                },
                "transformInputGet",
            ),
        )
        .path(
            "/transform-output",
            both(
                || {
                    seldon_node("Passes the payload through (a model's transform-output)")
                        .operation_id(Some("transformOutput"))
                },
                "transformOutputGet",
            ),
        )
        .path(
            "/route",
            both(
                || {
                    not_implemented("Routing (not implemented by a model)")
                        .operation_id(Some("route"))
                },
                "routeGet",
            ),
        )
        .path(
            "/aggregate",
            both(
                || {
                    not_implemented("Aggregation (not implemented by a model)")
                        .operation_id(Some("aggregate"))
                },
                "aggregateGet",
            ),
        )
        .path(
            "/metadata",
            get_op(metadata().operation_id(Some("nodeMetadata"))),
        )
        .path(
            "/health/status",
            get_op(health_status().operation_id(Some("healthStatus"))),
        )
        .path(
            "/health/ping",
            get_op(
                operation(
                    TAG_PROBES,
                    "Answers `pong`",
                    &[(200, "pong", Body::Text("text/html"))],
                )
                .operation_id(Some("ping")),
            ),
        )
        .path(
            "/live",
            get_op(
                operation(
                    TAG_PROBES,
                    "Liveness: the process answers",
                    &[(200, "alive", Body::Empty)],
                )
                .operation_id(Some("live")),
            ),
        )
        .path(
            "/ready",
            get_op(
                operation(
                    TAG_PROBES,
                    "Readiness: the model is loaded and the server is not shutting down",
                    &[(200, "ready", Body::Empty), (503, "not ready", Body::Empty)],
                )
                .operation_id(Some("ready")),
            ),
        )
        .path(
            "/v2",
            get_op(
                operation(
                    TAG_V2,
                    "Server metadata",
                    &[(
                        200,
                        "the server's name, version and extensions",
                        Body::Json("V2ServerMetadata"),
                    )],
                )
                .operation_id(Some("v2ServerMetadata")),
            ),
        )
        .path(
            "/v2/health/live",
            get_op(
                operation(
                    TAG_V2,
                    "Server liveness",
                    &[(200, "live", Body::Json("V2Live"))],
                )
                .operation_id(Some("v2Live")),
            ),
        )
        .path(
            "/v2/health/ready",
            get_op(
                operation(
                    TAG_V2,
                    "Server readiness",
                    &[
                        (200, "ready", Body::Json("V2Ready")),
                        (503, "not ready (shutting down)", Body::V2Error),
                    ],
                )
                .operation_id(Some("v2Ready")),
            ),
        )
        .path(
            "/v2/models/{name}",
            get_op(
                v2_model("Model metadata", v2_metadata_responses, false)
                    .operation_id(Some("v2ModelMetadata")),
            ),
        )
        .path(
            "/v2/models/{name}/versions/{version}",
            get_op(
                v2_model("Model version metadata", v2_metadata_responses, true)
                    .operation_id(Some("v2ModelVersionMetadata")),
            ),
        )
        .path(
            "/v2/models/{name}/ready",
            get_op(
                v2_model("Model readiness", v2_ready_responses, false)
                    .operation_id(Some("v2ModelReady")),
            ),
        )
        .path(
            "/v2/models/{name}/versions/{version}/ready",
            get_op(
                v2_model("Model version readiness", v2_ready_responses, true)
                    .operation_id(Some("v2ModelVersionReady")),
            ),
        )
        .path(
            "/v2/models/{name}/infer",
            post(v2_infer(false).operation_id(Some("v2Infer"))),
        )
        .path(
            "/v2/models/{name}/versions/{version}/infer",
            post(v2_infer(true).operation_id(Some("v2InferVersion"))),
        )
        .build();

    let components = [
        component::<seldon::SeldonMessage>,
        component::<seldon::Feedback>,
        component::<seldon::ErrorBody>,
        component::<seldon::ModelMetadataMessage>,
        component::<v2::MetadataServerResponse>,
        component::<v2::ServerLiveResponse>,
        component::<v2::ServerReadyResponse>,
        component::<v2::ModelReadyResponse>,
        component::<v2::MetadataModelResponse>,
        component::<v2::InferenceRequest>,
        component::<v2::InferenceResponse>,
        component::<v2::ErrorResponse>,
    ]
    .into_iter()
    .fold(ComponentsBuilder::new(), |builder, add| add(builder))
    .build();

    OpenApiBuilder::new()
        .info(
            InfoBuilder::new()
                .title("oxserve")
                .version(env!("CARGO_PKG_VERSION"))
                .description(Some(
                    "A model server speaking Seldon's v1 protocol and the Open Inference Protocol (V2). Errors \
                     answer `{\"status\":{\"code\":-1,\"info\":…,\"reason\":…,\"status\":1}}` on Seldon routes and \
                     `{\"error\":…}` on V2 routes; an unknown route answers 404 and a wrong method 405, in the \
                     same shapes.",
                ))
                .build(),
        )
        .servers(Some([ServerBuilder::new()
            .url(RELATIVE_SERVER)
            .description(Some(
                "this server (relative to this document, so it works behind a path prefix)",
            ))
            .build()]))
        .tags(Some([
            tag(TAG_SELDON, "Seldon Core v1 protocol"),
            tag(TAG_V2, "KServe / MLServer V2 inference protocol"),
            tag(TAG_PROBES, "Kubernetes probes"),
        ]))
        .paths(paths)
        .components(Some(components))
        .build()
}

/// What a response carries.
#[derive(Clone, Copy)]
enum Body {
    /// JSON of the named component schema.
    Json(&'static str),
    /// A Seldon error body.
    SeldonError,
    /// A V2 error body.
    V2Error,
    /// Text of this media type.
    Text(&'static str),
    /// Nothing.
    Empty,
}

const SELDON_405: (u16, &str, Body) = (
    405,
    "the route exists with other methods",
    Body::SeldonError,
);
const SELDON_413: (u16, &str, Body) = (
    413,
    "the body is larger than the server's limit",
    Body::SeldonError,
);

/// The statuses of every Seldon route that runs the model.
const SEED_RESPONSES: &[(u16, &str, Body)] = &[
    (200, "the model's answer", Body::Json("SeldonMessage")),
    (
        400,
        "the request cannot be read, or the model refuses it (`MICROSERVICE_BAD_DATA`)",
        Body::SeldonError,
    ),
    SELDON_413,
    (
        429,
        "the server is overloaded (`MICROSERVICE_OVERLOADED`)",
        Body::SeldonError,
    ),
    (
        500,
        "the model failed (`MICROSERVICE_INTERNAL_ERROR`)",
        Body::SeldonError,
    ),
];

/// The statuses of V2 inference.
const V2_INFER_RESPONSES: &[(u16, &str, Body)] = &[
    (200, "the model's answer", Body::Json("InferenceResponse")),
    (
        400,
        "the request cannot be read, or the model refuses it",
        Body::V2Error,
    ),
    (404, "no such model or version", Body::V2Error),
    (
        413,
        "the body is larger than the server's limit",
        Body::V2Error,
    ),
    (429, "the server is overloaded", Body::V2Error),
    (500, "the model failed", Body::V2Error),
];

/// Adds a schema and the schemas it refers to.
fn component<T: utoipa::ToSchema>(builder: ComponentsBuilder) -> ComponentsBuilder {
    let mut nested = Vec::new();
    T::schemas(&mut nested);
    builder.schema_from::<T>().schemas_from_iter(nested)
}

fn tag(name: &str, description: &str) -> Tag {
    TagBuilder::new()
        .name(name)
        .description(Some(description))
        .build()
}

fn string_schema() -> utoipa::openapi::schema::Object {
    utoipa::openapi::schema::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::String)
        .build()
}

fn path_param(name: &str, description: &str, example: &str) -> Parameter {
    ParameterBuilder::new()
        .name(name)
        .parameter_in(ParameterIn::Path)
        .required(Required::True)
        .description(Some(description))
        .schema(Some(string_schema()))
        .example(Some(json!(example)))
        .build()
}

fn seed_example() -> Value {
    serde_json::from_str(SEED_EXAMPLE).unwrap_or(Value::Null)
}

/// A Seldon request body: JSON, or (as the wrapper also reads it) a form with the JSON in its `json` field.
fn seldon_body(schema: &str, example: Option<Value>) -> utoipa::openapi::request_body::RequestBody {
    let form = utoipa::openapi::schema::ObjectBuilder::new()
        .property("json", string_schema())
        .required("json");
    RequestBodyBuilder::new()
        .required(Some(Required::True))
        .content(
            "application/json",
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name(schema)))
                .example(example)
                .build(),
        )
        .content(
            "application/x-www-form-urlencoded",
            ContentBuilder::new().schema(Some(form)).build(),
        )
        .build()
}

/// An operation with its tag, summary and responses.
fn operation(tag: &str, summary: &str, responses: &[(u16, &str, Body)]) -> OperationBuilder {
    let mut op = OperationBuilder::new().tag(tag).summary(Some(summary));
    for (status, description, body) in responses {
        let mut response = ResponseBuilder::new().description(*description);
        response = match body {
            Body::Json(schema) => response.content(
                "application/json",
                ContentBuilder::new()
                    .schema(Some(Ref::from_schema_name(*schema)))
                    .build(),
            ),
            Body::SeldonError => response.content(
                "application/json",
                ContentBuilder::new()
                    .schema(Some(Ref::from_schema_name("SeldonError")))
                    .build(),
            ),
            Body::V2Error => response.content(
                "application/json",
                ContentBuilder::new()
                    .schema(Some(Ref::from_schema_name("V2Error")))
                    .build(),
            ),
            Body::Text(media) => response.content(
                *media,
                ContentBuilder::new().schema(Some(string_schema())).build(),
            ),
            Body::Empty => response,
        };
        op = op.response(status.to_string(), response.build());
    }
    op
}

fn post(op: OperationBuilder) -> PathItem {
    PathItem::new(HttpMethod::Post, op.build())
}

fn get_op(op: OperationBuilder) -> PathItem {
    PathItem::new(HttpMethod::Get, op.build())
}

/// A route served on POST with a body and on GET with the body's JSON in the `json` query parameter (the
/// wrapper's node routes), with distinct operation ids.
fn both(op: impl Fn() -> OperationBuilder, get_id: &str) -> PathItem {
    let get = op()
        .request_body(None)
        .parameter(json_query())
        .operation_id(Some(get_id));
    PathItem::new(HttpMethod::Post, op().build()).merged(HttpMethod::Get, get)
}

/// The `json` query parameter: the request as JSON text (read before any body).
fn json_query() -> Parameter {
    ParameterBuilder::new()
        .name("json")
        .parameter_in(ParameterIn::Query)
        .required(Required::True)
        .description(Some(
            "the request (a SeldonMessage, or Feedback) as JSON text",
        ))
        .schema(Some(string_schema()))
        .example(Some(json!(SEED_EXAMPLE)))
        .build()
}

/// Adds an operation for another method to a path item.
trait Merged {
    fn merged(self, method: HttpMethod, op: OperationBuilder) -> Self;
}

impl Merged for PathItem {
    fn merged(mut self, method: HttpMethod, op: OperationBuilder) -> Self {
        self.merge_operations(PathItem::new(method, Operation::from(op)));
        self
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use axum::body::Body;
    use axum::http::{Method, Request, StatusCode, header};
    use http_body_util::BodyExt as _;
    use oxserve_core::{Model, ModelError, ModelMetadata, PredictRequest, PredictResponse};
    use serde_json::Value;
    use tower::ServiceExt as _;

    use crate::metrics::{FeedbackIdentity, Metrics};
    use crate::state::ServerState;

    /// Returns its input as its output.
    struct Identity(ModelMetadata);

    impl Model for Identity {
        fn metadata(&self) -> &ModelMetadata {
            &self.0
        }

        fn predict(&self, request: PredictRequest) -> Result<PredictResponse, ModelError> {
            Ok(PredictResponse {
                outputs: request.inputs,
            })
        }
    }

    fn app() -> axum::Router {
        let metrics = Metrics::new(FeedbackIdentity::default()).expect("metrics");
        let state = ServerState::new(
            Arc::new(Identity(ModelMetadata::default())),
            "iris".into(),
            Some("7".into()),
            None,
            Some(Default::default()),
            metrics,
            0,
        );
        crate::rest::app(Arc::new(state))
    }

    async fn call(
        method: Method,
        uri: &str,
        body: Body,
    ) -> (StatusCode, axum::http::HeaderMap, Vec<u8>) {
        let request = Request::builder()
            .method(method)
            .uri(uri)
            .header(header::CONTENT_TYPE, "application/json")
            .body(body)
            .expect("request");
        let response = app().oneshot(request).await.expect("response");
        let (parts, body) = response.into_parts();
        let bytes = body.collect().await.expect("body").to_bytes().to_vec();
        (parts.status, parts.headers, bytes)
    }

    async fn document(uri: &str) -> Value {
        let (status, headers, body) = call(Method::GET, uri, Body::empty()).await;
        assert_eq!(status, StatusCode::OK, "{uri}");
        assert_eq!(headers[header::CONTENT_TYPE], "application/json");
        serde_json::from_slice(&body).expect("the document is JSON")
    }

    #[tokio::test]
    async fn the_document_lists_predictions_with_the_seed_example() {
        let doc = document("/api/v1.0/doc/openapi.json").await;
        assert_eq!(doc["openapi"], "3.1.0");
        assert_eq!(doc["servers"][0]["url"], "../../..");
        let predictions = &doc["paths"]["/api/v1.0/predictions"]["post"];
        assert_eq!(
            predictions["requestBody"]["content"]["application/json"]["example"],
            serde_json::json!({"data": {"ndarray": [[1, 2, 3, 4]]}})
        );
        let statuses: Vec<&str> = predictions["responses"]
            .as_object()
            .expect("responses")
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(statuses, ["200", "400", "413", "429", "500"]);
        assert_eq!(
            doc["components"]["schemas"]["ErrorStatus"]["properties"]["reason"]["$ref"],
            "#/components/schemas/ErrorReason"
        );
        assert_eq!(
            doc["components"]["schemas"]["Feedback"]["additionalProperties"],
            false
        );
        let infer = &doc["paths"]["/v2/models/{name}/versions/{version}/infer"]["post"];
        assert_eq!(infer["parameters"][0]["example"], "iris");
        assert_eq!(infer["parameters"][1]["example"], "7");
        for alias in [
            "/api/v1.0/doc/seldon.json",
            "/seldon.json",
            "/api/v0.1/doc/openapi.json",
        ] {
            assert_eq!(document(alias).await, doc, "{alias}");
        }
    }

    #[tokio::test]
    async fn every_reference_resolves() {
        let doc = document("/api/v1.0/doc/openapi.json").await;
        let text = doc.to_string();
        let schemas = doc["components"]["schemas"].as_object().expect("schemas");
        for reference in text.split("\"#/components/schemas/").skip(1) {
            let name = reference.split('"').next().unwrap_or_default();
            assert!(
                schemas.contains_key(name),
                "{name} is referred to but not defined"
            );
        }
    }

    /// The document and the router agree: every documented operation is routed (neither the unknown-route 404
    /// nor a 405), and the seed's example predicts.
    #[tokio::test]
    async fn every_documented_operation_is_served() {
        let doc = document("/api/v1.0/doc/openapi.json").await;
        let mut checked = 0;
        for (path, item) in doc["paths"].as_object().expect("paths") {
            let uri = path.replace("{name}", "iris").replace("{version}", "7");
            for method in item.as_object().expect("path item").keys() {
                let method = Method::from_bytes(method.to_uppercase().as_bytes()).expect("method");
                let (status, _, body) = call(method.clone(), &uri, Body::from("{}")).await;
                let text = String::from_utf8_lossy(&body);
                assert_ne!(
                    status,
                    StatusCode::METHOD_NOT_ALLOWED,
                    "{method} {uri}: {text}"
                );
                assert!(
                    !text.contains("404 Not Found")
                        && !text.contains(&format!("route {uri} not found")),
                    "{method} {uri} is not routed: {text}"
                );
                checked += 1;
            }
        }
        assert!(checked >= 30, "only {checked} operations");
        let (status, _, body) = call(
            Method::POST,
            "/api/v1.0/predictions",
            Body::from(super::SEED_EXAMPLE),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
        assert!(String::from_utf8_lossy(&body).contains("\"t:0\""));
    }

    #[tokio::test]
    async fn the_ui_and_its_assets_are_served() {
        let (status, headers, _) = call(Method::GET, "/api/v1.0/doc", Body::empty()).await;
        assert_eq!(status, StatusCode::PERMANENT_REDIRECT);
        assert_eq!(headers[header::LOCATION], "doc/");
        for (uri, content_type, needle) in [
            (
                "/api/v1.0/doc/",
                "text/html; charset=utf-8",
                "./swagger-ui-bundle.js",
            ),
            (
                "/api/v0.1/doc/index.html",
                "text/html; charset=utf-8",
                "./swagger-ui.css",
            ),
            (
                "/api/v1.0/doc/swagger-initializer.js",
                "text/javascript; charset=utf-8",
                "./openapi.json",
            ),
            (
                "/api/v1.0/doc/swagger-ui-bundle.js",
                "text/javascript; charset=utf-8",
                "SwaggerUIBundle",
            ),
            (
                "/api/v1.0/doc/swagger-ui.css",
                "text/css; charset=utf-8",
                ".swagger-ui",
            ),
        ] {
            let (status, headers, body) = call(Method::GET, uri, Body::empty()).await;
            assert_eq!(status, StatusCode::OK, "{uri}");
            assert_eq!(headers[header::CONTENT_TYPE], content_type, "{uri}");
            assert!(headers.contains_key(header::CACHE_CONTROL), "{uri}");
            assert!(
                String::from_utf8_lossy(&body).contains(needle),
                "{uri} lacks {needle}"
            );
            assert!(
                !String::from_utf8_lossy(&body).contains("://cdn"),
                "{uri} points outside"
            );

            let etag = headers[header::ETAG].clone();
            let request = Request::get(uri)
                .header(header::IF_NONE_MATCH, etag)
                .body(Body::empty())
                .expect("request");
            let response = app().oneshot(request).await.expect("response");
            assert_eq!(response.status(), StatusCode::NOT_MODIFIED, "{uri}");
        }
    }
}
