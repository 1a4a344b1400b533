//! KServe's quickstart against sklearn-server started the way oxserve's ClusterServingRuntime starts it (the
//! container's `args` and `env` from `images/k8s/kserve-clusterservingruntime.yaml`, with the model folder and the
//! ports KServe would fill in): the quickstart's request and response verbatim, the V1 routes, `PREDICT_PROBA`, and
//! KServe's own Python client when its venv is installed.

#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::Command;

use oxserve_tests::{ServerProcess, peers_python, peers_required, repo_root};
use serde_json::{Value, json};

/// The request of KServe's quickstart (`iris-input.json`).
const QUICKSTART: &str = r#"{"instances": [[6.8, 2.8, 4.8, 1.4], [6.0, 3.4, 4.5, 1.6]]}"#;

/// KServe's quickstart model (`svm.SVC(gamma='scale')` on iris, `examples/sklearn-iris-svm/train.py`).
const QUICKSTART_MODEL: &str = "examples/sklearn-iris-svm";
/// The seed's iris model (one-vs-rest logistic regression: it has `predict_proba`).
const SEED_MODEL: &str = "examples/iris";

/// The ClusterServingRuntime's container: its `args` (KServe's `{{.Name}}` → `name`, `/mnt/models` → `model`, a
/// folder of the repository, ports → 0 so the test picks free ones) and its `env`.
fn runtime_command(name: &str, model: &str) -> (Vec<String>, Vec<(String, String)>) {
    let text =
        std::fs::read_to_string(repo_root().join("images/k8s/kserve-clusterservingruntime.yaml"))
            .unwrap();
    let runtime: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
    let container = &runtime["spec"]["containers"][0];
    let model_dir = repo_root().join(model).display().to_string();
    let args = container["args"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|a| {
            let a = a.as_str().unwrap().replace("{{.Name}}", name);
            match a.split_once('=') {
                Some(("--model_dir", "/mnt/models")) => format!("--model_dir={model_dir}"),
                Some(("--http_port" | "--grpc_port", _)) => {
                    format!("{}=0", a.split('=').next().unwrap())
                }
                _ => a,
            }
        })
        .collect();
    let env = container["env"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|e| {
            let name = e["name"].as_str().unwrap().to_string();
            let value = e["value"].as_str().unwrap().to_string();
            // Ports: free ones (the test's), as the runtime's own are fixed.
            let value = if name.ends_with("_PORT") {
                "0".to_string()
            } else {
                value
            };
            (name, value)
        })
        .collect();
    (args, env)
}

fn start(name: &str, model: &str, extra_env: &[(&str, &str)]) -> ServerProcess {
    let (args, env) = runtime_command(name, model);
    assert!(
        args.iter().any(|a| a == &format!("--model_name={name}")),
        "{args:?}"
    );
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    env.extend_from_slice(extra_env);
    ServerProcess::start_with_args(Path::new(env!("CARGO_BIN_EXE_sklearn-server")), &args, &env)
        .unwrap()
}

