//! The Seldon component SDK: your own MODEL, ROUTER, COMBINER, TRANSFORMER or OUTPUT_TRANSFORMER in Rust, served
//! on oxserve's runtime with everything Seldon's Python wrapper (`seldon-core-microservice`) gives a component —
//! both Seldon protocols (REST JSON and form posts, gRPC `Model` / `Generic` / `Router` / `Combiner` /
//! `Transformer` / `OutputTransformer`), `meta.tags` and `meta.metrics` in the replies, custom metrics on the
//! metrics port, feedback counters, health, metadata, the Swagger page, overload limits and graceful shutdown.
//!
//! # Two levels, one seam
//!
//! [`Component`] is the seam every transport dispatches to: one method per Seldon hook, whole messages in and
//! out — what the Python wrapper's `predict_raw`, `route_raw`, `aggregate_raw`, `transform_input_raw`, ... are.
//! Each has the wrapper's behaviour for a class that lacks the hook as its default, so an implementation
//! overrides only what it serves. An embedded-Python host implements it by calling a user's class.
//!
//! Most components are easier to write typed: implement [`Predictor`], [`Router`], [`Combiner`], [`Transformer`]
//! or [`OutputTransformer`] (each over [`Unit`], the hooks all types share: tags, metrics, class names, health,
//! metadata) on tensors, and wrap the value in [`AsModel`], [`AsRouter`], [`AsCombiner`], [`AsTransformer`] or
//! [`AsOutputTransformer`]: the adapter decodes the request as the wrapper does (no reshaping: a 1-D array stays
//! 1-D), calls your method, and builds the reply as the wrapper builds a non-raw reply (the request's array form,
//! `names` from [`Unit::class_names`] or `t:0…` for 2-D outputs, `meta` with the request's `puid` and tags, your
//! [`Unit::tags`] and [`Unit::metrics`], and `requestPath`).
//!
//! # From `cargo new` to a running image
//!
//! 1. `cargo new my-router`, then in its `Cargo.toml`: `oxserve-runtime` and `oxserve-core` (path or git
//!    dependencies on this workspace) and `anyhow`.
//! 2. Write the component and a `main` that hands it to [`run`]:
//!
//! ```no_run
//! use std::sync::Arc;
//! use oxserve_core::Tensor;
//! use oxserve_runtime::component::{self, AsRouter, ComponentError, Router, Unit};
//!
//! /// Sends everything to child 0 until told otherwise.
//! struct FirstChild;
//!
//! impl Unit for FirstChild {}
//!
//! impl Router for FirstChild {
//!     fn route(&self, _features: &Tensor, _names: &[String]) -> Result<i32, ComponentError> {
//!         Ok(0)
//!     }
//! }
//!
//! const SERVER: oxserve_runtime::Server = oxserve_runtime::Server {
//!     name: "my-router",
//!     about: "ROUTER: always child 0.",
//!     parameters: &[],
//! };
//!
//! fn main() -> std::process::ExitCode {
//!     component::run(&SERVER, |_ctx| Ok(Arc::new(AsRouter(FirstChild))))
//! }
//! ```
//!
//! 3. `cargo run -- --http-port 9000` and try it:
//!    `curl -s localhost:9000/route -H 'Content-Type: application/json' -d '{"data":{"ndarray":[[1,2]]}}'`
//!    answers `{"data":{"names":["t:0"],"ndarray":[[0]]},"meta":{}}`. Every flag has its env var (the Seldon
//!    operator's: `PREDICTIVE_UNIT_PARAMETERS`, `PREDICTIVE_UNIT_ID`, ports), see `--help`.
//! 4. Build the image from `examples/components/Containerfile` (a two-stage build: `cargo build --release` in a
//!    Rust image, the binary alone on a distroless base) and name it in your `SeldonDeployment`'s
//!    `componentSpecs` under the graph node's name, with `type: ROUTER` in the graph (the examples'
//!    manifests are in `images/k8s/graph-*.yaml`).
//!
//! The server's service type comes from `--service-type` / `SERVICE_TYPE` (the variable Seldon's s2i images set;
//! MODEL by default) and is handed to your build function in [`ComponentContext::service_type`], so one binary
//! can serve several types. As in the Python wrapper, every Seldon route exists whatever the type; a hook the
//! component does not implement answers as the wrapper answers it.
//!
//! # Errors
//!
//! A hook fails with a [`ComponentError`]: an HTTP status, Seldon's `reason` and the message (`info`), answered
//! as the wrapper answers a `SeldonMicroserviceException` (REST: that status and `{"status":{…}}`; gRPC: the
//! status class's code, `INVALID_ARGUMENT` for 4xx, `INTERNAL` for 5xx). [`ComponentError::bad_data`] is the
//! wrapper's default (400 `MICROSERVICE_BAD_DATA`), [`ComponentError::internal`] what any other exception
//! becomes (500 `MICROSERVICE_INTERNAL_ERROR`).

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};

use anyhow::Context as _;
use oxserve_core::{DataType, Model, ModelError, ModelMetadata, Tensor, TensorData};
use oxserve_protocol::seldon::{
    ArrayKind, DataArray, DefaultData, Feedback, Meta, ModelMetadataMessage, Payload, SeldonMessage,
};
use prometheus::{CounterVec, GaugeVec, HistogramOpts, HistogramVec, Opts, Registry};

