//! `lightgbm-server`: LIGHTGBM_SERVER on the oxserve runtime. Serves LightGBM's text model from `model.txt`, else
//! `model.bst`, over Seldon v1, V2 and KServe v1.

use std::process::ExitCode;
use std::sync::Arc;

use oxserve_core::Model;
use oxserve_lightgbm_server::{LightgbmModel, SERVER, threads_parameter};

fn main() -> ExitCode {
    oxserve_runtime::run_with::<oxserve_runtime::NoArgs, _>(
        &SERVER,
        oxserve_runtime::Extensions::default().with_rest(oxserve_tfserving::kserve_v1_extension()),
        |ctx| {
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
        },
    )
}
