//! Adaptive batching for any [`Model`]: concurrent requests wait in a bounded queue, a worker thread joins the
//! compatible ones along dim 0 and calls the model once, then splits every output back by each request's rows
//! — what MLServer's adaptive batching does (`mlserver/batching/*`), for an engine whose cost per call falls
//! with the batch (a transformer encoder, a GPU model).
//!
//! ```no_run
//! # use std::sync::Arc;
//! # use oxserve_core::Model;
//! # fn load() -> Arc<dyn Model> { unimplemented!() }
//! use oxserve_batching::{BatchConfig, BatchingModel};
//! let config = BatchConfig::from_parameters_and_env(Some("32"), Some("0.01")).unwrap_or_default();
//! let model: Arc<dyn Model> = Arc::new(BatchingModel::new(load(), config));
//! ```
//!
//! How a request travels: [`Model::predict_async`] puts it in a bounded tokio channel together with the
//! sending half of a `oneshot` and returns a future of the receiving half, so a caller on an async runtime
//! waits without holding a thread (the runtime awaits it on the request's task). The worker, one dedicated
//! thread (`oxserve-batcher`), collects a batch from the channel, runs the model once on its own thread and
//! sends each caller its rows. A sync caller of [`Model::predict`] takes the same path and parks its thread on
//! the same future.
//!
//! How a batch forms and runs:
//! - A batch closes when it holds `max_batch_size` rows, or when `max_batch_time` has passed since its first
//!   request was queued (a lone request waits that long, as in MLServer). Unlike MLServer, the cap counts
//!   rows, not requests, so that a model's memory per call is bounded.
//! - A request whose caller has gone (its future was dropped: a client that disconnected, a timeout) is
//!   dropped from the batch before the model runs, and counted in [`BatchStatsSnapshot::abandoned`]; it takes
//!   no room in the batch. The others of the batch are answered as usual.
//! - A request with more rows than `max_batch_size` runs alone, in its turn. A request with no batch dim (no
//!   inputs, a 0-d input, inputs that disagree on dim 0) skips the queue: [`Model::predict_async`] hands it
//!   back and [`Model::predict`] calls the model directly.
//! - Requests in one batch run together only when they are compatible (same input names, types and dims after
//!   the first, same requested outputs); the others run as further calls in arrival order.
//! - An output whose dim 0 is not the batch's row count cannot be split: the requests of that batch are run
//!   again one by one (and the model's answer reaches each caller as it would unbatched).
//! - A merged call that fails with [`ModelError::BadInput`] or [`ModelError::UnknownOutput`] is retried one
//!   request at a time, so one bad request does not fail its neighbours; [`ModelError::Internal`] reaches every
//!   request of the batch; a panic inside the model becomes an internal error for that batch, never a hung
//!   caller or a dead worker.
//! - The queue holds at most [`QUEUE_BATCHES`] × `max_batch_size` requests (never more than [`MAX_QUEUE`]).
//!   Beyond that a caller *waits for room* (backpressure, not refusal: an overloaded server is the runtime's
//!   call, through its `--max-concurrency` limit, and a request that waits for room costs no thread); a caller
//!   that goes away while it waits for room never enters the queue. Dropping the model closes the queue, lets
//!   the worker answer what it holds, and joins it.

mod config;
mod merge;

use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll, Wake, Waker};
use std::thread::{JoinHandle, Thread};
use std::time::Instant;

pub use config::{
    BatchConfig, BatchConfigError, ENV_MAX_BATCH_SIZE, ENV_MAX_BATCH_TIME, PARAM_MAX_BATCH_SIZE,
    PARAM_MAX_BATCH_TIME,
};
use oxserve_core::{Model, ModelError, ModelMetadata, PredictRequest, PredictResponse, Submission};
use tokio::sync::mpsc::error::{TryRecvError, TrySendError};
use tokio::sync::{mpsc, oneshot};

/// How many full batches the queue holds before callers wait for room.
pub const QUEUE_BATCHES: usize = 4;

