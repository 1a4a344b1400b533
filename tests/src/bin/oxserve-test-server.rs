//! A server for the runtime's end-to-end tests: the runtime serving [`oxserve_tests::RowStatsModel`].

use std::process::ExitCode;
use std::sync::Arc;

/// The test binary.
const SERVER: oxserve_runtime::Server = oxserve_runtime::Server {
    name: "oxserve-test-server",
    about: "The runtime's end-to-end test server: serves a row-statistics model (no model files).",
    parameters: &["method"],
};

fn main() -> ExitCode {
    oxserve_runtime::run(&SERVER, |_ctx| {
        Ok(Arc::new(oxserve_tests::RowStatsModel::default()))
    })
}
