//! candle-server as a real process: V2 REST and gRPC with BYTES inputs (as MLServer's Hugging Face runtime takes
//! them), Seldon `strData` / `jsonData` / string `ndarray`, the TEI-style `/embed` route, and adaptive batching,
//! on the committed tiny fixtures (outputs from transformers / sentence-transformers) and on all-MiniLM-L6-v2
//! when `scripts/fetch-minilm.sh` has installed it.

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use oxserve_protocol::pb::inference::grpc_inference_service_client::GrpcInferenceServiceClient;
use oxserve_protocol::pb::inference::model_infer_request::InferInputTensor;
use oxserve_protocol::pb::inference::{InferTensorContents, ModelInferRequest};
use oxserve_tests::{ServerProcess, http_client};
use serde_json::{Value, json};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../crates/candle/fixtures")
}

fn read(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn start(model_dir: &Path, extra: &[Value], env: &[(&str, &str)]) -> ServerProcess {
    let mut params = vec![
        json!({"name": "model_uri", "value": model_dir.display().to_string(), "type": "STRING"}),
    ];
    params.extend(extra.iter().cloned());
    let params = Value::Array(params).to_string();
    let mut all = vec![
        ("PREDICTIVE_UNIT_PARAMETERS", params.as_str()),
        ("PREDICTIVE_UNIT_ID", "text"),
    ];
    all.extend_from_slice(env);
    ServerProcess::start(Path::new(env!("CARGO_BIN_EXE_candle-server")), &all).unwrap()
}

async fn post(server: &ServerProcess, path: &str, body: &Value) -> (u16, Value) {
    let reply = http_client()
        .post(server.url(path))
        .header("Content-Type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    let status = reply.status().as_u16();
    let text = reply.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

fn numbers(v: &Value) -> Vec<f64> {
    match v {
        Value::Array(items) => items.iter().flat_map(numbers).collect(),
        v => vec![v.as_f64().unwrap()],
    }
}

fn cosine(a: &[f64], b: &[f64]) -> f64 {
    let dot: f64 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let na: f64 = a.iter().map(|x| x * x).sum::<f64>().sqrt();
    let nb: f64 = b.iter().map(|x| x * x).sum::<f64>().sqrt();
    dot / (na * nb)
}

fn embed_cases() -> Vec<(String, Vec<f64>)> {
    read(&fixtures().join("tiny-bert-embed-cls-max/expected.json"))["cases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["text"].as_str().unwrap().to_string(),
                numbers(&c["embedding"]),
            )
        })
        .collect()
}

fn assert_rows(got: &[f64], cases: &[(String, Vec<f64>)]) {
    let dim = cases[0].1.len();
    assert_eq!(got.len(), dim * cases.len());
    for (row, (text, want)) in got.chunks(dim).zip(cases) {
        let c = cosine(row, want);
        assert!(c >= 0.9999, "{text:?}: cosine {c}");
    }
}

#[tokio::test]
async fn v2_rest_bytes_embeddings_in_one_padded_batch() {
    let server = start(&fixtures().join("tiny-bert-embed-cls-max"), &[], &[]);
    let cases = embed_cases();
    let texts: Vec<&str> = cases.iter().map(|(t, _)| t.as_str()).collect();
    let body = json!({"inputs": [{"name": "args", "shape": [texts.len()], "datatype": "BYTES", "data": texts}]});
    let (status, reply) = post(&server, "/v2/models/text/infer", &body).await;
    assert_eq!(status, 200, "{reply}");
    let out = &reply["outputs"][0];
    assert_eq!(out["name"], "embedding");
    assert_eq!(out["datatype"], "FP32");
    assert_eq!(out["shape"], json!([texts.len(), 64]));
    assert_rows(&numbers(&out["data"]), &cases);
    // Metadata says BYTES in.
    let meta: Value = http_client()
        .get(server.url("/v2/models/text"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(meta["inputs"][0]["datatype"], "BYTES", "{meta}");
    // Numbers to a text model: a 400 that says why.
    let body =
        json!({"inputs": [{"name": "args", "shape": [2], "datatype": "FP32", "data": [1.0, 2.0]}]});
    let (status, reply) = post(&server, "/v2/models/text/infer", &body).await;
    assert_eq!(status, 400, "{reply}");
    assert!(
        reply["error"].as_str().unwrap().contains("BYTES"),
        "{reply}"
    );
}

#[tokio::test]
async fn v2_grpc_bytes_classification() {
    let server = start(&fixtures().join("tiny-bert-cls"), &[], &[]);
    let expected = read(&fixtures().join("tiny-bert-cls/expected.json"));
    let cases = expected["cases"].as_array().unwrap();
    let mut client =
        GrpcInferenceServiceClient::connect(format!("http://127.0.0.1:{}", server.grpc))
            .await
            .unwrap();
    let request = ModelInferRequest {
        model_name: "text".into(),
        inputs: vec![InferInputTensor {
            name: "args".into(),
            datatype: "BYTES".into(),
            shape: vec![cases.len() as i64, 1],
            contents: Some(InferTensorContents {
                bytes_contents: cases
                    .iter()
                    .map(|c| c["text"].as_str().unwrap().as_bytes().to_vec())
                    .collect(),
                ..Default::default()
            }),
            ..Default::default()
        }],
        ..Default::default()
    };
    let reply = client.model_infer(request).await.unwrap().into_inner();
    let scores = reply
        .outputs
        .iter()
        .position(|o| o.name == "scores")
        .unwrap();
    let labels = reply
        .outputs
        .iter()
        .position(|o| o.name == "label")
        .unwrap();
    assert_eq!(reply.outputs[scores].shape, vec![cases.len() as i64, 3]);
    let values: Vec<f64> = if reply.raw_output_contents.is_empty() {
        reply.outputs[scores]
            .contents
            .as_ref()
            .unwrap()
            .fp32_contents
            .iter()
            .map(|&v| v as f64)
            .collect()
    } else {
        reply.raw_output_contents[scores]
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]) as f64)
            .collect()
    };
    let got_labels: Vec<Vec<u8>> = if reply.raw_output_contents.is_empty() {
        reply.outputs[labels]
            .contents
            .as_ref()
            .unwrap()
            .bytes_contents
            .clone()
    } else {
        let mut raw = reply.raw_output_contents[labels].as_slice();
        let mut out = Vec::new();
        while raw.len() >= 4 {
            let n = u32::from_le_bytes([raw[0], raw[1], raw[2], raw[3]]) as usize;
            out.push(raw[4..4 + n].to_vec());
            raw = &raw[4 + n..];
        }
        out
    };
    for (i, case) in cases.iter().enumerate() {
        for (g, w) in values[i * 3..(i + 1) * 3]
            .iter()
            .zip(numbers(&case["scores"]))
        {
            assert!((g - w).abs() < 1e-5, "{g} vs {w}");
        }
        assert_eq!(got_labels[i], case["label"].as_str().unwrap().as_bytes());
    }
}

