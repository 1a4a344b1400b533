//! `oxserve start DIR` with real models of every family: Seldon Core 2's agent sequence over gRPC on the seed's
//! iris in the agent's `<model>_<ver>/1/` layout, XGBoost and LightGBM by `implementation` and by their files,
//! ONNX without ONNX Runtime failing alone with a clear reason, an MLflow model served and a custom pyfunc and
//! custom Python classes failing their model only.

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use oxserve_protocol::pb::inference as pb;
use oxserve_tests::{ServerProcess, TempDir, repo_root};
use pb::grpc_inference_service_client::GrpcInferenceServiceClient;

fn binary() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_oxserve"))
}

fn put(
    dir: &Path,
    rel: &str,
    source: &Path,
    file: &str,
    settings: Option<serde_json::Value>,
) -> PathBuf {
    let folder = dir.join(rel);
    std::fs::create_dir_all(&folder).unwrap();
    std::fs::copy(source, folder.join(file)).unwrap();
    if let Some(settings) = settings {
        std::fs::write(folder.join("model-settings.json"), settings.to_string()).unwrap();
    }
    folder
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &to.join(entry.file_name()));
        } else {
            std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
        }
    }
}

fn start(models: &Path, at_startup: bool) -> ServerProcess {
    let dir = models.display().to_string();
    let at_startup = at_startup.to_string();
    ServerProcess::start_with_args(
        binary(),
        &["start", dir.as_str()],
        &[
            ("PREDICTIVE_UNIT_HTTP_SERVICE_PORT", "0"),
            ("PREDICTIVE_UNIT_GRPC_SERVICE_PORT", "0"),
            ("PREDICTIVE_UNIT_METRICS_SERVICE_PORT", "0"),
            ("MLSERVER_LOAD_MODELS_AT_STARTUP", at_startup.as_str()),
            // No ONNX Runtime: ONNX models fail alone.
            ("ORT_DYLIB_PATH", "/nonexistent/libonnxruntime.so"),
        ],
    )
    .unwrap()
}

fn iris_request(name: &str) -> pb::ModelInferRequest {
    pb::ModelInferRequest {
        model_name: name.into(),
        inputs: vec![pb::model_infer_request::InferInputTensor {
            name: "predict".into(),
            datatype: "FP64".into(),
            shape: vec![1, 4],
            contents: Some(pb::InferTensorContents {
                fp64_contents: vec![5.1, 3.5, 1.4, 0.2],
                ..Default::default()
            }),
            ..Default::default()
        }],
        ..Default::default()
    }
}