use crate::config::{Config, Parameters};
use crate::{Server, ServerArgs};

/// Env names the component server reads (besides the runtime's [`crate::config::env`]).
pub mod env {
    /// The service type (`MODEL`, `ROUTER`, ...): the variable Seldon's s2i images set and pass to
    /// `seldon-core-microservice --service-type`.
    pub const SERVICE_TYPE: &str = "SERVICE_TYPE";
}

/// Seldon's `reason` for a metric a component returned that cannot be exported (the wrapper's wording).
pub const REASON_BAD_METRIC: &str = "MICROSERVICE_BAD_METRIC";

/// A graph node's service type, as Seldon's graph (`type:`) and `--service-type` name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
#[clap(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ServiceType {
    /// `MODEL`: `predict` (and feedback).
    Model,
    /// `ROUTER`: `route` and `send_feedback`.
    Router,
    /// `COMBINER`: `aggregate`.
    Combiner,
    /// `TRANSFORMER`: `transform_input`.
    Transformer,
    /// `OUTPUT_TRANSFORMER`: `transform_output`.
    OutputTransformer,
    /// `OUTLIER_DETECTOR`: accepted as the wrapper accepts it (a `transform_input` that tags the request).
    OutlierDetector,
}

/// The component server's own flags, beside the runtime's.
#[derive(Debug, Clone, clap::Args)]
pub struct ComponentArgs {
    /// The graph node's service type; handed to the component's build function ([`ComponentContext`]).
    #[arg(long, env = env::SERVICE_TYPE, value_enum, default_value = "MODEL")]
    pub service_type: ServiceType,
}

impl ServerArgs for ComponentArgs {}

/// What a component's build function is given.
#[derive(Debug, Clone)]
pub struct ComponentContext {
    /// `--service-type` / `SERVICE_TYPE`.
    pub service_type: ServiceType,
    /// The node's parameters (`PREDICTIVE_UNIT_PARAMETERS`), the Python wrapper's constructor kwargs.
    pub parameters: Parameters,
    /// The folder of `model_uri` / `--model-uri`, when one is given (downloaded first if remote).
    pub model_dir: Option<PathBuf>,
}

/// Why a hook failed: an HTTP status, Seldon's `reason` and the message, answered as the Python wrapper answers a
/// `SeldonMicroserviceException` with those fields.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ComponentError {
    status: u16,
    reason: Cow<'static, str>,
    message: String,
    code: i32,
}

impl ComponentError {
    /// The caller's fault: 400 `MICROSERVICE_BAD_DATA` (the wrapper's default).
    pub fn bad_data(message: impl Into<String>) -> Self {
        Self::with_status(400, oxserve_protocol::seldon::REASON_BAD_DATA, message)
    }

    /// The component's fault: 500 `MICROSERVICE_INTERNAL_ERROR` (what any other exception becomes).
    pub fn internal(message: impl Into<String>) -> Self {
        Self::with_status(
            500,
            oxserve_protocol::seldon::REASON_INTERNAL_ERROR,
            message,
        )
    }

    /// Any status (a user exception's `status_code`; outside 400–599 it is answered as 500) and reason.
    pub fn with_status(
        status: u16,
        reason: impl Into<Cow<'static, str>>,
        message: impl Into<String>,
    ) -> Self {
        ComponentError {
            status: if (400..600).contains(&status) {
                status
            } else {
                500
            },
            reason: reason.into(),
            message: message.into(),
            code: -1,
        }
    }

    /// The same error with Seldon's application `code` in the reply's `status` (the wrapper writes `-1` unless a
    /// user error says otherwise, as a user exception's `to_dict()` or a raw reply's `status.code` does).
    pub fn with_code(mut self, code: i32) -> Self {
        self.code = code;
        self
    }

    /// Seldon's `status.code` (`-1` unless set with [`ComponentError::with_code`]).
    pub fn code(&self) -> i32 {
        self.code
    }

    /// The HTTP status (400–599).
    pub fn status(&self) -> u16 {
        self.status
    }

    /// Seldon's `reason`.
    pub fn reason(&self) -> &str {
        &self.reason
    }

    /// The message (`info`).
    pub fn message(&self) -> &str {
        &self.message
    }

    /// A hook the component lacks, in the wrapper's words (`Route not defined`).
    fn not_defined(what: &str) -> Self {
        Self::bad_data(format!("{what} not defined"))
    }
}

impl From<ModelError> for ComponentError {
    fn from(e: ModelError) -> Self {
        match e {
            ModelError::Internal(m) => ComponentError::internal(m),
            other => ComponentError::bad_data(other.to_string()),
        }
    }
}

/// The `method` label of a custom metric: which hook reported it (the wrapper's label values).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// `predict`.
    Predict,
    /// `feedback`.
    Feedback,
    /// `inputtransform`.
    InputTransform,
    /// `outputtransform`.
    OutputTransform,
    /// `router`.
    Router,
    /// `aggregate`.
    Aggregate,
    /// `health`.
    Health,
}

impl Method {
    /// The label value.
    pub fn label(self) -> &'static str {
        match self {
            Method::Predict => "predict",
            Method::Feedback => "feedback",
            Method::InputTransform => "inputtransform",
            Method::OutputTransform => "outputtransform",
            Method::Router => "router",
            Method::Aggregate => "aggregate",
            Method::Health => "health",
        }
    }
}

