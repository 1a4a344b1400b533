//! The serving runtime every oxserve server shares.
//!
//! A server crate describes itself ([`Server`]: its name, what it serves, its parameters), loads its model and
//! calls [`run`] (or [`run_with`], adding its own protocols and flags); everything else — configuration from the Seldon operator's
//! env vars (and KServe's model-server flags), Seldon v1, Open Inference Protocol (V2) and KServe V1 REST routes, gRPC services, Prometheus metrics, health
//! and readiness, error shapes, body limits, overload refusal, graceful shutdown and logs — lives here.
//!
//! ```no_run
//! # use std::sync::Arc;
//! # fn load(_: &oxserve_runtime::LoadContext) -> anyhow::Result<Arc<dyn oxserve_core::Model>> { unimplemented!() }
//! const SERVER: oxserve_runtime::Server = oxserve_runtime::Server {
//!     name: "my-server",
//!     about: "MY_SERVER: serves `model.bin` (my format) over Seldon v1, V2 REST and gRPC.",
//!     parameters: &["method"],
//! };
//! fn main() -> std::process::ExitCode {
//!     oxserve_runtime::run(&SERVER, load)
//! }
//! ```
//!
//! Every flag has an env var; their names are in [`config::env`], once.

mod coalesce;
pub mod component;
pub mod config;
mod conn;
pub mod error;
mod grpc;
mod kserve_v1;
pub mod loader;
pub mod metrics;
mod observe;
mod openapi;
pub mod repository;
pub mod rest;
mod seldon;
mod state;
mod v2;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use oxserve_core::Model;
use tokio::net::TcpListener;
use tokio::sync::watch;

pub use config::{Config, ParamValue, Parameters};
pub use error::ServeError;
pub use grpc::GrpcExtension;
pub use metrics::Metrics;
pub use rest::{RestExtension, app, app_with};
pub use state::ServerState;

/// What a server binary is: shown first in its `--help`, and the parameters its loader reads.
#[derive(Debug, Clone, Copy)]
pub struct Server {
    /// The binary's name (`sklearn-server`), the name `--help` and `--version` print.
    pub name: &'static str,
    /// What it serves: the implementation it replaces and the model files it reads. The first line of `--help`.
    pub about: &'static str,
    /// The `PREDICTIVE_UNIT_PARAMETERS` names its loader reads (besides `model_uri`, always accepted); any other
    /// name refuses the start, as Seldon's servers do.
    pub parameters: &'static [&'static str],
}

/// A server's own command-line flags, flattened beside the runtime's [`Config`] and parsed once with it.
///
/// `apply` maps them onto the runtime's configuration before anything starts (flags given on the command line
/// win over the env: they are the container's own arguments).
pub trait ServerArgs: clap::Args + clap::FromArgMatches {
    /// Folds the server's flags into the runtime's configuration.
    fn apply(&self, config: &mut Config) {
        let _ = config;
    }

    /// Adjusts the server's [`Extensions`] from its flags (sklearn-server's `PREDICT_PROBA` picks the output
    /// KServe V1 answers), before the model loads.
    fn extensions(&self, extensions: Extensions) -> Extensions {
        extensions
    }
}

/// No flags of the server's own (what [`run`] uses).
#[derive(Debug, Clone, Copy, Default, clap::Args)]
pub struct NoArgs {}

impl ServerArgs for NoArgs {}

/// The command line of a server: the runtime's flags and the server's own, under the server's name.
#[derive(Debug, clap::Parser)]
struct Cli<A: ServerArgs> {
    #[command(flatten)]
    runtime: Config,
    #[command(flatten)]
    server: A,
}

/// The `clap` command of `server` with its own flags `A`: what the binary parses (and prints for `--help`).
pub fn command<A: ServerArgs>(server: &Server) -> clap::Command {
    <Cli<A> as clap::CommandFactory>::command()
        .name(server.name)
        .bin_name(server.name)
        .about(server.about)
        .long_about(None)
        .version(env!("CARGO_PKG_VERSION"))
}

/// Parses `args` (the first is the program name) as `server`'s command line: the runtime's configuration with
/// the server's flags applied, and those flags.
pub fn parse_config<A: ServerArgs>(
    server: &Server,
    args: impl IntoIterator<Item = impl Into<std::ffi::OsString> + Clone>,
) -> Result<(Config, A), clap::Error> {
    let matches = command::<A>(server).try_get_matches_from(args)?;
    let cli = <Cli<A> as clap::FromArgMatches>::from_arg_matches(&matches)?;
    let mut config = cli.runtime;
    cli.server.apply(&mut config);
    Ok((config, cli.server))
}