async fn call(
    server: &ServerProcess,
    method: reqwest::Method,
    path: &str,
    body: &str,
) -> (u16, Value) {
    let reply = oxserve_tests::http_client()
        .request(method, server.url(path))
        .header("Content-Type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    let status = reply.status().as_u16();
    (status, reply.json().await.unwrap())
}

/// KServe's quickstart request to the model `name`.
async fn quickstart(server: &ServerProcess, name: &str) -> (u16, Value) {
    let path = format!("/v1/models/{name}:predict");
    call(server, reqwest::Method::POST, &path, QUICKSTART).await
}

#[tokio::test]
async fn kserve_quickstart_from_the_cluster_serving_runtime() {
    let server = start("sklearn-iris", QUICKSTART_MODEL, &[]);
    // `curl -H "Content-Type: application/json" http://${INGRESS}/v1/models/sklearn-iris:predict -d @./iris-input.json`
    let (status, reply) = quickstart(&server, "sklearn-iris").await;
    assert_eq!((status, reply), (200, json!({"predictions": [1, 1]})));
    assert_eq!(
        call(&server, reqwest::Method::GET, "/v1/models/sklearn-iris", "").await,
        (200, json!({"name": "sklearn-iris", "ready": true}))
    );
    assert_eq!(
        call(&server, reqwest::Method::GET, "/v1/models", "").await,
        (200, json!({"models": ["sklearn-iris"]}))
    );
    assert_eq!(
        call(&server, reqwest::Method::GET, "/", "").await,
        (200, json!({"status": "alive"}))
    );
    // The same model on V2 under the same name (the runtime lists v2 too).
    let (status, v2) = call(
        &server,
        reqwest::Method::GET,
        "/v2/models/sklearn-iris/ready",
        "",
    )
    .await;
    assert_eq!((status, &v2["ready"]), (200, &json!(true)), "{v2}");
    // Metrics where the runtime's annotations say.
    let metrics = oxserve_tests::http_client()
        .get(format!("http://127.0.0.1:{}/metrics", server.metrics))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(metrics.contains(r#"protocol="kserve_v1""#), "{metrics}");
}

#[tokio::test]
async fn predict_proba_env_and_errors() {
    // The seed's model answers `predict` by default on V1 (whatever Seldon's `method` default), and
    // `predict_proba` under PREDICT_PROBA=true (any case, as KServe lower-cases it).
    let plain = start("iris", SEED_MODEL, &[]);
    let (status, labels) = quickstart(&plain, "iris").await;
    assert_eq!((status, &labels), (200, &json!({"predictions": [1, 2]})));
    let server = start("sklearn-iris", SEED_MODEL, &[("PREDICT_PROBA", "True")]);
    let (status, reply) = quickstart(&server, "sklearn-iris").await;
    assert_eq!(status, 200, "{reply}");
    let rows = reply["predictions"].as_array().unwrap();
    assert_eq!(rows.len(), 2);
    for (row, label) in rows.iter().zip([1, 2]) {
        let p: Vec<f64> = row
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        assert_eq!(p.len(), 3, "{reply}");
        assert!((p.iter().sum::<f64>() - 1.0).abs() < 1e-9, "{reply}");
        let argmax = (0..3).fold(0, |b, i| if p[i] > p[b] { i } else { b });
        assert_eq!(argmax, label, "{reply}");
    }
    // A model without `predict_proba` (KServe's SVC) answers `predict` under PREDICT_PROBA=true, as KServe's
    // `hasattr` check does.
    let svc = start(
        "sklearn-iris",
        QUICKSTART_MODEL,
        &[("PREDICT_PROBA", "true")],
    );
    assert_eq!(
        quickstart(&svc, "sklearn-iris").await,
        (200, json!({"predictions": [1, 1]}))
    );
    let (status, reply) = call(
        &server,
        reqwest::Method::POST,
        "/v1/models/sklearn-iris:predict",
        r#"{"instances": [[1, 2, 3]]}"#,
    )
    .await;
    assert_eq!(status, 400, "{reply}");
    assert!(reply["error"].is_string(), "{reply}");
    assert_eq!(
        call(
            &server,
            reqwest::Method::POST,
            "/v1/models/sklearn-iris:explain",
            QUICKSTART
        )
        .await,
        (501, json!({"error": "Could not find explainer_host."}))
    );
    assert_eq!(
        quickstart(&server, "iris").await,
        (
            404,
            json!({"error": "Model with name iris does not exist."})
        )
    );
}

/// KServe's own Python SDK (`kserve` on PyPI, `InferenceRESTClient`) over V1 and V2, from `.venv-kserve`
/// (`scripts/install-peers.sh`).
#[test]
fn kserve_python_client_over_v1_and_v2() {
    let Some(python) = peers_python(".venv-kserve") else {
        assert!(
            !peers_required(),
            ".venv-kserve missing: run scripts/install-peers.sh"
        );
        eprintln!("SKIPPED: .venv-kserve not installed; run scripts/install-peers.sh");
        return;
    };
    let server = start("sklearn-iris", QUICKSTART_MODEL, &[]);
    let out = Command::new(python)
        .arg(repo_root().join("tests/peers/kserve_client.py"))
        .args([server.http.to_string(), "sklearn-iris".to_string()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "kserve_client.py failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let got: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(got["v1_live"], json!(true), "{got}");
    assert_eq!(got["v1_ready"], json!(true), "{got}");
    assert_eq!(got["v1_predict"], json!({"predictions": [1, 1]}), "{got}");
    assert_eq!(got["v2_ready"], json!(true), "{got}");
    assert_eq!(got["v2_predict"], json!([1, 1]), "{got}");
    assert!(got["v1_missing"].as_str().unwrap().contains("404"), "{got}");
}
