//! `oxserve-microservice`: a drop-in for Seldon's `seldon-core-microservice`. It serves the user's own Python
//! class (`Model.py` with `class Model`) from an embedded CPython as a Seldon component on oxserve's runtime:
//! both Seldon protocols (REST JSON and form posts, gRPC), metrics, health and metadata are Rust, and the
//! interpreter runs only the user's own methods.

use std::process::ExitCode;
use std::sync::Arc;

use oxserve_alloc as _;
use oxserve_python_server::cli::PythonArgs;
use oxserve_python_server::host::PythonComponent;
use oxserve_runtime::config::ANY_PARAMETER;

fn main() -> ExitCode {
    let (config, args) = match oxserve_runtime::parse_config::<PythonArgs>(
        &oxserve_python_server::SERVER,
        std::env::args_os(),
    ) {
        Ok(parsed) => parsed,
        Err(e) => e.exit(),
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("RUST_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(args.tracing_filter()));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    let _ = if config.log_json {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
    args.log_ignored();
    oxserve_runtime::component::run_parsed(config, args.service_type, &[ANY_PARAMETER], |ctx| {
        let component = PythonComponent::start(
            &args.interface_name,
            &ctx.parameters,
            &args.log_level(),
            args.python_threads,
        )?;
        tracing::info!(
            interface = %args.interface_name,
            service_type = ?args.service_type,
            python_threads = args.python_threads,
            "user component loaded"
        );
        Ok(Arc::new(component))
    })
}
