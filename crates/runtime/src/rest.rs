//! The REST app on the model port: Seldon v1's routes (`seldon/rest.rs`), V2's (`v2/rest.rs`) and KServe
//! V1's (`kserve_v1/rest.rs`) with the server's extensions, the probes, the error shapes of unknown routes, metrics per request, and a
//! panic guard.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::openapi::Document;
pub use crate::openapi::{Coverage, Doc, DocRouter, check_document};
use crate::openapi::{LiveResponses, ReadyResponses, TAG_PROBES};

use crate::error::ServeError;
use crate::observe::{Observation, PANIC_MESSAGE, Transport, catch_panic};
use crate::state::ServerState;

/// Extra REST routes a server adds to the model port (TF Serving's API, an embeddings route).
///
/// The routes are merged before the runtime's fallbacks and layers, so they get the same metrics, panic guard
/// and CORS header as Seldon's and V2's. Requests whose path starts with `prefix` are counted under `protocol`
/// in the metrics; an extension that wants its own 404 shape routes a wildcard under its prefix.
#[derive(Clone)]
pub struct RestExtension {
    /// The protocol's label in metrics (`tfserving`, `embed`, ...).
    pub protocol: &'static str,
    /// The path prefix the extension owns (`/v1/models`).
    pub prefix: &'static str,
    /// The routes, sharing the runtime's state, each with its documentation (the document at
    /// `/api/v1.0/doc/openapi.json` lists them with the runtime's own).
    pub routes: DocRouter,
    /// How the protocol shapes an error the runtime answers for it before its routes run (a body over the
    /// limit): TF Serving's `{"error": …}` with its status table, or [`ServeError::into_seldon_response`].
    pub error_response: fn(ServeError) -> Response,
}

impl std::fmt::Debug for RestExtension {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RestExtension")
            .field("protocol", &self.protocol)
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

/// Builds the REST router for a server state. Tested without a socket (`tower::ServiceExt::oneshot`).
pub fn app(state: Arc<ServerState>) -> Router {
    app_with(state, &[])
}

/// [`app`] plus the routes of a server's extensions.
pub fn app_with(state: Arc<ServerState>, extensions: &[RestExtension]) -> Router {
    assemble(state, extensions).0
}

/// The app, every route it registered (with how the document covers it), and its document (written when first
/// asked for).
pub(crate) fn assemble(
    state: Arc<ServerState>,
    extensions: &[RestExtension],
) -> (Router, Vec<(String, Coverage)>, Arc<Document>) {
    let mut documented = crate::seldon::rest::routes()
        .route("/live", get(live), Doc::of::<__path_live>())
        .route("/ready", get(ready), Doc::of::<__path_ready>())
        .merge(crate::v2::rest::routes())
        .merge(crate::v2::repository::routes())
        .merge(crate::kserve_v1::rest::live_routes());
    // KServe V1's model routes, unless an extension owns their prefix: TF Serving's API, whose `/v1/models/…`
    // paths V1 shares, answers them all in its own shapes (as KServe's own TensorFlow runtime does).
    if !extensions
        .iter()
        .any(|e| KSERVE_V1_MODELS.starts_with(e.prefix))
    {
        documented = documented.merge(crate::kserve_v1::rest::routes());
    }
    let mut labels = Vec::with_capacity(extensions.len());
    for extension in extensions {
        documented = documented.merge(extension.routes.clone());
        labels.push((
            extension.prefix,
            extension.protocol,
            extension.error_response,
        ));
    }
    let (router, paths) = documented.clone().into_parts();
    let document = Document::new(paths, &state.model_name, state.model_version.as_deref());
    let ui = crate::openapi::routes(document.clone());
    let mut served = documented.served().to_vec();
    served.extend(ui.served().iter().cloned());
    let router = router.merge(ui.into_parts().0);
    let observed = ObserveLayer(Arc::new(Observed {
        state: state.clone(),
        labels: Arc::from(labels),
    }));
    let app = router
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(observed)
        .with_state(state);
    (app, served, document)
}

/// Kubernetes liveness: the process answers.
#[utoipa::path(get, path = "/live", tag = TAG_PROBES, operation_id = "live",
    summary = "Liveness: the process answers", responses(LiveResponses))]
pub(crate) async fn live() -> Response {
    StatusCode::OK.into_response()
}

/// Kubernetes readiness: the model is loaded and the server is not shutting down.
#[utoipa::path(get, path = "/ready", tag = TAG_PROBES, operation_id = "ready",
    summary = "Readiness: the model is loaded and the server is not shutting down",
    responses(ReadyResponses))]
pub(crate) async fn ready(State(state): State<Arc<ServerState>>) -> Response {
    if state.is_ready() {
        StatusCode::OK.into_response()
    } else {
        StatusCode::SERVICE_UNAVAILABLE.into_response()
    }
}

/// The prefix of KServe V1's model routes.
const KSERVE_V1_MODELS: &str = "/v1/models/";

