//! `xgboost-server`: XGBOOST_SERVER on the oxserve runtime. Serves `model.bst`, else `model.json` / `model.ubj`
//! (XGBoost's JSON, UBJSON or legacy binary format, detected from the bytes), over Seldon v1, V2 and KServe v1.

use std::process::ExitCode;

use oxserve_alloc as _;
use std::sync::Arc;

use oxserve_core::Model;
use oxserve_runtime::repository::LoaderRegistry;
use oxserve_runtime::{Extensions, NoArgs};
use oxserve_xgboost_server::{SERVER, XgboostModel, threads_parameter};

fn main() -> ExitCode {
    // KServe V1 is the runtime's: `:predict` answers the default output, the raw `Booster.predict`.
    // `--models-dir`: more models of this format by name, through the V2 model repository.
    let extensions =
        Extensions::default().with_loaders(oxserve_xgboost_server::register(LoaderRegistry::new()));
    oxserve_runtime::run_with::<NoArgs, _>(&SERVER, extensions, |ctx| {
        let threads = threads_parameter(&ctx.parameters)?;
        let model = XgboostModel::load(&ctx.model_dir, threads)?;
        let booster = model.booster();
        tracing::info!(
            format = ?booster.format(),
            booster = ?booster.kind(),
            objective = booster.objective(),
            features = booster.n_features(),
            rounds = booster.n_rounds(),
            wrapper = ?model.wrapper(),
            default_output = model.default_output(),
            nthread = threads,
            "XGBoost model loaded"
        );
        Ok(Arc::new(model) as Arc<dyn Model>)
    })
}
