//! `onnx-server`: TENSORFLOW_SERVER on the oxserve runtime, serving `model.onnx` through ONNX Runtime over Seldon
//! v1, V2 and TF Serving's own REST and gRPC API.

use std::process::ExitCode;

use oxserve_alloc as _;
use std::sync::Arc;

use oxserve_core::Model;
use oxserve_onnx_server::{SERVER, load, proxy_config, register};
use oxserve_runtime::repository::LoaderRegistry;
use oxserve_tfserving::TfServingArgs;

/// How long proxy mode waits for the TF Serving sidecar at start-up.
const SIDECAR_WAIT: std::time::Duration = std::time::Duration::from_secs(120);

fn main() -> ExitCode {
    let extensions = oxserve_tfserving::extensions()
        .with_loaders(register(LoaderRegistry::new()))
        .without_model(|ctx| {
        let config = proxy_config(&ctx.parameters, &ctx.model_name);
        tracing::info!(upstream = %config.rest_endpoint, model = %config.model_name, "no model given: proxy mode");
        let proxy = tokio::task::block_in_place(|| {
            tokio::runtime::Handle::current()
                .block_on(oxserve_tfproxy::TfServingProxy::connect(&config, SIDECAR_WAIT))
        })?;
        Ok(Arc::new(proxy) as Arc<dyn Model>)
    });
    oxserve_runtime::run_with::<TfServingArgs, _>(&SERVER, extensions, |ctx| {
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
