//! What every handler shares: the model, the deployment's identity, metadata, metrics and the overload limiter.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use oxserve_core::{Model, ModelError, PredictFuture, PredictRequest, PredictResponse, Submission};
use oxserve_protocol::seldon::ModelMetadataMessage;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::error::ServeError;
use crate::metrics::Metrics;
use crate::repository::{ModelRepository, ServedModel};

/// The state shared by every REST and gRPC handler.
pub struct ServerState {
    /// The loaded model.
    pub model: Arc<dyn Model>,
    /// The model's name on V2 routes.
    pub model_name: String,
    /// The model's version on V2 routes, if any.
    pub model_version: Option<String>,
    /// `PREDICTIVE_UNIT_ID` → `PREDICTIVE_UNIT_IMAGE`, added to every Seldon reply's `meta.requestPath`.
    pub request_path: Option<(String, String)>,
    /// Seldon metadata, validated at start-up (`None` = invalid, answered with `MICROSERVICE_BAD_METADATA`).
    pub seldon_metadata: Option<ModelMetadataMessage>,
    /// Metrics.
    pub metrics: Metrics,
    /// Largest request body accepted, in bytes.
    pub max_body_bytes: usize,
    /// Largest cost (rows × the model's [`Model::row_cost`]) one request may ask for; 0 = no limit.
    pub max_request_cost: u64,
    /// The output KServe V1's `:predict` asks the model for (`None`: the model's default output), resolved at
    /// start-up from the server's preference ([`crate::Extensions::kserve_v1_outputs`]).
    pub kserve_v1_output: Option<String>,
    /// Every model V2 routes resolve by name: the server's own model (`model`, under `model_name`) and those
    /// the repository API loads from the models folder.
    pub repository: Arc<ModelRepository>,
    /// False when the server was started with a models folder and no model of its own: routes that name no
    /// model then use the repository's one loaded model.
    own_model: bool,
    /// A Seldon component server's component ([`crate::component`]): the Seldon routes dispatch to it.
    pub(crate) component: Option<crate::component::Slot>,
    dispatch: Dispatch,
    limiter: Option<Arc<Semaphore>>,
    ready: AtomicBool,
}

impl std::fmt::Debug for ServerState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerState")
            .field("model_name", &self.model_name)
            .field("model_version", &self.model_version)
            .finish_non_exhaustive()
    }
}

