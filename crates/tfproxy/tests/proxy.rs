#![allow(clippy::unwrap_used)]
//! The proxy against a stand-in TF Serving REST API on loopback: it checks the request the proxy sends (TF
//! Serving's columnar form, the signature name) and answers as TF Serving does.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use oxserve_core::{Model, ModelError, NamedTensor, PredictRequest, Tensor, TensorData};
use oxserve_tfproxy::{ProxyConfig, ProxyError, TfServingProxy};
use serde_json::{Value, json};

#[derive(Default)]
struct Upstream {
    bodies: Mutex<Vec<Value>>,
}

fn metadata() -> Value {
    let spec = |dtype: &str, dims: &[i64]| json!({"dtype": dtype, "tensor_shape": {"dim": dims.iter().map(|d| json!({"size": d.to_string(), "name": ""})).collect::<Vec<_>>(), "unknown_rank": false}, "name": "x:0"});
    json!({"model_spec": {"name": "half", "signature_name": "", "version": "1"},
           "metadata": {"signature_def": {"signature_def": {"serving_default": {
               "inputs": {"x": spec("DT_FLOAT", &[-1, 2])},
               "outputs": {"y": spec("DT_FLOAT", &[-1, 2]), "total": spec("DT_DOUBLE", &[-1])},
               "method_name": "tensorflow/serving/predict"}}}}})
}

/// Halves every value (`y`) and sums each row (`total`); a row holding 13 is refused as TF Serving refuses
/// bad input.
async fn predict(
    State(up): State<Arc<Upstream>>,
    Path(target): Path<String>,
    Json(body): Json<Value>,
) -> Response {
    up.bodies.lock().unwrap().push(body.clone());
    if target != "half:predict" {
        return (
            StatusCode::NOT_FOUND,
            Json(json!({"error": format!("Servable not found for request: Latest({target})")})),
        )
            .into_response();
    }
    let rows = body["inputs"].as_array().cloned().unwrap_or_default();
    if rows
        .iter()
        .filter_map(Value::as_array)
        .flatten()
        .any(|v| v == 13.0)
    {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": "unlucky input"})),
        )
            .into_response();
    }
    let y: Vec<Value> = rows
        .iter()
        .map(|r| {
            r.as_array()
                .unwrap()
                .iter()
                .map(|v| json!(v.as_f64().unwrap() / 2.0))
                .collect()
        })
        .collect();
    let total: Vec<f64> = rows
        .iter()
        .map(|r| {
            r.as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_f64().unwrap())
                .sum()
        })
        .collect();
    Json(json!({"outputs": {"y": y, "total": total}})).into_response()
}

async fn upstream() -> (String, Arc<Upstream>) {
    let up = Arc::new(Upstream::default());
    let app = axum::Router::new()
        .route(
            "/v1/models/half/metadata",
            get(|| async { Json(metadata()) }),
        )
        .route("/v1/models/{target}", post(predict))
        .with_state(up.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}"), up)
}

fn rows(values: &[[f64; 2]]) -> Tensor {
    Tensor::new(
        vec![values.len(), 2],
        TensorData::F64(values.iter().flatten().copied().collect()),
    )
    .unwrap()
}

fn config(endpoint: &str, signature: Option<&str>) -> ProxyConfig {
    ProxyConfig {
        rest_endpoint: endpoint.into(),
        model_name: "half".into(),
        signature_name: signature.map(str::to_string),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn forwards_in_tf_servings_columnar_form_and_reads_the_signature() {
    let (endpoint, up) = upstream().await;
    let proxy = Arc::new(
        TfServingProxy::connect(
            &config(&endpoint, Some("serving_default")),
            Duration::from_secs(5),
        )
        .await
        .unwrap(),
    );
    let meta = proxy.metadata();
    assert_eq!(meta.inputs[0].name, "x");
    assert_eq!(meta.inputs[0].shape, vec![-1, 2]);
    let names: Vec<_> = meta.outputs.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["total", "y"]);

    // As the runtime calls it: on a blocking thread.
    let p = proxy.clone();
    let response = tokio::task::spawn_blocking(move || {
        p.predict(PredictRequest {
            inputs: vec![NamedTensor::new("input-0", rows(&[[1.0, 3.0], [5.0, 8.0]]))],
            outputs: vec!["y".into(), "total".into()],
        })
    })
    .await
    .unwrap()
    .unwrap();
    assert_eq!(response.outputs[0].name, "y");
    assert_eq!(
        response.outputs[0].tensor.to_f64_vec().unwrap(),
        [0.5, 1.5, 2.5, 4.0]
    );
    assert_eq!(response.outputs[0].tensor.shape(), [2, 2]);
    assert_eq!(
        response.outputs[1].tensor.to_f64_vec().unwrap(),
        [4.0, 13.0]
    );
    let sent = up.bodies.lock().unwrap()[0].clone();
    assert_eq!(
        sent,
        json!({"inputs": [[1.0, 3.0], [5.0, 8.0]], "signature_name": "serving_default"})
    );

    // The default output is the signature's first; upstream 400 is the client's fault; unknown outputs named.
    let p = proxy.clone();
    let (default, bad, unknown) = tokio::task::spawn_blocking(move || {
        let ask = |v: f64, outputs: Vec<String>| {
            p.predict(PredictRequest {
                inputs: vec![NamedTensor::new("x", rows(&[[v, 1.0]]))],
                outputs,
            })
        };
        (
            ask(2.0, vec![]),
            ask(13.0, vec![]),
            ask(2.0, vec!["nope".into()]),
        )
    })
    .await
    .unwrap();
    assert_eq!(default.unwrap().outputs[0].name, "total");
    assert_eq!(
        bad.unwrap_err(),
        ModelError::BadInput("unlucky input".into())
    );
    assert!(
        matches!(unknown.unwrap_err(), ModelError::UnknownOutput { name, .. } if name == "nope")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn waits_for_the_sidecar_then_gives_up_with_the_reason() {
    // A port nothing listens on (bound, then closed).
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let err = TfServingProxy::connect(&config(&endpoint, None), Duration::from_millis(500))
        .await
        .unwrap_err();
    assert!(matches!(err, ProxyError::NotReady { .. }), "{err}");
    assert!(
        err.to_string().contains("did not serve model `half`"),
        "{err}"
    );

    let err = TfServingProxy::connect(&config("grpc://x:1", None), Duration::from_millis(10))
        .await
        .unwrap_err();
    assert!(matches!(err, ProxyError::BadEndpoint(_)));

    // A signature the upstream lacks.
    let (endpoint, _up) = upstream().await;
    let err = TfServingProxy::connect(&config(&endpoint, Some("other")), Duration::from_secs(2))
        .await
        .unwrap_err();
    assert!(matches!(err, ProxyError::BadMetadata { .. }), "{err}");
}