/// What a server adds to the runtime: REST routes on the model port, gRPC services on the gRPC port, and a
/// loader for when no model is given (a proxy). A server without any uses [`Extensions::default`] (that is
/// what [`run`] does).
#[derive(Default)]
pub struct Extensions {
    /// Extra REST routes.
    pub rest: Vec<RestExtension>,
    /// Extra gRPC services.
    pub grpc: Vec<GrpcExtension>,
    /// The `protocol` label of the extra gRPC services in metrics, by service-name prefix
    /// (`("tensorflow.serving.", "tfserving")`); a service not listed is counted as `grpc`.
    pub grpc_protocols: Vec<(&'static str, &'static str)>,
    /// Called instead of the server's loader when no model URI is given (its `model_dir` is empty); without
    /// it, a missing model URI is a start-up error.
    pub without_model: Option<Loader>,
    /// The outputs KServe V1's `:predict` answers, in order of preference: the first the loaded model lists
    /// is asked for; none (or an empty list) means the model's default output.
    pub kserve_v1_outputs: Vec<&'static str>,
    /// The formats the V2 model repository loads from `--models-dir` (by `model-settings.json`'s
    /// `implementation`); empty: a models folder's models all fail with a reason.
    pub loaders: repository::LoaderRegistry,
}

/// A server's model loader, boxed.
pub type Loader = Box<dyn FnOnce(&LoadContext) -> anyhow::Result<Arc<dyn Model>> + Send>;

impl std::fmt::Debug for Extensions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Extensions")
            .field("rest", &self.rest)
            .field("grpc", &self.grpc.len())
            .field("grpc_protocols", &self.grpc_protocols)
            .field("without_model", &self.without_model.is_some())
            .field("kserve_v1_outputs", &self.kserve_v1_outputs)
            .field("loaders", &self.loaders)
            .finish()
    }
}

impl Extensions {
    /// Adds REST routes.
    pub fn with_rest(mut self, extension: RestExtension) -> Self {
        self.rest.push(extension);
        self
    }

    /// Adds gRPC services.
    pub fn with_grpc(
        mut self,
        extension: impl FnOnce(&mut tonic::service::RoutesBuilder, Arc<ServerState>, usize)
        + Send
        + 'static,
    ) -> Self {
        self.grpc.push(Box::new(extension));
        self
    }

    /// Names the `protocol` label in metrics of the gRPC services whose full name starts with `service_prefix`
    /// (`tensorflow.serving.`), as [`RestExtension::protocol`] does for REST routes.
    pub fn with_grpc_protocol(
        mut self,
        service_prefix: &'static str,
        protocol: &'static str,
    ) -> Self {
        self.grpc_protocols.push((service_prefix, protocol));
        self
    }

