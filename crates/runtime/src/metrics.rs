//! Prometheus metrics: request counts and latencies by transport, protocol, route and status, Seldon's
//! feedback counters, and process metrics. Names are defined once, here; every REST and gRPC request is
//! recorded through one path (`observe.rs`).
//!
//! Request labels:
//! - `transport`: `rest` or `grpc`.
//! - `protocol`: `seldon`, `v2`, or an extension's (`tfserving`, `embed`); `reflection` for gRPC server
//!   reflection, `grpc` for a gRPC service no one named.
//! - `route`: REST's route template (`/v2/models/{name}/infer`) or gRPC's method path
//!   (`/inference.GRPCInferenceService/ModelInfer`); `unmatched` for a path nothing serves.
//! - `code` (requests only): the HTTP status on REST (`200`), the gRPC status name on gRPC (`OK`,
//!   `InvalidArgument`, as gRPC's Go implementation names them).
//!
//! Per model (MLServer's own series, so its dashboards read oxserve's): every V2 inference that reached a loaded
//! model counts in `model_infer_request_success_total` or `model_infer_request_failure_total` and is timed in
//! `model_infer_request_duration`, labelled `model` and `version` (`""` when the model has none, where MLServer
//! writes `None`). A request naming an unknown model is not counted per model (its name would be a label value a
//! caller could choose without bound); the route's `oxserve_requests_total` counts it. A model's series are
//! resolved once, when it enters the repository ([`ModelSeries`]), not per request.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock, RwLock};

use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, Opts, Registry,
    TextEncoder,
};

/// Requests served, by transport, protocol, route and status code.
pub const REQUESTS_TOTAL: &str = "oxserve_requests_total";
/// Request latency in seconds, by transport, protocol and route.
pub const REQUEST_DURATION: &str = "oxserve_request_duration_seconds";
/// V2 inferences a model answered, by model and version (MLServer's name, as its Python client exposes it).
pub const MODEL_INFER_SUCCESS: &str = "model_infer_request_success_total";
/// V2 inferences that reached a model and failed, by model and version (MLServer's name).
pub const MODEL_INFER_FAILURE: &str = "model_infer_request_failure_total";
/// V2 inference latency in seconds, by model and version (MLServer's name; a histogram, whose `_sum` and
/// `_count` are MLServer's summary's).
pub const MODEL_INFER_DURATION: &str = "model_infer_request_duration";
/// The per-model series' labels, in MLServer's order.
const MODEL_LABELS: [&str; 2] = ["model", "version"];
/// The latency histograms' buckets, in seconds.
const DURATION_BUCKETS: [f64; 16] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
];
/// Seldon feedback calls with a non-zero reward (Seldon's own name).
pub const FEEDBACK_TOTAL: &str = "seldon_api_model_feedback_total";
/// Sum of feedback rewards (Seldon's own name).
pub const FEEDBACK_REWARD_TOTAL: &str = "seldon_api_model_feedback_reward_total";

/// Labels of the feedback counters, in Seldon's order.
const FEEDBACK_LABELS: [&str; 6] = [
    "method",
    "model_name",
    "model_image",
    "model_version",
    "deployment_name",
    "predictor_name",
];

/// The server's metrics.
#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    duration: HistogramVec,
    feedback: IntCounterVec,
    reward: prometheus::CounterVec,
    feedback_labels: [String; 6],
    routes: Arc<RwLock<Routes>>,
    model_success: IntCounterVec,
    model_failure: IntCounterVec,
    model_duration: HistogramVec,
}

/// One model's inference series (success, failure, latency), resolved once when the model enters the
/// repository and held with it, so a request records without a label lookup.
#[derive(Debug, Clone)]
pub(crate) struct ModelSeries {
    success: IntCounter,
    failure: IntCounter,
    duration: Histogram,
}

