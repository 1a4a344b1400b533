//! `oxserve`: every native runtime in one server, many models by name through the V2 model repository.
//!
//! [`registry`] maps MLServer's `implementation` names (and oxserve's short ones) to the family's loaders, so a
//! models folder written for MLServer (`model-settings.json`) or by Seldon Core 2's agent serves unchanged;
//! [`start_args`] turns `oxserve start DIR` (MLServer's command line) into the runtime's flags.

use std::ffi::OsString;
use std::path::Path;
use std::sync::Arc;

use oxserve_batching::{BatchConfig, BatchingModel, PARAM_MAX_BATCH_SIZE, PARAM_MAX_BATCH_TIME};
use oxserve_core::Model;
use oxserve_runtime::repository::{LoaderRegistry, ModelSource};
use oxserve_runtime::{LoadContext, Parameters};

/// The binary.
pub const SERVER: oxserve_runtime::Server = oxserve_runtime::Server {
    name: "oxserve",
    about: "oxserve: scikit-learn (and smartcore / linfa), XGBoost, LightGBM, ONNX and Hugging Face (candle) models \
            in one server, many at once: `oxserve start DIR` serves a folder of MLServer `model-settings.json` \
            models through the V2 model repository API.",
    parameters: &[
        "method",
        "nthread",
        "intra_op_threads",
        "task",
        "normalize",
        "max_batch_size",
        "max_batch_time",
    ],
};

/// MLServer's scikit-learn runtime.
pub const SKLEARN: &str = "mlserver_sklearn.SKLearnModel";
/// MLServer's XGBoost runtime.
pub const XGBOOST: &str = "mlserver_xgboost.XGBoostModel";
/// MLServer's LightGBM runtime.
pub const LIGHTGBM: &str = "mlserver_lightgbm.LightGBMModel";
/// MLServer's MLflow runtime (`oxserve-mlflow`: the flavours it reads natively; custom Python refused).
pub const MLFLOW: &str = "mlserver_mlflow.MLflowRuntime";
/// MLServer's Hugging Face runtime (the tasks candle serves).
pub const HUGGINGFACE: &str = "mlserver_huggingface.HuggingFaceRuntime";
/// oxserve's name for ONNX models (MLServer has no ONNX runtime).
pub const ONNX: &str = "oxserve.onnx";

/// Every format this binary loads, by `implementation`, and the files that mark a folder without settings.
pub fn registry() -> LoaderRegistry {
    LoaderRegistry::new()
        .register(
            &[SKLEARN, "sklearn", "oxserve.sklearn"],
            &[
                "model.joblib",
                "model.pkl",
                "model.pickle",
                oxserve_rustml::SMARTCORE_FILE,
                oxserve_rustml::LINFA_FILE,
            ],
            load_sklearn,
        )
        .register(
            &[XGBOOST, "xgboost", "oxserve.xgboost"],
            &["model.bst", "model.ubj", "model.json"],
            |source| {
                let threads = oxserve_xgboost_server::threads_parameter(&parameters(source)?)?;
                let model = oxserve_xgboost_server::XgboostModel::load(&source.uri, threads)?;
                batched(source, Arc::new(model))
            },
        )
        .register(
            &[LIGHTGBM, "lightgbm", "oxserve.lightgbm"],
            &["model.txt"],
            |source| {
                let threads = oxserve_lightgbm_server::threads_parameter(&parameters(source)?)?;
                let model = oxserve_lightgbm_server::LightgbmModel::load(&source.uri, threads)?;
                batched(source, Arc::new(model))
            },
        )
        .register(&[ONNX, "onnx"], &["model.onnx"], |source| {
            let model = oxserve_onnx_server::load(&source.uri, &parameters(source)?)?;
            batched(source, Arc::new(model))
        })
        .register(
            &[HUGGINGFACE, "huggingface", "oxserve.candle"],
            &["model.safetensors", "pytorch_model.bin"],
            |source| {
                // candle-server's own loader: it reads `task`, `normalize` and the batching settings.
                oxserve_candle_server::load(&LoadContext {
                    model_dir: source.uri.clone(),
                    parameters: parameters(source)?,
                    model_name: source.name.clone(),
                    max_model_memory: None,
                })
            },
        )
        .register(
            &[MLFLOW, "mlflow", "oxserve.mlflow"],
            &["MLmodel"],
            |source| {
                // mlflow-server's own loader: the flavour from `MLmodel`, its signature enforced.
                let model = oxserve_mlflow_server::load(&LoadContext {
                    model_dir: source.uri.clone(),
                    parameters: parameters(source)?,
                    model_name: source.name.clone(),
                    max_model_memory: None,
                })?;
                batched(source, model)
            },
        )
}

fn load_sklearn(source: &ModelSource) -> anyhow::Result<Arc<dyn Model>> {
    let parameters = parameters(source)?;
    let method = parameters.get_str("method");
    let rust_file = if source.uri.is_file() {
        let name = source.uri.to_string_lossy();
        (name.ends_with(oxserve_rustml::SMARTCORE_FILE)
            || name.ends_with(oxserve_rustml::LINFA_FILE))
        .then(|| source.uri.clone())
    } else {
        oxserve_rustml::find(&source.uri)
    };
    let model: Arc<dyn Model> = match rust_file {
        Some(path) => Arc::new(oxserve_rustml::RustModel::load(&path, method)?),
        None => Arc::new(oxserve_sklearn_server::SklearnModel::load(
            &source.uri,
            method,
        )?),
    };
    batched(source, model)
}

