//! `average-combiner`: COMBINER: the element-wise mean of the children's outputs.

use std::sync::Arc;

use oxserve_runtime::component::{self, AsCombiner};

const SERVER: oxserve_runtime::Server = oxserve_runtime::Server {
    name: "average-combiner",
    about: "COMBINER: the element-wise mean of the children's outputs.",
    parameters: &[],
};

fn main() -> std::process::ExitCode {
    component::run(&SERVER, |_ctx| {
        Ok(Arc::new(AsCombiner(oxserve_components::Average)))
    })
}
