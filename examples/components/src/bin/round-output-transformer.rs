//! `round-output-transformer`: OUTPUT_TRANSFORMER: rounds the model's output to decimals places (default 1).

use std::sync::Arc;

use oxserve_runtime::component::{self, AsOutputTransformer};

const SERVER: oxserve_runtime::Server = oxserve_runtime::Server {
    name: "round-output-transformer",
    about: "OUTPUT_TRANSFORMER: rounds the model's output to decimals places (default 1).",
    parameters: &["decimals"],
};

fn main() -> std::process::ExitCode {
    component::run(&SERVER, |ctx| {
        Ok(Arc::new(AsOutputTransformer(
            oxserve_components::Round::from_parameters(&ctx.parameters)?,
        )))
    })
}