/// The loader's parameters: `parameters.extra` (MLServer's free-form settings) as the node parameters the
/// family's loaders read, plus the settings' `max_batch_size` / `max_batch_time`.
pub fn parameters(source: &ModelSource) -> anyhow::Result<Parameters> {
    let mut list = Vec::new();
    let mut push = |name: &str, value: &serde_json::Value| -> anyhow::Result<()> {
        let (value, kind) = match value {
            serde_json::Value::Bool(b) => (b.to_string(), "BOOL"),
            serde_json::Value::Number(n) if n.is_i64() || n.is_u64() => (n.to_string(), "INT"),
            serde_json::Value::Number(n) => (n.to_string(), "FLOAT"),
            serde_json::Value::String(s) => (s.clone(), "STRING"),
            serde_json::Value::Null => return Ok(()),
            other => (other.to_string(), "JSON"),
        };
        list.push(serde_json::json!({"name": name, "value": value, "type": kind}));
        Ok(())
    };
    match &source.extra {
        serde_json::Value::Object(extra) => {
            for (name, value) in extra {
                push(name, value)?;
            }
        }
        serde_json::Value::Null => {}
        _ => anyhow::bail!("`parameters.extra` must be an object"),
    }
    for key in [PARAM_MAX_BATCH_SIZE, PARAM_MAX_BATCH_TIME] {
        if let Some(value) = source.settings.get(key) {
            push(key, value)?;
        }
    }
    Ok(Parameters::parse(
        &serde_json::Value::Array(list).to_string(),
    )?)
}

/// Wraps `model` in MLServer's adaptive batching when the settings ask for it (`max_batch_size` > 1 and
/// `max_batch_time` > 0).
fn batched(source: &ModelSource, model: Arc<dyn Model>) -> anyhow::Result<Arc<dyn Model>> {
    let text = |key: &str| {
        source.settings.get(key).map(|v| match v {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        })
    };
    let config = BatchConfig::from_values(
        text(PARAM_MAX_BATCH_SIZE).as_deref(),
        text(PARAM_MAX_BATCH_TIME).as_deref(),
        None,
        None,
    )?;
    if !config.is_enabled() {
        return Ok(model);
    }
    Ok(Arc::new(BatchingModel::new(model, config)))
}

/// `oxserve start DIR [flags…]` (MLServer's command line) as the runtime's flags: `--models-dir DIR`, plus the
/// ports and host of `DIR/settings.json` (MLServer's server settings: `http_port`, `grpc_port`,
/// `metrics_port`, `host`) where the command line does not give them. Any other command line is kept.
pub fn start_args(args: Vec<OsString>) -> anyhow::Result<Vec<OsString>> {
    if args.get(1).and_then(|a| a.to_str()) != Some("start") {
        return Ok(args);
    }
    let Some(dir) = args.get(2).cloned() else {
        anyhow::bail!("usage: oxserve start DIR [flags]");
    };
    let rest: Vec<OsString> = args.iter().skip(3).cloned().collect();
    let mut out: Vec<OsString> = vec![args[0].clone(), "--models-dir".into(), dir.clone()];
    let settings = Path::new(&dir).join("settings.json");
    if settings.is_file() {
        let text = std::fs::read_to_string(&settings)
            .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", settings.display()))?;
        let value: serde_json::Value = serde_json::from_str(&text)
            .map_err(|e| anyhow::anyhow!("{} is not JSON: {e}", settings.display()))?;
        for (key, flag) in [
            ("http_port", "--http-port"),
            ("grpc_port", "--grpc-port"),
            ("metrics_port", "--metrics-port"),
            ("host", "--host"),
        ] {
            let given = rest.iter().any(|a| {
                a.to_str()
                    .is_some_and(|a| a == flag || a.starts_with(&format!("{flag}=")))
            });
            let value = match value.get(key) {
                Some(serde_json::Value::Number(n)) => n.to_string(),
                Some(serde_json::Value::String(s)) => s.clone(),
                _ => continue,
            };
            if !given {
                out.push(flag.into());
                out.push(value.into());
            }
        }
    }
    out.extend(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn source(extra: serde_json::Value, settings: serde_json::Value) -> ModelSource {
        ModelSource {
            name: "m".into(),
            version: None,
            implementation: SKLEARN.into(),
            uri: std::env::temp_dir(),
            extra,
            settings,
        }
    }

    #[test]
    fn extra_becomes_parameters() {
        let p = parameters(&source(
            serde_json::json!({"method": "predict", "nthread": 2, "normalize": true}),
            serde_json::json!({"max_batch_size": 8}),
        ))
        .unwrap();
        assert_eq!(p.get_str("method"), Some("predict"));
        assert_eq!(p.get_text("nthread").as_deref(), Some("2"));
        assert_eq!(p.get_text("max_batch_size").as_deref(), Some("8"));
        assert!(parameters(&source(serde_json::json!([1]), serde_json::Value::Null)).is_err());
    }

    #[test]
    fn start_reads_settings_json_and_keeps_the_command_line_first() {
        let dir = std::env::temp_dir().join(format!("oxserve-start-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("settings.json"),
            r#"{"http_port": 8081, "grpc_port": 8082}"#,
        )
        .unwrap();
        let args: Vec<OsString> = [
            "oxserve",
            "start",
            dir.to_str().unwrap(),
            "--grpc-port",
            "1",
        ]
        .iter()
        .map(OsString::from)
        .collect();
        let out: Vec<String> = start_args(args)
            .unwrap()
            .into_iter()
            .map(|a| a.into_string().unwrap())
            .collect();
        assert_eq!(
            out,
            [
                "oxserve",
                "--models-dir",
                dir.to_str().unwrap(),
                "--http-port",
                "8081",
                "--grpc-port",
                "1"
            ]
        );
        std::fs::remove_dir_all(&dir).unwrap();
        let plain: Vec<OsString> = vec!["oxserve".into(), "--help".into()];
        assert_eq!(start_args(plain.clone()).unwrap(), plain);
    }
}