/// The most requests the queue ever holds, whatever `max_batch_size` says.
pub const MAX_QUEUE: usize = 16_384;

/// A model whose concurrent calls are batched (see the crate docs). With batching off
/// ([`BatchConfig::is_enabled`] false) every call goes straight to the inner model, which then keeps its own
/// [`Model::runs_inline`].
pub struct BatchingModel {
    inner: Arc<dyn Model>,
    config: BatchConfig,
    queue: Option<mpsc::Sender<Job>>,
    worker: Option<JoinHandle<()>>,
    stats: Arc<BatchStats>,
}

impl std::fmt::Debug for BatchingModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BatchingModel")
            .field("config", &self.config)
            .field("batching", &self.queue.is_some())
            .field("stats", &self.stats.snapshot())
            .finish_non_exhaustive()
    }
}

type Answer = Result<PredictResponse, ModelError>;

/// One queued request and where its answer goes.
struct Job {
    request: PredictRequest,
    rows: usize,
    enqueued: Instant,
    span: tracing::Span,
    reply: oneshot::Sender<Answer>,
}

impl BatchingModel {
    /// Wraps `inner`. With batching on, starts the worker thread (`oxserve-batcher`); if the thread or its
    /// timer cannot be started, logs a warning and passes calls through unbatched.
    pub fn new(inner: Arc<dyn Model>, config: BatchConfig) -> Self {
        let stats = Arc::new(BatchStats::default());
        let (queue, worker) = if config.is_enabled() {
            match start_worker(inner.clone(), config, stats.clone()) {
                Ok(started) => started,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot start the batching thread; requests run unbatched");
                    (None, None)
                }
            }
        } else {
            (None, None)
        };
        BatchingModel {
            inner,
            config,
            queue,
            worker,
            stats,
        }
    }

    /// The configuration in force.
    pub fn config(&self) -> BatchConfig {
        self.config
    }

    /// Whether calls are batched (batching enabled and the worker running).
    pub fn is_batching(&self) -> bool {
        self.queue.is_some()
    }

    /// The live counters, shareable with a metrics exporter or a test.
    pub fn stats(&self) -> Arc<BatchStats> {
        self.stats.clone()
    }
}

type Started = (Option<mpsc::Sender<Job>>, Option<JoinHandle<()>>);

/// Opens the queue and starts the worker with its own timer (a current-thread tokio runtime that only ever
/// waits on the queue: the model runs outside it).
fn start_worker(
    inner: Arc<dyn Model>,
    config: BatchConfig,
    stats: Arc<BatchStats>,
) -> std::io::Result<Started> {
    let capacity = config
        .max_batch_size
        .saturating_mul(QUEUE_BATCHES)
        .clamp(1, MAX_QUEUE);
    let (tx, rx) = mpsc::channel(capacity);
    let timer = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()?;
    let handle = std::thread::Builder::new()
        .name("oxserve-batcher".into())
        .spawn(move || run_worker(&*inner, config, rx, &stats, &timer))?;
    Ok((Some(tx), Some(handle)))
}

impl Drop for BatchingModel {
    fn drop(&mut self) {
        // Closing the queue ends the worker's loop once it has answered what it holds.
        drop(self.queue.take());
        if let Some(worker) = self.worker.take()
            && worker.join().is_err()
        {
            tracing::error!("the batching thread ended with a panic");
        }
    }
}

fn stopped() -> ModelError {
    ModelError::Internal("the batching thread has stopped".into())
}

impl Model for BatchingModel {
    fn metadata(&self) -> &ModelMetadata {
        self.inner.metadata()
    }

    /// Blocks the calling thread on [`Model::predict_async`]'s answer; a request without a batch dim calls the
    /// inner model at once (a panic there is an internal error).
    fn predict(&self, request: PredictRequest) -> Result<PredictResponse, ModelError> {
        if self.queue.is_none() {
            return self.inner.predict(request);
        }
        match self.predict_async(request) {
            Submission::Pending(answer) => block_on(answer),
            Submission::Direct(request) => {
                self.stats.bypassed.fetch_add(1, Ordering::Relaxed);
                guarded(&*self.inner, request)
            }
        }
    }

