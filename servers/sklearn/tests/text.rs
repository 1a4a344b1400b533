//! sklearn-server with text pipelines (issue #15): N strings are N documents over Seldon v1 REST (a 1-D `ndarray`
//! of strings, `strData`, `jsonData`), V2 REST and V2 gRPC (BYTES), answered with scikit-learn's numbers from
//! `crates/sklearn/fixtures/text/` (written by `gen_text.py`).

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use oxserve_protocol::pb::inference::grpc_inference_service_client::GrpcInferenceServiceClient;
use oxserve_protocol::pb::inference::model_infer_request::InferInputTensor;
use oxserve_protocol::pb::inference::{InferTensorContents, ModelInferRequest};
use oxserve_tests::{ServerProcess, http_client, repo_root};
use serde_json::{Value, json};

fn case_dir(name: &str) -> PathBuf {
    repo_root().join("crates/sklearn/fixtures/text").join(name)
}

fn read_case(name: &str) -> Value {
    serde_json::from_str(&std::fs::read_to_string(case_dir(name).join("case.json")).unwrap())
        .unwrap()
}

fn start(model_dir: &Path, method: Option<&str>) -> ServerProcess {
    let mut params = vec![
        json!({"name": "model_uri", "value": model_dir.display().to_string(), "type": "STRING"}),
    ];
    if let Some(m) = method {
        params.push(json!({"name": "method", "value": m, "type": "STRING"}));
    }
    let params = Value::Array(params).to_string();
    ServerProcess::start(
        Path::new(env!("CARGO_BIN_EXE_sklearn-server")),
        &[
            ("PREDICTIVE_UNIT_PARAMETERS", params.as_str()),
            ("PREDICTIVE_UNIT_ID", "text"),
        ],
    )
    .unwrap()
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

fn assert_close(got: &[f64], want: &[f64]) {
    assert_eq!(got.len(), want.len(), "{got:?} vs {want:?}");
    for (g, w) in got.iter().zip(want) {
        assert!((g - w).abs() <= 1e-9 + 1e-9 * w.abs(), "{g} vs {w}");
    }
}

#[tokio::test]
async fn seldon_string_ndarray_is_n_documents() {
    let case = read_case("tfidf-logreg");
    let server = start(&case_dir("tfidf-logreg"), None);
    let docs = &case["docs"];
    let n = docs.as_array().unwrap().len();

    // Default method predict_proba, as Seldon's SKLearnServer: one row of probabilities per document.
    let (status, reply) = post(
        &server,
        "/api/v1.0/predictions",
        &json!({"data": {"ndarray": docs}}),
    )
    .await;
    assert_eq!(status, 200, "{reply}");
    assert_eq!(
        reply["data"]["ndarray"].as_array().unwrap().len(),
        n,
        "{reply}"
    );
    assert_close(
        &numbers(&reply["data"]["ndarray"]),
        &numbers(&case["outputs"]["predict_proba"]),
    );

    // strData: one document.
    let (status, reply) = post(
        &server,
        "/api/v1.0/predictions",
        &json!({"strData": docs[0]}),
    )
    .await;
    assert_eq!(status, 200, "{reply}");
    assert_close(
        &numbers(&reply["data"]["tensor"]["values"]),
        &numbers(&case["outputs"]["predict_proba"][0]),
    );

    // jsonData: a list of documents.
    let (status, reply) = post(
        &server,
        "/api/v1.0/predictions",
        &json!({"jsonData": [docs[1], docs[2]]}),
    )
    .await;
    assert_eq!(status, 200, "{reply}");
    assert_close(
        &numbers(&reply["jsonData"]),
        &numbers(&json!([
            case["outputs"]["predict_proba"][1],
            case["outputs"]["predict_proba"][2]
        ])),
    );

    // Numbers to a text model: a 400 naming what it takes.
    let (status, reply) = post(
        &server,
        "/api/v1.0/predictions",
        &json!({"data": {"ndarray": [[1.0, 2.0]]}}),
    )
    .await;
    assert_eq!(status, 400, "{reply}");
    assert!(reply.to_string().contains("takes raw documents"), "{reply}");
}

#[tokio::test]
async fn seldon_predict_answers_string_labels() {
    let case = read_case("tfidf-linearsvc-bigrams-sublinear");
    let server = start(
        &case_dir("tfidf-linearsvc-bigrams-sublinear"),
        Some("predict"),
    );
    let (status, reply) = post(
        &server,
        "/api/v1.0/predictions",
        &json!({"data": {"ndarray": case["docs"]}}),
    )
    .await;
    assert_eq!(status, 200, "{reply}");
    assert_eq!(
        reply["data"]["ndarray"], case["outputs"]["predict"],
        "{reply}"
    );
}

#[tokio::test]
async fn v2_rest_bytes_documents() {
    let case = read_case("count-mnb-english-stop");
    let server = start(&case_dir("count-mnb-english-stop"), None);
    let (status, meta) = {
        let reply = http_client()
            .get(server.url("/v2/models/text"))
            .send()
            .await
            .unwrap();
        (
            reply.status().as_u16(),
            reply.json::<Value>().await.unwrap(),
        )
    };
    assert_eq!(status, 200, "{meta}");
    assert_eq!(meta["inputs"][0]["datatype"], "BYTES", "{meta}");
    let docs = case["docs"].as_array().unwrap();
    let body = json!({
        "inputs": [{"name": "input-0", "shape": [docs.len()], "datatype": "BYTES", "data": docs}],
        "outputs": [{"name": "predict"}, {"name": "predict_proba"}],
    });
    let (status, reply) = post(&server, "/v2/models/text/infer", &body).await;
    assert_eq!(status, 200, "{reply}");
    let out = |name: &str| {
        reply["outputs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|o| o["name"] == name)
            .unwrap()
            .clone()
    };
    assert_eq!(
        out("predict")["data"],
        case["outputs"]["predict"],
        "{reply}"
    );
    assert_eq!(out("predict_proba")["shape"], json!([docs.len(), 3]));
    assert_close(
        &numbers(&out("predict_proba")["data"]),
        &numbers(&case["outputs"]["predict_proba"]),
    );

    // A `null` document is refused as scikit-learn refuses `None`, naming it.
    let body = json!({
        "inputs": [{"name": "input-0", "shape": [2], "datatype": "BYTES", "data": ["a dog", null]}],
    });
    let (status, reply) = post(&server, "/v2/models/text/infer", &body).await;
    assert_eq!(status, 400, "{reply}");
    assert!(
        reply["error"]
            .as_str()
            .unwrap_or_default()
            .contains("document 1 is null"),
        "{reply}"
    );
}

#[tokio::test]
async fn v2_grpc_bytes_documents() {
    let case = read_case("hashing-sgd");
    let server = start(&case_dir("hashing-sgd"), None);
    let docs = case["docs"].as_array().unwrap();
    let mut client =
        GrpcInferenceServiceClient::connect(format!("http://127.0.0.1:{}", server.grpc))
            .await
            .unwrap();
    let request = ModelInferRequest {
        model_name: "text".into(),
        inputs: vec![InferInputTensor {
            name: "input-0".into(),
            datatype: "BYTES".into(),
            shape: vec![docs.len() as i64],
            contents: Some(InferTensorContents {
                bytes_contents: docs
                    .iter()
                    .map(|d| d.as_str().unwrap().as_bytes().to_vec())
                    .collect(),
                ..Default::default()
            }),
            ..Default::default()
        }],
        ..Default::default()
    };
    let reply = client.model_infer(request).await.unwrap().into_inner();
    let out = &reply.outputs[0];
    assert_eq!(out.name, "predict_proba");
    assert_eq!(out.shape, vec![docs.len() as i64, 3]);
    let values: Vec<f64> = if reply.raw_output_contents.is_empty() {
        out.contents.as_ref().unwrap().fp64_contents.clone()
    } else {
        reply.raw_output_contents[0]
            .chunks_exact(8)
            .map(|b| f64::from_le_bytes(b.try_into().unwrap()))
            .collect()
    };
    assert_close(&values, &numbers(&case["outputs"]["predict_proba"]));
}

#[tokio::test]
async fn kserve_v1_instances_are_documents() {
    let case = read_case("tfidf-char-l1-logreg");
    let server = start(&case_dir("tfidf-char-l1-logreg"), None);
    let (status, reply) = post(
        &server,
        "/v1/models/text:predict",
        &json!({"instances": case["docs"]}),
    )
    .await;
    assert_eq!(status, 200, "{reply}");
    assert_eq!(reply["predictions"], case["outputs"]["predict"], "{reply}");
}

#[tokio::test]
async fn label_encoder_on_strings_over_seldon() {
    let dir = repo_root().join("crates/sklearn/fixtures/labels/labelencoder-str");
    let server = start(&dir, None);
    let (status, reply) = post(
        &server,
        "/api/v1.0/predictions",
        &json!({"data": {"ndarray": ["eau", "Σοφία", "café"]}}),
    )
    .await;
    assert_eq!(status, 200, "{reply}");
    assert_eq!(reply["data"]["ndarray"], json!([1, 4, 0]), "{reply}");
    let (status, reply) = post(
        &server,
        "/api/v1.0/predictions",
        &json!({"data": {"ndarray": ["lait"]}}),
    )
    .await;
    assert_eq!(status, 400, "{reply}");
    assert!(
        reply.to_string().contains("previously unseen labels"),
        "{reply}"
    );
}
