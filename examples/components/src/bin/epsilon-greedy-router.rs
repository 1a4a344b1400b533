//! `epsilon-greedy-router`: ROUTER: an epsilon-greedy A/B test over n_branches children, learning from send-feedback rewards (parameters n_branches, epsilon, seed).

use std::sync::Arc;

use oxserve_runtime::component::{self, AsRouter};

const SERVER: oxserve_runtime::Server = oxserve_runtime::Server {
    name: "epsilon-greedy-router",
    about: "ROUTER: an epsilon-greedy A/B test over n_branches children, learning from send-feedback rewards (parameters n_branches, epsilon, seed).",
    parameters: &["n_branches", "epsilon", "seed"],
};

fn main() -> std::process::ExitCode {
    component::run(&SERVER, |ctx| {
        Ok(Arc::new(AsRouter(
            oxserve_components::EpsilonGreedy::from_parameters(&ctx.parameters)?,
        )))
    })
}