#[tokio::test]
async fn seldon_strdata_jsondata_and_string_ndarray() {
    let server = start(&fixtures().join("tiny-bert-cls"), &[], &[]);
    let expected = read(&fixtures().join("tiny-bert-cls/expected.json"));
    let case = &expected["cases"][0];
    let text = case["text"].as_str().unwrap();
    let want = numbers(&case["scores"]);
    let close = |got: &[f64]| {
        assert_eq!(got.len(), want.len(), "{got:?}");
        for (g, w) in got.iter().zip(&want) {
            assert!((g - w).abs() < 1e-5, "{g} vs {w}");
        }
    };
    for body in [
        json!({"strData": text}),
        json!({"jsonData": text}),
        json!({"jsonData": [text]}),
        json!({"jsonData": {"inputs": [text]}}),
        json!({"data": {"ndarray": [text]}}),
    ] {
        let (status, reply) = post(&server, "/api/v1.0/predictions", &body).await;
        assert_eq!(status, 200, "{body}: {reply}");
        let data = &reply["data"];
        let got = if data["ndarray"].is_array() {
            numbers(&data["ndarray"])
        } else if data["tensor"].is_object() {
            numbers(&data["tensor"]["values"])
        } else {
            numbers(&reply["jsonData"])
        };
        close(&got);
        if data["names"].is_array() {
            assert_eq!(
                data["names"],
                json!(["class_a", "class_b", "class_c"]),
                "{reply}"
            );
        }
    }
    // Two strings in one ndarray: two rows.
    let (status, reply) = post(
        &server,
        "/api/v1.0/predictions",
        &json!({"data": {"ndarray": [text, "awful"]}}),
    )
    .await;
    assert_eq!(status, 200, "{reply}");
    assert_eq!(numbers(&reply["data"]["ndarray"]).len(), 6, "{reply}");
}

