//! `oxserve`: every native runtime in one server, many models by name through the V2 model repository.
//!
//! [`registry`] maps MLServer's `implementation` names (and oxserve's short ones) to the family's loaders, so a
//! models folder written for MLServer (`model-settings.json`) or by Seldon Core 2's agent serves unchanged;
//! [`start_args`] turns `oxserve start DIR` (MLServer's command line) into the runtime's flags.

use std::ffi::OsString;
use std::path::Path;

use oxserve_runtime::repository::LoaderRegistry;

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

/// MLServer's Hugging Face runtime (the tasks candle serves).
pub use oxserve_candle_server::IMPLEMENTATION as HUGGINGFACE;
/// MLServer's LightGBM runtime.
pub use oxserve_lightgbm_server::IMPLEMENTATION as LIGHTGBM;
/// MLServer's MLflow runtime (`oxserve-mlflow`: the flavours it reads natively; custom Python refused).
pub use oxserve_mlflow_server::IMPLEMENTATION as MLFLOW;
/// oxserve's name for ONNX models (MLServer has no ONNX runtime).
pub use oxserve_onnx_server::IMPLEMENTATION as ONNX;
/// MLServer's scikit-learn runtime.
pub use oxserve_sklearn_server::IMPLEMENTATION as SKLEARN;
/// MLServer's XGBoost runtime.
pub use oxserve_xgboost_server::IMPLEMENTATION as XGBOOST;

/// Every format this binary loads, by `implementation`, and the files that mark a folder without settings: each
/// family's server crate registers its own (the same loaders its one-family binary's `--models-dir` uses).
pub fn registry() -> LoaderRegistry {
    let registry = oxserve_sklearn_server::register(LoaderRegistry::new());
    let registry = oxserve_xgboost_server::register(registry);
    let registry = oxserve_lightgbm_server::register(registry);
    let registry = oxserve_onnx_server::register(registry);
    let registry = oxserve_candle_server::register(registry);
    oxserve_mlflow_server::register(registry)
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
    use oxserve_runtime::repository::ModelSource;

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
        let p = source(
            serde_json::json!({"method": "predict", "nthread": 2, "normalize": true}),
            serde_json::json!({"max_batch_size": 8}),
        )
        .parameters(&["max_batch_size"])
        .unwrap();
        assert_eq!(p.get_str("method"), Some("predict"));
        assert_eq!(p.get_text("nthread").as_deref(), Some("2"));
        assert_eq!(p.get_text("max_batch_size").as_deref(), Some("8"));
        assert!(
            source(serde_json::json!([1]), serde_json::Value::Null)
                .parameters(&[])
                .is_err()
        );
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