    /// Sets the outputs KServe V1's `:predict` answers, in order of preference ([`Extensions::kserve_v1_outputs`]).
    pub fn with_kserve_v1_outputs(mut self, preferred: &[&'static str]) -> Self {
        self.kserve_v1_outputs = preferred.to_vec();
        self
    }

    /// Sets the formats the V2 model repository loads ([`Extensions::loaders`]).
    pub fn with_loaders(mut self, loaders: repository::LoaderRegistry) -> Self {
        self.loaders = loaders;
        self
    }

    /// Sets the loader used when no model URI is given.
    pub fn without_model(
        mut self,
        loader: impl FnOnce(&LoadContext) -> anyhow::Result<Arc<dyn Model>> + Send + 'static,
    ) -> Self {
        self.without_model = Some(Box::new(loader));
        self
    }
}

/// What a server's loader is given.
#[derive(Debug, Clone)]
pub struct LoadContext {
    /// The local folder holding the model files.
    pub model_dir: PathBuf,
    /// The node's parameters (`PREDICTIVE_UNIT_PARAMETERS`).
    pub parameters: Parameters,
    /// The model's name.
    pub model_name: String,
    /// `--max-model-memory`: the most bytes reading the model file may hold; `None` means the loader's default
    /// (derived from the container's memory limit).
    pub max_model_memory: Option<u64>,
}

/// Parses the configuration from the command line and env, runs the server until SIGTERM/SIGINT, and returns
/// the process exit code. Start-up failures (bad parameters, a missing or unsupported model) are logged as one
/// line and exit with 1.
pub fn run<F>(server: &Server, load: F) -> ExitCode
where
    F: FnOnce(&LoadContext) -> anyhow::Result<Arc<dyn Model>>,
{
    run_with::<NoArgs, F>(server, Extensions::default(), load)
}

/// [`run`] for a server that adds protocols and flags of its own (`A`, flattened beside the runtime's).
pub fn run_with<A: ServerArgs, F>(server: &Server, extensions: Extensions, load: F) -> ExitCode
where
    F: FnOnce(&LoadContext) -> anyhow::Result<Arc<dyn Model>>,
{
    run_from::<A, F>(server, extensions, std::env::args_os().collect(), load)
}

/// [`run_with`] on the command line `args` (the first is the program name) instead of the process's: for a
/// binary that rewrites its command line first (`oxserve start DIR`).
pub fn run_from<A: ServerArgs, F>(
    server: &Server,
    extensions: Extensions,
    args: Vec<std::ffi::OsString>,
    load: F,
) -> ExitCode
where
    F: FnOnce(&LoadContext) -> anyhow::Result<Arc<dyn Model>>,
{
    let (config, args) = match parse_config::<A>(server, args) {
        Ok(parsed) => parsed,
        Err(e) => e.exit(),
    };
    let extensions = args.extensions(extensions);
    init_tracing(config.log_json);
    block_on_exit(serve_with(config, server.parameters, extensions, load))
}

/// Runs `serve` on a new multi-threaded runtime and turns its outcome into the process exit code (a failure
/// logged as one line, exit 1).
fn block_on_exit(serve: impl std::future::Future<Output = anyhow::Result<()>>) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            tracing::error!(error = %e, "cannot start the async runtime");
            return ExitCode::FAILURE;
        }
    };
    // Boxed: the whole server's future is large, and every move of it by value would take another copy of
    // it on the main thread's stack, whose deepest page stays resident for the life of the process.
    let result = runtime.block_on(Box::pin(serve));
    // Do not wait for model calls still running on blocking threads (cut by the drain deadline): dropping the
    // runtime would, without limit.
    runtime.shutdown_background();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Logs to stderr: text (colour only when stderr is a terminal — under Kubernetes `kubectl logs` and log
/// shippers read a pipe, where escape codes are garbage) or JSON lines.
fn init_tracing(json: bool) {
    use std::io::IsTerminal as _;
    let filter = tracing_subscriber::EnvFilter::try_from_env(config::env::LOG_FILTER)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    // A second initialisation (tests) is harmless: keep the first subscriber.
    let _ = if json {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}

/// Loads the model and serves it until a shutdown signal.
pub async fn serve<F>(config: Config, accepted_parameters: &[&str], load: F) -> anyhow::Result<()>
where
    F: FnOnce(&LoadContext) -> anyhow::Result<Arc<dyn Model>>,
{
    serve_with(config, accepted_parameters, Extensions::default(), load).await
}

/// [`serve`] with a server's own protocols.
pub async fn serve_with<F>(
    config: Config,
    accepted_parameters: &[&str],
    extensions: Extensions,
    load: F,
) -> anyhow::Result<()>
where
    F: FnOnce(&LoadContext) -> anyhow::Result<Arc<dyn Model>>,
{
    let parameters = Parameters::parse(&config.parameters)?;
    parameters.check_known(accepted_parameters)?;
    let model_name = config.effective_model_name();
    let mut extensions = extensions;
    let uri = config.effective_model_uri(&parameters);
    let (model_dir, model) = match (uri, extensions.without_model.take()) {
        (Some(uri), _) => {
            let model_dir = model_dir(&uri, &config).await?;
            let context = LoadContext {
                model_dir: model_dir.clone(),
                parameters,
                model_name: model_name.clone(),
                max_model_memory: config.max_model_memory,
            };
            let model = load(&context)
                .with_context(|| format!("cannot load the model in {}", model_dir.display()))?;
            (model_dir, model)
        }
        // A models folder and no model: the repository's models, not the server's model-less mode (onnx-server's
        // TF Serving proxy).
        (None, _) if config.models_dir.is_some() => (PathBuf::new(), repository::no_model()),
        (None, Some(without_model)) => {
            let context = LoadContext {
                model_dir: PathBuf::new(),
                parameters,
                model_name: model_name.clone(),
                max_model_memory: config.max_model_memory,
            };
            (PathBuf::new(), without_model(&context)?)
        }
        (None, None) => anyhow::bail!(
            "no model given: set --model-uri, the `model_uri` parameter, or MLSERVER_MODEL_URI \
             (or a models folder: --models-dir / MLSERVER_MODELS_DIR)"
        ),
    };
    let own_model = !model_dir.as_os_str().is_empty() || config.models_dir.is_none();
    let mut state = new_state(&config, model, &model_dir)?;
    state.kserve_v1_output = kserve_v1::resolve_output(&state, &extensions.kserve_v1_outputs);
    if let Some(dir) = &config.models_dir {
        anyhow::ensure!(
            dir.is_dir(),
            "the models folder {} is not a folder",
            dir.display()
        );
        let repository =
            repository::ModelRepository::new(Some(dir.clone()), extensions.loaders.clone());
        state.set_repository(repository, own_model);
        if config.load_models_at_startup {
            state.repository.load_all().await;
        }
    }
    serve_state_with(config, Arc::new(state), extensions, wait_for_signal()).await
}

/// Resolves a model URI to a local folder: a local path (or `file://`, `pvc://`) as it is; a remote URI is first
/// downloaded with the storage initializer's own code into `--model-download-dir`, with the same credential
/// conventions (the process env).
async fn model_dir(uri: &str, config: &Config) -> anyhow::Result<PathBuf> {
    let parsed = oxserve_storage::StorageUri::parse(uri)?;
    if let Some(path) = parsed.local_path() {
        anyhow::ensure!(
            path.exists(),
            "model path {} does not exist",
            path.display()
        );
        return Ok(path);
    }
    let dest = config.model_download_dir.clone().unwrap_or_else(|| {
        std::env::temp_dir().join(format!("oxserve-model-{}", std::process::id()))
    });
    tracing::info!(uri, dest = %dest.display(), "downloading the model");
    let env: std::collections::HashMap<String, String> = std::env::vars().collect();
    oxserve_storage::fetch(uri, &dest, &env)
        .await
        .with_context(|| format!("cannot fetch the model from {uri}"))
}

/// Builds the shared state: identity from the config, Seldon metadata, metrics.
pub fn build_state(
    config: &Config,
    model: Arc<dyn Model>,
    model_dir: &Path,
) -> anyhow::Result<Arc<ServerState>> {
    new_state(config, model, model_dir).map(Arc::new)
}

/// [`build_state`] before it is shared.
fn new_state(
    config: &Config,
    model: Arc<dyn Model>,
    model_dir: &Path,
) -> anyhow::Result<ServerState> {
    let image = config.predictive_unit_image.clone();
    let seldon_metadata = seldon::load_metadata(config, model_dir, &model.metadata().inputs);
    let (image_name, image_version) = seldon::split_image(image.as_deref());
    let metrics = Metrics::new(metrics::FeedbackIdentity {
        model_name: config.predictive_unit_id.clone().unwrap_or_default(),
        model_image: image_name,
        model_version: image_version,
        deployment_name: config.deployment_id.clone().unwrap_or_default(),
        predictor_name: config.predictor_id.clone().unwrap_or_default(),
    })?;
    let request_path = config
        .predictive_unit_id
        .clone()
        .map(|unit| (unit, image.clone().unwrap_or_default()));
    let mut state = ServerState::new(
        model,
        config.effective_model_name(),
        config.model_version.clone(),
        request_path,
        seldon_metadata,
        metrics,
        config.max_concurrency,
    );
    state.max_body_bytes = config.max_body_bytes;
    state.max_request_cost = config.max_request_cost;
    state.set_model_threads(config.model_threads);
    Ok(state)
}

/// Waits for SIGTERM or SIGINT. The handlers are installed when this is *called*, not when the future is first
/// polled: the shutdown future is polled only once the listeners are up and the ports file is written, and a
/// SIGTERM that arrived in between would otherwise take the default action and kill the process unclean.
pub(crate) fn wait_for_signal() -> impl std::future::Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let term = signal(SignalKind::terminate());
        let int = signal(SignalKind::interrupt());
        async move {
            match (term, int) {
                (Ok(mut term), Ok(mut int)) => {
                    tokio::select! {
                        _ = term.recv() => {}
                        _ = int.recv() => {}
                    }
                }
                (Ok(mut term), Err(_)) => {
                    term.recv().await;
                }
                (Err(_), Ok(mut int)) => {
                    int.recv().await;
                }
                (Err(_), Err(_)) => {
                    let _ = tokio::signal::ctrl_c().await;
                }
            }
        }
    }
    #[cfg(not(unix))]
    {
        async move {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

/// A listener with `SO_REUSEPORT` (and `SO_REUSEADDR`, as `TcpListener::bind` sets): several processes bound
/// this way to one port share it, the kernel spreading new connections between them.
fn bind_reuse_port(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    #[cfg(unix)]
    socket.set_reuseport(true)?;
    socket.bind(addr)?;
    socket.listen(1024)
}

/// Binds the three listeners and serves until `shutdown` completes; then stops accepting, lets in-flight
/// requests finish, and returns.
pub async fn serve_state(
    config: Config,
    state: Arc<ServerState>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    serve_state_with(config, state, Extensions::default(), shutdown).await
}

/// [`serve_state`] with a server's own protocols.
pub async fn serve_state_with(
    config: Config,
    state: Arc<ServerState>,
    extensions: Extensions,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let reuse_port = config.reuse_port;
    let bind = |port: u16| {
        let addr = SocketAddr::new(config.host, port);
        async move {
            if reuse_port {
                bind_reuse_port(addr)
                    .with_context(|| format!("cannot listen on {addr} (SO_REUSEPORT)"))
            } else {
                TcpListener::bind(addr)
                    .await
                    .with_context(|| format!("cannot listen on {addr}"))
            }
        }
    };
    let http = bind(config.effective_http_port()).await?;
    let grpc = bind(config.effective_grpc_port()).await?;
    // Metrics on the REST port (a server's flags asked for it: TF Serving's sidecar beside Seldon's proxy): no
    // third port, which would clash with the proxy's in the same pod.
    let metrics = if config.metrics_on_rest_path.is_some() {
        None
    } else {
        Some(bind(config.effective_metrics_port()).await?)
    };
    let http_port = http.local_addr()?.port();
    let metrics_port = match &metrics {
        Some(listener) => listener.local_addr()?.port(),
        None => http_port,
    };
    let ports = serde_json::json!({
        "http": http_port,
        "grpc": grpc.local_addr()?.port(),
        "metrics": metrics_port,
    });
    if let Some(path) = &config.ports_file {
        std::fs::write(path, ports.to_string())
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    tracing::info!(
        model = %state.model_name,
        http = %http.local_addr()?,
        grpc = %grpc.local_addr()?,
        metrics = metrics_port,
        "oxserve ready"
    );

    let (tx, rx) = watch::channel(false);
    let limits = conn::ConnLimits {
        header_read_timeout: config.header_read_timeout,
        idle_timeout: config.idle_timeout,
        drain_timeout: config.drain_timeout,
    };

    let metrics_state = state.clone();
    let metrics_route = axum::routing::get(move || {
        let body = metrics_state.metrics.render();
        async move {
            (
                StatusCode::OK,
                [(
                    header::CONTENT_TYPE,
                    "text/plain; version=0.0.4; charset=utf-8",
                )],
                body,
            )
                .into_response()
        }
    });
    let mut rest_app = app_with(state.clone(), &extensions.rest);
    if let Some(path) = &config.metrics_on_rest_path
        && metrics.is_none()
    {
        rest_app = rest_app.merge(axum::Router::new().route(path, metrics_route.clone()));
    }
    let rest = conn::serve_http("REST", http, rest_app, limits, rx.clone());

    let grpc_routes = grpc::routes(state.clone(), config.max_body_bytes, extensions.grpc);
    let grpc_server = conn::bounded_drain(
        "gRPC",
        tonic::transport::Server::builder()
            // Reap dead peers; an idle client still answers pings.
            .http2_keepalive_interval(Some(std::time::Duration::from_secs(20)))
            .http2_keepalive_timeout(Some(std::time::Duration::from_secs(20)))
            // Every gRPC request counted, timed and guarded against panics, the extensions' included.
            .layer(observe::GrpcObserveLayer::new(
                state.clone(),
                &extensions.grpc_protocols,
            ))
            .add_routes(grpc_routes)
            .serve_with_incoming_shutdown(
                conn::incoming(grpc, config.header_read_timeout),
                conn::stopped(rx.clone()),
            ),
        rx.clone(),
        config.drain_timeout,
    );

    let metrics_app =
        axum::Router::new().route(&config.effective_metrics_endpoint(), metrics_route);
    let metrics_server = async move {
        if let Some(listener) = metrics {
            conn::serve_http("metrics", listener, metrics_app, limits, rx).await;
        }
    };

    let signal_state = state.clone();
    tokio::spawn(async move {
        shutdown.await;
        tracing::info!(
            drain_timeout_s = limits.drain_timeout.as_secs_f64(),
            "shutting down: refusing new connections, finishing in-flight requests"
        );
        signal_state.set_not_ready();
        let _ = tx.send(true);
    });

    let ((), grpc, ()) = tokio::join!(rest, grpc_server, metrics_server);
    if let Some(result) = grpc {
        result.context("gRPC server failed")?;
    }
    tracing::info!("stopped");
    Ok(())
}