#[tokio::test]
async fn embed_route_shaped_like_text_embeddings_inference() {
    let server = start(&fixtures().join("tiny-bert-embed-cls-max"), &[], &[]);
    let cases = embed_cases();
    let (status, reply) = post(&server, "/embed", &json!({"inputs": cases[0].0})).await;
    assert_eq!(status, 200, "{reply}");
    assert_eq!(reply.as_array().unwrap().len(), 1);
    assert_rows(&numbers(&reply), &cases[..1]);
    let texts: Vec<&str> = cases.iter().map(|(t, _)| t.as_str()).collect();
    let (status, reply) = post(
        &server,
        "/embed",
        &json!({"inputs": texts, "normalize": true, "truncate": true}),
    )
    .await;
    assert_eq!(status, 200, "{reply}");
    assert_rows(&numbers(&reply), &cases);
    for row in reply.as_array().unwrap() {
        let norm: f64 = numbers(row).iter().map(|x| x * x).sum::<f64>().sqrt();
        assert!((norm - 1.0).abs() < 1e-5);
    }
    let (status, reply) = post(&server, "/embed", &json!({"inputs": []})).await;
    assert_eq!(
        (status, reply["error_type"].as_str()),
        (400, Some("empty")),
        "{reply}"
    );
    let many: Vec<&str> = vec!["a"; 33];
    let (status, reply) = post(&server, "/embed", &json!({"inputs": many})).await;
    assert_eq!(
        (status, reply["error_type"].as_str()),
        (413, Some("validation")),
        "{reply}"
    );
    let (status, reply) = post(&server, "/embed", &json!({"text": "x"})).await;
    assert_eq!(
        (status, reply["error_type"].as_str()),
        (422, Some("validation")),
        "{reply}"
    );
}

#[tokio::test]
async fn concurrent_requests_are_batched_and_answered_as_alone() {
    // A lone request waits the whole max_batch_time (1 s) before running: 6 requests served one at a time
    // would take 6 s, batched they take about 1 s.
    let server = start(
        &fixtures().join("tiny-bert-embed-cls-max"),
        &[
            json!({"name": "max_batch_size", "value": "16", "type": "INT"}),
            json!({"name": "max_batch_time", "value": "1", "type": "DOUBLE"}),
        ],
        &[],
    );
    let cases = embed_cases();
    let started = Instant::now();
    let replies = futures_join(&server, &cases).await;
    let elapsed = started.elapsed();
    for (reply, case) in replies.iter().zip(&cases) {
        let out = &reply["outputs"][0];
        assert_eq!(out["shape"], json!([1, 64]), "{reply}");
        assert_rows(&numbers(&out["data"]), std::slice::from_ref(case));
    }
    // At least the batch wait (batching is on), and far less than six waits in a row (they ran together).
    assert!(
        elapsed >= Duration::from_millis(900) && elapsed < Duration::from_secs(4),
        "{} requests took {elapsed:?}",
        cases.len()
    );
}