/// `meta.tags`: free-form JSON by name.
pub type Tags = BTreeMap<String, serde_json::Value>;

pub use oxserve_protocol::seldon::Metric;

/// A `COUNTER` custom metric: `value` is added to the counter `<key>_total` on the metrics port.
pub fn counter(key: impl Into<String>, value: f64) -> Metric {
    metric(key, "COUNTER", value)
}

/// A `GAUGE` custom metric: the gauge `<key>` is set to `value`.
pub fn gauge(key: impl Into<String>, value: f64) -> Metric {
    metric(key, "GAUGE", value)
}

/// A `TIMER` custom metric: `value` milliseconds observed in the histogram `<key>` (in seconds).
pub fn timer(key: impl Into<String>, milliseconds: f64) -> Metric {
    metric(key, "TIMER", milliseconds)
}

fn metric(key: impl Into<String>, kind: &str, value: f64) -> Metric {
    Metric {
        key: key.into(),
        tags: BTreeMap::new(),
        kind: kind.to_string(),
        value,
    }
}

/// The node a hook runs on: what a reply's `meta` needs (`requestPath`), the node's id (feedback's routing is
/// read under it) and the custom-metrics exporter. Cheap to clone.
#[derive(Clone)]
pub struct Node {
    inner: Arc<NodeInner>,
}

struct NodeInner {
    request_path: Option<(String, String)>,
    unit_id: String,
    metrics: CustomMetrics,
}

impl std::fmt::Debug for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Node")
            .field("unit_id", &self.inner.unit_id)
            .finish_non_exhaustive()
    }
}

impl Node {
    /// A node named `unit_id` (`PREDICTIVE_UNIT_ID`), answering `requestPath` `{unit_id: image}` when
    /// `request_path` is set, exporting custom metrics into `registry` with the identity labels `identity`.
    pub fn new(
        unit_id: Option<String>,
        image: Option<String>,
        registry: Registry,
        identity: Vec<(String, String)>,
    ) -> Self {
        Node {
            inner: Arc::new(NodeInner {
                request_path: unit_id
                    .clone()
                    .map(|unit| (unit, image.unwrap_or_default())),
                unit_id: unit_id.unwrap_or_else(|| "0".into()),
                metrics: CustomMetrics {
                    registry,
                    identity,
                    families: Mutex::default(),
                },
            }),
        }
    }

    /// The node's id: `PREDICTIVE_UNIT_ID`, else `0` (the wrapper's default for feedback routing).
    pub fn unit_id(&self) -> &str {
        &self.inner.unit_id
    }

    /// The reply `meta` the wrapper builds from a request's: its `puid`, `tags` and `metrics`, and `requestPath`
    /// with this node (the request's entries win); `routing` is dropped.
    pub fn reply_meta(&self, request: &Meta) -> Meta {
        crate::seldon::meta_with_path(self.inner.request_path.as_ref(), request)
    }

    /// Exports custom metrics to the metrics port as the wrapper does: `COUNTER` as the counter `<key>_total`
    /// (the value added), `GAUGE` set to the value, `TIMER` observed in the histogram `<key>` (milliseconds, as
    /// seconds), each labelled with the node's identity, `method` and the metric's own tags.
    ///
    /// A metric that cannot be exported (an unknown type, a negative counter increment, a name Prometheus
    /// refuses, or one registered before with other tags) fails the request with 500
    /// [`REASON_BAD_METRIC`], as the wrapper's validation does.
    pub fn export_metrics(&self, metrics: &[Metric], method: Method) -> Result<(), ComponentError> {
        for metric in metrics {
            self.inner.metrics.export(metric, method).map_err(|why| {
                ComponentError::with_status(
                    500,
                    REASON_BAD_METRIC,
                    format!("Bad metric created during request: {why}"),
                )
            })?;
        }
        Ok(())
    }

    /// A reply's `meta` for a typed hook: the request's (see [`Node::reply_meta`]) with the component's tags over
    /// the request's and its metrics after the request's (each metric with tags also tagged with `method`, as the
    /// wrapper writes them); the metrics are exported ([`Node::export_metrics`]).
    pub fn unit_meta(
        &self,
        request: &Meta,
        unit: &dyn Unit,
        method: Method,
    ) -> Result<Meta, ComponentError> {
        let mut meta = self.reply_meta(request);
        meta.tags.extend(unit.tags());
        let metrics = unit.metrics();
        self.export_metrics(&metrics, method)?;
        meta.metrics.extend(metrics.into_iter().map(|mut m| {
            if !m.tags.is_empty() {
                m.tags.insert("method".into(), method.label().into());
            }
            m
        }));
        Ok(meta)
    }
}

/// The families of custom metrics registered so far, by exported name.
struct CustomMetrics {
    registry: Registry,
    identity: Vec<(String, String)>,
    families: Mutex<HashMap<String, Family>>,
}

/// One custom metric family and its label names (identity, `method`, then the metric's tags in order).
enum Family {
    Counter(CounterVec, Vec<String>),
    Gauge(GaugeVec, Vec<String>),
    Timer(HistogramVec, Vec<String>),
}

