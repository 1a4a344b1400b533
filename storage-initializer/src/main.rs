//! `storage-initializer SOURCE_URI DEST_DIR`: the init container that puts a model in place.
//!
//! Exit status 0 when the model is in DEST_DIR, 1 with a one-line reason otherwise, 2 for usage
//! errors.

use std::collections::HashMap;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;

/// Fetch a model from s3://, gs://, Azure, http(s)://, pvc:// or a local path into a folder.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// Model URI (s3://bucket/key, gs://..., az://container/key, https://..., pvc://claim/path,
    /// a local path, or REMOTE://... for an rclone remote configured in the environment).
    source_uri: String,
    /// Folder to put the model in (created if missing; may be an existing empty mount point).
    dest_dir: PathBuf,
    /// Give up (exit 1, nothing left in DEST_DIR) when the whole fetch, download and unpacking,
    /// takes longer than this many seconds; 0 for no deadline. Default 3600.
    #[arg(long, value_name = "SECONDS", env = oxserve_storage::env::OXSERVE_STORAGE_TIMEOUT)]
    timeout: Option<u64>,
    /// Log filter in tracing's env-filter syntax.
    #[arg(long, env = "RUST_LOG", default_value = "info")]
    log: String,
}

fn main() -> ExitCode {
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_new(&args.log)
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("storage-initializer: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut env: HashMap<String, String> = std::env::vars().collect();
    if let Some(secs) = args.timeout {
        env.insert(
            oxserve_storage::env::OXSERVE_STORAGE_TIMEOUT.to_string(),
            secs.to_string(),
        );
    }
    let result = runtime.block_on(oxserve_storage::fetch(
        &args.source_uri,
        &args.dest_dir,
        &env,
    ));
    // A task still running past a deadline (an unpacking thread polling its cancel flag) must
    // not hold the exit.
    runtime.shutdown_timeout(std::time::Duration::from_secs(2));
    match result {
        Ok(path) => {
            tracing::info!(dest = %path.display(), "done");
            ExitCode::SUCCESS
        }
        Err(e) => {
            tracing::error!(kind = ?e.kind(), "{e}");
            eprintln!("storage-initializer: {e}");
            ExitCode::FAILURE
        }
    }
}
