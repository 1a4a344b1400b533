//! TENSORFLOW_SERVER (and an ONNX server): an ONNX model run by ONNX Runtime behind the oxserve runtime, over
//! Seldon v1, V2 and TF Serving's REST (`/v1/models/{name}:predict`, also KServe v1) and gRPC APIs.
//!
//! - Model files: `model.onnx` in the model folder, or TF Serving's `<base>/<version>/model.onnx` (the highest
//!   version is served). A TensorFlow SavedModel must be converted first: the server refuses to start and prints
//!   the `python -m tf2onnx.convert --saved-model <dir> --output <dir>/model.onnx` command.
//! - ONNX Runtime: `libonnxruntime.so` from `ORT_DYLIB_PATH`, else beside the `onnx-server` binary
//!   (`scripts/fetch-onnxruntime.sh` fetches it).
//! - Parameter `intra_op_threads` (INT or STRING): threads ONNX Runtime uses for one call; default: the CPUs the
//!   process may use (`available_parallelism`, which follows cgroup quotas). Set it to the container's CPU limit
//!   when the quota is fractional, or lower it when several models share a node.

use std::path::Path;

use oxserve_onnx::{LoadOptions, OnnxModel};
use oxserve_runtime::{ParamValue, Parameters};

/// Parameters this server accepts (besides `model_uri`).
pub const PARAMETERS: [&str; 7] = [
    "intra_op_threads",
    // Seldon's TfServingProxy parameters (proxy mode, see `proxy_config`).
    "rest_endpoint",
    "grpc_endpoint",
    "model_name",
    "signature_name",
    "model_input",
    "model_output",
];

/// The binary: what `onnx-server --help` says first.
pub const SERVER: oxserve_runtime::Server = oxserve_runtime::Server {
    name: "onnx-server",
    about: "TENSORFLOW_SERVER (and an ONNX server): serves model.onnx (or TF Serving's <base>/<version>/model.onnx) \
            through ONNX Runtime over Seldon v1, V2, and TF Serving's REST and gRPC API; also accepts \
            tensorflow_model_server's flags (--port, --rest_api_port, --model_name, --model_base_path). With no \
            model and a rest_endpoint parameter it proxies to a TF Serving sidecar.",
    parameters: &PARAMETERS,
};

/// Proxy mode: under Seldon's default `seldon` protocol the node container gets `rest_endpoint` (the TF Serving
/// sidecar the operator adds, which is `onnx-server` too) and no model; it then forwards to the sidecar.
/// Seldon's defaults: `http://0.0.0.0:2001`, the model named after the node.
pub fn proxy_config(parameters: &Parameters, model_name: &str) -> oxserve_tfproxy::ProxyConfig {
    oxserve_tfproxy::ProxyConfig {
        rest_endpoint: parameters
            .get_str("rest_endpoint")
            .unwrap_or("http://0.0.0.0:2001")
            .to_string(),
        model_name: parameters
            .get_str("model_name")
            .unwrap_or(model_name)
            .to_string(),
        signature_name: parameters.get_str("signature_name").map(str::to_string),
    }
}

/// The load options the node's parameters ask for.
pub fn load_options(parameters: &Parameters) -> anyhow::Result<LoadOptions> {
    let threads = match parameters.get("intra_op_threads") {
        None => None,
        Some(ParamValue::Int(n)) => Some(usize::try_from(*n).ok().filter(|&n| n > 0)),
        Some(ParamValue::Str(s)) => Some(s.trim().parse::<usize>().ok().filter(|&n| n > 0)),
        Some(_) => Some(None),
    };
    let intra_op_threads = match threads {
        None => None,
        Some(Some(n)) => Some(n),
        Some(None) => anyhow::bail!("parameter intra_op_threads must be a positive integer"),
    };
    Ok(LoadOptions {
        intra_op_threads,
        library_fallback: None,
    })
}

/// Loads the model in `dir` with the node's parameters.
pub fn load(dir: &Path, parameters: &Parameters) -> anyhow::Result<OnnxModel> {
    let model = OnnxModel::load(dir, &load_options(parameters)?)?;
    Ok(model)
}

/// oxserve's `implementation` name for ONNX models (MLServer has no ONNX runtime).
pub const IMPLEMENTATION: &str = "oxserve.onnx";

/// Adds this server's format to a model repository's loaders: ONNX models under `oxserve.onnx` (and `onnx`),
/// recognised by `model.onnx` in a folder without settings (without ONNX Runtime they fail their load with
/// the reason); `parameters.extra` as the node parameters, MLServer's adaptive batching from the settings.
/// `onnx-server --models-dir` and `oxserve` both load through it.
pub fn register(
    registry: oxserve_runtime::repository::LoaderRegistry,
) -> oxserve_runtime::repository::LoaderRegistry {
    registry.register(&[IMPLEMENTATION, "onnx"], &["model.onnx"], |source| {
        let model = std::sync::Arc::new(load(&source.uri, &source.parameters(&[])?)?);
        Ok(oxserve_batching::batched_by_settings(
            &source.settings,
            model,
        )?)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn threads(json: &str) -> anyhow::Result<Option<usize>> {
        Ok(load_options(&Parameters::parse(json)?)?.intra_op_threads)
    }

    #[test]
    fn intra_op_threads_parameter() {
        assert_eq!(threads("[]").unwrap(), None);
        let p = |v: &str, t: &str| {
            format!(r#"[{{"name":"intra_op_threads","value":{v},"type":"{t}"}}]"#)
        };
        assert_eq!(threads(&p("\"3\"", "INT")).unwrap(), Some(3));
        assert_eq!(threads(&p("\" 2 \"", "STRING")).unwrap(), Some(2));
        for (v, t) in [
            ("\"0\"", "INT"),
            ("\"-1\"", "INT"),
            ("\"two\"", "STRING"),
            ("\"1.5\"", "FLOAT"),
        ] {
            let err = threads(&p(v, t)).unwrap_err().to_string();
            assert!(err.contains("intra_op_threads"), "{v} {t}: {err}");
        }
    }
}
