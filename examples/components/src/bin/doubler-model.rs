//! `doubler-model`: MODEL: twice its input, with tags and custom metrics (a counter, a gauge, a timer).

use std::sync::Arc;

use oxserve_runtime::component::{self, AsModel};

const SERVER: oxserve_runtime::Server = oxserve_runtime::Server {
    name: "doubler-model",
    about: "MODEL: twice its input, with tags and custom metrics (a counter, a gauge, a timer).",
    parameters: &[],
};

fn main() -> std::process::ExitCode {
    component::run(&SERVER, |_ctx| {
        Ok(Arc::new(AsModel(oxserve_components::Doubler::default())))
    })
}