/// The wrapper's TIMER buckets: 50 log-spaced bounds from 1 ms to 30 s, computed as numpy's `logspace` computes
/// them (a fixed step in the exponent, the last exponent exact), so the `le` labels print the same.
fn timer_buckets() -> Vec<f64> {
    let (lo, hi) = (0.001f64.log10(), 30f64.log10());
    let step = (hi - lo) / 49.0;
    (0..50)
        .map(|i| {
            10f64.powf(if i == 49 {
                hi
            } else {
                lo + f64::from(i) * step
            })
        })
        .collect()
}

impl CustomMetrics {
    fn export(&self, metric: &Metric, method: Method) -> Result<(), String> {
        let mut labels: Vec<(String, String)> = self.identity.clone();
        labels.push(("method".into(), method.label().into()));
        labels.extend(
            metric
                .tags
                .iter()
                .filter(|(k, _)| k.as_str() != "method")
                .map(|(k, v)| (k.clone(), v.clone())),
        );
        let names: Vec<String> = labels.iter().map(|(k, _)| k.clone()).collect();
        let values: Vec<&str> = labels.iter().map(|(_, v)| v.as_str()).collect();
        let name_refs: Vec<&str> = names.iter().map(String::as_str).collect();
        let value = metric.value;
        let key = match metric.kind.as_str() {
            "COUNTER" => format!("{}_total", metric.key),
            "GAUGE" | "TIMER" => metric.key.clone(),
            other => return Err(format!("unknown metric type {other:?} of {}", metric.key)),
        };
        if metric.kind == "COUNTER" && !(value >= 0.0 && value.is_finite()) {
            return Err(format!(
                "counter {} can only be incremented by a non-negative amount, got {value}",
                metric.key
            ));
        }
        let mut families = self
            .families
            .lock()
            .map_err(|_| "the metrics registry is poisoned".to_string())?;
        if !families.contains_key(&key) {
            let help = format!("Custom metric {}", metric.key);
            let family = match metric.kind.as_str() {
                "COUNTER" => {
                    let v = CounterVec::new(Opts::new(key.clone(), help), &name_refs)
                        .map_err(|e| e.to_string())?;
                    self.registry
                        .register(Box::new(v.clone()))
                        .map_err(|e| e.to_string())?;
                    Family::Counter(v, names.clone())
                }
                "GAUGE" => {
                    let v = GaugeVec::new(Opts::new(key.clone(), help), &name_refs)
                        .map_err(|e| e.to_string())?;
                    self.registry
                        .register(Box::new(v.clone()))
                        .map_err(|e| e.to_string())?;
                    Family::Gauge(v, names.clone())
                }
                _ => {
                    let v = HistogramVec::new(
                        HistogramOpts::new(key.clone(), help).buckets(timer_buckets()),
                        &name_refs,
                    )
                    .map_err(|e| e.to_string())?;
                    self.registry
                        .register(Box::new(v.clone()))
                        .map_err(|e| e.to_string())?;
                    Family::Timer(v, names.clone())
                }
            };
            families.insert(key.clone(), family);
        }
        let mismatch = |known: &Vec<String>| {
            format!("metric {key} was first reported with the labels {known:?}, now with {names:?}")
        };
        match families.get(&key) {
            Some(Family::Counter(v, known)) if metric.kind == "COUNTER" && *known == names => {
                v.with_label_values(&values).inc_by(value);
            }
            Some(Family::Gauge(v, known)) if metric.kind == "GAUGE" && *known == names => {
                v.with_label_values(&values).set(value);
            }
            Some(Family::Timer(v, known)) if metric.kind == "TIMER" && *known == names => {
                v.with_label_values(&values).observe(value / 1000.0);
            }
            Some(Family::Counter(_, known) | Family::Gauge(_, known) | Family::Timer(_, known)) => {
                return Err(mismatch(known));
            }
            None => return Err(format!("metric {key} is not registered")),
        }
        Ok(())
    }
}

