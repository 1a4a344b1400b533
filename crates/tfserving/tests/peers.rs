//! A Python TF Serving client (grpcio + requests, stubs compiled from the repo's protos by
//! `scripts/install-tfserving-peers.sh`) against the runtime serving TF Serving's API on loopback.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use common::PairModel;
use oxserve_runtime::{Config, build_state, serve_state_with};
use oxserve_tests::{TempDir, peers_python, peers_required, repo_root};
use serde_json::{Value, json};

const VENV: &str = ".venv-tfserving";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tf_serving_python_client_over_rest_and_grpc() {
    let Some(python) = peers_python(VENV) else {
        assert!(
            !peers_required(),
            "{VENV} missing: run scripts/install-tfserving-peers.sh"
        );
        eprintln!("SKIPPED: {VENV} not installed; run scripts/install-tfserving-peers.sh");
        return;
    };
    let dir = TempDir::new("tfserving-peer").unwrap();
    let ports_file = dir.0.join("ports.json");
    let config = Config::parse_from([
        "oxserve",
        "--model-name",
        "pair",
        "--host",
        "127.0.0.1",
        "--http-port",
        "0",
        "--grpc-port",
        "0",
        "--metrics-port",
        "0",
        "--ports-file",
        ports_file.to_str().unwrap(),
    ]);
    let state = build_state(&config, Arc::new(PairModel::default()), &dir.0).unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(serve_state_with(
        config,
        state,
        oxserve_tfserving::extensions(),
        async move {
            let _ = stopped.await;
        },
    ));
    let deadline = Instant::now() + Duration::from_secs(30);
    let ports: Value = loop {
        if let Ok(text) = std::fs::read_to_string(&ports_file)
            && let Ok(ports) = serde_json::from_str(&text)
        {
            break ports;
        }
        assert!(Instant::now() < deadline, "server did not start");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let stubs: PathBuf = repo_root().join(VENV).join("stubs");
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/peers/tfserving_client.py");
    let args = [
        script.display().to_string(),
        ports["http"].to_string(),
        ports["grpc"].to_string(),
        "pair".into(),
        stubs.display().to_string(),
    ];
    let out = tokio::task::spawn_blocking(move || Command::new(python).args(args).output())
        .await
        .unwrap()
        .unwrap();
    let _ = stop.send(());
    server.await.unwrap().unwrap();
    assert!(
        out.status.success(),
        "client failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let got: Value = serde_json::from_slice(&out.stdout).unwrap();

    assert_eq!(
        got["rest/status"],
        json!({"model_version_status":[{"version":"1","state":"AVAILABLE","status":{"error_code":"OK","error_message":""}}]})
    );
    let sig =
        &got["rest/metadata"]["metadata"]["signature_def"]["signature_def"]["serving_default"];
    assert_eq!(sig["inputs"]["x"]["dtype"], "DT_FLOAT");
    assert_eq!(sig["inputs"]["n"]["tensor_shape"]["dim"][0]["size"], "-1");
    assert_eq!(
        got["rest/row"],
        json!({"status": 200, "body": {"predictions": [
            {"scaled": [2.0, 4.0, 6.0], "total": 8.0},
            {"scaled": [-0.5, -1.0, 1.0], "total": -0.5}
        ]}})
    );
    assert_eq!(
        got["rest/columnar"],
        json!({"status": 200, "body": {"outputs": {"scaled": [[3.0, 6.0, 9.0]], "total": [9.0]}}})
    );
    assert_eq!(got["rest/error"]["status"], 400);
    assert!(
        got["rest/error"]["body"]["error"]
            .as_str()
            .unwrap()
            .contains("2 inputs")
    );
    assert_eq!(
        got["rest/unknown"],
        json!({"status": 404, "body": {"error": "Servable not found for request: Latest(nope)"}})
    );

    assert_eq!(
        got["grpc/predict"],
        json!({
            "model_spec": {"name": "pair", "version": 1, "signature_name": "serving_default"},
            "outputs": {
                "scaled": {"dtype": "DT_FLOAT", "shape": [2, 3], "values": [2.0, 4.0, 6.0, -0.5, -1.0, 1.0]},
                "total": {"dtype": "DT_DOUBLE", "shape": [2], "values": [8.0, -0.5]}
            }
        })
    );
    assert_eq!(got["grpc/filtered"], json!(["total"]));
    assert_eq!(
        got["grpc/metadata"],
        json!({
            "method_name": "tensorflow/serving/predict",
            "inputs": {"x": {"dtype": "DT_FLOAT", "shape": [-1, 3]}, "n": {"dtype": "DT_INT64", "shape": [-1]}},
            "outputs": ["scaled", "total"]
        })
    );
    assert_eq!(
        got["grpc/status"],
        json!([{"version": 1, "state": "AVAILABLE"}])
    );
    assert_eq!(
        got["grpc/unknown"],
        json!({"code": "NOT_FOUND", "details": "Servable not found for request: Latest(nope)"})
    );
}
