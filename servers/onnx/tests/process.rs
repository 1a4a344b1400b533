//! onnx-server as a real process on the committed fixtures (`crates/onnx/fixtures`): Seldon v1 REST, V2 REST and
//! gRPC predictions and metadata, start-up errors, and the shared corpus's ONNX case when `../shared` exists.
//! Needs ONNX Runtime (`scripts/fetch-onnxruntime.sh`): without it the tests skip with a note, unless
//! `OXSERVE_REQUIRE_PEERS=1`.

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

use oxserve_protocol::pb::inference as pb;
use oxserve_tests::{ServerProcess, peers_required, repo_root};
use serde_json::{Value, json};

fn binary() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_onnx-server"))
}

fn fixture(case: &str) -> PathBuf {
    repo_root().join("crates/onnx/fixtures").join(case)
}

fn expected(case: &str) -> Value {
    serde_json::from_str(&std::fs::read_to_string(fixture(case).join("expected.json")).unwrap())
        .unwrap()
}

/// The ONNX Runtime library, or `None` (skip) when it has not been fetched.
fn library() -> Option<String> {
    let lib = repo_root().join(".onnxruntime/libonnxruntime.so.1.31.1");
    if lib.is_file() {
        return Some(lib.display().to_string());
    }
    assert!(
        !peers_required(),
        "ONNX Runtime missing and OXSERVE_REQUIRE_PEERS=1: run scripts/fetch-onnxruntime.sh"
    );
    eprintln!("skipped: no ONNX Runtime library (run scripts/fetch-onnxruntime.sh)");
    None
}

fn params(model_dir: &Path) -> String {
    json!([
        {"name": "model_uri", "value": model_dir.display().to_string(), "type": "STRING"},
        {"name": "intra_op_threads", "value": "1", "type": "INT"},
    ])
    .to_string()
}

fn start(case: &str) -> Option<ServerProcess> {
    let lib = library()?;
    let params = params(&fixture(case));
    Some(
        ServerProcess::start(
            binary(),
            &[
                ("PREDICTIVE_UNIT_PARAMETERS", params.as_str()),
                ("PREDICTIVE_UNIT_ID", "mymodel"),
                ("ORT_DYLIB_PATH", lib.as_str()),
            ],
        )
        .unwrap(),
    )
}