    /// Queues the request (in arrival order, at once when the queue has room) and returns the future of its
    /// answer; hands back a request that cannot be batched (batching off, no batch dim).
    fn predict_async(&self, request: PredictRequest) -> Submission {
        let Some(queue) = &self.queue else {
            return Submission::Direct(request);
        };
        let Some(rows) = merge::request_rows(&request).filter(|&rows| rows > 0) else {
            return Submission::Direct(request);
        };
        let (reply, answer) = oneshot::channel();
        let job = Job {
            request,
            rows,
            enqueued: Instant::now(),
            span: tracing::Span::current(),
            reply,
        };
        let waiting_for_room = match queue.try_send(job) {
            Ok(()) => None,
            Err(TrySendError::Full(job)) => Some((queue.clone(), job)),
            Err(TrySendError::Closed(_)) => {
                return Submission::Pending(Box::pin(async { Err(stopped()) }));
            }
        };
        Submission::Pending(Box::pin(async move {
            if let Some((queue, job)) = waiting_for_room {
                queue.send(job).await.map_err(|_| stopped())?;
            }
            answer.await.map_err(|_| {
                ModelError::Internal("the batching thread stopped before answering".into())
            })?
        }))
    }

    fn column_names(&self, output: &str) -> Option<Vec<String>> {
        self.inner.column_names(output)
    }

    fn table_columns(&self) -> Option<&[oxserve_core::TensorSpec]> {
        self.inner.table_columns()
    }

    fn output_content_type(&self) -> Option<&'static str> {
        self.inner.output_content_type()
    }

    fn accepts_table(&self) -> bool {
        // A table is one 1-D input per column: its rows merge and split as any batch does (masks included).
        self.inner.accepts_table()
    }

    fn takes_request_parameters(&self) -> bool {
        self.inner.takes_request_parameters()
    }

    fn runs_inline(&self) -> bool {
        // A batched `predict` blocks on the queue: never on an async worker.
        self.queue.is_none() && self.inner.runs_inline()
    }

    fn call_waits(&self) -> bool {
        // Batched requests wait through `predict_async`, without a thread; what reaches `predict` from the
        // runtime is a request without a batch dim, which computes on the inner model.
        self.inner.call_waits()
    }

    fn row_cost(&self) -> Option<u64> {
        self.inner.row_cost()
    }
}

/// Drives a future to its end on the calling thread, parking it between wake-ups: the sync path of
/// [`BatchingModel::predict`], usable on any thread (tokio's own `blocking_recv` refuses a runtime thread).
fn block_on<F: Future>(future: F) -> F::Output {
    struct Unpark(Thread);
    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
        fn wake_by_ref(self: &Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut future = pin!(future);
    loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
            return output;
        }
        std::thread::park();
    }
}

/// Counters of what the batcher did, updated as it runs. Read them with [`BatchStats::snapshot`].
#[derive(Debug, Default)]
pub struct BatchStats {
    batches: AtomicU64,
    requests: AtomicU64,
    rows: AtomicU64,
    largest_batch_rows: AtomicU64,
    retried_alone: AtomicU64,
    bypassed: AtomicU64,
    abandoned: AtomicU64,
}

/// A copy of [`BatchStats`] at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BatchStatsSnapshot {
    /// Calls the worker made to the model (a merged batch, a lone request, or a retry each count once).
    pub batches: u64,
    /// Requests those calls carried (a request retried alone counts again).
    pub requests: u64,
    /// Rows those calls carried.
    pub rows: u64,
    /// The most rows one call carried.
    pub largest_batch_rows: u64,
    /// Requests re-run alone after their merged call failed with bad input or gave an unsplittable output.
    pub retried_alone: u64,
    /// Requests that skipped the queue because they have no batch dim.
    pub bypassed: u64,
    /// Requests dropped before the model ran them because their caller had gone (its future was dropped).
    pub abandoned: u64,
}

