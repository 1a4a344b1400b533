//! A server for the runtime's end-to-end tests: the runtime serving [`oxserve_tests::RowStatsModel`].

use std::process::ExitCode;
use std::sync::Arc;

use oxserve_alloc as _;

/// The test binary.
const SERVER: oxserve_runtime::Server = oxserve_runtime::Server {
    name: "oxserve-test-server",
    about: "The runtime's end-to-end test server: serves a row-statistics model (no model files).",
    parameters: &["method"],
};

fn main() -> ExitCode {
    // A models folder's `oxserve_tests.RowStats` models (`rowstats.json`) load through the V2 model repository.
    let loaders = oxserve_runtime::repository::LoaderRegistry::new()
        .register(
            &[oxserve_tests::RowStatsModel::IMPLEMENTATION],
            &[oxserve_tests::RowStatsModel::FILE],
            |source| {
                let model: Arc<dyn oxserve_core::Model> =
                    Arc::new(oxserve_tests::BallastModel::load(&source.uri)?);
                Ok(model)
            },
        )
        .unavailable(
            &["mlserver_mlflow.MLflowRuntime"],
            "MLflow models are not served by this build",
        );
    oxserve_runtime::run_with::<oxserve_runtime::NoArgs, _>(
        &SERVER,
        oxserve_runtime::Extensions::default().with_loaders(loaders),
        |_ctx| Ok(Arc::new(oxserve_tests::RowStatsModel::default())),
    )
}