impl ModelSeries {
    /// Records one inference that reached the model: its outcome and how long it took.
    pub(crate) fn observe(&self, ok: bool, seconds: f64) {
        if ok {
            self.success.inc();
        } else {
            self.failure.inc();
        }
        self.duration.observe(seconds);
    }
}

/// The series resolved so far, by route, then by transport and protocol (usually one each).
type Routes = HashMap<Box<str>, Vec<Arc<RouteSeries>>>;

/// The series of one route (transport, protocol, route template), resolved once and then shared by its
/// requests: a label lookup hashes every label value and takes the metric family's lock, twice per request.
/// The duration histogram is resolved with the route's first request, the counter of its success code with its
/// first success (so a series still appears only once something happened); other codes, rare, are looked up.
#[derive(Debug)]
pub(crate) struct RouteSeries {
    transport: &'static str,
    protocol: &'static str,
    route: Box<str>,
    duration: Histogram,
    /// The success code's label on this transport (`200`, `OK`) and its counter.
    ok_code: &'static str,
    ok: OnceLock<IntCounter>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

/// Identity labels for Seldon's feedback metrics.
#[derive(Debug, Clone, Default)]
pub struct FeedbackIdentity {
    /// `model_name`: the graph node.
    pub model_name: String,
    /// `model_image`: the image without tag.
    pub model_image: String,
    /// `model_version`: the image tag.
    pub model_version: String,
    /// `deployment_name`.
    pub deployment_name: String,
    /// `predictor_name`.
    pub predictor_name: String,
}

impl Metrics {
    /// Creates the registry and every metric.
    pub fn new(identity: FeedbackIdentity) -> Result<Self, prometheus::Error> {
        let registry = Registry::new();
        let requests = IntCounterVec::new(
            Opts::new(
                REQUESTS_TOTAL,
                "Requests served, by transport, protocol, route and status code.",
            ),
            &["transport", "protocol", "route", "code"],
        )?;
        let duration = HistogramVec::new(
            HistogramOpts::new(
                REQUEST_DURATION,
                "Request latency in seconds, by transport, protocol and route.",
            )
            .buckets(DURATION_BUCKETS.to_vec()),
            &["transport", "protocol", "route"],
        )?;
        let model_success = IntCounterVec::new(
            Opts::new(
                MODEL_INFER_SUCCESS,
                "V2 inferences a model answered, by model and version.",
            ),
            &MODEL_LABELS,
        )?;
        let model_failure = IntCounterVec::new(
            Opts::new(
                MODEL_INFER_FAILURE,
                "V2 inferences that reached a model and failed, by model and version.",
            ),
            &MODEL_LABELS,
        )?;
        let model_duration = HistogramVec::new(
            HistogramOpts::new(
                MODEL_INFER_DURATION,
                "V2 inference latency in seconds, by model and version.",
            )
            .buckets(DURATION_BUCKETS.to_vec()),
            &MODEL_LABELS,
        )?;
        let feedback = IntCounterVec::new(
            Opts::new(FEEDBACK_TOTAL, "Feedback calls with a non-zero reward."),
            &FEEDBACK_LABELS,
        )?;
        let reward = prometheus::CounterVec::new(
            Opts::new(FEEDBACK_REWARD_TOTAL, "Sum of feedback rewards."),
            &FEEDBACK_LABELS,
        )?;
        registry.register(Box::new(requests.clone()))?;
        registry.register(Box::new(duration.clone()))?;
        registry.register(Box::new(feedback.clone()))?;
        registry.register(Box::new(reward.clone()))?;
        registry.register(Box::new(model_success.clone()))?;
        registry.register(Box::new(model_failure.clone()))?;
        registry.register(Box::new(model_duration.clone()))?;
        #[cfg(target_os = "linux")]
        registry.register(Box::new(
            prometheus::process_collector::ProcessCollector::for_self(),
        ))?;
        Ok(Metrics {
            registry,
            requests,
            duration,
            feedback,
            reward,
            routes: Arc::default(),
            model_success,
            model_failure,
            model_duration,
            feedback_labels: [
                "feedback".to_string(),
                identity.model_name,
                identity.model_image,
                identity.model_version,
                identity.deployment_name,
                identity.predictor_name,
            ],
        })
    }