impl BatchStatsSnapshot {
    /// Mean rows per call to the model (0 before the first).
    pub fn mean_rows_per_batch(&self) -> f64 {
        if self.batches == 0 {
            0.0
        } else {
            self.rows as f64 / self.batches as f64
        }
    }
}

impl BatchStats {
    /// The counters now.
    pub fn snapshot(&self) -> BatchStatsSnapshot {
        BatchStatsSnapshot {
            batches: self.batches.load(Ordering::Relaxed),
            requests: self.requests.load(Ordering::Relaxed),
            rows: self.rows.load(Ordering::Relaxed),
            largest_batch_rows: self.largest_batch_rows.load(Ordering::Relaxed),
            retried_alone: self.retried_alone.load(Ordering::Relaxed),
            bypassed: self.bypassed.load(Ordering::Relaxed),
            abandoned: self.abandoned.load(Ordering::Relaxed),
        }
    }

    fn record(&self, requests: usize, rows: usize) {
        self.batches.fetch_add(1, Ordering::Relaxed);
        self.requests.fetch_add(requests as u64, Ordering::Relaxed);
        self.rows.fetch_add(rows as u64, Ordering::Relaxed);
        self.largest_batch_rows
            .fetch_max(rows as u64, Ordering::Relaxed);
    }

    /// Whether nobody waits for `job` any more; such a job is counted here and must not run.
    fn abandoned(&self, job: &Job) -> bool {
        let gone = job.reply.is_closed();
        if gone {
            self.abandoned.fetch_add(1, Ordering::Relaxed);
        }
        gone
    }
}

/// Calls the model, turning a panic into an internal error.
fn guarded(model: &dyn Model, request: PredictRequest) -> Result<PredictResponse, ModelError> {
    catch_unwind(AssertUnwindSafe(|| model.predict(request))).unwrap_or_else(|_| {
        tracing::error!("the model panicked");
        Err(ModelError::Internal(
            "internal error while handling the request".into(),
        ))
    })
}

/// The worker: collect a batch (waiting on the queue with `timer`), run it on this thread, repeat until the
/// queue closes and is empty.
fn run_worker(
    model: &dyn Model,
    config: BatchConfig,
    mut queue: mpsc::Receiver<Job>,
    stats: &BatchStats,
    timer: &tokio::runtime::Runtime,
) {
    let mut carried: Option<Job> = None;
    // The model runs outside `block_on`, so that a model may use a runtime of its own.
    while let Some(jobs) = timer.block_on(collect(&mut queue, &mut carried, config, stats)) {
        run_batch(model, jobs, stats);
    }
}

/// Collects the next batch: its first live request, then whatever arrives until the batch is full or its
/// time is up. A request that would overflow the batch is `carried` to the next one. `None` once the queue is
/// closed and empty.
async fn collect(
    queue: &mut mpsc::Receiver<Job>,
    carried: &mut Option<Job>,
    config: BatchConfig,
    stats: &BatchStats,
) -> Option<Vec<Job>> {
    let first = loop {
        let job = match carried.take() {
            Some(job) => job,
            None => queue.recv().await?,
        };
        if !stats.abandoned(&job) {
            break job;
        }
    };
    let deadline = first.enqueued + config.max_batch_time;
    let mut rows = first.rows;
    let mut jobs = vec![first];
    while rows < config.max_batch_size {
        let next = match queue.try_recv() {
            Ok(job) => job,
            Err(TryRecvError::Disconnected) => break,
            Err(TryRecvError::Empty) => {
                if Instant::now() >= deadline {
                    break;
                }
                match tokio::time::timeout_at(deadline.into(), queue.recv()).await {
                    Ok(Some(job)) => job,
                    Ok(None) | Err(_) => break,
                }
            }
        };
        if stats.abandoned(&next) {
            continue;
        }
        if rows + next.rows > config.max_batch_size {
            *carried = Some(next);
            break;
        }
        rows += next.rows;
        jobs.push(next);
    }
    Some(jobs)
}

