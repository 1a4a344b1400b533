//! The REST API's OpenAPI 3.1 document and the Swagger UI that shows it, as Seldon's executor serves them at
//! `/api/v1.0/doc/` (and the Python wrapper at `/seldon.json`).
//!
//! The document is assembled from the routes themselves: every route is added through a [`DocRouter`] together
//! with its [`Doc`], which comes from the `#[utoipa::path(...)]` attribute on its handler (`seldon/rest.rs`,
//! `v2/rest.rs`, the probes in `rest.rs`, an extension's own handlers), so a served route cannot be missing
//! from the document. The schemas are `oxserve_protocol`'s own wire types (its `openapi` feature: derived from
//! their serde attributes, or written next to their hand-written serde); the statuses are those the runtime's
//! one error table ([`crate::error`]) can give each route. [`check_document`] probes a router against its
//! document in both directions. The Swagger UI's assets (from the npm package `swagger-ui-dist`, refreshed by
//! `scripts/update-swagger-ui.sh`) are compiled into the binary; nothing is fetched at run time.
//!
//! Every URL the page uses is relative, and so is the document's server (`../../..`, resolved against
//! `…/api/v1.0/doc/openapi.json`), so "Try it out" posts to the right place both directly and behind an
//! ingress prefix such as `/seldon/<namespace>/<model>/` that the proxy strips.

use std::collections::BTreeMap;
use std::sync::{Arc, LazyLock, OnceLock};

use axum::Router;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get};
use serde_json::{Value, json};
use utoipa::openapi::path::{HttpMethod, Operation, Parameter, ParameterBuilder, ParameterIn};
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
use utoipa::openapi::tag::TagBuilder;
use utoipa::openapi::{
    ComponentsBuilder, ContentBuilder, Deprecated, InfoBuilder, OpenApi, OpenApiBuilder, PathItem,
    Paths, Ref, RefOr, Required, Response as ApiResponse, ResponseBuilder, ServerBuilder, Tag,
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
pub(crate) const SEED_EXAMPLE: &str = r#"{"data":{"ndarray":[[1,2,3,4]]}}"#;

/// The tag of Seldon's routes.
pub(crate) const TAG_SELDON: &str = "Seldon v1";
/// The tag of V2's routes.
pub(crate) const TAG_V2: &str = "Open Inference Protocol (V2)";
/// The tag of KServe V1's routes.
pub(crate) const TAG_KSERVE_V1: &str = "KServe V1";
/// The tag of the Kubernetes probes.
pub(crate) const TAG_PROBES: &str = "Probes";

type State = Arc<ServerState>;
type Schemas = Vec<(String, RefOr<Schema>)>;

/// The documentation of one route: an operation per HTTP method it serves, and the schemas they refer to.
///
/// Made from a handler's `#[utoipa::path(...)]` with [`Doc::of`] (the attribute's own `path` only names the
/// handler's main route: the path documented is the one the route is added at), or by hand with
/// [`Doc::operation`]; adjusted per route with [`Doc::id`], [`Doc::summary`] and [`Doc::deprecated`].
///
/// A `Doc` is a recipe: nothing of it is built until the document is first asked for (`openapi.json`, the
/// Swagger UI, [`check_document`]), so a server that is never asked pays neither the start-up time nor the
/// memory of the document (its operations, schemas and the code that builds them).
#[derive(Clone)]
pub struct Doc {
    build: Arc<dyn Fn() -> Operations + Send + Sync>,
}

/// What a [`Doc`] builds: its operations (one per method) and the schemas they refer to.
#[derive(Default)]
struct Operations {
    operations: Vec<(HttpMethod, Operation)>,
    schemas: Schemas,
}

impl Default for Doc {
    fn default() -> Self {
        Doc::from_fn(Operations::default)
    }
}

impl std::fmt::Debug for Doc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let built = self.built();
        let ids: Vec<_> = built
            .operations
            .iter()
            .map(|(_, op)| op.operation_id.as_deref())
            .collect();
        f.debug_struct("Doc").field("operations", &ids).finish()
    }
}