#[tokio::test]
async fn seldon_core_2_agent_sequence_on_real_models() {
    let root = repo_root();
    let models = TempDir::new("oxserve-models").unwrap();
    let m = &models.0;
    // The agent's layout and its written settings (name `<model>_<ver>`, uri found by extension).
    put(
        m,
        "iris_1/1",
        &root.join("examples/iris/model.joblib"),
        "model.joblib",
        Some(serde_json::json!({
            "name": "iris_1", "implementation": "mlserver_sklearn.SKLearnModel",
            "parameters": {"uri": "./model.joblib", "version": "1"}
        })),
    );
    let xgb = root.join("crates/xgboost/fixtures/cases/v3/binary-logistic/model.json");
    put(m, "xgb_2/1", &xgb, "model.json", None);
    put(
        m,
        "lgb",
        &root.join("crates/lightgbm/fixtures/cases/v4/binary/model.txt"),
        "model.txt",
        Some(
            serde_json::json!({"name": "lgb", "implementation": "mlserver_lightgbm.LightGBMModel"}),
        ),
    );
    put(
        m,
        "onnx",
        &root.join("crates/onnx/fixtures/dtypes/model.onnx"),
        "model.onnx",
        Some(serde_json::json!({"name": "onnx", "implementation": "oxserve.onnx"})),
    );
    // An MLflow model folder (skops, MLflow 3's default) and a custom pyfunc, both under MLServer's MLflow runtime.
    let mlflow_cases = root.join("crates/mlflow/fixtures/cases");
    for (name, case) in [
        ("mlflow", "sklearn_default"),
        ("mlflow_custom", "custom_pyfunc"),
        ("mlflow_hf", "transformers_text_classification"),
        ("mlflow_onnx", "onnx_regressor"),
    ] {
        let folder = m.join(name);
        copy_dir(&mlflow_cases.join(case), &folder);
        std::fs::write(
            folder.join("model-settings.json"),
            serde_json::json!({"name": name, "implementation": "mlserver_mlflow.MLflowRuntime"})
                .to_string(),
        )
        .unwrap();
    }
    put(
        m,
        "custom",
        &root.join("examples/iris/model.joblib"),
        "model.joblib",
        Some(serde_json::json!({"name": "custom", "implementation": "models.MyCustomRuntime"})),
    );
    let server = start(m, true);
    let mut client =
        GrpcInferenceServiceClient::connect(format!("http://127.0.0.1:{}", server.grpc))
            .await
            .unwrap();
    let index = client
        .repository_index(pb::RepositoryIndexRequest::default())
        .await
        .unwrap()
        .into_inner()
        .models;
    let row = |name: &str| index.iter().find(|r| r.name == name).unwrap().clone();
    for name in ["iris_1", "xgb_2", "lgb"] {
        assert_eq!(row(name).state, "READY", "{:?}", row(name));
    }
    assert_eq!(row("onnx").state, "UNAVAILABLE");
    assert!(
        row("onnx").reason.contains("ONNX Runtime"),
        "{:?}",
        row("onnx")
    );
    assert_eq!(row("mlflow").state, "READY", "{:?}", row("mlflow"));
    // The transformers flavour runs on candle here (mlflow-server's static image leaves it out); the onnx
    // flavour needs ONNX Runtime, which this test withholds.
    assert_eq!(row("mlflow_hf").state, "READY", "{:?}", row("mlflow_hf"));
    assert_eq!(row("mlflow_onnx").state, "UNAVAILABLE");
    assert!(
        row("mlflow_onnx").reason.contains("ONNX Runtime"),
        "{:?}",
        row("mlflow_onnx")
    );
    assert_eq!(row("mlflow_custom").state, "UNAVAILABLE");
    assert!(
        row("mlflow_custom").reason.contains("python_function"),
        "{:?}",
        row("mlflow_custom")
    );
    assert!(
        row("custom").reason.contains("custom Python code"),
        "{:?}",
        row("custom")
    );
    // The agent unloads everything READY at start-up, then loads what the scheduler places.
    for r in index
        .iter()
        .filter(|r| r.state == "READY" || r.state == "LOADING")
    {
        client
            .repository_model_unload(pb::RepositoryModelUnloadRequest {
                model_name: r.name.clone(),
                ..Default::default()
            })
            .await
            .unwrap();
    }
    client
        .repository_model_load(pb::RepositoryModelLoadRequest {
            model_name: "iris_1".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    let reply = client
        .model_infer(iris_request("iris_1"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(reply.model_name, "iris_1");
    assert_eq!(reply.outputs.len(), 1, "{reply:?}");
    client
        .repository_model_unload(pb::RepositoryModelUnloadRequest {
            model_name: "iris_1".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    let gone = client
        .model_infer(iris_request("iris_1"))
        .await
        .unwrap_err();
    assert_eq!(gone.code(), tonic::Code::NotFound);
    // XGBoost found by its files alone, loaded over REST (KServe's agent).
    let http = oxserve_tests::http_client();
    let load = http
        .post(server.url("/v2/repository/models/xgb_2/load"))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(load.status(), 200);
    let infer = http
        .post(server.url("/v2/models/xgb_2/infer"))
        .json(&serde_json::json!({
            "inputs": [{"name": "x", "shape": [1, 5], "datatype": "FP64", "data": [0.1, 0.2, 0.3, 0.4, 0.5]}]
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(infer.status(), 200, "{}", infer.text().await.unwrap());
    // The MLflow model, loaded again over REST, answers what `mlflow.pyfunc` predicted for the fixture's rows.
    let load = http
        .post(server.url("/v2/repository/models/mlflow/load"))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(load.status(), 200);
    let expected: serde_json::Value = serde_json::from_slice(
        &std::fs::read(root.join("crates/mlflow/fixtures/cases/sklearn_default.expected.json"))
            .unwrap(),
    )
    .unwrap();
    let rows = expected["rows"].as_array().unwrap();
    let data: Vec<f64> = rows
        .iter()
        .flat_map(|r| r.as_array().unwrap().iter().map(|v| v.as_f64().unwrap()))
        .collect();
    let infer: serde_json::Value = http
        .post(server.url("/v2/models/mlflow/infer"))
        .json(&serde_json::json!({
            "inputs": [{"name": "x", "shape": [rows.len(), 4], "datatype": "FP64", "data": data}]
        }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let got: Vec<f64> = infer["outputs"][0]["data"]
        .as_array()
        .unwrap_or_else(|| panic!("{infer}"))
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    let want: Vec<f64> = expected["predict"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    assert_eq!(got, want, "{infer}");
    // The transformers text classifier answers pyfunc's labels for the fixture's texts (V2, one BYTES column).
    let load = http
        .post(server.url("/v2/repository/models/mlflow_hf/load"))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(load.status(), 200);
    let expected: serde_json::Value =
        serde_json::from_slice(
            &std::fs::read(root.join(
                "crates/mlflow/fixtures/cases/transformers_text_classification.expected.json",
            ))
            .unwrap(),
        )
        .unwrap();
    let texts: Vec<serde_json::Value> = expected["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r[0].clone())
        .collect();
    let infer: serde_json::Value = http
        .post(server.url("/v2/models/mlflow_hf/infer"))
        .json(&serde_json::json!({
            "inputs": [{"name": "text", "shape": [texts.len()], "datatype": "BYTES", "data": texts}],
            "outputs": [{"name": "label"}]
        }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let want: Vec<serde_json::Value> = expected["predict"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["label"].clone())
        .collect();
    assert_eq!(
        infer["outputs"][0]["data"],
        serde_json::Value::Array(want),
        "{infer}"
    );
}

/// NVIDIA's tritonclient (`tests/peers/triton_repository.py`, the peers' `.venv-triton`) drives the repository:
/// HTTP and gRPC index, load, `is_model_ready`, infer by name, unload, and the errors for unknown names.
#[test]
fn tritonclient_repository_calls_over_http_and_grpc() {
    let root = repo_root();
    let Some(python) = oxserve_tests::peers_python(".venv-triton") else {
        assert!(
            !oxserve_tests::peers_required(),
            ".venv-triton missing: run scripts/install-peers.sh"
        );
        eprintln!("SKIPPED: .venv-triton not installed; run scripts/install-peers.sh");
        return;
    };
    let models = TempDir::new("oxserve-triton").unwrap();
    put(
        &models.0,
        "iris",
        &root.join("examples/iris/model.joblib"),
        "model.joblib",
        Some(serde_json::json!({
            "name": "iris", "implementation": "mlserver_sklearn.SKLearnModel",
            "parameters": {"uri": "./model.joblib", "version": "v0.1.0"}
        })),
    );
    put(
        &models.0,
        "xgb",
        &root.join("crates/xgboost/fixtures/cases/v3/binary-logistic/model.json"),
        "model.json",
        None,
    );
    let server = start(&models.0, false);
    let out = std::process::Command::new(python)
        .arg(root.join("tests/peers/triton_repository.py"))
        .args([server.http.to_string(), server.grpc.to_string()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let unavailable = serde_json::json!({"iris": "UNAVAILABLE", "xgb": "UNAVAILABLE"});
    assert_eq!(got["http_index_before"], unavailable, "{got}");
    assert_eq!(got["http_ready_after_load"], true, "{got}");
    assert_eq!(
        got["http_index_loaded"],
        serde_json::json!({"iris": "READY", "xgb": "UNAVAILABLE"}),
        "{got}"
    );
    assert_eq!(got["http_ready_after_unload"], false, "{got}");
    for key in ["http_infer_unloaded", "http_load_unknown"] {
        let message = got[key].as_str().unwrap();
        assert!(message.contains("not found"), "{key}: {got}");
    }
    assert_eq!(got["grpc_ready"], serde_json::json!([true, true]), "{got}");
    assert_eq!(
        got["grpc_index"],
        serde_json::json!({"iris": "READY", "xgb": "READY"}),
        "{got}"
    );
    // The seed's iris answers class probabilities: a setosa and a virginica row, over both transports alike.
    assert_eq!(got["http_iris"], got["grpc_iris"], "{got}");
    let argmax = |row: &serde_json::Value| {
        let p: Vec<f64> = row
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        assert!((p.iter().sum::<f64>() - 1.0).abs() < 1e-9, "{p:?}");
        (0..p.len()).max_by(|&a, &b| p[a].total_cmp(&p[b])).unwrap()
    };
    let rows = got["http_iris"].as_array().unwrap();
    assert_eq!(rows.iter().map(argmax).collect::<Vec<_>>(), vec![0, 2]);
    let xgb = got["grpc_xgb"].as_array().unwrap();
    assert_eq!(xgb.len(), 1, "{got}");
    let p = xgb[0].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&p), "{got}");
    assert!(
        got["grpc_ready_after_unload"]
            .as_str()
            .unwrap()
            .contains("NOT_FOUND"),
        "{got}"
    );
    assert!(
        got["grpc_unload_unknown"]
            .as_str()
            .unwrap()
            .contains("not loaded"),
        "{got}"
    );
}
