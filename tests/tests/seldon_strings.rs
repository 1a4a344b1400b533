//! Seldon v1 string payloads (`strData`, `jsonData`, `binData`, an `ndarray` of strings) for a model whose first
//! input is BYTES, over REST (the router without a socket) and gRPC (the same state served on loopback); and
//! the old 400 for a numeric model.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use clap::Parser;
use http_body_util::BodyExt;
use oxserve_core::{
    DataType, Model, ModelError, ModelMetadata, NamedTensor, PredictRequest, PredictResponse,
    Tensor, TensorData, TensorSpec,
};
use oxserve_protocol::pb::seldon::protos as pb;
use oxserve_protocol::seldon::grpc::{json_to_pb, pb_to_json};
use oxserve_runtime::{Config, app, build_state, serve_state};
use oxserve_tests::RowStatsModel;
use tower::ServiceExt;

/// A text model: BYTES in (any shape); out, with the input's shape, either each string's length in bytes (FP32)
/// or the string in upper case (BYTES).
struct TextModel {
    metadata: ModelMetadata,
    upper: bool,
}

impl TextModel {
    fn shared(upper: bool) -> Arc<dyn Model> {
        let output = if upper {
            TensorSpec::new("upper", DataType::Bytes, vec![-1])
        } else {
            TensorSpec::new("length", DataType::F32, vec![-1])
        };
        Arc::new(TextModel {
            metadata: ModelMetadata {
                platform: "test-text".into(),
                inputs: vec![TensorSpec::new("text", DataType::Bytes, vec![-1])],
                outputs: vec![output],
            },
            upper,
        })
    }
}

impl Model for TextModel {
    fn metadata(&self) -> &ModelMetadata {
        &self.metadata
    }

    fn predict(&self, request: PredictRequest) -> Result<PredictResponse, ModelError> {
        let input = &request.inputs[0];
        assert_eq!(input.name, "text");
        let TensorData::Bytes(strings) = input.tensor.data() else {
            return Err(ModelError::BadInput(format!(
                "expected strings, got {}",
                input.tensor.dtype()
            )));
        };
        let shape = input.tensor.shape().to_vec();
        let (name, data) = if self.upper {
            let upper = strings
                .iter()
                .map(|s| String::from_utf8_lossy(s).to_uppercase().into_bytes())
                .collect();
            ("upper", TensorData::Bytes(upper))
        } else {
            let lens = strings.iter().map(|s| s.len() as f32).collect();
            ("length", TensorData::F32(lens))
        };
        Ok(PredictResponse {
            outputs: vec![NamedTensor::new(name, Tensor::new(shape, data)?)],
        })
    }
}

fn config() -> Config {
    Config::parse_from([
        "oxserve",
        "--host",
        "127.0.0.1",
        "--http-port",
        "0",
        "--grpc-port",
        "0",
        "--metrics-port",
        "0",
    ])
}

fn router(model: Arc<dyn Model>) -> axum::Router {
    app(build_state(&config(), model, &std::env::temp_dir()).unwrap())
}

async fn post(router: axum::Router, body: &str) -> (StatusCode, String) {
    let request = Request::post("/api/v1.0/predictions")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_string()))
        .unwrap();
    let response = router.oneshot(request).await.unwrap();
    let status = response.status();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8(body.to_vec()).unwrap())
}