/// A Seldon component at the whole-message level: the seam both transports dispatch to, one method per hook.
///
/// Every method has the Python wrapper's answer for a class that lacks the hook as its default; a reply is sent
/// as returned (as the wrapper sends a `*_raw` hook's), so an implementation builds its `meta` itself, usually
/// from [`Node::reply_meta`], and exports the metrics it reports with [`Node::export_metrics`]. The typed
/// adapters ([`AsModel`], [`AsRouter`], ...) implement it for typed components.
///
/// Hooks are called on the request's task (cheap Rust code runs best inline); a component whose hooks block
/// (an embedded interpreter, heavy compute) says so in [`Component::blocking`] and is called on a blocking
/// thread instead. A panic in a hook is that request's 500, never the process's end.
pub trait Component: Send + Sync + 'static {
    /// `/predict` (`Model/Predict`). Default: the wrapper's answer for a class without `predict`, an empty
    /// `ndarray` (`{"data":{"names":[],"ndarray":[]}}`).
    fn predict(
        &self,
        node: &Node,
        request: SeldonMessage,
    ) -> Result<SeldonMessage, ComponentError> {
        Ok(empty_reply(node, &request.meta))
    }

    /// `/route` (`Router/Route`): the reply carries the chosen child's index as a one-element 2-D array
    /// (`[[1]]`; `-1` sends the request to every child). Default: 400 `Route not defined`.
    fn route(&self, node: &Node, request: SeldonMessage) -> Result<SeldonMessage, ComponentError> {
        let _ = (node, request);
        Err(ComponentError::not_defined("Route"))
    }

    /// `/aggregate` (`Combiner/Aggregate`): the children's replies in, one message out. Default: 400
    /// `Aggregate not defined`.
    fn aggregate(
        &self,
        node: &Node,
        requests: Vec<SeldonMessage>,
    ) -> Result<SeldonMessage, ComponentError> {
        let _ = (node, requests);
        Err(ComponentError::not_defined("Aggregate"))
    }

    /// `/transform-input` (`Transformer/TransformInput`). Default: the payload passes through, with `t:i` names
    /// for 2-D data (as the wrapper echoes it).
    fn transform_input(
        &self,
        node: &Node,
        request: SeldonMessage,
    ) -> Result<SeldonMessage, ComponentError> {
        Ok(echo(node, request))
    }

    /// `/transform-output` (`OutputTransformer/TransformOutput`). Default: as [`Component::transform_input`].
    fn transform_output(
        &self,
        node: &Node,
        request: SeldonMessage,
    ) -> Result<SeldonMessage, ComponentError> {
        Ok(echo(node, request))
    }

    /// `/send-feedback` (`…/SendFeedback`), after the runtime has counted the reward. `routing` is this node's
    /// decision for the request (`response.meta.routing[PREDICTIVE_UNIT_ID]`). [`FeedbackOutcome::Empty`] answers
    /// the wrapper's empty reply (`{"data":{"ndarray":[]},"meta":…}`); the default is that, with the request's
    /// reply meta.
    fn send_feedback(
        &self,
        node: &Node,
        feedback: Feedback,
        routing: Option<i32>,
    ) -> Result<FeedbackOutcome, ComponentError> {
        let _ = routing;
        let request = feedback.request.as_ref().map(|r| &r.meta);
        Ok(FeedbackOutcome::Empty(
            node.reply_meta(request.unwrap_or(&Meta::default())),
        ))
    }

    /// `/health/status`. Default: `{"strData":"healthy"}` with the node's `meta`.
    fn health_status(&self, node: &Node) -> Result<SeldonMessage, ComponentError> {
        Ok(SeldonMessage {
            meta: node.reply_meta(&Meta::default()),
            payload: Payload::StrData("healthy".into()),
            status: None,
        })
    }

    /// Seldon metadata (the wrapper's `init_metadata`), read once at start-up: merged over the defaults from the
    /// image, under `MODEL_METADATA`. `None`: the defaults.
    fn metadata(&self) -> Option<serde_json::Value> {
        None
    }

    /// Whether hooks block (call them on a blocking thread rather than the request's task).
    fn blocking(&self) -> bool {
        false
    }

    /// Where a blocking component's hook calls run (asked only when [`Component::blocking`]): `Ok(())` once
    /// `job` — one hook call, which hands its result back itself — is queued for a thread of the component's
    /// own, `Err(job)` to run it on tokio's blocking pool (the default). A component that keeps worker threads
    /// (an embedded interpreter's, attached to it) takes the job: the call then crosses threads once each way,
    /// instead of through a blocking thread that waits on the worker.
    fn spawn_hook(&self, job: HookJob) -> Result<(), HookJob> {
        Err(job)
    }
}

/// One hook call of a blocking component, for [`Component::spawn_hook`]: run it once, on any thread.
pub type HookJob = Box<dyn FnOnce() + Send + 'static>;

/// What a feedback hook answers.
#[derive(Debug, Clone, PartialEq)]
pub enum FeedbackOutcome {
    /// The wrapper's reply when the hook returns nothing: an empty array (`ndarray: []` when the feedback's
    /// request had `data`, else an empty `tensor`), with this `meta`.
    Empty(Meta),
    /// This message.
    Message(SeldonMessage),
}

/// The hooks every typed component shares (the Python class's optional methods).
pub trait Unit: Send + Sync + 'static {
    /// Tags added to every reply's `meta.tags` (over the request's).
    fn tags(&self) -> Tags {
        Tags::new()
    }

    /// Custom metrics reported with every reply (`meta.metrics`) and exported on the metrics port.
    fn metrics(&self) -> Vec<Metric> {
        Vec::new()
    }

    /// The reply's column names for 2-D outputs (default `t:0 … t:{n-1}`).
    fn class_names(&self) -> Option<Vec<String>> {
        None
    }

    /// Health: `Err` answers the error instead of `healthy`.
    fn health_status(&self) -> Result<(), ComponentError> {
        Ok(())
    }

    /// Seldon metadata (see [`Component::metadata`]).
    fn metadata(&self) -> Option<ModelMetadataMessage> {
        None
    }
}

/// A MODEL: features in, predictions out.
pub trait Predictor: Unit {
    /// Predicts. `features` is the request's array as sent (a 1-D array stays 1-D), `names` its `data.names`.
    fn predict(&self, features: Tensor, names: &[String]) -> Result<Tensor, ComponentError>;

    /// Learns from a reward (`truth` is the feedback's `truth` array, if any).
    fn send_feedback(
        &self,
        features: &Tensor,
        names: &[String],
        reward: f64,
        truth: Option<&Tensor>,
    ) -> Result<(), ComponentError> {
        let _ = (features, names, reward, truth);
        Ok(())
    }
}

