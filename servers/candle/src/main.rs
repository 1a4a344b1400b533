//! `candle-server`: PYTORCH_SERVER and HUGGINGFACE_SERVER on the oxserve runtime (BERT-family encoders and MLPs
//! on candle), with a text-embeddings-inference style `/embed` route.

use std::process::ExitCode;

use oxserve_candle_server::{PARAMETERS, embed_extension, load};
use oxserve_runtime::Extensions;

fn main() -> ExitCode {
    oxserve_runtime::run_with(
        &PARAMETERS,
        Extensions::default().with_rest(embed_extension()),
        load,
    )
}