/// Request → exact REST reply body (keys sorted, compact, Python float reprs).
const LENGTH_CASES: &[(&str, &str)] = &[
    // An ndarray keeps its shape: [N] in, [N] out (1-D: no names) …
    (
        r#"{"data":{"ndarray":["a","bb","héllo"]}}"#,
        r#"{"data":{"names":[],"ndarray":[1.0,2.0,6.0]},"meta":{}}"#,
    ),
    // … and [N,1] in, [N,1] out, with t:0.
    (
        r#"{"data":{"names":["text"],"ndarray":[["a"],["bb"]]}}"#,
        r#"{"data":{"names":["t:0"],"ndarray":[[1.0],[2.0]]},"meta":{}}"#,
    ),
    // strData is one string; a numeric answer to a request without `data` is a `tensor`, as in the wrapper.
    (
        r#"{"strData":"hello","meta":{"puid":"p1"}}"#,
        r#"{"data":{"names":[],"tensor":{"shape":[1],"values":[5.0]}},"meta":{"puid":"p1"}}"#,
    ),
    // jsonData: a string, a list of strings, or {"inputs": …}; answered as jsonData.
    (r#"{"jsonData":"abc"}"#, r#"{"jsonData":[3.0],"meta":{}}"#),
    (
        r#"{"jsonData":["a","bb"]}"#,
        r#"{"jsonData":[1.0,2.0],"meta":{}}"#,
    ),
    (
        r#"{"jsonData":{"inputs":["a","bb","ccc"]}}"#,
        r#"{"jsonData":[1.0,2.0,3.0],"meta":{}}"#,
    ),
    (
        r#"{"jsonData":{"inputs":"abcd"}}"#,
        r#"{"jsonData":[4.0],"meta":{}}"#,
    ),
    // binData: one byte string ("hey" in base64).
    (
        r#"{"binData":"aGV5"}"#,
        r#"{"data":{"names":[],"tensor":{"shape":[1],"values":[3.0]}},"meta":{}}"#,
    ),
];

const UPPER_CASES: &[(&str, &str)] = &[
    (
        r#"{"data":{"ndarray":["a","bé"]}}"#,
        r#"{"data":{"names":[],"ndarray":["A","B\u00c9"]},"meta":{}}"#,
    ),
    (
        r#"{"data":{"ndarray":[["a"],["b"]]}}"#,
        r#"{"data":{"names":["t:0"],"ndarray":[["A"],["B"]]},"meta":{}}"#,
    ),
    // One string out of a strData request is strData …
    (r#"{"strData":"hello"}"#, r#"{"meta":{},"strData":"HELLO"}"#),
    // … and of binData, binData ("hey" → "HEY").
    (r#"{"binData":"aGV5"}"#, r#"{"binData":"SEVZ","meta":{}}"#),
    (
        r#"{"jsonData":{"inputs":["x","yz"]}}"#,
        r#"{"jsonData":["X","YZ"],"meta":{}}"#,
    ),
];

#[tokio::test]
async fn a_text_model_takes_every_string_payload_over_rest() {
    for (upper, cases) in [(false, LENGTH_CASES), (true, UPPER_CASES)] {
        for (request, want) in cases {
            let (status, body) = post(router(TextModel::shared(upper)), request).await;
            assert_eq!(status, StatusCode::OK, "{request}: {body}");
            assert_eq!(body, format!("{want}\n"), "{request}");
        }
    }
}

#[tokio::test]
async fn strings_the_text_model_cannot_read_are_a_400() {
    let cases = [
        (r#"{"jsonData":3}"#, "jsonData must be a string"),
        (r#"{"jsonData":[1,2]}"#, "got a list holding 1"),
        (r#"{"jsonData":{"text":"a"}}"#, r#"keys ["text"]"#),
        (
            r#"{"jsonData":{"inputs":"a","parameters":{}}}"#,
            r#"keys ["inputs", "parameters"]"#,
        ),
        (
            r#"{"data":{"ndarray":[1,2]}}"#,
            "expected strings, got INT64",
        ),
        (r#"{"meta":{}}"#, "no data"),
    ];
    for (request, info) in cases {
        let (status, body) = post(router(TextModel::shared(false)), request).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{request}: {body}");
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["status"]["reason"], "MICROSERVICE_BAD_DATA");
        let got = v["status"]["info"].as_str().unwrap();
        assert!(got.contains(info), "{request}: {got}");
    }
}

#[tokio::test]
async fn a_numeric_model_keeps_its_400_for_string_payloads() {
    let numeric = || -> Arc<dyn Model> { Arc::new(RowStatsModel::default()) };
    for request in [
        r#"{"strData":"hello"}"#,
        r#"{"jsonData":"hello"}"#,
        r#"{"jsonData":{"inputs":["a"]}}"#,
        r#"{"binData":"aGV5"}"#,
    ] {
        let (status, body) = post(router(numeric()), request).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{request}");
        assert_eq!(
            body,
            "{\"status\":{\"code\":-1,\"info\":\"this model takes `data` (ndarray, tensor or tftensor), not strData, binData or jsonData\",\"reason\":\"MICROSERVICE_BAD_DATA\",\"status\":1}}\n",
            "{request}"
        );
    }
    let (status, body) = post(
        router(numeric()),
        r#"{"data":{"ndarray":[["a","b","c","d"]]}}"#,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
}

/// The REST reply a request gets, as protobuf, for comparing with the gRPC reply.
fn rest_reply_as_pb(body: &str) -> pb::SeldonMessage {
    let message: oxserve_protocol::seldon::SeldonMessage = serde_json::from_str(body).unwrap();
    oxserve_protocol::seldon::grpc::to_pb(&message)
}

fn pb_request(json: &str) -> pb::SeldonMessage {
    let message: oxserve_protocol::seldon::SeldonMessage = serde_json::from_str(json).unwrap();
    oxserve_protocol::seldon::grpc::to_pb(&message)
}

#[tokio::test]
async fn grpc_answers_string_payloads_as_rest_does() {
    for upper in [false, true] {
        let model = TextModel::shared(upper);
        let dir = std::env::temp_dir().join(format!(
            "oxserve-seldon-strings-{}-{upper}",
            std::process::id()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let ports_file = dir.join("ports.json");
        let mut cfg = config();
        cfg.ports_file = Some(ports_file.clone());
        let state = build_state(&cfg, model.clone(), &dir).unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(serve_state(cfg, state, async {
            let _ = stopped.await;
        }));
        let grpc_port = loop {
            if let Ok(text) = std::fs::read_to_string(&ports_file)
                && let Ok(v) = serde_json::from_str::<serde_json::Value>(&text)
            {
                break v["grpc"].as_u64().unwrap();
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        };
        let mut client =
            pb::model_client::ModelClient::connect(format!("http://127.0.0.1:{grpc_port}"))
                .await
                .unwrap();
        let cases = if upper { UPPER_CASES } else { LENGTH_CASES };
        for (request, _) in cases {
            let (_, rest_body) = post(router(model.clone()), request).await;
            let reply = client
                .predict(pb_request(request))
                .await
                .unwrap()
                .into_inner();
            assert_eq!(reply, rest_reply_as_pb(&rest_body), "{request}");
        }
        // A jsonData request built directly as a protobuf Value.
        let request = pb::SeldonMessage {
            data_oneof: Some(pb::seldon_message::DataOneof::JsonData(json_to_pb(
                &serde_json::json!({"inputs": ["ab", "c"]}),
            ))),
            ..Default::default()
        };
        let reply = client.predict(request).await.unwrap().into_inner();
        let Some(pb::seldon_message::DataOneof::JsonData(value)) = reply.data_oneof else {
            panic!("no jsonData in {reply:?}");
        };
        let want = if upper {
            serde_json::json!(["AB", "C"])
        } else {
            serde_json::json!([2.0, 1.0])
        };
        assert_eq!(pb_to_json(&value), want);
        // A text model's bad jsonData is INVALID_ARGUMENT-class, as on REST.
        let bad = pb::SeldonMessage {
            data_oneof: Some(pb::seldon_message::DataOneof::JsonData(json_to_pb(
                &serde_json::json!(7),
            ))),
            ..Default::default()
        };
        let status = client.predict(bad).await.unwrap_err();
        assert!(status.message().contains("jsonData must be"), "{status:?}");
        let _ = stop.send(());
        server.await.unwrap().unwrap();
        let _ = std::fs::remove_dir_all(&dir);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_rest_requests_to_a_batching_text_model_share_one_call() {
    use oxserve_batching::{BatchConfig, BatchingModel};
    let batching = Arc::new(BatchingModel::new(
        TextModel::shared(false),
        BatchConfig::new(16, std::time::Duration::from_millis(500)),
    ));
    let stats = batching.stats();
    let router = router(batching);
    let requests = [
        (
            r#"{"strData":"hello"}"#,
            r#"{"data":{"names":[],"tensor":{"shape":[1],"values":[5.0]}},"meta":{}}"#,
        ),
        (
            r#"{"jsonData":{"inputs":["a","bb"]}}"#,
            r#"{"jsonData":[1.0,2.0],"meta":{}}"#,
        ),
        (
            r#"{"data":{"ndarray":["abc","","de"]}}"#,
            r#"{"data":{"names":[],"ndarray":[3.0,0.0,2.0]},"meta":{}}"#,
        ),
    ];
    let replies = futures_join(
        requests
            .iter()
            .map(|(request, _)| tokio::spawn(post(router.clone(), request)))
            .collect(),
    )
    .await;
    for ((request, want), (status, body)) in requests.iter().zip(replies) {
        assert_eq!(status, StatusCode::OK, "{request}");
        assert_eq!(body, format!("{want}\n"), "{request}");
    }
    let s = stats.snapshot();
    assert_eq!((s.batches, s.requests, s.rows), (1, 3, 6), "{s:?}");
}

async fn futures_join<T>(handles: Vec<tokio::task::JoinHandle<T>>) -> Vec<T> {
    let mut out = Vec::new();
    for handle in handles {
        out.push(handle.await.unwrap());
    }
    out
}