/// A ROUTER: picks the child a request goes to, and learns from feedback on its choices.
pub trait Router: Unit {
    /// The child's index for this request (`-1`: every child). `features` is the request's array (empty, shape
    /// `[0]`, for a request without `data`).
    fn route(&self, features: &Tensor, names: &[String]) -> Result<i32, ComponentError>;

    /// A reward for the route this node chose (`routing`, `None` when the feedback's response carries no
    /// routing for this node).
    fn send_feedback(
        &self,
        features: &Tensor,
        names: &[String],
        reward: f64,
        truth: Option<&Tensor>,
        routing: Option<i32>,
    ) -> Result<(), ComponentError> {
        let _ = (features, names, reward, truth, routing);
        Ok(())
    }
}

/// A COMBINER: the children's outputs in, one output back.
pub trait Combiner: Unit {
    /// Combines the children's arrays (in the order of `seldonMessages`; `names` are each one's `data.names`).
    fn aggregate(
        &self,
        inputs: Vec<Tensor>,
        names: &[Vec<String>],
    ) -> Result<Tensor, ComponentError>;
}

/// A TRANSFORMER: rewrites the request before the model sees it.
pub trait Transformer: Unit {
    /// Transforms the request's features.
    fn transform_input(&self, features: Tensor, names: &[String])
    -> Result<Tensor, ComponentError>;
}

/// An OUTPUT_TRANSFORMER: rewrites the model's reply.
pub trait OutputTransformer: Unit {
    /// Transforms the model's output.
    fn transform_output(&self, output: Tensor, names: &[String]) -> Result<Tensor, ComponentError>;
}

/// A typed [`Predictor`] as a [`Component`].
#[derive(Debug)]
pub struct AsModel<P>(pub P);
/// A typed [`Router`] as a [`Component`].
#[derive(Debug)]
pub struct AsRouter<R>(pub R);
/// A typed [`Combiner`] as a [`Component`].
#[derive(Debug)]
pub struct AsCombiner<C>(pub C);
/// A typed [`Transformer`] as a [`Component`].
#[derive(Debug)]
pub struct AsTransformer<T>(pub T);
/// A typed [`OutputTransformer`] as a [`Component`].
#[derive(Debug)]
pub struct AsOutputTransformer<T>(pub T);

/// The hooks every adapter shares, delegated to the [`Unit`].
macro_rules! unit_hooks {
    () => {
        fn health_status(&self, node: &Node) -> Result<SeldonMessage, ComponentError> {
            self.0.health_status()?;
            Ok(SeldonMessage {
                meta: node.unit_meta(&Meta::default(), &self.0, Method::Health)?,
                payload: Payload::StrData("healthy".into()),
                status: None,
            })
        }

        fn metadata(&self) -> Option<serde_json::Value> {
            self.0.metadata().and_then(|m| serde_json::to_value(m).ok())
        }
    };
}

impl<P: Predictor> Component for AsModel<P> {
    fn predict(
        &self,
        node: &Node,
        request: SeldonMessage,
    ) -> Result<SeldonMessage, ComponentError> {
        let (form, features, names) = features(request.payload, "predict")?;
        let output = self.0.predict(features, &names)?;
        typed_reply(node, &request.meta, &self.0, Method::Predict, form, output)
    }

    fn send_feedback(
        &self,
        node: &Node,
        feedback: Feedback,
        _routing: Option<i32>,
    ) -> Result<FeedbackOutcome, ComponentError> {
        let p = feedback_parts(feedback)?;
        self.0
            .send_feedback(&p.features, &p.names, p.reward, p.truth.as_ref())?;
        Ok(FeedbackOutcome::Empty(node.unit_meta(
            &p.meta,
            &self.0,
            Method::Feedback,
        )?))
    }

    unit_hooks!();
}

impl<R: Router> Component for AsRouter<R> {
    fn route(&self, node: &Node, request: SeldonMessage) -> Result<SeldonMessage, ComponentError> {
        let (form, features, names) = match request.payload {
            Payload::Data(_) => features(request.payload, "route")?,
            _ => (Form::Other, empty_tensor()?, Vec::new()),
        };
        let branch = self.0.route(&features, &names)?;
        let output = Tensor::new(vec![1, 1], TensorData::I64(vec![i64::from(branch)]))
            .map_err(|e| ComponentError::internal(e.to_string()))?;
        typed_reply(node, &request.meta, &self.0, Method::Router, form, output)
    }

    fn send_feedback(
        &self,
        node: &Node,
        feedback: Feedback,
        routing: Option<i32>,
    ) -> Result<FeedbackOutcome, ComponentError> {
        let p = feedback_parts(feedback)?;
        self.0
            .send_feedback(&p.features, &p.names, p.reward, p.truth.as_ref(), routing)?;
        Ok(FeedbackOutcome::Empty(node.unit_meta(
            &p.meta,
            &self.0,
            Method::Feedback,
        )?))
    }

    unit_hooks!();
}

