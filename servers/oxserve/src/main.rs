//! `oxserve`: every native runtime in one server. `oxserve start DIR` serves a folder of MLServer
//! `model-settings.json` models (as `mlserver start DIR`); the runtime's flags and env work as on every server
//! (`--models-dir` / `MLSERVER_MODELS_DIR`, or one model with `--model-uri`).

use std::process::ExitCode;

use oxserve_alloc as _;

use oxserve_runtime::{Extensions, NoArgs};
use oxserve_server::{SERVER, registry, start_args};

fn main() -> ExitCode {
    let args = match start_args(std::env::args_os().collect()) {
        Ok(args) => args,
        Err(e) => {
            eprintln!("{e:#}");
            return ExitCode::FAILURE;
        }
    };
    let loaders = registry();
    let single = loaders.clone();
    oxserve_runtime::run_from::<NoArgs, _>(
        &SERVER,
        Extensions::default().with_loaders(loaders),
        args,
        move |ctx| single.load_dir(&ctx.model_name, &ctx.model_dir),
    )
}