impl Doc {
    fn from_fn(build: impl Fn() -> Operations + Send + Sync + 'static) -> Self {
        Doc {
            build: Arc::new(build),
        }
    }

    /// Builds the operations and schemas (each time: the document is assembled once per router).
    fn built(&self) -> Operations {
        (self.build)()
    }

    /// This recipe followed by `step` on what it built.
    fn then(self, step: impl Fn(&mut Operations) + Send + Sync + 'static) -> Self {
        Doc::from_fn(move || {
            let mut built = self.built();
            step(&mut built);
            built
        })
    }

    /// The operation a handler's `#[utoipa::path(...)]` describes (pass its `__path_<handler>` type), on each
    /// method the attribute names, with the schemas it refers to.
    pub fn of<P>() -> Self
    where
        P: utoipa::Path + utoipa::__dev::SchemaReferences + for<'t> utoipa::__dev::Tags<'t>,
    {
        Doc::from_fn(|| {
            let mut operation = P::operation();
            // The attribute's `tag` travels beside the operation (utoipa's own routers add it the same way).
            let tags = P::tags();
            if !tags.is_empty() {
                operation
                    .tags
                    .get_or_insert_with(Vec::new)
                    .extend(tags.iter().map(ToString::to_string));
            }
            let mut schemas = Vec::new();
            P::schemas(&mut schemas);
            Operations {
                operations: P::methods()
                    .into_iter()
                    .map(|method| (method, operation.clone()))
                    .collect(),
                schemas,
            }
        })
    }

    /// One operation built by hand, for a method.
    pub fn operation(method: HttpMethod, operation: Operation) -> Self {
        Doc::from_fn(move || Operations {
            operations: vec![(method.clone(), operation.clone())],
            schemas: Vec::new(),
        })
    }

    /// A documentation built only when the document is (an extension's hand-written operations, say).
    pub fn lazy(build: impl Fn() -> Doc + Send + Sync + 'static) -> Self {
        Doc::from_fn(move || build().built())
    }

    /// Adds the schema of `T` (and those it refers to) to the document's components.
    pub fn with_schema<T: utoipa::ToSchema>(self) -> Self {
        self.then(|built| {
            built.schemas.push((T::name().into_owned(), T::schema()));
            T::schemas(&mut built.schemas);
        })
    }

    /// Adds another method's operation (the same route served on GET and POST, say).
    pub fn and(self, other: Doc) -> Self {
        self.then(move |built| {
            let more = other.built();
            built.operations.extend(more.operations);
            built.schemas.extend(more.schemas);
        })
    }

    /// The same operations on another method.
    pub fn on(self, method: HttpMethod) -> Self {
        self.then(move |built| {
            for (m, _) in &mut built.operations {
                *m = method.clone();
            }
        })
    }

    /// Sets the operation id (ids are unique in a document: a route added at several paths needs one each).
    pub fn id(self, id: &str) -> Self {
        let id = id.to_owned();
        self.map(move |op| op.operation_id = Some(id.clone()))
    }

    /// Sets the summary.
    pub fn summary(self, summary: &str) -> Self {
        let summary = summary.to_owned();
        self.map(move |op| op.summary = Some(summary.clone()))
    }

    /// Marks the operations deprecated (an old alias of a route).
    pub fn deprecated(self) -> Self {
        self.map(|op| op.deprecated = Some(Deprecated::True))
    }

    /// Changes every operation.
    pub fn map(self, f: impl Fn(&mut Operation) + Send + Sync + 'static) -> Self {
        self.then(move |built| {
            for (_, op) in &mut built.operations {
                f(op);
            }
        })
    }
}

/// How a route registered on a [`DocRouter`] is covered by the document.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Coverage {
    /// Documented at its own path.
    Documented,
    /// A wildcard route (`/v1/{*path}`) whose documented paths are these.
    Below(Vec<String>),
    /// Not an API route (the document itself, the UI's assets); why.
    Exempt(&'static str),
}