/// Hands each data chunk of the body to `chunk` as hyper received it, refusing the body past `limit` bytes (a
/// 413, as `axum::body::to_bytes` refuses it; a body that fails to arrive is refused the same way).
async fn each_chunk(
    body: axum::body::Body,
    limit: usize,
    mut chunk: impl FnMut(bytes::Bytes),
) -> Result<(), ServeError> {
    use http_body_util::BodyExt;
    let mut body = http_body_util::Limited::new(body, limit);
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|_| ServeError::TooLarge(limit))?;
        if let Ok(data) = frame.into_data() {
            chunk(data);
        }
    }
    Ok(())
}

/// The body as the chunks hyper received it in ([`each_chunk`]), not joined: a binary-extension body's tensors
/// are converted from them directly (`v2::decode_rest_chunks`), so a large batch is copied once after the
/// socket, into its tensors.
pub(crate) async fn body_chunks(
    body: axum::body::Body,
    limit: usize,
) -> Result<Vec<bytes::Bytes>, ServeError> {
    let mut chunks = Vec::new();
    each_chunk(body, limit, |data| chunks.push(data)).await?;
    Ok(chunks)
}

/// The body whole ([`each_chunk`]): the one chunk hyper received it in as it is, or the chunks joined. What
/// `axum::body::to_bytes` returns, without its collecting buffer list, and without a list at all for the usual
/// one chunk.
pub async fn body_bytes(body: axum::body::Body, limit: usize) -> Result<bytes::Bytes, ServeError> {
    let mut first: Option<bytes::Bytes> = None;
    let mut joined: Option<Vec<u8>> = None;
    each_chunk(body, limit, |data| match (&mut joined, first.take()) {
        (Some(buf), _) => buf.extend_from_slice(&data),
        (None, Some(head)) => {
            let mut buf = Vec::with_capacity(head.len() + data.len());
            buf.extend_from_slice(&head);
            buf.extend_from_slice(&data);
            joined = Some(buf);
        }
        (None, None) => first = Some(data),
    })
    .await?;
    Ok(match joined {
        Some(buf) => bytes::Bytes::from(buf),
        None => first.unwrap_or_default(),
    })
}

fn is_v2(uri: &Uri) -> bool {
    uri.path() == "/v2" || uri.path().starts_with("/v2/")
}

/// KServe V1's paths: `/` and everything under `/v1/` (when no extension owns it).
fn is_kserve_v1(uri: &Uri) -> bool {
    uri.path() == "/" || uri.path().starts_with("/v1/")
}

/// Unknown routes answer in the protocol's own error shape (V2 under `/v2`, KServe V1 under `/v1/`, Seldon
/// elsewhere).
async fn not_found(uri: Uri) -> Response {
    if is_v2(&uri) {
        ServeError::ModelNotFound(format!("route {} not found", uri.path())).into_v2_response()
    } else if is_kserve_v1(&uri) {
        ServeError::RouteNotFound.into_kserve_v1_response()
    } else {
        ServeError::RouteNotFound.into_seldon_response()
    }
}

async fn method_not_allowed(uri: Uri) -> Response {
    if is_v2(&uri) {
        ServeError::MethodNotAllowed.into_v2_response()
    } else if is_kserve_v1(&uri) {
        ServeError::MethodNotAllowed.into_kserve_v1_response()
    } else {
        ServeError::MethodNotAllowed.into_seldon_response()
    }
}

/// An extension's path prefix, its protocol label in metrics, and its error renderer.
type ExtensionLabel = (&'static str, &'static str, fn(ServeError) -> Response);

/// What the metrics middleware needs: the state and the extensions' prefix → protocol labels.
struct Observed {
    state: Arc<ServerState>,
    labels: Arc<[ExtensionLabel]>,
}

/// The REST observation layer ([`Label`] and [`observe`] around every route). A tower layer of its own rather than axum's
/// `middleware::from_fn`, which boxes the inner service and extracts its state again for every request.
#[derive(Clone)]
struct ObserveLayer(Arc<Observed>);

impl<S> tower::Layer<S> for ObserveLayer {
    type Service = Observe<S>;

    fn layer(&self, inner: S) -> Observe<S> {
        Observe {
            inner,
            observed: self.0.clone(),
        }
    }
}

/// A route, observed ([`ObserveLayer`]).
#[derive(Clone)]
struct Observe<S> {
    inner: S,
    observed: Arc<Observed>,
}

impl<S> tower::Service<Request> for Observe<S>
where
    S: tower::Service<Request, Response = Response, Error = Infallible>,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let observed = self.observed.clone();
        let label = Label::of(&observed, &request);
        let max = observed.state.max_body_bytes;
        // A declared body over the limit is refused before a byte of it is read (the connection then closes, as
        // the body is never read).
        let declared = request
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok());
        // The inner service was polled ready in `poll_ready`; it is called here, before the future is boxed.
        let handler = match declared {
            Some(length) if length > max as u64 => None,
            _ => Some(self.inner.call(request)),
        };
        Box::pin(async move {
            let response = match handler {
                None => label.error_response(ServeError::TooLarge(max)),
                Some(handler) => observe(&label, handler).await,
            };
            Ok(label.finish(&observed, response))
        })
    }
}