/// A permit to run one request; dropping it frees the slot.
#[derive(Debug)]
pub struct Permit(#[allow(dead_code)] Option<OwnedSemaphorePermit>);

impl ServerState {
    /// Builds the state. `max_concurrency` 0 means no limit.
    pub fn new(
        model: Arc<dyn Model>,
        model_name: String,
        model_version: Option<String>,
        request_path: Option<(String, String)>,
        seldon_metadata: Option<ModelMetadataMessage>,
        metrics: Metrics,
        max_concurrency: usize,
    ) -> Self {
        let dispatch = Dispatch::new(model_threads(0));
        let repository = ModelRepository::default().with_metrics(metrics.clone());
        repository.insert_with_cost(
            &model_name,
            model_version.clone(),
            model.clone(),
            dispatch.cost.clone(),
        );
        ServerState {
            model,
            model_name,
            model_version,
            request_path,
            seldon_metadata,
            metrics,
            max_body_bytes: oxserve_protocol::RequestLimits::DEFAULT_MAX_BODY_BYTES,
            max_request_cost: DEFAULT_MAX_REQUEST_COST,
            kserve_v1_output: None,
            repository: Arc::new(repository),
            own_model: true,
            component: None,
            dispatch,
            limiter: (max_concurrency > 0).then(|| Arc::new(Semaphore::new(max_concurrency))),
            ready: AtomicBool::new(true),
        }
    }

    /// Whether the server accepts traffic (false while shutting down).
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Relaxed)
    }

    /// Marks the server as no longer ready (readiness probes then fail while in-flight requests drain).
    pub fn set_not_ready(&self) {
        self.ready.store(false, Ordering::Relaxed);
    }

    /// Takes a request slot, or says "overloaded" at once.
    pub fn permit(&self) -> Result<Permit, ServeError> {
        match &self.limiter {
            None => Ok(Permit(None)),
            Some(sem) => sem
                .clone()
                .try_acquire_owned()
                .map(|p| Permit(Some(p)))
                .map_err(|_| ServeError::Overloaded),
        }
    }

    /// Bounds model work to `threads` blocking threads at once (0 = the CPUs this process may use). Calls
    /// beyond the bound wait for a thread; they never start more threads.
    pub fn set_model_threads(&mut self, threads: usize) {
        let cost = self.dispatch.cost.clone();
        self.dispatch = Dispatch::new(model_threads(threads));
        self.dispatch.cost = cost;
    }

    /// Replaces the repository (a server with a models folder); the server's own model is added to it as READY
    /// under its name unless `with_own_model` is false (a server started with a models folder and no model).
    pub fn set_repository(&mut self, repository: ModelRepository, with_own_model: bool) {
        self.own_model = with_own_model;
        let repository = repository.with_metrics(self.metrics.clone());
        if with_own_model {
            repository.insert_with_cost(
                &self.model_name,
                self.model_version.clone(),
                self.model.clone(),
                self.dispatch.cost.clone(),
            );
        }
        self.repository = Arc::new(repository);
    }

    /// How many compute threads model calls may use at once.
    pub fn model_threads(&self) -> usize {
        self.dispatch.threads
    }

    /// Whether the next call of `rows` rows would run inline on the async worker (exposed for tests).
    pub fn would_run_inline(&self, rows: usize) -> bool {
        self.model.runs_inline() && self.dispatch.cost.is_tiny(rows)
    }

    /// Checks a request against the per-request cost budget: rows × the model's per-row cost hint.
    fn check_cost(&self, model: &dyn Model, rows: usize) -> Result<(), ServeError> {
        let (Some(row_cost), max) = (model.row_cost(), self.max_request_cost) else {
            return Ok(());
        };
        let cost = (rows as u64).saturating_mul(row_cost);
        if max == 0 || cost <= max {
            return Ok(());
        }
        Err(ServeError::TooCostly {
            rows,
            row_cost,
            max,
            max_rows: max / row_cost.max(1),
        })
    }

    /// Runs the model, after the overload and cost checks. A model that takes the request on its waiting path
    /// ([`Model::predict_async`], a batching queue) is awaited on this task: no blocking thread per waiting
    /// caller, the request's permit held until the answer, and the model told when the client goes away (the
    /// future is dropped). Otherwise a call runs inline on the async worker only while
    /// this model's measured calls show it tiny (within 50 µs for this many rows) and the model
    /// allows it; otherwise on a blocking thread, at most [`ServerState::model_threads`] at once (calls that
    /// wait, [`Model::call_waits`], have a larger bound), the rest queued. Either way a panic inside the model
    /// becomes an internal error for this request alone (REST and gRPC alike) and the process goes on; the
    /// request's tracing span follows the call to its thread.
    pub async fn predict(&self, request: PredictRequest) -> Result<PredictResponse, ServeError> {
        if !self.own_model {
            let served = self.repository.single().ok_or_else(|| {
                ServeError::ModelNotFound(crate::repository::NO_SINGLE_MODEL.into())
            })?;
            return self.predict_served(&served, request).await;
        }
        self.predict_on(&self.model, &self.dispatch.cost, request)
            .await
    }

    /// [`ServerState::predict`] on one of the repository's models (V2 routes, which name their model).
    pub async fn predict_served(
        &self,
        served: &ServedModel,
        request: PredictRequest,
    ) -> Result<PredictResponse, ServeError> {
        self.predict_on(&served.model, &served.cost, request).await
    }

    async fn predict_on(
        &self,
        model: &Arc<dyn Model>,
        cost: &CostEstimate,
        request: PredictRequest,
    ) -> Result<PredictResponse, ServeError> {
        let _permit = self.permit()?;
        let rows = request_rows(&request, model.as_ref());
        self.check_cost(model.as_ref(), rows)?;
        let request = match submit(model.as_ref(), request)? {
            Submission::Pending(answer) => return awaited(answer).await,
            Submission::Direct(request) => request,
        };
        if model.runs_inline() && cost.is_tiny(rows) {
            let start = Instant::now();
            let result = guarded(model.as_ref(), request);
            cost.record(start.elapsed(), rows);
            return result;
        }
        let pool = if model.call_waits() {
            &self.dispatch.waiting
        } else {
            &self.dispatch.compute
        };
        let thread = pool
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| ServeError::Internal("the model thread pool is closed".into()))?;
        let model = model.clone();
        let span = tracing::Span::current();
        let (result, elapsed) = tokio::task::spawn_blocking(move || {
            // Held by the thread, not the request: a client that goes away does not free the slot while its
            // call still computes.
            let _thread = thread;
            span.in_scope(|| {
                let start = Instant::now();
                let result = guarded(model.as_ref(), request);
                (result, start.elapsed())
            })
        })
        .await
        .map_err(|e| ServeError::Internal(format!("model task failed: {e}")))?;
        cost.record(elapsed, rows);
        result
    }
}

