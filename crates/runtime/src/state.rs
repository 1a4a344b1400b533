//! What every handler shares: the model, the deployment's identity, metadata, metrics and the overload limiter.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use oxserve_core::{Model, PredictRequest, PredictResponse};
use oxserve_protocol::seldon::ModelMetadataMessage;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::error::ServeError;
use crate::metrics::Metrics;

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
        ServerState {
            model,
            model_name,
            model_version,
            request_path,
            seldon_metadata,
            metrics,
            max_body_bytes: 64 * 1024 * 1024,
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

    /// Runs the model: inline when it is cheap, on a blocking thread otherwise. A panic inside the model becomes
    /// an internal error for this request alone (REST and gRPC alike); the process goes on.
    pub async fn predict(&self, request: PredictRequest) -> Result<PredictResponse, ServeError> {
        let _permit = self.permit()?;
        if self.model.runs_inline() {
            let model = &self.model;
            return std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                model.predict(request)
            }))
            .map_err(|_| {
                tracing::error!("the model panicked");
                ServeError::Internal("internal error while handling the request".into())
            })?
            .map_err(ServeError::from);
        }
        let model = self.model.clone();
        let span = tracing::Span::current();
        tokio::task::spawn_blocking(move || span.in_scope(|| model.predict(request)))
            .await
            .map_err(|e| ServeError::Internal(format!("model task failed: {e}")))?
            .map_err(ServeError::from)
    }
}