impl<C: Combiner> Component for AsCombiner<C> {
    fn aggregate(
        &self,
        node: &Node,
        requests: Vec<SeldonMessage>,
    ) -> Result<SeldonMessage, ComponentError> {
        let mut merged = Meta::default();
        let mut form = None;
        let mut inputs = Vec::with_capacity(requests.len());
        let mut names = Vec::with_capacity(requests.len());
        for request in requests {
            merged.tags.extend(request.meta.tags);
            merged.metrics.extend(request.meta.metrics);
            merged.request_path.extend(request.meta.request_path);
            if merged.puid.is_empty() {
                merged.puid = request.meta.puid;
            }
            let (f, tensor, n) = features(request.payload, "aggregate")?;
            form.get_or_insert(f);
            inputs.push(tensor);
            names.push(n);
        }
        let output = self.0.aggregate(inputs, &names)?;
        typed_reply(
            node,
            &merged,
            &self.0,
            Method::Aggregate,
            form.unwrap_or(Form::Other),
            output,
        )
    }

    unit_hooks!();
}

impl<T: Transformer> Component for AsTransformer<T> {
    fn transform_input(
        &self,
        node: &Node,
        request: SeldonMessage,
    ) -> Result<SeldonMessage, ComponentError> {
        let (form, features, names) = features(request.payload, "transform_input")?;
        let output = self.0.transform_input(features, &names)?;
        typed_reply(
            node,
            &request.meta,
            &self.0,
            Method::InputTransform,
            form,
            output,
        )
    }

    unit_hooks!();
}

impl<T: OutputTransformer> Component for AsOutputTransformer<T> {
    fn transform_output(
        &self,
        node: &Node,
        request: SeldonMessage,
    ) -> Result<SeldonMessage, ComponentError> {
        let (form, features, names) = features(request.payload, "transform_output")?;
        let output = self.0.transform_output(features, &names)?;
        typed_reply(
            node,
            &request.meta,
            &self.0,
            Method::OutputTransform,
            form,
            output,
        )
    }

    unit_hooks!();
}

/// The form a typed reply takes: the request's array form, or (a request without `data`) `tensor` for numbers
/// and `ndarray` for strings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Form {
    /// The request had `data` in this form.
    Data(ArrayKind),
    /// The request had no `data`.
    Other,
}

/// The features of a typed hook's request: its `data` array as sent, and `data.names`. A request without an
/// array (`strData`, `binData`, `jsonData`, a mixed `ndarray`) is refused: those are for the message-level hooks.
pub fn features(
    payload: Payload,
    hook: &str,
) -> Result<(Form, Tensor, Vec<String>), ComponentError> {
    match payload {
        Payload::Data(DefaultData { names, array }) => {
            let kind = array.kind().unwrap_or(ArrayKind::NdArray);
            match array {
                DataArray::None => Ok((Form::Data(kind), empty_tensor()?, names)),
                DataArray::Table(_) => Err(ComponentError::bad_data(format!(
                    "{hook} takes numbers or strings of one type; this ndarray mixes element types"
                ))),
                array => {
                    let tensor = array
                        .into_tensor()
                        .ok_or_else(|| ComponentError::bad_data("request `data` holds no array"))?;
                    Ok((Form::Data(kind), tensor, names))
                }
            }
        }
        Payload::None => Err(ComponentError::bad_data(
            "Invalid request data type: no data",
        )),
        _ => Err(ComponentError::bad_data(format!(
            "this component's {hook} takes `data` (ndarray, tensor or tftensor), not strData, binData or jsonData"
        ))),
    }
}

/// A typed hook's reply as the wrapper builds a non-raw one: `output` in `form`, named by the unit's class names
/// (else `t:i`) when 2-D or more, with [`Node::unit_meta`].
pub fn typed_reply(
    node: &Node,
    request: &Meta,
    unit: &dyn Unit,
    method: Method,
    form: Form,
    output: Tensor,
) -> Result<SeldonMessage, ComponentError> {
    let meta = node.unit_meta(request, unit, method)?;
    let kind = match form {
        _ if output.dtype() == DataType::Bytes => ArrayKind::NdArray,
        Form::Data(kind) => kind,
        Form::Other => ArrayKind::Tensor,
    };
    let names = match output.shape() {
        [_, cols, ..] => unit
            .class_names()
            .filter(|n| n.len() == *cols)
            .unwrap_or_else(|| crate::seldon::default_names(*cols)),
        _ => Vec::new(),
    };
    Ok(SeldonMessage {
        meta,
        payload: Payload::Data(DefaultData {
            names,
            array: DataArray::of_kind(kind, output),
        }),
        status: None,
    })
}

fn empty_tensor() -> Result<Tensor, ComponentError> {
    Tensor::new(vec![0], TensorData::F64(Vec::new()))
        .map_err(|e| ComponentError::internal(e.to_string()))
}

/// `{"data":{"names":[],"ndarray":[]}}` with the request's reply meta.
fn empty_reply(node: &Node, request: &Meta) -> SeldonMessage {
    let array = empty_tensor().map_or(DataArray::None, DataArray::NdArray);
    SeldonMessage {
        meta: node.reply_meta(request),
        payload: Payload::Data(DefaultData {
            names: Vec::new(),
            array,
        }),
        status: None,
    }
}

/// The wrapper's echo for a transform hook a component lacks.
fn echo(node: &Node, request: SeldonMessage) -> SeldonMessage {
    SeldonMessage {
        meta: node.reply_meta(&request.meta),
        payload: crate::seldon::echo_payload(request.payload),
        status: None,
    }
}

/// What a typed feedback hook is given: the feedback's request `meta`, features, names, reward and truth.
struct FeedbackParts {
    meta: Meta,
    features: Tensor,
    names: Vec<String>,
    reward: f64,
    truth: Option<Tensor>,
}