/// The default of `--max-request-cost`: about a second of one core's arithmetic. A k-NN over 100,000 training
/// rows of 4 features (400,000 per row) takes 2,500 rows per request; models without a cost hint are never
/// limited by it.
pub(crate) const DEFAULT_MAX_REQUEST_COST: u64 = 1_000_000_000;

/// The longest a call may be expected to take and still run on an async worker: a worker held this long
/// delays other requests (and probes) on it by no more than this.
pub(crate) const INLINE_BUDGET: Duration = Duration::from_micros(50);

/// Calls timed on a blocking thread before a model may run inline: its first calls are run off the I/O
/// threads until their cost is known.
const WARM_UP_CALLS: u64 = 3;

/// Compute threads for `configured` (0 = the CPUs available to this process, cgroup quota included).
fn model_threads(configured: usize) -> usize {
    if configured > 0 {
        return configured;
    }
    std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
}

/// Calls one prediction, turning a panic into an internal error for this request alone.
fn guarded(model: &dyn Model, request: PredictRequest) -> Result<PredictResponse, ServeError> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| model.predict(request)))
        .map_err(|_| panicked())?
        .map_err(|e: ModelError| ServeError::from(e))
}

/// Offers a request to the model's waiting path; a panic there is an internal error for this request alone.
fn submit(model: &dyn Model, request: PredictRequest) -> Result<Submission, ServeError> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        model.predict_async(request)
    }))
    .map_err(|_| panicked())
}

/// Awaits a model's answer on the request's task; a panic while it is polled fails this request alone.
async fn awaited(answer: PredictFuture) -> Result<PredictResponse, ServeError> {
    futures::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(answer))
        .await
        .map_err(|_| panicked())?
        .map_err(ServeError::from)
}

fn panicked() -> ServeError {
    tracing::error!("the model panicked");
    ServeError::Internal("internal error while handling the request".into())
}

/// The rows of a request, for cost: the first dimension of the first input when it is a batch (2-D or more,
/// or 1-D where the model's input is 1-D, as text models' `[-1]`); 1 otherwise.
fn request_rows(request: &PredictRequest, model: &dyn Model) -> usize {
    let Some(input) = request.inputs.first() else {
        return 1;
    };
    let shape = input.tensor.shape();
    let spec_is_1d = model
        .metadata()
        .inputs
        .iter()
        .find(|spec| spec.name == input.name)
        .or_else(|| model.metadata().inputs.first())
        .is_some_and(|spec| spec.shape.len() == 1);
    match shape {
        [] => 1,
        [n] if spec_is_1d => *n,
        [_] => 1,
        [n, ..] => *n,
    }
}

/// Where model calls run: the compute pool (bounded by the CPUs), the pool for calls that wait, and the
/// measured cost that decides whether a call may run inline.
struct Dispatch {
    threads: usize,
    compute: Arc<Semaphore>,
    waiting: Arc<Semaphore>,
    cost: Arc<CostEstimate>,
}

/// Blocking calls that wait (a remote server, [`Model::call_waits`]) may hold this many blocking threads at
/// once — tokio's own bound on its blocking pool.
const WAITING_THREADS: usize = 512;

impl Dispatch {
    fn new(threads: usize) -> Self {
        Dispatch {
            threads,
            compute: Arc::new(Semaphore::new(threads)),
            waiting: Arc::new(Semaphore::new(WAITING_THREADS)),
            cost: Arc::default(),
        }
    }
}

/// A model's measured cost per row, in nanoseconds: it rises at once to any slower call and decays slowly
/// (1/8 of the gap per call) towards faster ones, so one slow call moves the model off the I/O threads at once
/// and only a run of fast calls brings it back. Lock-free; updated by every call.
#[derive(Debug)]
pub(crate) struct CostEstimate {
    nanos_per_row: AtomicU64,
    calls: AtomicU64,
}

impl Default for CostEstimate {
    fn default() -> Self {
        CostEstimate {
            nanos_per_row: AtomicU64::new(u64::MAX),
            calls: AtomicU64::new(0),
        }
    }
}

