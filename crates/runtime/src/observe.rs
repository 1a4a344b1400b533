//! One observation layer for both transports: every REST and every gRPC request is counted and timed under the
//! same metric names ([`crate::metrics`]), labelled with its transport, protocol, route and outcome, and a
//! panic while a request is handled fails that request alone.
//!
//! The REST side is the router's middleware (`rest.rs`, which also refuses an oversized body before reading
//! it); the gRPC side is [`GrpcObserveLayer`], a tower layer around every gRPC service, the server's
//! extensions included. Both start an [`Observation`], run the handler under [`catch_panic`], and finish the
//! observation with the outcome.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use http_body_util::BodyExt as _;
use tonic::Code;

use crate::error::ServeError;
use crate::metrics::Metrics;
use crate::state::ServerState;

/// Which transport carried a request: the `transport` label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Transport {
    /// HTTP/1.1 or HTTP/2 on the model port.
    Rest,
    /// gRPC on the gRPC port.
    Grpc,
}

impl Transport {
    /// The label value.
    pub(crate) fn label(self) -> &'static str {
        match self {
            Transport::Rest => "rest",
            Transport::Grpc => "grpc",
        }
    }

    /// The `code` label of a success on this transport.
    fn ok_code(self) -> &'static str {
        match self {
            Transport::Rest => "200",
            Transport::Grpc => "OK",
        }
    }
}

/// One request being observed: started when it arrives, recorded once with its outcome.
#[derive(Debug)]
#[must_use = "an observation records nothing until it is finished"]
pub(crate) struct Observation {
    transport: Transport,
    start: Instant,
}

impl Observation {
    /// Starts timing a request.
    pub(crate) fn start(transport: Transport) -> Self {
        Observation {
            transport,
            start: Instant::now(),
        }
    }

    /// Records the request: counted under `code` (the HTTP status on REST, the gRPC status name on gRPC) and
    /// timed since it arrived.
    pub(crate) fn finish(self, metrics: &Metrics, protocol: &'static str, route: &str, code: &str) {
        let series = metrics.route(
            self.transport.label(),
            protocol,
            route,
            self.transport.ok_code(),
        );
        metrics.observe_route(&series, code, self.start.elapsed().as_secs_f64());
    }
}

/// Runs a request's handler, turning a panic into `Err(())` for this request alone (the connection and the
/// process go on). The model's own panics are already caught where it is called (`ServerState::predict`);
/// this guard covers the rest of a handler (decoding, encoding).
pub(crate) async fn catch_panic<F: Future>(handler: F) -> Result<F::Output, ()> {
    futures::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(handler))
        .await
        .map_err(|_| ())
}

/// How tonic's message begins when it refuses a request message over the size limit.
const TONIC_TOO_LARGE: &str = "Error, decoded message length too large";

/// The message a request that panicked is answered with, on every transport.
pub(crate) const PANIC_MESSAGE: &str = "internal error while handling the request";

/// The `code` label of a gRPC status: its name as gRPC's Go implementation spells it (`OK`,
/// `InvalidArgument`, ...), so the HTTP statuses of REST and the gRPC codes never share a value.
pub(crate) fn grpc_code_label(code: Code) -> &'static str {
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "Canceled",
        Code::Unknown => "Unknown",
        Code::InvalidArgument => "InvalidArgument",
        Code::DeadlineExceeded => "DeadlineExceeded",
        Code::NotFound => "NotFound",
        Code::AlreadyExists => "AlreadyExists",
        Code::PermissionDenied => "PermissionDenied",
        Code::ResourceExhausted => "ResourceExhausted",
        Code::FailedPrecondition => "FailedPrecondition",
        Code::Aborted => "Aborted",
        Code::OutOfRange => "OutOfRange",
        Code::Unimplemented => "Unimplemented",
        Code::Internal => "Internal",
        Code::Unavailable => "Unavailable",
        Code::DataLoss => "DataLoss",
        Code::Unauthenticated => "Unauthenticated",
    }
}

/// The `protocol` label of the gRPC services the runtime serves itself, by service-name prefix.
const GRPC_PROTOCOLS: [(&str, &str); 3] = [
    ("seldon.protos.", "seldon"),
    ("inference.", "v2"),
    ("grpc.reflection.", "reflection"),
];

/// The `protocol` label of a gRPC service no one named (an extension's that did not call
/// [`crate::Extensions::with_grpc_protocol`], or an unknown service).
const GRPC_OTHER: &str = "grpc";

