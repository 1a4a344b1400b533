//! `sklearn-server`: SKLEARN_SERVER on the oxserve runtime. Serves `model.joblib` / `model.pkl` / `model.pickle`
//! (scikit-learn), or `model.smartcore.json` / `model.linfa.json` (models trained in Rust).

use std::process::ExitCode;

use oxserve_alloc as _;
use std::sync::Arc;

use oxserve_core::Model;
use oxserve_runtime::repository::LoaderRegistry;
use oxserve_sklearn_server::{SERVER, SklearnArgs, SklearnModel};

fn main() -> ExitCode {
    let extensions = oxserve_runtime::Extensions::default()
        .with_loaders(oxserve_sklearn_server::register(LoaderRegistry::new()));
    oxserve_runtime::run_with::<SklearnArgs, _>(&SERVER, extensions, |ctx| {
        let method = ctx.parameters.get_str("method");
        let model: Arc<dyn Model> = match oxserve_rustml::find(&ctx.model_dir) {
            Some(path) => {
                let model = oxserve_rustml::RustModel::load(&path, method)?;
                tracing::info!(file = %path.display(), platform = %model.metadata().platform, "Rust model loaded");
                Arc::new(model)
            }
            None => {
                let model =
                    SklearnModel::load_with_budget(&ctx.model_dir, method, ctx.max_model_memory)?;
                tracing::info!(
                    estimator = model.estimator().class_name(),
                    method = model.default_method().name(),
                    "model loaded"
                );
                Arc::new(model)
            }
        };
        Ok(model)
    })
}
