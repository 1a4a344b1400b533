//! `candle-server`: PYTORCH_SERVER and HUGGINGFACE_SERVER on the oxserve runtime (BERT-family encoders and MLPs
//! on candle), with a text-embeddings-inference style `/embed` route.

use std::process::ExitCode;

use oxserve_alloc as _;

use oxserve_candle_server::{SERVER, embed_extension, load, register};
use oxserve_runtime::repository::LoaderRegistry;
use oxserve_runtime::{Extensions, NoArgs};

fn main() -> ExitCode {
    oxserve_runtime::run_with::<NoArgs, _>(
        &SERVER,
        Extensions::default()
            .with_rest(embed_extension())
            .with_loaders(register(LoaderRegistry::new())),
        load,
    )
}