/// The observation layer of the gRPC server: wraps every service (the runtime's and the extensions').
#[derive(Debug, Clone)]
pub(crate) struct GrpcObserveLayer {
    state: Arc<ServerState>,
    /// Service-name prefix → `protocol` label: the runtime's, then the extensions'.
    protocols: Arc<[(&'static str, &'static str)]>,
}

impl GrpcObserveLayer {
    /// Observes into the state's metrics; `extensions` names the protocols of the server's own gRPC services.
    pub(crate) fn new(
        state: Arc<ServerState>,
        extensions: &[(&'static str, &'static str)],
    ) -> Self {
        let protocols = GRPC_PROTOCOLS
            .iter()
            .chain(extensions)
            .copied()
            .collect::<Vec<_>>();
        GrpcObserveLayer {
            state,
            protocols: Arc::from(protocols),
        }
    }
}

impl<S> tower::Layer<S> for GrpcObserveLayer {
    type Service = GrpcObserve<S>;

    fn layer(&self, inner: S) -> GrpcObserve<S> {
        GrpcObserve {
            inner,
            layer: self.clone(),
        }
    }
}

/// A gRPC service, observed ([`GrpcObserveLayer`]).
#[derive(Debug, Clone)]
pub(crate) struct GrpcObserve<S> {
    inner: S,
    layer: GrpcObserveLayer,
}

/// The response future of [`GrpcObserve`].
type ObservedFuture<E> =
    Pin<Box<dyn Future<Output = Result<http::Response<tonic::body::Body>, E>> + Send>>;

impl<S, B> tower::Service<http::Request<B>> for GrpcObserve<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<tonic::body::Body>>,
    S::Future: Send + 'static,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = S::Error;
    type Future = ObservedFuture<S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let observation = Observation::start(Transport::Grpc);
        // A cheap clone (reference-counted bytes), needed after the request is handed on.
        let uri = request.uri().clone();
        let layer = self.layer.clone();
        let handler = self.inner.call(request);
        Box::pin(async move {
            let response = match catch_panic(handler).await {
                Ok(response) => response?,
                Err(()) => {
                    tracing::error!(method = uri.path(), "gRPC handler panicked");
                    tonic::Status::internal(PANIC_MESSAGE).into_http()
                }
            };
            Ok(layer.observed(observation, uri, response))
        })
    }
}

impl GrpcObserveLayer {
    /// The `protocol` label of a method path `/package.Service/Method`.
    fn protocol(&self, path: &str) -> &'static str {
        let service = path.trim_start_matches('/');
        self.protocols
            .iter()
            .find(|(prefix, _)| service.starts_with(prefix))
            .map_or(GRPC_OTHER, |(_, protocol)| protocol)
    }

    /// Records a response (a message over the size limit reclassified as the runtime's `TooLarge`): at once
    /// when its status is in the headers (an error answers with headers only),
    /// else when its trailers pass (a reply's status follows its message, and one that fails to encode is
    /// not `OK`), or as `Canceled` when the reply is dropped before them (the client went away).
    fn observed(
        self,
        observation: Observation,
        uri: http::Uri,
        response: http::Response<tonic::body::Body>,
    ) -> http::Response<tonic::body::Body> {
        let mut pending = PendingObservation {
            observation: Some(observation),
            protocol: self.protocol(uri.path()),
            state: self.state,
            uri,
        };
        if let Some(status) = tonic::Status::from_header_map(response.headers()) {
            if status.code() == Code::OutOfRange && status.message().starts_with(TONIC_TOO_LARGE) {
                // tonic refuses a message over the limit as OUT_OF_RANGE; the runtime's class for it is
                // `TooLarge` (REST 413, gRPC RESOURCE_EXHAUSTED, what grpcio's servers answer).
                let status = ServeError::TooLarge(pending.state.max_body_bytes).grpc_status();
                pending.finish(status.code());
                return status.into_http();
            }
            pending.finish(status.code());
            return response;
        }
        let (parts, body) = response.into_parts();
        let body = body.map_frame(move |frame| {
            if let Some(trailers) = frame.trailers_ref() {
                pending.finish(
                    tonic::Status::from_header_map(trailers).map_or(Code::Ok, |s| s.code()),
                );
            }
            frame
        });
        http::Response::from_parts(parts, tonic::body::Body::new(body))
    }
}

/// A gRPC reply whose status is still to come (in its trailers); dropped before them, it records `Canceled`.
struct PendingObservation {
    observation: Option<Observation>,
    state: Arc<ServerState>,
    protocol: &'static str,
    uri: http::Uri,
}