/// Runs one collected batch: compatible requests together, each group in arrival order of its first request.
/// Requests whose caller left while the batch filled are dropped first.
fn run_batch(model: &dyn Model, jobs: Vec<Job>, stats: &BatchStats) {
    let mut groups: Vec<Vec<Job>> = Vec::new();
    for job in jobs {
        if stats.abandoned(&job) {
            continue;
        }
        match groups.iter_mut().find(|g| {
            g.first()
                .is_some_and(|f| merge::compatible(&f.request, &job.request))
        }) {
            Some(group) => group.push(job),
            None => groups.push(vec![job]),
        }
    }
    for group in groups {
        run_group(model, group, stats);
    }
}

fn run_alone(model: &dyn Model, job: Job, stats: &BatchStats) {
    if stats.abandoned(&job) {
        return;
    }
    stats.record(1, job.rows);
    let Job {
        request,
        span,
        reply,
        ..
    } = job;
    let result = span.in_scope(|| guarded(model, request));
    // A caller that has gone away since is no error.
    let _ = reply.send(result);
}

fn run_group(model: &dyn Model, mut group: Vec<Job>, stats: &BatchStats) {
    if group.len() == 1
        && let Some(job) = group.pop()
    {
        tracing::debug!(requests = 1, rows = job.rows, "running a batch");
        run_alone(model, job, stats);
        return;
    }
    let rows: Vec<usize> = group.iter().map(|j| j.rows).collect();
    let total: usize = rows.iter().sum();
    let requests: Vec<&PredictRequest> = group.iter().map(|j| &j.request).collect();
    let merged = match merge::merge(&requests) {
        Ok(merged) => merged,
        Err(e) => {
            tracing::debug!(error = %e, "cannot merge the batch; running its requests alone");
            return retry_alone(model, group, stats);
        }
    };
    tracing::debug!(requests = group.len(), rows = total, "running a batch");
    stats.record(group.len(), total);
    match guarded(model, merged) {
        Ok(response) => match merge::split(response, &rows) {
            Some(parts) => {
                for (job, part) in group.into_iter().zip(parts) {
                    let _ = job.reply.send(Ok(part));
                }
            }
            None => {
                tracing::debug!(
                    "an output's dim 0 is not the batch's rows; running the requests alone"
                );
                retry_alone(model, group, stats);
            }
        },
        Err(ModelError::BadInput(_) | ModelError::UnknownOutput { .. }) => {
            retry_alone(model, group, stats);
        }
        Err(err @ ModelError::Internal(_)) => {
            for job in group {
                let _ = job.reply.send(Err(err.clone()));
            }
        }
    }
}

fn retry_alone(model: &dyn Model, group: Vec<Job>, stats: &BatchStats) {
    stats
        .retried_alone
        .fetch_add(group.len() as u64, Ordering::Relaxed);
    for job in group {
        run_alone(model, job, stats);
    }
}

/// Wraps `model` in adaptive batching when MLServer's `model-settings.json` asks for it (`max_batch_size` > 1
/// and `max_batch_time` > 0, numbers or strings), as the model repository's loaders do; otherwise hands `model`
/// back unchanged. MLServer's env defaults do not apply here: each model's settings decide.
pub fn batched_by_settings(
    settings: &serde_json::Value,
    model: Arc<dyn Model>,
) -> Result<Arc<dyn Model>, BatchConfigError> {
    let text = |key: &str| {
        settings.get(key).map(|v| match v {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        })
    };
    let config = BatchConfig::from_values(
        text(PARAM_MAX_BATCH_SIZE).as_deref(),
        text(PARAM_MAX_BATCH_TIME).as_deref(),
        None,
        None,
    )?;
    if !config.is_enabled() {
        return Ok(model);
    }
    Ok(Arc::new(BatchingModel::new(model, config)))
}
