//! `onnx-server`: TENSORFLOW_SERVER on the oxserve runtime, serving `model.onnx` through ONNX Runtime over Seldon
//! v1, V2 and TF Serving's own REST and gRPC API.

use std::process::ExitCode;
use std::sync::Arc;

use oxserve_core::Model;
use oxserve_onnx_server::{PARAMETERS, load};

fn main() -> ExitCode {
    oxserve_runtime::run_with(&PARAMETERS, oxserve_tfserving::extensions(), |ctx| {
        let model = load(&ctx.model_dir, &ctx.parameters)?;
        tracing::info!(
            file = %model.file().path.display(),
            version = ?model.file().version,
            intra_op_threads = model.intra_op_threads(),
            inputs = model.metadata().inputs.len(),
            outputs = model.metadata().outputs.len(),
            "ONNX model loaded"
        );
        Ok(Arc::new(model) as Arc<dyn Model>)
    })
}
