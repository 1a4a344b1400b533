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
//! How a batch forms and runs:
//! - A batch closes when it holds `max_batch_size` rows, or when `max_batch_time` has passed since its first
//!   request was queued (a lone request waits that long, as in MLServer). Unlike MLServer, the cap counts
//!   rows, not requests, so that a model's memory per call is bounded.
//! - A request with more rows than `max_batch_size` runs alone, in its turn. A request with no batch dim (no
//!   inputs, a 0-d input, inputs that disagree on dim 0) skips the queue and calls the model directly.
//! - Requests in one batch run together only when they are compatible (same input names, types and dims after
//!   the first, same requested outputs); the others run as further calls in arrival order.
//! - An output whose dim 0 is not the batch's row count cannot be split: the requests of that batch are run
//!   again one by one (and the model's answer reaches each caller as it would unbatched).
//! - A merged call that fails with [`ModelError::BadInput`] or [`ModelError::UnknownOutput`] is retried one
//!   request at a time, so one bad request does not fail its neighbours; [`ModelError::Internal`] reaches every
//!   request of the batch; a panic inside the model becomes an internal error for that batch, never a hung
//!   caller or a dead worker.
//! - The queue holds at most [`QUEUE_BATCHES`] × `max_batch_size` requests (never more than [`MAX_QUEUE`]);
//!   a caller beyond that blocks until there is room (backpressure: the runtime calls this model on a blocking
//!   thread, see [`Model::runs_inline`]). Dropping the model closes the queue and joins the worker.

mod config;
mod merge;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TryRecvError, sync_channel};
use std::thread::JoinHandle;
use std::time::Instant;

pub use config::{
    BatchConfig, BatchConfigError, ENV_MAX_BATCH_SIZE, ENV_MAX_BATCH_TIME, PARAM_MAX_BATCH_SIZE,
    PARAM_MAX_BATCH_TIME,
};
use oxserve_core::{Model, ModelError, ModelMetadata, PredictRequest, PredictResponse};

/// How many full batches the queue holds before callers block.
pub const QUEUE_BATCHES: usize = 4;

/// The most requests the queue ever holds, whatever `max_batch_size` says (its slots are allocated up front).
pub const MAX_QUEUE: usize = 16_384;

/// A model whose concurrent calls are batched (see the crate docs). With batching off
/// ([`BatchConfig::is_enabled`] false) every call goes straight to the inner model, which then keeps its own
/// [`Model::runs_inline`].
pub struct BatchingModel {
    inner: Arc<dyn Model>,
    config: BatchConfig,
    queue: Option<SyncSender<Job>>,
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

/// One queued request and where its answer goes.
struct Job {
    request: PredictRequest,
    rows: usize,
    enqueued: Instant,
    span: tracing::Span,
    reply: SyncSender<Result<PredictResponse, ModelError>>,
}

impl BatchingModel {
    /// Wraps `inner`. With batching on, starts the worker thread (`oxserve-batcher`); if the thread cannot be
    /// started, logs a warning and passes calls through unbatched.
    pub fn new(inner: Arc<dyn Model>, config: BatchConfig) -> Self {
        let stats = Arc::new(BatchStats::default());
        let (queue, worker) = if config.is_enabled() {
            let capacity = config
                .max_batch_size
                .saturating_mul(QUEUE_BATCHES)
                .min(MAX_QUEUE);
            let (tx, rx) = sync_channel(capacity);
            let worker_inner = inner.clone();
            let worker_stats = stats.clone();
            match std::thread::Builder::new()
                .name("oxserve-batcher".into())
                .spawn(move || run_worker(&*worker_inner, config, &rx, &worker_stats))
            {
                Ok(handle) => (Some(tx), Some(handle)),
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

impl Model for BatchingModel {
    fn metadata(&self) -> &ModelMetadata {
        self.inner.metadata()
    }

    fn predict(&self, request: PredictRequest) -> Result<PredictResponse, ModelError> {
        let Some(queue) = &self.queue else {
            return self.inner.predict(request);
        };
        let Some(rows) = merge::request_rows(&request).filter(|&rows| rows > 0) else {
            self.stats.bypassed.fetch_add(1, Ordering::Relaxed);
            return guarded(&*self.inner, request);
        };
        let (reply, answer) = sync_channel(1);
        queue
            .send(Job {
                request,
                rows,
                enqueued: Instant::now(),
                span: tracing::Span::current(),
                reply,
            })
            .map_err(|_| ModelError::Internal("the batching thread has stopped".into()))?;
        answer.recv().map_err(|_| {
            ModelError::Internal("the batching thread stopped before answering".into())
        })?
    }

    fn column_names(&self, output: &str) -> Option<Vec<String>> {
        self.inner.column_names(output)
    }

    fn runs_inline(&self) -> bool {
        // Batched calls block on the queue: never on an async worker.
        self.queue.is_none() && self.inner.runs_inline()
    }

    fn call_waits(&self) -> bool {
        // Concurrent calls must be able to wait in the queue together to meet in one batch.
        self.queue.is_some() || self.inner.call_waits()
    }

    fn row_cost(&self) -> Option<u64> {
        self.inner.row_cost()
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
        }
    }

    fn record(&self, requests: usize, rows: usize) {
        self.batches.fetch_add(1, Ordering::Relaxed);
        self.requests.fetch_add(requests as u64, Ordering::Relaxed);
        self.rows.fetch_add(rows as u64, Ordering::Relaxed);
        self.largest_batch_rows
            .fetch_max(rows as u64, Ordering::Relaxed);
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

/// The worker: collect a batch, run it, repeat until the queue closes.
fn run_worker(model: &dyn Model, config: BatchConfig, queue: &Receiver<Job>, stats: &BatchStats) {
    let mut carried: Option<Job> = None;
    loop {
        let first = match carried.take() {
            Some(job) => job,
            None => match queue.recv() {
                Ok(job) => job,
                Err(_) => return,
            },
        };
        let deadline = first.enqueued + config.max_batch_time;
        let mut rows = first.rows;
        let mut jobs = vec![first];
        while rows < config.max_batch_size {
            let now = Instant::now();
            let next = if now >= deadline {
                match queue.try_recv() {
                    Ok(job) => job,
                    Err(TryRecvError::Empty | TryRecvError::Disconnected) => break,
                }
            } else {
                match queue.recv_timeout(deadline - now) {
                    Ok(job) => job,
                    Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => break,
                }
            };
            if rows + next.rows > config.max_batch_size {
                carried = Some(next);
                break;
            }
            rows += next.rows;
            jobs.push(next);
        }
        run_batch(model, jobs, stats);
    }
}

/// Runs one collected batch: compatible requests together, each group in arrival order of its first request.
fn run_batch(model: &dyn Model, jobs: Vec<Job>, stats: &BatchStats) {
    let mut groups: Vec<Vec<Job>> = Vec::new();
    for job in jobs {
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
    stats.record(1, job.rows);
    let Job {
        request,
        span,
        reply,
        ..
    } = job;
    let result = span.in_scope(|| guarded(model, request));
    // A caller that has gone away is no error.
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