fn feedback_parts(feedback: Feedback) -> Result<FeedbackParts, ComponentError> {
    let (meta, features, names) = match feedback.request {
        Some(SeldonMessage {
            meta,
            payload: Payload::Data(DefaultData { names, array }),
            ..
        }) => match array.into_tensor() {
            Some(t) => (meta, t, names),
            None => (meta, empty_tensor()?, names),
        },
        Some(other) => (other.meta, empty_tensor()?, Vec::new()),
        None => (Meta::default(), empty_tensor()?, Vec::new()),
    };
    let truth = feedback.truth.and_then(|t| match t.payload {
        Payload::Data(DefaultData { array, .. }) => array.into_tensor(),
        _ => None,
    });
    Ok(FeedbackParts {
        meta,
        features,
        names,
        reward: feedback.reward,
        truth,
    })
}

/// The model slot of a component server: V2 and KServe V1 routes, which serve models, refuse with the reason.
struct NoModel(ModelMetadata);

impl Model for NoModel {
    fn metadata(&self) -> &ModelMetadata {
        &self.0
    }

    fn predict(
        &self,
        _request: oxserve_core::PredictRequest,
    ) -> Result<oxserve_core::PredictResponse, ModelError> {
        Err(ModelError::BadInput(
            "this server is a Seldon component: it answers the Seldon v1 routes (REST and gRPC) only".into(),
        ))
    }
}

/// A component as the server holds it: the component and its node.
#[derive(Clone)]
pub(crate) struct Slot {
    pub(crate) component: Arc<dyn Component>,
    pub(crate) node: Node,
}

impl std::fmt::Debug for Slot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Slot").field("node", &self.node).finish()
    }
}

/// Parses the command line and env (the runtime's flags and `--service-type`), builds the component with
/// `build`, and serves it until SIGTERM/SIGINT; returns the process exit code (start-up failures are logged as
/// one line and exit 1).
pub fn run<F>(server: &Server, build: F) -> ExitCode
where
    F: FnOnce(&ComponentContext) -> anyhow::Result<Arc<dyn Component>>,
{
    let (config, args) = match crate::parse_config::<ComponentArgs>(server, std::env::args_os()) {
        Ok(parsed) => parsed,
        Err(e) => e.exit(),
    };
    crate::init_tracing(config.log_json);
    run_parsed(config, args.service_type, server.parameters, build)
}

/// Serves a component from a configuration already parsed (a binary with a command line of its own, which also
/// sets up its own logging) until SIGTERM/SIGINT; returns the process exit code. `accepted_parameters` may hold
/// [`crate::config::ANY_PARAMETER`].
pub fn run_parsed<F>(
    config: Config,
    service_type: ServiceType,
    accepted_parameters: &[&str],
    build: F,
) -> ExitCode
where
    F: FnOnce(&ComponentContext) -> anyhow::Result<Arc<dyn Component>>,
{
    // The signal handlers need the runtime: they are installed on the first poll, before anything is bound.
    crate::block_on_exit(async move {
        serve(
            config,
            service_type,
            accepted_parameters,
            build,
            crate::wait_for_signal(),
        )
        .await
    })
}

/// Builds the component and serves it on the configured ports until `shutdown` completes (what [`run`] does
/// after parsing; tests call it with port 0 and a ports file).
pub async fn serve<F>(
    config: Config,
    service_type: ServiceType,
    accepted_parameters: &[&str],
    build: F,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()>
where
    F: FnOnce(&ComponentContext) -> anyhow::Result<Arc<dyn Component>>,
{
    let parameters = Parameters::parse(&config.parameters)?;
    parameters.check_known(accepted_parameters)?;
    let model_dir = match config.effective_model_uri(&parameters) {
        Some(uri) => Some(crate::model_dir(&uri, &config).await?),
        None => None,
    };
    let context = ComponentContext {
        service_type,
        parameters,
        model_dir: model_dir.clone(),
    };
    let component = build(&context).context("cannot build the component")?;
    let placeholder: Arc<dyn Model> = Arc::new(NoModel(ModelMetadata {
        platform: String::new(),
        inputs: Vec::new(),
        outputs: Vec::new(),
    }));
    let mut state = crate::new_state(
        &config,
        placeholder,
        model_dir.as_deref().unwrap_or(std::path::Path::new("")),
    )?;
    if let Some(init) = component.metadata() {
        state.seldon_metadata = crate::seldon::metadata_over(&config, init);
    }
    let (image_name, image_version) =
        crate::seldon::split_image(config.predictive_unit_image.as_deref());
    let identity = [
        (
            "model_name",
            config.predictive_unit_id.clone().unwrap_or_default(),
        ),
        ("model_image", image_name),
        ("model_version", image_version),
        (
            "deployment_name",
            config.deployment_id.clone().unwrap_or_default(),
        ),
        (
            "predictor_name",
            config.predictor_id.clone().unwrap_or_default(),
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let node = Node::new(
        config.predictive_unit_id.clone(),
        config.predictive_unit_image.clone(),
        state.metrics.registry().clone(),
        identity,
    );
    state.component = Some(Slot { component, node });
    tracing::info!(service_type = ?service_type, "serving a Seldon component");
    crate::serve_state(config, Arc::new(state), shutdown).await
}