/// A REST router whose routes carry their documentation: [`DocRouter::route`] takes the route's [`Doc`] with
/// its method router, so the OpenAPI document is assembled from the routes that are served. Servers use it for
/// their [`RestExtension`](crate::RestExtension)s too.
#[derive(Clone, Default)]
pub struct DocRouter {
    router: Router<State>,
    paths: Vec<(String, Doc)>,
    served: Vec<(String, Coverage)>,
}

impl std::fmt::Debug for DocRouter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DocRouter")
            .field("served", &self.served)
            .finish_non_exhaustive()
    }
}

impl DocRouter {
    /// An empty router.
    pub fn new() -> Self {
        DocRouter::default()
    }

    /// Serves `path` with `method_router`, documented by `doc` (one operation per method it serves).
    pub fn route(mut self, path: &str, method_router: MethodRouter<State>, doc: Doc) -> Self {
        self.router = self.router.route(path, method_router);
        self.paths.push((path.to_owned(), doc));
        self.served.push((path.to_owned(), Coverage::Documented));
        self
    }

    /// Serves a wildcard `path` (a protocol whose paths axum cannot match, such as TF Serving's
    /// `/v1/models/{name}:predict`), documented as the concrete paths in `docs`.
    pub fn wildcard(
        mut self,
        path: &str,
        method_router: MethodRouter<State>,
        docs: Vec<(String, Doc)>,
    ) -> Self {
        self.router = self.router.route(path, method_router);
        self.served.push((
            path.to_owned(),
            Coverage::Below(docs.iter().map(|(p, _)| p.clone()).collect()),
        ));
        self.paths.extend(docs);
        self
    }

    /// Serves `path` outside the document (the document itself, the UI), saying why.
    pub(crate) fn exempt(
        mut self,
        path: &str,
        method_router: MethodRouter<State>,
        why: &'static str,
    ) -> Self {
        self.router = self.router.route(path, method_router);
        self.served.push((path.to_owned(), Coverage::Exempt(why)));
        self
    }

    /// Adds another router's routes and documentation.
    pub fn merge(mut self, other: DocRouter) -> Self {
        self.router = self.router.merge(other.router);
        self.paths.extend(other.paths);
        self.served.extend(other.served);
        self
    }

    /// Every route registered, in order, with how the document covers it.
    pub fn served(&self) -> &[(String, Coverage)] {
        &self.served
    }

    /// The axum router and the documented paths.
    pub(crate) fn into_parts(self) -> (Router<State>, Vec<(String, Doc)>) {
        (self.router, self.paths)
    }
}

/// A router's OpenAPI document, written the first time it is asked for (then kept).
pub(crate) struct Document {
    paths: Vec<(String, Doc)>,
    model_name: String,
    model_version: Option<String>,
    json: OnceLock<Result<String, String>>,
}

impl Document {
    /// The document of `paths` (as [`DocRouter`]s collect them) for the served model, not written yet.
    pub(crate) fn new(
        paths: Vec<(String, Doc)>,
        model_name: &str,
        model_version: Option<&str>,
    ) -> Arc<Document> {
        Arc::new(Document {
            paths,
            model_name: model_name.to_owned(),
            model_version: model_version.map(str::to_owned),
            json: OnceLock::new(),
        })
    }

    /// The document's JSON (or why it could not be written), written on the first call.
    pub(crate) fn json(&self) -> &Result<String, String> {
        self.json.get_or_init(|| {
            openapi(&self.paths, &self.model_name, self.model_version.as_deref())
                .to_json()
                .map_err(|e| e.to_string())
        })
    }
}

