//! `mlflow-server`: MLFLOW_SERVER on the oxserve runtime. Serves an MLflow model folder (`MLmodel`) through the
//! native engines, over Seldon v1, V2, KServe V1 and MLflow's `/invocations`.

use std::process::ExitCode;

use oxserve_alloc as _;

use oxserve_mlflow_server::{SERVER, invocations_extension, load, register};
use oxserve_runtime::repository::LoaderRegistry;

fn main() -> ExitCode {
    let extensions = oxserve_runtime::Extensions::default()
        .with_rest(invocations_extension())
        .with_loaders(register(LoaderRegistry::new()));
    oxserve_runtime::run_with::<oxserve_runtime::NoArgs, _>(&SERVER, extensions, load)
}
