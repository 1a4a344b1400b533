//! `lightgbm-server`: LIGHTGBM_SERVER on the oxserve runtime. Serves LightGBM's text model from `model.txt`, else
//! `model.bst`, over Seldon v1, V2 and KServe v1.

use std::process::ExitCode;

use oxserve_alloc as _;
use std::sync::Arc;

use oxserve_core::Model;
use oxserve_lightgbm_server::{LightgbmModel, SERVER, threads_parameter};
use oxserve_runtime::repository::LoaderRegistry;
use oxserve_runtime::{Extensions, NoArgs};

fn main() -> ExitCode {
    // KServe V1 is the runtime's: `:predict` answers the default output, the raw `Booster.predict`.
    // `--models-dir`: more models of this format by name, through the V2 model repository.
    let extensions = Extensions::default()
        .with_loaders(oxserve_lightgbm_server::register(LoaderRegistry::new()));
    oxserve_runtime::run_with::<NoArgs, _>(&SERVER, extensions, |ctx| {
        let threads = threads_parameter(&ctx.parameters)?;
        let model = LightgbmModel::load(&ctx.model_dir, threads)?;
        let booster = model.booster();
        tracing::info!(
            objective = booster.objective(),
            features = booster.n_features(),
            iterations = booster.n_iterations(),
            nthread = threads,
            "LightGBM model loaded"
        );
        Ok(Arc::new(model) as Arc<dyn Model>)
    })
}