impl PendingObservation {
    /// Records the outcome, once.
    fn finish(&mut self, code: Code) {
        if let Some(observation) = self.observation.take() {
            // A path no service answers (UNIMPLEMENTED) is the client's invention: one label for all of them,
            // so a client cannot create series at will.
            let route = if code == Code::Unimplemented {
                "unmatched"
            } else {
                self.uri.path()
            };
            let code = grpc_code_label(code);
            observation.finish(&self.state.metrics, self.protocol, route, code);
        }
    }
}

impl Drop for PendingObservation {
    fn drop(&mut self) {
        self.finish(Code::Cancelled);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::convert::Infallible;

    use hyper::body::Frame;
    use oxserve_core::{Model, ModelError, ModelMetadata, PredictRequest, PredictResponse};
    use tower::{Layer as _, Service as _};

    use super::*;

    struct Nothing(ModelMetadata);

    impl Model for Nothing {
        fn metadata(&self) -> &ModelMetadata {
            &self.0
        }

        fn predict(&self, _: PredictRequest) -> Result<PredictResponse, ModelError> {
            Err(ModelError::Internal("unused".into()))
        }
    }

    fn state() -> Arc<ServerState> {
        let metadata = ModelMetadata {
            platform: "test".into(),
            inputs: vec![],
            outputs: vec![],
        };
        let metrics = Metrics::new(crate::metrics::FeedbackIdentity::default()).unwrap();
        Arc::new(ServerState::new(
            Arc::new(Nothing(metadata)),
            "m".into(),
            None,
            None,
            None,
            metrics,
            0,
        ))
    }

    const INFER: &str = "/inference.GRPCInferenceService/ModelInfer";

    fn request() -> http::Request<()> {
        http::Request::builder().uri(INFER).body(()).unwrap()
    }

    fn counted(state: &ServerState, code: &str) -> bool {
        let text = String::from_utf8(state.metrics.render()).unwrap();
        text.contains(&format!(
            "oxserve_requests_total{{code=\"{code}\",protocol=\"v2\",route=\"{INFER}\",transport=\"grpc\"}} 1"
        ))
    }

    #[tokio::test]
    async fn a_panicking_grpc_handler_answers_internal_and_is_counted() {
        let state = state();
        let mut service = GrpcObserveLayer::new(state.clone(), &[]).layer(tower::service_fn(
            |_: http::Request<()>| async move {
                if INFER.len() > 1 {
                    panic!("a bug in a handler");
                }
                Ok::<_, Infallible>(http::Response::new(tonic::body::Body::empty()))
            },
        ));
        let response = service.call(request()).await.unwrap();
        let status = tonic::Status::from_header_map(response.headers()).unwrap();
        assert_eq!(status.code(), Code::Internal);
        assert_eq!(status.message(), PANIC_MESSAGE);
        assert!(counted(&state, "Internal"));
    }

    /// A reply's status comes in its trailers: counted when they pass, or as `Canceled` when the reply is
    /// dropped before them.
    #[tokio::test]
    async fn a_reply_is_counted_by_its_trailers() {
        let reply = |code: &'static str| {
            tower::service_fn(move |_: http::Request<()>| async move {
                let mut trailers = http::HeaderMap::new();
                trailers.insert("grpc-status", http::HeaderValue::from_static(code));
                let frames = vec![
                    Ok::<_, Infallible>(Frame::data(bytes::Bytes::from_static(b"reply"))),
                    Ok(Frame::trailers(trailers)),
                ];
                let body = http_body_util::StreamBody::new(futures::stream::iter(frames));
                Ok::<_, Infallible>(http::Response::new(tonic::body::Body::new(body)))
            })
        };
        let state = state();
        let layer = GrpcObserveLayer::new(state.clone(), &[]);
        let response = layer.layer(reply("0")).call(request()).await.unwrap();
        assert!(!counted(&state, "OK"), "not before the trailers");
        response.into_body().collect().await.unwrap();
        assert!(counted(&state, "OK"));

        let response = layer.layer(reply("8")).call(request()).await.unwrap();
        let collected = response.into_body().collect().await.unwrap();
        assert!(collected.trailers().is_some());
        assert!(counted(&state, "ResourceExhausted"));

        let response = layer.layer(reply("0")).call(request()).await.unwrap();
        drop(response);
        assert!(counted(&state, "Canceled"));
    }
}
