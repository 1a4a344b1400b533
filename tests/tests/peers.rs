//! Clients nobody here wrote: Seldon's Python `seldon-core` client and NVIDIA's `tritonclient`, installed by
//! `scripts/install-peers.sh`, against the server binary on loopback.

#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::Command;

use oxserve_tests::{ServerProcess, TempDir, peers_python, peers_required, repo_root};

fn start(dir: &Path) -> ServerProcess {
    let params = format!(
        r#"[{{"name":"model_uri","value":"{}","type":"STRING"}}]"#,
        dir.display()
    );
    ServerProcess::start(
        Path::new(env!("CARGO_BIN_EXE_oxserve-test-server")),
        &[
            ("PREDICTIVE_UNIT_PARAMETERS", params.as_str()),
            ("PREDICTIVE_UNIT_ID", "classifier"),
        ],
    )
    .unwrap()
}

/// Runs a peer script; `None` (after printing SKIPPED) when the venv is absent and peers are not required.
fn run_peer(venv: &str, script: &str, args: &[String]) -> Option<serde_json::Value> {
    let Some(python) = peers_python(venv) else {
        assert!(
            !peers_required(),
            "{venv} missing: run scripts/install-peers.sh"
        );
        eprintln!("SKIPPED: {venv} not installed; run scripts/install-peers.sh");
        return None;
    };
    let out = Command::new(python)
        .arg(repo_root().join("tests/peers").join(script))
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{script} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Some(serde_json::from_slice(&out.stdout).unwrap())
}

#[test]
fn seldon_python_client_over_rest_and_grpc() {
    let dir = TempDir::new("model").unwrap();
    let server = start(&dir.0);
    let Some(got) = run_peer(
        ".venv-seldon",
        "seldon_client.py",
        &[server.http.to_string(), server.grpc.to_string(), "4".into()],
    ) else {
        return;
    };
    let want = [0.09003057317038046, 0.24472847105479764, 0.6652409557748218];
    for key in ["rest/ndarray", "grpc/ndarray"] {
        let row = &got[key]["data"]["ndarray"][0];
        for (i, w) in want.iter().enumerate() {
            assert!((row[i].as_f64().unwrap() - w).abs() < 1e-12, "{key}: {got}");
        }
        assert_eq!(
            got[key]["data"]["names"],
            serde_json::json!(["t:0", "t:1", "t:2"])
        );
    }
    for key in ["rest/tensor", "grpc/tensor"] {
        assert_eq!(
            got[key]["data"]["tensor"]["shape"],
            serde_json::json!([1, 3]),
            "{key}: {got}"
        );
        let values = got[key]["data"]["tensor"]["values"].as_array().unwrap();
        assert!((values[2].as_f64().unwrap() - want[2]).abs() < 1e-12);
    }
}

#[test]
fn tritonclient_over_http_binary_json_and_grpc() {
    let dir = TempDir::new("model").unwrap();
    let server = start(&dir.0);
    let Some(got) = run_peer(
        ".venv-triton",
        "triton_client.py",
        &[
            server.http.to_string(),
            server.grpc.to_string(),
            "classifier".into(),
        ],
    ) else {
        return;
    };
    for key in ["http_live", "http_ready", "grpc_live", "grpc_ready"] {
        assert_eq!(got[key], true, "{key}: {got}");
    }
    assert_eq!(got["http_metadata"]["name"], "classifier");
    assert_eq!(got["http_metadata"]["inputs"][0]["datatype"], "FP64");
    assert_eq!(got["grpc_metadata_name"], "classifier");
    assert_eq!(got["http_id"], "req-1");
    let first = [0.09003057317038046, 0.24472847105479764, 0.6652409557748218];
    for key in ["http_proba", "http_json_proba", "grpc_proba"] {
        let rows = got[key].as_array().unwrap();
        assert_eq!(rows.len(), 2, "{key}: {got}");
        for (i, w) in first.iter().enumerate() {
            assert!(
                (rows[0][i].as_f64().unwrap() - w).abs() < 1e-12,
                "{key}: {got}"
            );
            assert!(
                (rows[1][i].as_f64().unwrap() - 1.0 / 3.0).abs() < 1e-12,
                "{key}: {got}"
            );
        }
    }
    for key in ["http_sum", "grpc_sum"] {
        assert_eq!(got[key], serde_json::json!([10.0, 2.0]), "{key}: {got}");
    }
    let bad = got["http_bad"].as_str().unwrap();
    assert!(bad.contains("[rows, 4]"), "{bad}");
}
