//! `sklearn-server`: SKLEARN_SERVER on the oxserve runtime.

use std::process::ExitCode;
use std::sync::Arc;

use oxserve_sklearn_server::{PARAMETERS, SklearnModel};

fn main() -> ExitCode {
    oxserve_runtime::run(&PARAMETERS, |ctx| {
        let model = SklearnModel::load(&ctx.model_dir, ctx.parameters.get_str("method"))?;
        tracing::info!(
            estimator = model.estimator().class_name(),
            method = model.default_method().name(),
            "model loaded"
        );
        Ok(Arc::new(model))
    })
}
