//! `seldon-core-microservice`'s command line (the wrapper's `microservice.py` flags and env defaults) beside the
//! runtime's own flags: the interface name (positional), `--service-type`, `--log-level` (`SELDON_LOG_LEVEL`
//! wins), `--persistence`, and the flags that only tune gunicorn, Flask, tracing or the gRPC workers — accepted
//! and ignored with a log line. `--http-port`, `--grpc-port`, `--metrics-port` and `--parameters` (with their
//! env) are the runtime's; this server's defaults are the wrapper's: gRPC 5000 and the metrics path `/metrics`.
//! Its own additions: `--python-threads` and `--reuse-port`.

use oxserve_runtime::ServerArgs;
use oxserve_runtime::component::{ServiceType, env as component_env};
use oxserve_runtime::config::Config;

/// Env names this server reads besides the runtime's.
pub mod env {
    /// The log level, over `--log-level` (the wrapper's).
    pub const SELDON_LOG_LEVEL: &str = "SELDON_LOG_LEVEL";
    /// How many requests may run the user's Python code at once.
    pub const PYTHON_THREADS: &str = "OXSERVE_PYTHON_THREADS";
    /// Bind the ports with `SO_REUSEPORT` (several processes on one port).
    pub const REUSE_PORT: &str = "OXSERVE_REUSE_PORT";
}

/// The wrapper's default gRPC port (not the runtime's 9500).
pub const DEFAULT_GRPC_PORT: u16 = 5000;
/// The wrapper's default metrics path when `PREDICTIVE_UNIT_METRICS_ENDPOINT` is unset.
pub const DEFAULT_METRICS_ENDPOINT: &str = "/metrics";

/// The server's own flags.
#[derive(Debug, Clone, clap::Args)]
pub struct PythonArgs {
    /// The user's module and class: `Model` (module `Model`, class `Model`) or `module.Class`, imported from the
    /// working directory.
    pub interface_name: String,
    /// The graph node's service type. As in the wrapper, every route is served whatever it is.
    #[arg(long, env = component_env::SERVICE_TYPE, value_enum, default_value = "MODEL")]
    pub service_type: ServiceType,
    /// Deprecated in the wrapper: only logged.
    #[arg(long, default_value_t = 0, num_args = 0..=1, default_missing_value = "1")]
    pub persistence: i64,
    /// DEBUG, INFO, WARNING or ERROR (Python's logging and ours); `SELDON_LOG_LEVEL` wins over it.
    #[arg(long, default_value = "INFO")]
    log_level: String,
    /// Flask's development server in the wrapper: ignored.
    #[arg(long, env = "SELDON_DEBUG", num_args = 0..=1, default_missing_value = "true")]
    debug: Option<String>,
    /// Jaeger tracing in the wrapper: ignored.
    #[arg(long, env = "TRACING", num_args = 0..=1, default_missing_value = "1")]
    tracing: Option<String>,
    /// gunicorn's worker processes: ignored (run several processes with `--reuse-port` instead).
    #[arg(long, env = "GUNICORN_WORKERS")]
    workers: Option<String>,
    /// gunicorn's threads per worker: ignored (see `--python-threads`).
    #[arg(long, env = "GUNICORN_THREADS")]
    threads: Option<String>,
    /// gunicorn's `max_requests`: ignored.
    #[arg(long, env = "GUNICORN_MAX_REQUESTS")]
    max_requests: Option<String>,
    /// gunicorn's `max_requests_jitter`: ignored.
    #[arg(long, env = "GUNICORN_MAX_REQUESTS_JITTER")]
    max_requests_jitter: Option<String>,
    /// gunicorn's keep-alive seconds: ignored.
    #[arg(long, env = "GUNICORN_KEEPALIVE")]
    keepalive: Option<String>,
    /// Flask's single-threaded mode: ignored.
    #[arg(long, env = "FLASK_SINGLE_THREADED", num_args = 0..=1, default_missing_value = "1")]
    single_threaded: Option<String>,
    /// gunicorn's pid file: ignored.
    #[arg(long)]
    pidfile: Option<String>,
    /// gunicorn's access log: ignored.
    #[arg(long, env = "GUNICORN_ACCESS_LOG", num_args = 0..=1, default_missing_value = "true")]
    access_log: Option<String>,
    /// gRPC server threads: ignored.
    #[arg(long, env = "GRPC_THREADS")]
    grpc_threads: Option<String>,
    /// gRPC worker processes: ignored.
    #[arg(long, env = "GRPC_WORKERS")]
    grpc_workers: Option<String>,
    /// How many requests run the user's Python code at once (threads of the one interpreter: the user's call
    /// holds the GIL, decoding and encoding do not). More than 1 helps only code that releases the GIL (I/O,
    /// numpy's large kernels).
    #[arg(long, env = env::PYTHON_THREADS, default_value_t = 1)]
    pub python_threads: usize,
    /// Bind the REST, gRPC and metrics ports with `SO_REUSEPORT`, so that several processes (one per core, as
    /// gunicorn's workers) serve the same ports, the kernel spreading connections between them.
    #[arg(long, env = env::REUSE_PORT, default_value_t = false)]
    pub reuse_port: bool,
}

impl ServerArgs for PythonArgs {
    fn apply(&self, config: &mut Config) {
        if config.grpc_port.is_none() {
            config.grpc_port = Some(DEFAULT_GRPC_PORT);
        }
        if config.metrics_endpoint.is_none() {
            config.metrics_endpoint = Some(DEFAULT_METRICS_ENDPOINT.to_string());
        }
        config.reuse_port = self.reuse_port;
    }
}

impl PythonArgs {
    /// The log level: `SELDON_LOG_LEVEL` over `--log-level`, upper-cased.
    pub fn log_level(&self) -> String {
        std::env::var(env::SELDON_LOG_LEVEL)
            .ok()
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| self.log_level.clone())
            .to_uppercase()
    }

    /// The `tracing` filter for a Seldon log level (`WARNING` → `warn`).
    pub fn tracing_filter(&self) -> &'static str {
        match self.log_level().as_str() {
            "DEBUG" => "debug",
            "WARNING" | "WARN" => "warn",
            "ERROR" | "CRITICAL" => "error",
            _ => "info",
        }
    }

    /// One log line per gunicorn / Flask / tracing flag that was given and has no effect here.
    pub fn log_ignored(&self) {
        let ignored = [
            ("--debug / SELDON_DEBUG", &self.debug),
            ("--tracing / TRACING", &self.tracing),
            ("--workers / GUNICORN_WORKERS", &self.workers),
            ("--threads / GUNICORN_THREADS", &self.threads),
            ("--max-requests", &self.max_requests),
            ("--max-requests-jitter", &self.max_requests_jitter),
            ("--keepalive / GUNICORN_KEEPALIVE", &self.keepalive),
            ("--single-threaded", &self.single_threaded),
            ("--pidfile", &self.pidfile),
            ("--access-log", &self.access_log),
            ("--grpc-threads", &self.grpc_threads),
            ("--grpc-workers", &self.grpc_workers),
        ];
        for (flag, value) in ignored {
            if let Some(value) = value {
                tracing::info!(
                    flag,
                    value,
                    "accepted and ignored: it tunes gunicorn / Flask / gRPC workers"
                );
            }
        }
        if self.persistence != 0 {
            tracing::info!(
                "--persistence is deprecated and ignored, as in seldon-core-microservice"
            );
        }
    }
}
