//! sklearn-server's command line and logs as an operator meets them: `--help` says what the binary serves and
//! lists only its own flags (TF Serving's belong to onnx-server), and logs written to a pipe carry no colour codes.

#![allow(clippy::unwrap_used)]

use std::io::{BufRead as _, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use oxserve_tests::{TempDir, repo_root};

fn binary() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_sklearn-server"))
}

#[test]
fn help_starts_with_what_the_server_serves_and_lists_no_tf_serving_flags() {
    let out = Command::new(binary()).arg("--help").output().unwrap();
    assert!(out.status.success());
    let help = String::from_utf8(out.stdout).unwrap();
    assert!(help.starts_with("SKLEARN_SERVER"), "{help}");
    let first = help.lines().next().unwrap();
    assert!(first.contains("model.joblib"), "{first}");
    for tf in [
        "--model_base_path",
        "--rest_api_port",
        "--model_name",
        "--port ",
    ] {
        assert!(!help.contains(tf), "{tf} in\n{help}");
    }
    assert!(
        !help.contains("serving runtime every oxserve server"),
        "{help}"
    );
    // The runtime's own flags, with their env vars.
    assert!(help.contains("--http-port"), "{help}");
    assert!(help.contains("PREDICTIVE_UNIT_HTTP_SERVICE_PORT"), "{help}");
}

#[test]
fn tf_serving_flags_are_refused() {
    for flag in [
        "--model_base_path=/mnt/models",
        "--rest_api_port=9000",
        "--port=9500",
    ] {
        let out = Command::new(binary())
            .env_clear()
            .arg(flag)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{flag}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        let name = flag.split('=').next().unwrap();
        assert!(
            stderr.contains(&format!("unexpected argument '{name}'")),
            "{flag}: {stderr}"
        );
    }
}

#[test]
fn logs_to_a_pipe_carry_no_colour_codes() {
    let dir = TempDir::new("ansi").unwrap();
    let params = serde_json::json!([{
        "name": "model_uri",
        "value": repo_root().join("examples/iris").display().to_string(),
        "type": "STRING",
    }])
    .to_string();
    let mut child = Command::new(binary())
        .env_clear()
        .env("PREDICTIVE_UNIT_PARAMETERS", params)
        .env("PREDICTIVE_UNIT_HTTP_SERVICE_PORT", "0")
        .env("PREDICTIVE_UNIT_GRPC_SERVICE_PORT", "0")
        .env("PREDICTIVE_UNIT_METRICS_SERVICE_PORT", "0")
        .env("OXSERVE_HOST", "127.0.0.1")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Read the logs as they come; stop the server once it says it is ready.
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        let mut logs = String::new();
        for line in BufReader::new(stderr).lines() {
            let line = line.unwrap();
            if line.contains("oxserve ready") {
                let _ = tx.send(());
            }
            logs.push_str(&line);
            logs.push('\n');
        }
        logs
    });
    let ready = rx.recv_timeout(Duration::from_secs(30));
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    child.wait().unwrap();
    let logs = reader.join().unwrap();
    assert!(ready.is_ok(), "{logs}");
    assert!(!logs.contains('\x1b'), "{logs:?}");

    // A start-up failure is logged without colour too.
    let out = Command::new(binary())
        .env_clear()
        .env("OXSERVE_HOST", "127.0.0.1")
        .env(
            "OXSERVE_MODEL_URI",
            dir.0.join("missing").display().to_string(),
        )
        .output()
        .unwrap();
    let logs = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(logs.contains("does not exist"), "{logs}");
    assert!(!logs.contains('\x1b'), "{logs:?}");
}

/// `--models-dir` beside its own model: a second scikit-learn model (MLServer's `model-settings.json`) loads by
/// name over the repository REST API and answers V2 by that name.
#[tokio::test]
async fn a_second_model_loads_by_name_over_the_repository_api() {
    let iris = repo_root().join("examples/iris");
    let reply = oxserve_tests::second_model_over_repository(
        binary(),
        &iris,
        &iris,
        "iris-2",
        Some(serde_json::json!({
            "name": "iris-2", "implementation": "mlserver_sklearn.SKLearnModel",
            "parameters": {"uri": "./model.joblib", "version": "v2"}
        })),
        &[],
        &serde_json::json!({"inputs": [
            {"name": "predict", "shape": [1, 4], "datatype": "FP64", "data": [5.1, 3.5, 1.4, 0.2]}
        ]}),
    )
    .await
    .unwrap();
    assert_eq!(reply["model_name"], "iris-2", "{reply}");
    assert_eq!(reply["model_version"], "v2", "{reply}");
    assert_eq!(reply["outputs"][0]["shape"][0], 1, "{reply}");
}
