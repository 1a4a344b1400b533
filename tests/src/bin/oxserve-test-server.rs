//! A server for the runtime's end-to-end tests: the runtime serving [`oxserve_tests::RowStatsModel`].

use std::process::ExitCode;
use std::sync::Arc;

fn main() -> ExitCode {
    oxserve_runtime::run(&["method"], |_ctx| {
        Ok(Arc::new(oxserve_tests::RowStatsModel::default()))
    })
}