/// The routes of the document and the UI: `/api/v1.0/doc/` (and `v0.1`), its assets, `openapi.json` (also as
/// the executor's `seldon.json`), and the wrapper's `/seldon.json`.
pub(crate) fn routes(document: Arc<Document>) -> DocRouter {
    let serve = move || {
        let document = document.clone();
        get(move || async move { serve_document(document.json()) })
    };
    let mut router = DocRouter::new().exempt("/seldon.json", serve(), "the document");
    for prefix in DOC_PREFIXES {
        let ui = "the Swagger UI";
        router = router
            .exempt(prefix, get(redirect_to_slash), ui)
            .exempt(
                &format!("{prefix}/"),
                get(|headers: HeaderMap| async move { asset(&INDEX_HTML, &headers) }),
                ui,
            )
            .exempt(
                &format!("{prefix}/index.html"),
                get(|headers: HeaderMap| async move { asset(&INDEX_HTML, &headers) }),
                ui,
            )
            .exempt(
                &format!("{prefix}/swagger-initializer.js"),
                get(|headers: HeaderMap| async move { asset(&INITIALIZER_JS, &headers) }),
                ui,
            )
            .exempt(
                &format!("{prefix}/swagger-ui.css"),
                get(|headers: HeaderMap| async move { asset(&SWAGGER_CSS, &headers) }),
                ui,
            )
            .exempt(
                &format!("{prefix}/swagger-ui-bundle.js"),
                get(|headers: HeaderMap| async move { asset(&SWAGGER_BUNDLE, &headers) }),
                ui,
            )
            .exempt(&format!("{prefix}/openapi.json"), serve(), "the document")
            .exempt(&format!("{prefix}/seldon.json"), serve(), "the document");
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

/// `openapi.json`: written once per router (it names the served model in its examples); not cached by clients,
/// since it changes with the server.
fn serve_document(document: &Result<String, String>) -> Response {
    match document {
        Ok(body) => {
            let mut response = json_response(StatusCode::OK, body.clone().into_bytes());
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

/// The OpenAPI document of `paths` (as [`DocRouter`]s collect them); the served model's name and version are
/// the examples of the `{name}` and `{version}` path parameters.
pub(crate) fn openapi(
    paths: &[(String, Doc)],
    model_name: &str,
    model_version: Option<&str>,
) -> OpenApi {
    let mut documented = Paths::new();
    let mut components = ComponentsBuilder::new();
    // The replies the response tables below name (a request body's schema comes with its route's `Doc`).
    let mut schemas: Schemas = Vec::new();
    add_schema::<seldon::SeldonMessage>(&mut schemas);
    add_schema::<seldon::Feedback>(&mut schemas);
    add_schema::<seldon::ErrorBody>(&mut schemas);
    add_schema::<seldon::ModelMetadataMessage>(&mut schemas);
    add_schema::<v2::MetadataServerResponse>(&mut schemas);
    add_schema::<v2::ServerLiveResponse>(&mut schemas);
    add_schema::<v2::ServerReadyResponse>(&mut schemas);
    add_schema::<v2::ModelReadyResponse>(&mut schemas);
    add_schema::<v2::MetadataModelResponse>(&mut schemas);
    add_schema::<v2::InferenceRequest>(&mut schemas);
    add_schema::<v2::InferenceResponse>(&mut schemas);
    add_schema::<v2::ErrorResponse>(&mut schemas);
    for (path, doc) in paths {
        let doc = doc.built();
        for (method, mut operation) in doc.operations {
            for parameter in operation.parameters.iter_mut().flatten() {
                let RefOr::T(parameter) = parameter else {
                    continue;
                };
                let example = match parameter.name.as_str() {
                    "name" => Some(model_name),
                    "version" => Some(model_version.unwrap_or("1")),
                    _ => None,
                };
                if let (Some(example), ParameterIn::Path) = (example, &parameter.parameter_in) {
                    *parameter = ParameterBuilder::from(parameter.clone())
                        .example(Some(json!(example)))
                        .build();
                }
            }
            let item = PathItem::new(method, operation);
            match documented.paths.get_mut(path) {
                Some(existing) => existing.merge_operations(item),
                None => {
                    documented.paths.insert(path.clone(), item);
                }
            }
        }
        schemas.extend(doc.schemas);
    }
    for (name, schema) in schemas {
        components = components.schema(name, schema);
    }

    OpenApiBuilder::new()
        .info(
            InfoBuilder::new()
                .title("oxserve")
                .version(env!("CARGO_PKG_VERSION"))
                .description(Some(
                    "A model server speaking Seldon's v1 protocol, the Open Inference Protocol (V2) and KServe's V1 \
                     data plane. Errors answer `{\"status\":{\"code\":-1,\"info\":…,\"reason\":…,\"status\":1}}` on \
                     Seldon routes and `{\"error\":…}` on V2 and KServe V1 routes; an unknown route answers 404 and a wrong method 405, in the \
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
            tag(
                TAG_KSERVE_V1,
                "KServe's V1 data plane (`instances` in, `predictions` out)",
            ),
            tag(TAG_PROBES, "Kubernetes probes"),
        ]))
        .paths(documented)
        .components(Some(components.build()))
        .build()
}

fn add_schema<T: utoipa::ToSchema>(schemas: &mut Schemas) {
    schemas.push((T::name().into_owned(), T::schema()));
    T::schemas(schemas);
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
    /// A JSON object of the shape described.
    Object,
    /// A JSON array of objects of the shape described.
    List,
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

/// Statuses a route answers with, for `#[utoipa::path(responses(...))]`: one type per table below.
macro_rules! responses {
    ($($(#[$doc:meta])* $name:ident = $table:expr;)*) => {$(
        $(#[$doc])*
        pub(crate) struct $name;

        impl utoipa::IntoResponses for $name {
            fn responses() -> BTreeMap<String, RefOr<ApiResponse>> {
                table($table)
            }
        }
    )*};
}

responses! {
    /// Every Seldon route that runs the model.
    SeldonResponses = &[
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
    /// Seldon's routing and aggregation, which a model does not implement.
    NotImplementedResponses = &[
        (400, "not implemented by a model", Body::SeldonError),
        SELDON_413,
        SELDON_405,
    ];
    /// Seldon's metadata.
    SeldonMetadataResponses = &[
        (200, "the metadata", Body::Json("SeldonModelMetadata")),
        (500, "the metadata fails Seldon's schema", Body::SeldonError),
    ];
    /// Seldon's health status.
    HealthStatusResponses = &[(200, "healthy", Body::Json("SeldonMessage"))];
    /// `pong`.
    PingResponses = &[(200, "pong", Body::Text("text/html"))];
    /// Liveness.
    LiveResponses = &[(200, "alive", Body::Empty)];
    /// Readiness.
    ReadyResponses = &[(200, "ready", Body::Empty), (503, "not ready", Body::Empty)];
    /// V2 inference.
    V2InferResponses = &[
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
    /// V2 model metadata.
    V2MetadataResponses = &[
        (200, "the model's metadata", Body::Json("V2ModelMetadata")),
        (404, "no such model or version", Body::V2Error),
        (500, "the metadata cannot be encoded", Body::V2Error),
    ];
    /// V2 model readiness.
    V2ModelReadyResponses = &[
        (200, "whether the model is ready", Body::Json("V2ModelReady")),
        (404, "no such model or version", Body::V2Error),
    ];
    /// V2 server metadata.
    V2ServerMetadataResponses = &[(
        200,
        "the server's name, version and extensions",
        Body::Json("V2ServerMetadata"),
    )];
    /// The repository's index.
    V2RepositoryIndexResponses = &[
        (
            200,
            "every model found or loaded: `[{\"name\", \"version\", \"state\", \"reason\"}]`",
            Body::List,
        ),
        (400, "the body is not an index request", Body::V2Error),
    ];
    /// The repository's load.
    V2RepositoryLoadResponses = &[
        (200, "loaded (or reloaded)", Body::Empty),
        (400, "the body is not a load request", Body::V2Error),
        (404, "no such model in the model repository", Body::V2Error),
        (500, "the model failed to load (the index says why)", Body::V2Error),
    ];
    /// The repository's unload.
    V2RepositoryUnloadResponses = &[
        (200, "unloaded", Body::Empty),
        (400, "the body is not an unload request", Body::V2Error),
        (404, "no such model loaded", Body::V2Error),
    ];
    /// V2 server liveness.
    V2LiveResponses = &[(200, "live", Body::Json("V2Live"))];
    /// KServe V1 liveness.
    V1LiveResponses = &[(200, "`{\"status\": \"alive\"}`", Body::Object)];
    /// KServe V1's model list.
    V1ModelsResponses = &[(200, "`{\"models\": [name]}`", Body::Object)];
    /// KServe V1 model readiness.
    V1ModelReadyResponses = &[
        (200, "`{\"name\": …, \"ready\": true}`", Body::Object),
        (404, "no such model (`Model with name … does not exist.`)", Body::V2Error),
        (503, "not ready: the server is shutting down", Body::V2Error),
    ];
    /// KServe V1 `:predict`.
    V1PredictResponses = &[
        (200, "`{\"predictions\": …}`", Body::Object),
        (
            400,
            "the body is not JSON, has no rows, or the model refuses them",
            Body::V2Error,
        ),
        (404, "no such model", Body::V2Error),
        (413, "the body is larger than the server's limit", Body::V2Error),
        (429, "the server is overloaded", Body::V2Error),
        (500, "the model failed", Body::V2Error),
    ];
    /// KServe V1 `:explain`.
    V1ExplainResponses = &[
        (400, "the body is not JSON", Body::V2Error),
        (404, "no such model", Body::V2Error),
        (413, "the body is larger than the server's limit", Body::V2Error),
        (501, "no explainer (`Could not find explainer_host.`)", Body::V2Error),
    ];
    /// V2 server readiness.
    V2ReadyResponses = &[
        (200, "ready", Body::Json("V2Ready")),
        (503, "not ready (shutting down)", Body::V2Error),
    ];
}

/// A table of statuses as OpenAPI responses.
fn table(responses: &[(u16, &str, Body)]) -> BTreeMap<String, RefOr<ApiResponse>> {
    let json = |schema: &str| {
        ContentBuilder::new()
            .schema(Some(Ref::from_schema_name(schema)))
            .build()
    };
    responses
        .iter()
        .map(|(status, description, body)| {
            let response = ResponseBuilder::new().description(*description);
            let response = match body {
                Body::Json(schema) => response.content("application/json", json(schema)),
                Body::SeldonError => response.content("application/json", json("SeldonError")),
                Body::V2Error => response.content("application/json", json("V2Error")),
                Body::Object => response.content(
                    "application/json",
                    ContentBuilder::new()
                        .schema(Some(ObjectBuilder::new().schema_type(Type::Object).build()))
                        .build(),
                ),
                Body::List => response.content(
                    "application/json",
                    ContentBuilder::new()
                        .schema(Some(
                            utoipa::openapi::schema::ArrayBuilder::new()
                                .items(ObjectBuilder::new().schema_type(Type::Object))
                                .build(),
                        ))
                        .build(),
                ),
                Body::Text(media) => response.content(
                    *media,
                    ContentBuilder::new().schema(Some(string_schema())).build(),
                ),
                Body::Empty => response,
            };
            (status.to_string(), RefOr::T(response.build()))
        })
        .collect()
}

fn tag(name: &str, description: &str) -> Tag {
    TagBuilder::new()
        .name(name)
        .description(Some(description))
        .build()
}

fn string_schema() -> utoipa::openapi::schema::Object {
    ObjectBuilder::new().schema_type(Type::String).build()
}

/// A form with the request's JSON in its `json` field, as Seldon's wrapper also reads it.
pub(crate) fn json_form() -> utoipa::openapi::content::Content {
    let form = ObjectBuilder::new()
        .property("json", string_schema())
        .required("json");
    ContentBuilder::new().schema(Some(form)).build()
}

/// The seed's example request.
pub(crate) fn seed_example() -> Value {
    serde_json::from_str(SEED_EXAMPLE).unwrap_or(Value::Null)
}

/// The `json` query parameter of Seldon's GET routes: the request as JSON text (read before any body).
pub(crate) fn json_query() -> Parameter {
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

fn paths_doc_has(paths: &Value, path: &str) -> bool {
    paths.get(path).is_some()
}

/// Checks a REST app against its document in both directions, by requests (no socket): every route the
/// [`DocRouter`]s registered (the runtime's and `extensions`') answers each method it serves (anything but 405)
/// only where the document lists that method at that path, and every documented operation is served (neither
/// the router's unknown-route 404 nor a 405) with the served model's name and version in its path. Returns the number of operations
/// checked, or every disagreement. Servers call it from their tests with their own extensions.
pub async fn check_document(
    state: Arc<ServerState>,
    extensions: &[crate::RestExtension],
) -> Result<usize, String> {
    use tower::ServiceExt as _;

    let (app, served, document) = crate::rest::assemble(state.clone(), extensions);
    let document: Value = match document.json() {
        Ok(text) => serde_json::from_str(text).map_err(|e| e.to_string())?,
        Err(e) => return Err(e.clone()),
    };
    let paths = document["paths"].as_object().cloned().unwrap_or_default();
    let paths_json = document["paths"].clone();
    let version = state.model_version.clone().unwrap_or_else(|| "1".into());
    let concrete = |path: &str| {
        path.replace("{name}", &state.model_name)
            .replace("{version}", &version)
            .replace("{label}", "stable")
    };
    let call = |method: axum::http::Method, uri: String| {
        let app = app.clone();
        async move {
            let request = axum::http::Request::builder()
                .method(method)
                .uri(uri)
                .header(header::CONTENT_TYPE, "application/json")
                .body(axum::body::Body::from("{}"))
                .map_err(|e| e.to_string())?;
            let response = app.oneshot(request).await.map_err(|e| e.to_string())?;
            let status = response.status();
            let body = axum::body::to_bytes(response.into_body(), usize::MAX)
                .await
                .map_err(|e| e.to_string())?;
            Ok::<_, String>((status, String::from_utf8_lossy(&body).into_owned()))
        }
    };
    // A 404 from the router's fallback (no such route), not a handler's (no such model or version); or a
    // wildcard's refusal of a path it does not read (TF Serving's `Malformed request`).
    let unrouted = |status: StatusCode, body: &str, uri: &str| {
        (status == StatusCode::NOT_FOUND
            && (body.contains(&format!("route {uri} not found"))
                || body.contains(&ServeError::RouteNotFound.to_string())))
            || body.contains("Malformed request")
    };
    const METHODS: [&str; 5] = ["get", "post", "put", "delete", "patch"];
    let mut problems = Vec::new();
    let mut checked = 0;

    // Served → documented: probe every registered route with every method.
    for (route, coverage) in &served {
        let covered: Vec<String> = match coverage {
            Coverage::Exempt(_) => continue,
            Coverage::Documented => vec![route.clone()],
            Coverage::Below(paths) if paths.is_empty() => {
                problems.push(format!("wildcard route {route} documents no path"));
                continue;
            }
            Coverage::Below(paths) => {
                // A wildcard answers every method in its protocol's own words (TF Serving: 400 `Malformed
                // request`), so only its documented paths are probed, below.
                for path in paths {
                    if !paths_doc_has(&paths_json, path) {
                        problems.push(format!("{path} (under {route}) is not in the document"));
                    }
                }
                continue;
            }
        };
        for path in covered {
            let item = paths.get(&path);
            if item.is_none() {
                problems.push(format!("served route {path} is not in the document"));
            }
            for method in METHODS {
                let http = axum::http::Method::from_bytes(method.to_uppercase().as_bytes())
                    .map_err(|e| e.to_string())?;
                let (status, _) = call(http, concrete(&path)).await?;
                let documented = item.is_some_and(|item| item.get(method).is_some());
                if status != StatusCode::METHOD_NOT_ALLOWED && !documented {
                    problems.push(format!(
                        "{} {path} is served ({status}) but not documented",
                        method.to_uppercase()
                    ));
                }
            }
        }
    }

    // Documented → served.
    for (path, item) in &paths {
        for method in item.as_object().into_iter().flat_map(|o| o.keys()) {
            let Ok(http) = axum::http::Method::from_bytes(method.to_uppercase().as_bytes()) else {
                continue;
            };
            let uri = concrete(path);
            let (status, body) = call(http, uri.clone()).await?;
            if unrouted(status, &body, &uri) || status == StatusCode::METHOD_NOT_ALLOWED {
                problems.push(format!(
                    "{} {path} is documented but answers {status}",
                    method.to_uppercase()
                ));
            }
            checked += 1;
        }
    }
    if problems.is_empty() {
        Ok(checked)
    } else {
        Err(problems.join("\n"))
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

    fn state() -> Arc<ServerState> {
        let metrics = Metrics::new(FeedbackIdentity::default()).expect("metrics");
        Arc::new(ServerState::new(
            Arc::new(Identity(ModelMetadata::default())),
            "iris".into(),
            Some("7".into()),
            None,
            Some(Default::default()),
            metrics,
            0,
        ))
    }

    fn app() -> axum::Router {
        crate::rest::app(state())
    }

    /// Every route the router serves is documented with the methods it answers, and every documented operation
    /// is served; `OPENAPI_DUMP=<file>` also writes the document there (to compare two builds' documents).
    #[tokio::test]
    async fn the_router_and_the_document_agree_both_ways() {
        match super::check_document(state(), &[]).await {
            Ok(checked) => assert!(checked >= 30, "only {checked} operations"),
            Err(problems) => panic!("{problems}"),
        }
        if let Ok(path) = std::env::var("OPENAPI_DUMP") {
            let doc = document("/api/v1.0/doc/openapi.json").await;
            let text = serde_json::to_string_pretty(&doc).expect("json");
            std::fs::write(path, text).expect("write the document");
        }
    }

    async fn call(
        method: Method,
        uri: &str,
        body: Body,
    ) -> (StatusCode, axum::http::HeaderMap, Vec<u8>) {
        call_on(app(), method, uri, body).await
    }

    /// [`call`] on another app (one with extensions, say).
    async fn call_on(
        app: axum::Router,
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
        let response = app.oneshot(request).await.expect("response");
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

    /// The document (and every route's `Doc`) is built when it is first asked for, not when the app is
    /// assembled, and then kept: a server that is never asked for it pays neither the start-up time nor the
    /// memory.
    #[tokio::test]
    async fn the_document_is_built_when_first_asked_for_and_kept() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        use utoipa::openapi::path::OperationBuilder;

        static BUILT: AtomicUsize = AtomicUsize::new(0);
        let doc = super::Doc::lazy(|| {
            BUILT.fetch_add(1, Ordering::SeqCst);
            super::Doc::operation(
                super::HttpMethod::Get,
                OperationBuilder::new()
                    .operation_id(Some("lazyProbe"))
                    .build(),
            )
        });
        let extension = crate::RestExtension {
            protocol: "probe",
            prefix: "/probe",
            routes: super::DocRouter::new().route(
                "/probe",
                axum::routing::get(|| async { StatusCode::NO_CONTENT }),
                doc,
            ),
            error_response: crate::ServeError::into_seldon_response,
        };
        let app = crate::rest::app_with(state(), &[extension]);
        assert_eq!(BUILT.load(Ordering::SeqCst), 0, "built with the app");
        let (status, _, _) = call_on(app.clone(), Method::GET, "/probe", Body::empty()).await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        assert_eq!(
            BUILT.load(Ordering::SeqCst),
            0,
            "built by a request to another route"
        );
        for uri in ["/api/v1.0/doc/openapi.json", "/seldon.json"] {
            let (status, _, body) = call_on(app.clone(), Method::GET, uri, Body::empty()).await;
            assert_eq!(status, StatusCode::OK, "{uri}");
            let document: Value = serde_json::from_slice(&body).expect("json");
            assert_eq!(
                document["paths"]["/probe"]["get"]["operationId"], "lazyProbe",
                "{uri}"
            );
            assert!(document["paths"]["/api/v1.0/predictions"]["post"].is_object());
        }
        assert_eq!(BUILT.load(Ordering::SeqCst), 1, "built once, then kept");
    }
}