/// What a request is counted under: its route template (`unmatched` for the fallbacks), its protocol, and how
/// that protocol shapes an error the runtime answers itself; with the time it arrived.
struct Label {
    observation: Observation,
    route: Option<MatchedPath>,
    protocol: &'static str,
    extension_error: Option<fn(ServeError) -> Response>,
}

impl Label {
    fn of(observed: &Observed, request: &Request) -> Self {
        let observation = Observation::start(Transport::Rest);
        // An `Arc<str>` clone, not a copy of the path.
        let route = request.extensions().get::<MatchedPath>().cloned();
        let path = request.uri().path();
        let extension = observed
            .labels
            .iter()
            .find(|(prefix, _, _)| path.starts_with(prefix));
        let protocol = if is_v2(request.uri()) {
            "v2"
        } else if let Some((_, protocol, _)) = extension {
            protocol
        } else if is_kserve_v1(request.uri()) {
            crate::kserve_v1::PROTOCOL
        } else {
            "seldon"
        };
        Label {
            observation,
            route,
            protocol,
            extension_error: extension.map(|(_, _, error_response)| *error_response),
        }
    }

    fn route(&self) -> &str {
        route_label(self.route.as_ref())
    }

    /// An error the runtime answers for the route, in its protocol's shape.
    fn error_response(&self, err: ServeError) -> Response {
        match (self.protocol, self.extension_error) {
            ("v2", _) => err.into_v2_response(),
            (_, Some(error_response)) => error_response(err),
            (crate::kserve_v1::PROTOCOL, _) => err.into_kserve_v1_response(),
            _ => err.into_seldon_response(),
        }
    }

    /// Records the request's count and latency and adds the CORS header every reply carries.
    fn finish(self, observed: &Observed, mut response: Response) -> Response {
        let Label {
            observation,
            route,
            protocol,
            ..
        } = self;
        observation.finish(
            &observed.state.metrics,
            protocol,
            route_label(route.as_ref()),
            response.status().as_str(),
        );
        response.headers_mut().insert(
            header::ACCESS_CONTROL_ALLOW_ORIGIN,
            HeaderValue::from_static("*"),
        );
        response
    }
}

/// A route template as the metrics label it: the fallbacks (no template) are `unmatched`.
fn route_label(route: Option<&MatchedPath>) -> &str {
    route.map_or("unmatched", MatchedPath::as_str)
}

/// Runs a request's handler ([`crate::observe`]'s panic guard: a panic in a handler is a 500 for that request
/// alone, in its protocol's shape).
async fn observe<F>(label: &Label, handler: F) -> Response
where
    F: Future<Output = Result<Response, Infallible>>,
{
    match catch_panic(handler).await {
        Ok(Ok(response)) => response,
        Ok(Err(never)) => match never {},
        Err(()) => {
            tracing::error!(route = label.route(), "handler panicked");
            let err = ServeError::Internal(PANIC_MESSAGE.into());
            match label.protocol {
                "v2" => err.into_v2_response(),
                crate::kserve_v1::PROTOCOL => err.into_kserve_v1_response(),
                _ => err.into_seldon_response(),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunked(chunks: &[&'static [u8]]) -> axum::body::Body {
        let frames = chunks
            .iter()
            .map(|c| Ok::<_, std::convert::Infallible>(bytes::Bytes::from_static(c)))
            .collect::<Vec<_>>();
        axum::body::Body::from_stream(futures::stream::iter(frames))
    }

    /// One chunk comes back as it is, several joined in order, none as empty; past the limit is refused, however
    /// the bytes are split.
    #[tokio::test]
    async fn the_body_is_read_whole_within_its_limit() {
        let one = body_bytes(chunked(&[b"{\"data\":1}"]), 64).await.ok();
        assert_eq!(one.as_deref(), Some(&b"{\"data\":1}"[..]));
        let three = body_bytes(chunked(&[b"ab", b"", b"cd", b"e"]), 64)
            .await
            .ok();
        assert_eq!(three.as_deref(), Some(&b"abcde"[..]));
        let none = body_bytes(chunked(&[]), 64).await.ok();
        assert_eq!(none.as_deref(), Some(&b""[..]));
        assert!(matches!(
            body_bytes(chunked(&[b"abc", b"def"]), 5).await,
            Err(ServeError::TooLarge(5))
        ));
        assert!(matches!(
            body_bytes(chunked(&[b"abcdef"]), 5).await,
            Err(ServeError::TooLarge(5))
        ));
        let chunks = body_chunks(chunked(&[b"ab", b"cd"]), 4).await.ok();
        assert_eq!(chunks.map(|c| c.len()), Some(2));
    }
}