async fn futures_join(server: &ServerProcess, cases: &[(String, Vec<f64>)]) -> Vec<Value> {
    let mut tasks = Vec::new();
    for (text, _) in cases {
        let url = server.url("/v2/models/text/infer");
        let body = json!({"inputs": [{"name": "args", "shape": [1], "datatype": "BYTES", "data": [text]}]});
        tasks.push(tokio::spawn(async move {
            let reply = http_client().post(url).json(&body).send().await.unwrap();
            assert_eq!(reply.status().as_u16(), 200);
            reply.json::<Value>().await.unwrap()
        }));
    }
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.unwrap());
    }
    out
}

#[tokio::test]
async fn minilm_over_v2_rest_matches_sentence_transformers() {
    let dir = std::env::var_os("OXSERVE_MINILM_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.models/all-MiniLM-L6-v2")
        });
    if !dir.join("model.safetensors").is_file() {
        assert!(
            !oxserve_tests::peers_required(),
            "all-MiniLM-L6-v2 missing in {}: run scripts/fetch-minilm.sh",
            dir.display()
        );
        eprintln!(
            "SKIPPED: all-MiniLM-L6-v2 not in {}; run scripts/fetch-minilm.sh",
            dir.display()
        );
        return;
    }
    let server = start(&dir, &[], &[]);
    let reference = read(&fixtures().join("minilm_reference.json"));
    let cases: Vec<(String, Vec<f64>)> = reference["sentences"]
        .as_array()
        .unwrap()
        .iter()
        .take(5)
        .map(|s| {
            (
                s["text"].as_str().unwrap().to_string(),
                numbers(&s["embedding"]),
            )
        })
        .collect();
    let texts: Vec<&str> = cases.iter().map(|(t, _)| t.as_str()).collect();
    let body = json!({"inputs": [{"name": "args", "shape": [texts.len()], "datatype": "BYTES", "data": texts}]});
    let (status, reply) = post(&server, "/v2/models/text/infer", &body).await;
    assert_eq!(status, 200, "{reply}");
    assert_eq!(reply["outputs"][0]["shape"], json!([texts.len(), 384]));
    assert_rows(&numbers(&reply["outputs"][0]["data"]), &cases);
}

#[tokio::test]
async fn kserve_v1_instances_answer_the_default_output() {
    let server = start(&fixtures().join("tiny-bert-embed-cls-max"), &[], &[]);
    let cases = embed_cases();
    let texts: Vec<&str> = cases.iter().map(|(t, _)| t.as_str()).collect();
    let (status, reply) = post(
        &server,
        "/v1/models/text:predict",
        &json!({ "instances": texts }),
    )
    .await;
    assert_eq!(status, 200, "{reply}");
    // One embedding per instance.
    let rows = reply["predictions"].as_array().unwrap();
    assert_eq!(rows.len(), texts.len(), "{reply}");
    assert_rows(&numbers(&reply["predictions"]), &cases);
    let ready: Value = http_client()
        .get(server.url("/v1/models/text"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ready, json!({"name": "text", "ready": true}));
    let (status, reply) = post(
        &server,
        "/v1/models/text:explain",
        &json!({"instances": ["a"]}),
    )
    .await;
    assert_eq!(
        (status, reply),
        (501, json!({"error": "Could not find explainer_host."}))
    );
}

/// `--models-dir` beside its own model: a second text model (MLServer's Hugging Face `implementation`) loads by
/// name over the repository REST API and answers V2 by that name.
#[tokio::test]
async fn a_second_model_loads_by_name_over_the_repository_api() {
    let reply = oxserve_tests::second_model_over_repository(
        Path::new(env!("CARGO_BIN_EXE_candle-server")),
        &fixtures().join("tiny-bert-embed-cls-max"),
        &fixtures().join("tiny-distilbert-cls"),
        "sentiment",
        Some(json!({"name": "sentiment", "implementation": "mlserver_huggingface.HuggingFaceRuntime"})),
        &[("PREDICTIVE_UNIT_ID", "text")],
        &json!({"inputs": [{"name": "args", "shape": [2], "datatype": "BYTES", "data": ["good", "bad"]}]}),
    )
    .await
    .unwrap();
    assert_eq!(reply["model_name"], "sentiment", "{reply}");
    assert_eq!(reply["outputs"][0]["shape"][0], 2, "{reply}");
}