impl CostEstimate {
    fn record(&self, elapsed: Duration, rows: usize) {
        let nanos = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
        let sample = nanos / (rows.max(1) as u64);
        let _ = self
            .nanos_per_row
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |old| {
                Some(if old == u64::MAX || sample >= old {
                    sample
                } else {
                    old - (old - sample) / 8
                })
            });
        self.calls.fetch_add(1, Ordering::Relaxed);
    }

    fn is_tiny(&self, rows: usize) -> bool {
        if self.calls.load(Ordering::Relaxed) < WARM_UP_CALLS {
            return false;
        }
        let per_row = self.nanos_per_row.load(Ordering::Relaxed);
        let budget = u64::try_from(INLINE_BUDGET.as_nanos()).unwrap_or(u64::MAX);
        per_row.saturating_mul(rows.max(1) as u64) <= budget
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use oxserve_core::{DataType, ModelMetadata, NamedTensor, Tensor, TensorData, TensorSpec};

    /// Returns its input; sleeps `.1` per call.
    struct Echo(ModelMetadata, Duration);

    impl Model for Echo {
        fn metadata(&self) -> &ModelMetadata {
            &self.0
        }

        fn predict(&self, request: PredictRequest) -> Result<PredictResponse, ModelError> {
            std::thread::sleep(self.1);
            if request.inputs.is_empty() {
                panic!("no inputs");
            }
            Ok(PredictResponse {
                outputs: request.inputs,
            })
        }

        fn row_cost(&self) -> Option<u64> {
            Some(100)
        }
    }

    fn state(per_call: Duration) -> ServerState {
        let metadata = ModelMetadata {
            platform: "test".into(),
            inputs: vec![TensorSpec::new("x", DataType::F64, vec![-1, 4])],
            outputs: vec![],
        };
        let metrics = Metrics::new(crate::metrics::FeedbackIdentity::default()).unwrap();
        ServerState::new(
            Arc::new(Echo(metadata, per_call)),
            "m".into(),
            None,
            None,
            None,
            metrics,
            0,
        )
    }

    fn rows(n: usize) -> PredictRequest {
        PredictRequest {
            inputs: vec![NamedTensor::new(
                "x",
                Tensor::new(vec![n, 4], TensorData::F64(vec![1.0; n * 4])).unwrap(),
            )],
            outputs: vec![],
        }
    }

    /// Calls a cheap model until it runs inline (a preempted call on a busy machine delays that): whether it
    /// got there.
    async fn warm(state: &ServerState) -> bool {
        for _ in 0..1_000 {
            if state.would_run_inline(1) {
                return true;
            }
            state.predict(rows(1)).await.unwrap();
        }
        false
    }

    #[tokio::test]
    async fn a_tiny_model_goes_inline_after_warm_up_and_a_slow_one_never_does() {
        let tiny = state(Duration::ZERO);
        assert!(!tiny.would_run_inline(1), "unknown cost runs off-thread");
        assert!(warm(&tiny).await);
        let slow = state(Duration::from_millis(2));
        for _ in 0..10 {
            slow.predict(rows(1)).await.unwrap();
        }
        assert!(!slow.would_run_inline(1));
    }

    #[tokio::test]
    async fn panics_are_caught_on_both_paths_and_the_cost_budget_holds() {
        let empty = PredictRequest::default();
        let fresh = state(Duration::ZERO);
        assert!(!fresh.would_run_inline(1), "a blocking thread");
        assert!(matches!(
            fresh.predict(empty.clone()).await,
            Err(ServeError::Internal(_))
        ));
        let mut tiny = state(Duration::ZERO);
        assert!(warm(&tiny).await, "inline");
        assert!(matches!(
            tiny.predict(empty).await,
            Err(ServeError::Internal(_))
        ));
        for _ in 0..100 {
            tiny.predict(rows(1)).await.unwrap();
        }
        tiny.max_request_cost = 1_000;
        tiny.predict(rows(10)).await.unwrap();
        match tiny.predict(rows(11)).await {
            Err(e @ ServeError::TooCostly { .. }) => {
                assert_eq!(e.http_status(), axum::http::StatusCode::BAD_REQUEST);
                assert!(e.to_string().contains("at most 10 rows"), "{e}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn model_threads_default_to_the_cpus() {
        assert!(model_threads(0) >= 1);
        assert_eq!(model_threads(3), 3);
    }

    #[test]
    fn cost_estimate_rises_at_once_and_decays_slowly() {
        let cost = CostEstimate::default();
        assert!(!cost.is_tiny(1), "unknown cost runs off-thread");
        for _ in 0..WARM_UP_CALLS {
            cost.record(Duration::from_micros(2), 1);
        }
        assert!(cost.is_tiny(1));
        assert!(cost.is_tiny(20));
        assert!(!cost.is_tiny(100), "2 µs × 100 rows is over the budget");
        cost.record(Duration::from_millis(40), 4);
        assert!(
            !cost.is_tiny(1),
            "one slow call moves the model off at once"
        );
        for _ in 0..200 {
            cost.record(Duration::from_micros(2), 1);
        }
        assert!(cost.is_tiny(1), "a run of fast calls brings it back");
    }
}