    /// Records one request (the labels are described in this module's documentation).
    pub fn observe(&self, transport: &str, protocol: &str, route: &str, code: &str, seconds: f64) {
        self.requests
            .with_label_values(&[transport, protocol, route, code])
            .inc();
        self.duration
            .with_label_values(&[transport, protocol, route])
            .observe(seconds);
    }

    /// The series of a route, resolved on its first request (`ok_code` is the transport's success code).
    pub(crate) fn route(
        &self,
        transport: &'static str,
        protocol: &'static str,
        route: &str,
        ok_code: &'static str,
    ) -> Arc<RouteSeries> {
        let find = |routes: &Routes| {
            routes.get(route).and_then(|series| {
                series
                    .iter()
                    .find(|s| s.transport == transport && s.protocol == protocol)
                    .cloned()
            })
        };
        // A poisoned lock only means a panic elsewhere while it was held; the map is still whole.
        if let Some(series) = find(&self.routes.read().unwrap_or_else(|e| e.into_inner())) {
            return series;
        }
        let mut routes = self.routes.write().unwrap_or_else(|e| e.into_inner());
        if let Some(series) = find(&routes) {
            return series;
        }
        let series = Arc::new(RouteSeries {
            transport,
            protocol,
            route: route.into(),
            duration: self
                .duration
                .with_label_values(&[transport, protocol, route]),
            ok_code,
            ok: OnceLock::new(),
        });
        routes.entry(route.into()).or_default().push(series.clone());
        series
    }

    /// Records one request of a route resolved with [`Metrics::route`].
    pub(crate) fn observe_route(&self, series: &RouteSeries, code: &str, seconds: f64) {
        if code == series.ok_code {
            series
                .ok
                .get_or_init(|| {
                    self.requests.with_label_values(&[
                        series.transport,
                        series.protocol,
                        &series.route,
                        series.ok_code,
                    ])
                })
                .inc();
        } else {
            self.requests
                .with_label_values(&[series.transport, series.protocol, &series.route, code])
                .inc();
        }
        series.duration.observe(seconds);
    }

    /// The series of model `name` (version `""` when it has none), resolved once per model as it enters the
    /// repository; a model loaded again under the same name and version continues the same series.
    pub(crate) fn model(&self, name: &str, version: Option<&str>) -> ModelSeries {
        let labels = [name, version.unwrap_or_default()];
        ModelSeries {
            success: self.model_success.with_label_values(&labels),
            failure: self.model_failure.with_label_values(&labels),
            duration: self.model_duration.with_label_values(&labels),
        }
    }

    /// Records a feedback call. Seldon counts calls with a non-zero reward and sums their rewards; a Prometheus
    /// counter cannot go down, so negative (and NaN) rewards are counted as calls but not added to the sum.
    pub fn feedback(&self, reward: f64) {
        if reward == 0.0 || reward.is_nan() {
            return;
        }
        let labels: Vec<&str> = self.feedback_labels.iter().map(String::as_str).collect();
        self.feedback.with_label_values(&labels).inc();
        if reward > 0.0 && reward.is_finite() {
            self.reward.with_label_values(&labels).inc_by(reward);
        } else {
            tracing::debug!(reward, "feedback reward not added to the reward counter");
        }
    }

    /// The registry every series is in: a Seldon component's custom metrics join it
    /// ([`crate::component::Node::export_metrics`]).
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(4096);
        // Encoding into a Vec cannot fail for well-formed metric families.
        if let Err(e) = TextEncoder::new().encode(&self.registry.gather(), &mut out) {
            tracing::warn!(error = %e, "metrics encoding failed");
        }
        out
    }
}
