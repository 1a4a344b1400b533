//! `iris-transformer`: TRANSFORMER: divides every feature by divisor (default 10: iris millimetres to centimetres).

use std::sync::Arc;

use oxserve_runtime::component::{self, AsTransformer};

const SERVER: oxserve_runtime::Server = oxserve_runtime::Server {
    name: "iris-transformer",
    about: "TRANSFORMER: divides every feature by divisor (default 10: iris millimetres to centimetres).",
    parameters: &["divisor"],
};

fn main() -> std::process::ExitCode {
    component::run(&SERVER, |ctx| {
        Ok(Arc::new(AsTransformer(
            oxserve_components::Rescale::from_parameters(&ctx.parameters)?,
        )))
    })
}
