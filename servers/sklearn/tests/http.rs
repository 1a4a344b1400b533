//! sklearn-server as a real process: the seed's quickstart, the `method` parameter, and every joblib/pickle case
//! (the repo's generated fixtures, and the shared corpus when present) through the Seldon REST route.

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use oxserve_tests::{ServerProcess, repo_root};
use serde_json::{Value, json};

fn binary() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_sklearn-server"))
}

fn start(model_dir: &Path, method: Option<&str>) -> anyhow::Result<ServerProcess> {
    let mut params = vec![
        json!({"name": "model_uri", "value": model_dir.display().to_string(), "type": "STRING"}),
    ];
    if let Some(m) = method {
        params.push(json!({"name": "method", "value": m, "type": "STRING"}));
    }
    let params = Value::Array(params).to_string();
    ServerProcess::start(
        binary(),
        &[
            ("PREDICTIVE_UNIT_PARAMETERS", params.as_str()),
            ("PREDICTIVE_UNIT_ID", "classifier"),
            ("PREDICTIVE_UNIT_IMAGE", "oxserve/sklearn-server:0.1.0"),
        ],
    )
}

async fn predict(server: &ServerProcess, body: &Value) -> (u16, Value) {
    let reply = oxserve_tests::http_client()
        .post(server.url("/api/v1.0/predictions"))
        .header("Content-Type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    let status = reply.status().as_u16();
    (status, reply.json().await.unwrap())
}

fn close(got: &Value, want: &Value, atol: f64, rtol: f64) -> bool {
    match (got, want) {
        (Value::Array(g), Value::Array(w)) => {
            g.len() == w.len() && g.iter().zip(w).all(|(g, w)| close(g, w, atol, rtol))
        }
        (g, w) => match (g.as_f64(), w.as_f64()) {
            (Some(g), Some(w)) => (g - w).abs() <= atol + rtol * w.abs(),
            _ => g == w || (g.is_null() && w.is_null()),
        },
    }
}

#[tokio::test]
async fn seed_quickstart_gives_the_seeds_numbers() {
    let server = start(&repo_root().join("examples/iris"), None).unwrap();
    let (status, reply) = predict(&server, &json!({ "data": { "ndarray": [1,2,3,4] } })).await;
    assert_eq!(status, 200, "{reply}");
    assert_eq!(reply["data"]["names"], json!(["t:0", "t:1", "t:2"]));
    let want = json!([[0.000698519453116284, 0.00366803903943576, 0.995633441507448]]);
    assert!(
        close(&reply["data"]["ndarray"], &want, 1e-9, 0.0),
        "{reply}"
    );
    assert_eq!(
        reply["meta"],
        json!({"requestPath": {"classifier": "oxserve/sklearn-server:0.1.0"}})
    );
}

#[tokio::test]
async fn method_parameter_selects_the_output() {
    let dir = repo_root().join("examples/iris");
    let server = start(&dir, Some("predict")).unwrap();
    let (status, reply) = predict(
        &server,
        &json!({"data": {"ndarray": [[5.1, 3.5, 1.4, 0.2], [6.3, 3.3, 6.0, 2.5]]}}),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(reply["data"], json!({"names": [], "ndarray": [0, 2]}));
    let (_, reply) = predict(
        &server,
        &json!({"data": {"tensor": {"shape": [1, 4], "values": [5.1, 3.5, 1.4, 0.2]}}}),
    )
    .await;
    assert_eq!(
        reply["data"],
        json!({"names": [], "tensor": {"shape": [1], "values": [0]}})
    );
    drop(server);
    let server = start(&dir, Some("decision_function")).unwrap();
    let (status, reply) = predict(
        &server,
        &json!({"data": {"ndarray": [[5.1, 3.5, 1.4, 0.2]]}}),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(reply["data"]["names"], json!(["t:0", "t:1", "t:2"]));
    let (status, reply) = predict(&server, &json!({"data": {"ndarray": [[5.1, 3.5, 1.4]]}})).await;
    assert_eq!(status, 400, "{reply}");
    assert_eq!(reply["status"]["reason"], "MICROSERVICE_BAD_DATA");
    assert!(
        reply["status"]["info"]
            .as_str()
            .unwrap()
            .contains("features"),
        "{reply}"
    );
}

fn cases(root: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(root) else {
        return Vec::new();
    };
    let mut dirs: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.join("case.json").is_file())
        .collect();
    dirs.sort();
    dirs
}

/// Runs each case's default method through the server; returns the failures.
async fn run_cases(root: &Path) -> (usize, Vec<String>) {
    let mut failures = Vec::new();
    let mut checked = 0;
    for dir in cases(root) {
        // Python's json writes NaN as a bare `NaN`; standard JSON (and Seldon requests) carry it as null.
        let text = std::fs::read_to_string(dir.join("case.json"))
            .unwrap()
            .replace("NaN", "null");
        let case: Value = serde_json::from_str(&text).unwrap();
        let artifact = case["artifact"].as_str().unwrap_or("");
        if !(artifact.ends_with(".joblib")
            || artifact.ends_with(".pkl")
            || artifact.ends_with(".pickle"))
        {
            continue;
        }
        checked += 1;
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        let method = case["default_method"].as_str().unwrap_or("predict");
        let Some(want) = case["outputs"].get(method) else {
            continue;
        };
        let server = match start(&dir.join(artifact), Some(method)) {
            Ok(s) => s,
            Err(e) => {
                failures.push(format!("{name}: server did not start: {e}"));
                continue;
            }
        };
        let request = case
            .get("seldon_request")
            .cloned()
            .unwrap_or_else(|| json!({"data": {"ndarray": case["X"]}}));
        let (status, reply) = predict(&server, &request).await;
        let (atol, rtol) = (
            case["atol"].as_f64().unwrap_or(1e-9),
            case["rtol"].as_f64().unwrap_or(1e-9),
        );
        if status != 200 || !close(&reply["data"]["ndarray"], want, atol, rtol) {
            failures.push(format!("{name}: {status} {reply}"));
        }
    }
    (checked, failures)
}

#[tokio::test]
async fn generated_fixture_cases_over_http() {
    let root = repo_root().join("crates/sklearn/fixtures/cases");
    let (checked, failures) = run_cases(&root).await;
    assert!(checked > 0, "no cases under {}", root.display());
    assert!(
        failures.is_empty(),
        "{} of {checked} failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[tokio::test]
async fn shared_conformance_corpus_over_http() {
    let root = repo_root().join("../shared/conformance/public");
    if !root.is_dir() {
        eprintln!("SKIPPED: {} not present", root.display());
        return;
    }
    let (checked, failures) = run_cases(&root).await;
    assert!(checked > 0);
    assert!(
        failures.is_empty(),
        "{} of {checked} failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// Serves one file over plain HTTP on loopback, for as many requests as come, on a background thread.
fn serve_file(bytes: Vec<u8>) -> u16 {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(16) {
            let Ok(mut stream) = stream else { continue };
            let mut buf = [0u8; 4096];
            let n = stream.read(&mut buf).unwrap_or(0);
            let head = String::from_utf8_lossy(&buf[..n]);
            let body: &[u8] = if head.starts_with("HEAD") {
                &[]
            } else {
                &bytes
            };
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nContent-Type: application/octet-stream\r\nConnection: close\r\n\r\n",
                bytes.len()
            );
            let _ = stream.write_all(body);
        }
    });
    port
}

#[tokio::test]
async fn remote_model_uri_is_downloaded_before_loading() {
    let bytes = std::fs::read(repo_root().join("examples/iris/model.joblib")).unwrap();
    let port = serve_file(bytes);
    let download = oxserve_tests::TempDir::new("download").unwrap();
    let uri = format!("http://127.0.0.1:{port}/model.joblib");
    let params = Value::Array(vec![
        json!({"name": "model_uri", "value": uri, "type": "STRING"}),
    ])
    .to_string();
    let dest = download.0.join("models");
    let server = ServerProcess::start(
        binary(),
        &[
            ("PREDICTIVE_UNIT_PARAMETERS", params.as_str()),
            ("OXSERVE_MODEL_DOWNLOAD_DIR", dest.to_str().unwrap()),
        ],
    )
    .unwrap();
    assert!(dest.join("model.joblib").is_file());
    let (status, reply) = predict(&server, &json!({ "data": { "ndarray": [1,2,3,4] } })).await;
    assert_eq!(status, 200, "{reply}");
    let want = json!([[0.000698519453116284, 0.00366803903943576, 0.995633441507448]]);
    assert!(
        close(&reply["data"]["ndarray"], &want, 1e-9, 0.0),
        "{reply}"
    );
}

#[tokio::test]
async fn models_trained_in_rust_are_served_too() {
    let server = start(&repo_root().join("examples/iris-smartcore"), None).unwrap();
    let (status, reply) = predict(
        &server,
        &json!({"data": {"ndarray": [[5.1, 3.5, 1.4, 0.2], [6.3, 3.3, 6.0, 2.5]]}}),
    )
    .await;
    assert_eq!(status, 200, "{reply}");
    // smartcore's logistic regression has no predict_proba: the default method falls back to predict.
    assert_eq!(reply["data"], json!({"names": [], "ndarray": [0, 2]}));
    let (status, reply) = predict(&server, &json!({"data": {"ndarray": [[5.1, 3.5]]}})).await;
    assert_eq!(status, 400, "{reply}");
}

/// Starts sklearn-server on a model folder holding `bytes` as `model.pkl`; returns (exit success, stderr).
fn start_and_fail(bytes: &[u8]) -> (bool, String) {
    let dir = oxserve_tests::TempDir::new("badmodel").unwrap();
    std::fs::write(dir.0.join("model.pkl"), bytes).unwrap();
    let params = Value::Array(vec![
        json!({"name": "model_uri", "value": dir.0.display().to_string(), "type": "STRING"}),
    ])
    .to_string();
    let out = std::process::Command::new(binary())
        .env("PREDICTIVE_UNIT_PARAMETERS", params)
        .env("PREDICTIVE_UNIT_HTTP_SERVICE_PORT", "0")
        .env("PREDICTIVE_UNIT_GRPC_SERVICE_PORT", "0")
        .env("PREDICTIVE_UNIT_METRICS_SERVICE_PORT", "0")
        .env("OXSERVE_HOST", "127.0.0.1")
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn unsupported_estimators_and_hostile_pickles_fail_at_startup_with_a_clear_message() {
    // PROTO 2, GLOBAL sklearn.cluster._dbscan DBSCAN, EMPTY_TUPLE, NEWOBJ, EMPTY_DICT, BUILD, STOP.
    let dbscan = b"\x80\x02csklearn.cluster._dbscan\nDBSCAN\n)\x81}b.";
    let (ok, stderr) = start_and_fail(dbscan);
    assert!(!ok);
    assert!(
        stderr.contains("unsupported estimator `sklearn.cluster._dbscan.DBSCAN`"),
        "{stderr}"
    );
    assert!(
        stderr.contains("supported: ") && stderr.contains("LogisticRegression"),
        "{stderr}"
    );
    // GLOBAL os system, then a REDUCE that Python's pickle would run: refused before anything is called.
    let evil = b"\x80\x02cos\nsystem\nX\x02\x00\x00\x00id\x85R.";
    let (ok, stderr) = start_and_fail(evil);
    assert!(!ok);
    assert!(stderr.contains("forbidden global os.system"), "{stderr}");
    let (ok, stderr) = start_and_fail(b"\x80\x04\x95garbage");
    assert!(!ok && !stderr.contains("panicked"), "{stderr}");
}