async fn post(server: &ServerProcess, path: &str, body: &Value) -> (u16, Value) {
    let reply = oxserve_tests::http_client()
        .post(server.url(path))
        .header("Content-Type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    (reply.status().as_u16(), reply.json().await.unwrap())
}

async fn get(server: &ServerProcess, path: &str) -> (u16, Value) {
    let reply = oxserve_tests::http_client()
        .get(server.url(path))
        .send()
        .await
        .unwrap();
    (reply.status().as_u16(), reply.json().await.unwrap())
}

fn flat(v: &Value) -> Vec<f64> {
    match v {
        Value::Array(items) => items.iter().flat_map(flat).collect(),
        Value::Null => vec![f64::NAN],
        v => vec![v.as_f64().unwrap()],
    }
}

fn assert_close(what: &str, got: &[f64], want: &[f64]) {
    assert_eq!(got.len(), want.len(), "{what}: {got:?} vs {want:?}");
    for (g, w) in got.iter().zip(want) {
        assert!(
            (g - w).abs() <= 1e-5 * w.abs() + 1e-6,
            "{what}: got {g}, want {w}"
        );
    }
}

/// A fixture's input as rows of JSON numbers (`shape[0]` rows).
fn rows(input: &Value) -> Value {
    let shape: Vec<usize> = input["shape"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d.as_u64().unwrap() as usize)
        .collect();
    let data = input["data"].as_array().unwrap();
    let per_row = data.len() / shape[0];
    Value::Array(
        data.chunks(per_row)
            .map(|c| Value::Array(c.to_vec()))
            .collect(),
    )
}

#[tokio::test]
async fn seldon_rest_ndarray_answers_the_first_output() {
    let Some(server) = start("sklearn-pipeline") else {
        return;
    };
    let exp = expected("sklearn-pipeline");
    let (status, reply) = post(
        &server,
        "/api/v1.0/predictions",
        &json!({"data": {"ndarray": rows(&exp["inputs"][0])}}),
    )
    .await;
    assert_eq!(status, 200, "{reply}");
    assert_eq!(
        flat(&reply["data"]["ndarray"]),
        flat(&exp["outputs"][0]["data"]),
        "{reply}"
    );
    // one unnamed row (Seldon's 1-D form) goes to the only input
    let first: Vec<Value> = exp["inputs"][0]["data"].as_array().unwrap()[..4].to_vec();
    let (status, reply) = post(
        &server,
        "/api/v1.0/predictions",
        &json!({"data": {"ndarray": first}}),
    )
    .await;
    assert_eq!(status, 200, "{reply}");
    assert_eq!(
        flat(&reply["data"]["ndarray"]),
        vec![flat(&exp["outputs"][0]["data"])[0]]
    );
    // a wrong feature count is the client's fault
    let (status, reply) = post(
        &server,
        "/api/v1.0/predictions",
        &json!({"data": {"ndarray": [[1, 2, 3]]}}),
    )
    .await;
    assert_eq!(status, 400, "{reply}");
    assert!(reply.to_string().contains("[-1, 4]"), "{reply}");
}

/// onnx-server answers KServe's liveness at `/`; every path under `/v1/` is TF Serving's API (as KServe's own
/// TensorFlow runtime, TF Serving itself, answers V1), whose `:predict` with `instances` is KServe V1's.
#[tokio::test]
async fn kserve_v1_liveness_and_tf_servings_v1() {
    let Some(server) = start("sklearn-pipeline") else {
        return;
    };
    assert_eq!(get(&server, "/").await, (200, json!({"status": "alive"})));
    let (status, reply) = get(&server, "/v1/models/mymodel").await;
    assert_eq!(status, 200, "{reply}");
    assert!(reply["model_version_status"].is_array(), "{reply}");
    let exp = expected("sklearn-pipeline");
    let (status, reply) = post(
        &server,
        "/v1/models/mymodel:predict",
        &json!({"instances": rows(&exp["inputs"][0])}),
    )
    .await;
    assert_eq!(status, 200, "{reply}");
    assert!(reply["predictions"].is_array(), "{reply}");
}

#[tokio::test]
async fn v2_rest_two_inputs_two_outputs_and_metadata() {
    let Some(server) = start("keras-two-io") else {
        return;
    };
    let exp = expected("keras-two-io");
    let inputs: Vec<Value> = exp["inputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| json!({"name": i["name"], "datatype": i["datatype"], "shape": i["shape"], "data": i["data"]}))
        .collect();
    let (status, reply) = post(
        &server,
        "/v2/models/mymodel/infer",
        &json!({"inputs": inputs}),
    )
    .await;
    assert_eq!(status, 200, "{reply}");
    let outputs = reply["outputs"].as_array().unwrap();
    assert_eq!(outputs.len(), 2, "{reply}");
    for (got, want) in outputs.iter().zip(exp["outputs"].as_array().unwrap()) {
        assert_eq!(got["name"], want["name"]);
        assert_eq!(got["datatype"], "FP32");
        assert_eq!(got["shape"], want["shape"]);
        assert_close(
            got["name"].as_str().unwrap(),
            &flat(&got["data"]),
            &flat(&want["data"]),
        );
    }
    // one output by name
    let (status, reply) = post(
        &server,
        "/v2/models/mymodel/infer",
        &json!({"inputs": inputs, "outputs": [{"name": "logits"}]}),
    )
    .await;
    assert_eq!(status, 200, "{reply}");
    assert_eq!(reply["outputs"].as_array().unwrap().len(), 1);
    assert_eq!(reply["outputs"][0]["name"], "logits");
    // a fractional count for the int64 input
    let mut bad = inputs.clone();
    bad[1]["data"][0] = json!(1.5);
    bad[1]["datatype"] = json!("FP64");
    let (status, reply) = post(&server, "/v2/models/mymodel/infer", &json!({"inputs": bad})).await;
    assert_eq!(status, 400, "{reply}");
    assert!(
        reply["error"].as_str().unwrap().contains("counts"),
        "{reply}"
    );

    let (status, meta) = get(&server, "/v2/models/mymodel").await;
    assert_eq!(status, 200, "{meta}");
    assert_eq!(meta["platform"], oxserve_onnx::PLATFORM);
    assert_eq!(
        meta["inputs"],
        json!([
            {"name": "features", "datatype": "FP32", "shape": [-1, 4]},
            {"name": "counts", "datatype": "INT64", "shape": [-1, 3]},
        ])
    );
    assert_eq!(
        meta["outputs"],
        json!([
            {"name": "score", "datatype": "FP32", "shape": [-1, 1]},
            {"name": "logits", "datatype": "FP32", "shape": [-1, 3]},
        ])
    );
    // Seldon v1 metadata is the deployment's (metadata.yaml / MODEL_METADATA, as Seldon's wrapper), not the graph's.
    let (status, meta) = get(&server, "/api/v1.0/metadata").await;
    assert_eq!(status, 200, "{meta}");
}

#[tokio::test]
async fn v2_grpc_infer_and_metadata() {
    let Some(server) = start("keras-conv") else {
        return;
    };
    let exp = expected("keras-conv");
    let endpoint = format!("http://127.0.0.1:{}", server.grpc);
    let mut client =
        pb::grpc_inference_service_client::GrpcInferenceServiceClient::connect(endpoint)
            .await
            .unwrap();
    let input = &exp["inputs"][0];
    let request = pb::ModelInferRequest {
        model_name: "mymodel".into(),
        inputs: vec![pb::model_infer_request::InferInputTensor {
            name: "image".into(),
            datatype: "FP32".into(),
            shape: input["shape"]
                .as_array()
                .unwrap()
                .iter()
                .map(|d| d.as_i64().unwrap())
                .collect(),
            contents: Some(pb::InferTensorContents {
                fp32_contents: flat(&input["data"]).into_iter().map(|v| v as f32).collect(),
                ..Default::default()
            }),
            ..Default::default()
        }],
        ..Default::default()
    };
    let reply = client.model_infer(request).await.unwrap().into_inner();
    assert_eq!(reply.outputs.len(), 1);
    assert_eq!(reply.outputs[0].name, "probs");
    assert_eq!(reply.outputs[0].shape, vec![3, 5]);
    let got: Vec<f64> = match (
        &reply.outputs[0].contents,
        reply.raw_output_contents.first(),
    ) {
        (Some(c), _) if !c.fp32_contents.is_empty() => {
            c.fp32_contents.iter().map(|&v| f64::from(v)).collect()
        }
        (_, Some(raw)) => raw
            .chunks(4)
            .map(|b| f64::from(f32::from_le_bytes([b[0], b[1], b[2], b[3]])))
            .collect(),
        other => panic!("no contents: {other:?}"),
    };
    assert_close("probs", &got, &flat(&exp["outputs"][0]["data"]));

    let meta = client
        .model_metadata(pb::ModelMetadataRequest {
            name: "mymodel".into(),
            version: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(meta.platform, oxserve_onnx::PLATFORM);
    assert_eq!(meta.inputs.len(), 1);
    assert_eq!(
        (
            meta.inputs[0].name.as_str(),
            meta.inputs[0].datatype.as_str()
        ),
        ("image", "FP32")
    );
    assert_eq!(meta.inputs[0].shape, vec![-1, 16, 16, 3]);
    assert_eq!(meta.outputs[0].shape, vec![-1, 5]);
}

/// Runs the binary to its start-up failure and returns its exit code and output.
fn failed_start(model_dir: &Path, lib: &str) -> (Option<i32>, String) {
    let out = Command::new(binary())
        .env_clear()
        .env("PREDICTIVE_UNIT_PARAMETERS", params(model_dir))
        .env("ORT_DYLIB_PATH", lib)
        .env("OXSERVE_HOST", "127.0.0.1")
        .env("PREDICTIVE_UNIT_HTTP_SERVICE_PORT", "0")
        .env("PREDICTIVE_UNIT_GRPC_SERVICE_PORT", "0")
        .env("PREDICTIVE_UNIT_METRICS_SERVICE_PORT", "0")
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code(), text)
}

#[test]
fn start_up_errors_say_what_to_do() {
    let dir = oxserve_tests::TempDir::new("onnx-saved-model").unwrap();
    let version = dir.0.join("1");
    std::fs::create_dir_all(version.join("variables")).unwrap();
    std::fs::write(version.join("saved_model.pb"), b"").unwrap();
    let (code, text) = failed_start(&dir.0, "/nonexistent/libonnxruntime.so");
    assert_eq!(code, Some(1), "{text}");
    let v = version.display();
    assert!(
        text.contains(&format!(
            "python -m tf2onnx.convert --saved-model {v} --output {v}/model.onnx"
        )),
        "{text}"
    );

    let (code, text) = failed_start(&fixture("dtypes"), "/nonexistent/libonnxruntime.so");
    assert_eq!(code, Some(1), "{text}");
    assert!(
        text.contains("ORT_DYLIB_PATH") && text.contains("scripts/fetch-onnxruntime.sh"),
        "{text}"
    );
}

#[tokio::test]
async fn shared_corpus_onnx_case_over_seldon_rest() {
    let dir = repo_root().join("../shared/conformance/public/onnx-rf-iris");
    if !dir.is_dir() {
        eprintln!("skipped: {} is absent", dir.display());
        return;
    }
    let Some(lib) = library() else { return };
    let case: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("case.json")).unwrap()).unwrap();
    let params = params(&dir);
    let server = ServerProcess::start(
        binary(),
        &[
            ("PREDICTIVE_UNIT_PARAMETERS", params.as_str()),
            ("ORT_DYLIB_PATH", lib.as_str()),
        ],
    )
    .unwrap();
    let (status, reply) = post(
        &server,
        "/api/v1.0/predictions",
        &json!({"data": {"ndarray": case["X"]}}),
    )
    .await;
    assert_eq!(status, 200, "{reply}");
    // Seldon answers the first graph output: skl2onnx's `label`.
    assert_eq!(
        flat(&reply["data"]["ndarray"]),
        flat(&case["onnx_outputs"]["label"])
    );
    let (status, reply) = post(
        &server,
        "/v2/models/model/infer",
        &json!({"inputs": [{"name": "X", "datatype": "FP64", "shape": [6, 4], "data": flat(&case["X"])}], "outputs": [{"name": "probabilities"}]}),
    )
    .await;
    assert_eq!(status, 200, "{reply}");
    let (atol, rtol) = (
        case["atol"].as_f64().unwrap(),
        case["rtol"].as_f64().unwrap(),
    );
    for (g, w) in flat(&reply["outputs"][0]["data"])
        .iter()
        .zip(flat(&case["onnx_outputs"]["probabilities"]))
    {
        assert!((g - w).abs() <= atol + rtol * w.abs(), "{g} vs {w}");
    }
}

#[tokio::test]
async fn tf_serving_rest_predict_rows_and_columns() {
    let Some(server) = start("keras-two-io") else {
        return;
    };
    let exp = expected("keras-two-io");
    let (features, counts) = (rows(&exp["inputs"][0]), rows(&exp["inputs"][1]));
    let instances: Vec<Value> = features
        .as_array()
        .unwrap()
        .iter()
        .zip(counts.as_array().unwrap())
        .map(|(f, c)| json!({"features": f, "counts": c}))
        .collect();
    let (status, reply) = post(
        &server,
        "/v1/models/mymodel:predict",
        &json!({"instances": instances}),
    )
    .await;
    assert_eq!(status, 200, "{reply}");
    let predictions = reply["predictions"].as_array().unwrap();
    assert_eq!(predictions.len(), instances.len());
    for name in ["score", "logits"] {
        let got: Vec<f64> = predictions.iter().flat_map(|p| flat(&p[name])).collect();
        let want = exp["outputs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|o| o["name"] == name)
            .unwrap();
        assert_close(name, &got, &flat(&want["data"]));
    }
    let (status, reply) = post(
        &server,
        "/v1/models/mymodel:predict",
        &json!({"inputs": {"features": features, "counts": counts}}),
    )
    .await;
    assert_eq!(status, 200, "{reply}");
    assert_close(
        "logits",
        &flat(&reply["outputs"]["logits"]),
        &flat(&exp["outputs"][1]["data"]),
    );
    let (status, meta) = get(&server, "/v1/models/mymodel/metadata").await;
    assert_eq!(status, 200, "{meta}");
    let sig = &meta["metadata"]["signature_def"]["signature_def"]["serving_default"];
    assert_eq!(sig["inputs"]["counts"]["dtype"], "DT_INT64", "{meta}");
    assert_eq!(sig["outputs"]["logits"]["dtype"], "DT_FLOAT", "{meta}");
}

/// TENSORFLOW_SERVER under Seldon's default `seldon` protocol, as the operator runs the pod: a TF Serving sidecar
/// (`--port=… --rest_api_port=… --model_name=<node> --model_base_path=<models>`, no Seldon env) and the node
/// container with `rest_endpoint`/`model_name` parameters and no model, both onnx-server. The seed-style
/// Seldon request to the node container is answered by the sidecar's model.
#[tokio::test(flavor = "multi_thread")]
async fn seldon_protocol_pod_proxy_and_tf_serving_sidecar() {
    let Some(lib) = library() else { return };
    let case = "sklearn-pipeline";
    let base = format!("--model_base_path={}", fixture(case).display());
    let sidecar = ServerProcess::start_with_args(
        binary(),
        &["--port=0", "--model_name=classifier", &base],
        &[
            ("PREDICTIVE_UNIT_HTTP_SERVICE_PORT", "0"),
            ("ORT_DYLIB_PATH", lib.as_str()),
        ],
    )
    .unwrap();
    let endpoint = format!("http://127.0.0.1:{}", sidecar.http);
    let params = json!([
        {"name": "signature_name", "value": "serving_default", "type": "STRING"},
        {"name": "rest_endpoint", "value": endpoint, "type": "STRING"},
        {"name": "grpc_endpoint", "value": format!("127.0.0.1:{}", sidecar.grpc), "type": "STRING"},
        {"name": "model_name", "value": "classifier", "type": "STRING"},
    ])
    .to_string();
    // No ORT_DYLIB_PATH: the proxy never loads ONNX Runtime.
    let proxy = ServerProcess::start(
        binary(),
        &[
            ("PREDICTIVE_UNIT_PARAMETERS", params.as_str()),
            ("PREDICTIVE_UNIT_ID", "classifier"),
        ],
    )
    .unwrap();
    let want = expected(case);
    let x = &want["inputs"][0];
    let rows: Vec<Value> = x["data"]
        .as_array()
        .unwrap()
        .chunks(4)
        .map(|c| Value::Array(c.to_vec()))
        .collect();
    let (status, reply) = post(
        &proxy,
        "/api/v1.0/predictions",
        &json!({"data": {"ndarray": rows}}),
    )
    .await;
    assert_eq!(status, 200, "{reply}");
    // The signature's first output by name (TF Serving sorts aliases): `label`.
    let label = want["outputs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["name"] == "label")
        .unwrap();
    assert_close(
        "label through the proxy",
        &flat(&reply["data"]["ndarray"]),
        &flat(&label["data"]),
    );
    // V2 on the proxy names the sidecar's outputs and returns the probabilities.
    let (status, reply) = post(
        &proxy,
        "/v2/models/classifier/infer",
        &json!({"inputs": [{"name": "X", "shape": x["shape"], "datatype": "FP64", "data": x["data"]}],
                "outputs": [{"name": "probabilities"}]}),
    )
    .await;
    assert_eq!(status, 200, "{reply}");
    let probabilities = want["outputs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["name"] == "probabilities")
        .unwrap();
    assert_close(
        "probabilities through the proxy",
        &flat(&reply["outputs"][0]["data"]),
        &flat(&probabilities["data"]),
    );
    // The sidecar's metrics are on its REST port (no third port to clash with the proxy's).
    assert_eq!(sidecar.metrics, sidecar.http);
    proxy.terminate().unwrap();
    sidecar.terminate().unwrap();
}

/// Started as `tensorflow_model_server` is (Seldon's TF Serving sidecar: flags, no Seldon env): the flags pick
/// the ports and the model, and metrics move to the REST port at TF Serving's path — a third port would clash
/// with the proxy container's in the same pod. (TF Serving's flags are onnx-server's own since they left the
/// runtime; this test moved here from the runtime's process tests.)
#[tokio::test(flavor = "multi_thread")]
async fn tf_serving_command_line_serves_with_metrics_on_the_rest_port() {
    let Some(lib) = library() else { return };
    let case = "sklearn-pipeline";
    let base = format!("--model_base_path={}", fixture(case).display());
    let server = ServerProcess::start_with_args(
        binary(),
        &[
            "--port=0",
            "--model_name=half_plus_two",
            &base,
            "--rest_api_timeout_in_ms=60000",
        ],
        &[
            ("PREDICTIVE_UNIT_HTTP_SERVICE_PORT", "0"),
            ("ORT_DYLIB_PATH", lib.as_str()),
        ],
    )
    .unwrap();
    assert_eq!(server.metrics, server.http, "metrics share the REST port");
    let want = expected(case);
    let x = &want["inputs"][0];
    let (status, reply) = post(
        &server,
        "/v2/models/half_plus_two/infer",
        &json!({"inputs": [{"name": "X", "shape": x["shape"], "datatype": "FP64", "data": x["data"]}]}),
    )
    .await;
    assert_eq!(status, 200, "{reply}");
    assert_eq!(reply["model_name"], "half_plus_two", "{reply}");
    let metrics = oxserve_tests::http_client()
        .get(server.url("/monitoring/prometheus/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(metrics.status(), 200);
    let text = metrics.text().await.unwrap();
    assert!(
        text.contains(
            r#"oxserve_request_duration_seconds_count{protocol="v2",route="/v2/models/{name}/infer"#
        ),
        "{text}"
    );
    server.terminate().unwrap();
}

/// `--models-dir` beside its own model: a second ONNX model (`oxserve.onnx`) loads by name over the repository
/// REST API and answers V2 by that name.
#[tokio::test]
async fn a_second_model_loads_by_name_over_the_repository_api() {
    let Some(lib) = library() else {
        return;
    };
    let exp = expected("sklearn-pipeline");
    let reply = oxserve_tests::second_model_over_repository(
        binary(),
        &fixture("keras-two-io"),
        &fixture("sklearn-pipeline"),
        "iris-onnx",
        Some(json!({"name": "iris-onnx", "implementation": "oxserve.onnx"})),
        &[
            ("PREDICTIVE_UNIT_ID", "mymodel"),
            ("ORT_DYLIB_PATH", lib.as_str()),
        ],
        &json!({"inputs": [exp["inputs"][0]]}),
    )
    .await
    .unwrap();
    assert_eq!(reply["model_name"], "iris-onnx", "{reply}");
    assert_eq!(
        reply["outputs"][0]["data"], exp["outputs"][0]["data"],
        "{reply}"
    );
}
