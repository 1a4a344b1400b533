//! Issue #12, defect 1, for TF Serving's API: a `TensorProto` whose single value is "broadcast" to a huge shape,
//! and zero-width shapes with a huge leading dimension, are refused with `INVALID_ARGUMENT` / HTTP 400 before
//! anything is allocated, and the server answers the next request. (The same decoders are fuzzed under a counting
//! allocator in protocol/fuzz-harness.)
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use common::{SumModel, state, state_with};
use http_body_util::BodyExt;
use oxserve_protocol::pb::tensorflow::serving::prediction_service_client::PredictionServiceClient;
use oxserve_protocol::pb::tensorflow::serving::{ModelSpec, PredictRequest};
use oxserve_protocol::pb::tensorflow::{DataType as TfType, TensorProto};
use oxserve_protocol::seldon::tftensor;
use oxserve_runtime::{ServerState, app_with};
use tower::ServiceExt;

fn proto(dtype: TfType, dims: &[i64], fill: impl FnOnce(&mut TensorProto)) -> TensorProto {
    let mut p = tftensor::empty_proto(dtype, dims);
    fill(&mut p);
    p
}

fn predict(features: TensorProto) -> PredictRequest {
    PredictRequest {
        model_spec: Some(ModelSpec {
            name: "m".into(),
            ..Default::default()
        }),
        inputs: [("features".to_string(), features)].into_iter().collect(),
        output_filter: Vec::new(),
    }
}

#[tokio::test]
async fn grpc_broadcasts_and_zero_width_shapes_are_refused_and_the_server_lives() {
    let channel = common::serve_grpc(state(Arc::new(SumModel::default()), "m", None)).await;
    let mut client = PredictionServiceClient::new(channel);
    let hostile = [
        // The issue's broadcast: one value, a shape of 10^12 (and 3·10^8, which allocated 4.6 GB).
        proto(TfType::DtFloat, &[1_000_000_000_000, 2], |p| {
            p.float_val = vec![1.0]
        }),
        proto(TfType::DtFloat, &[150_000_000, 2], |p| {
            p.float_val = vec![1.0]
        }),
        proto(TfType::DtFloat, &[i64::from(i32::MAX), 0], |_| {}),
        proto(TfType::DtFloat, &[1_000_000_000_000, 0], |_| {}),
    ];
    for features in hostile {
        let dims = features.tensor_shape.clone().unwrap().dim;
        let err = client.predict(predict(features)).await.unwrap_err();
        assert_eq!(
            err.code(),
            tonic::Code::InvalidArgument,
            "{dims:?}: {err:?}"
        );
        assert!(err.message().contains("request limit"), "{err:?}");
        let ok = client
            .predict(predict(proto(TfType::DtFloat, &[2, 2], |p| {
                p.float_val = vec![1.0, 2.0, 3.0, 4.0]
            })))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(ok.outputs["sum"].double_val, [3.0, 7.0]);
    }
    // A modest broadcast is still TensorFlow's semantics.
    let ok = client
        .predict(predict(proto(TfType::DtFloat, &[3, 2], |p| {
            p.float_val = vec![0.5]
        })))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(ok.outputs["sum"].double_val, [1.0, 1.0, 1.0]);
}

async fn post(state: Arc<ServerState>, body: &str) -> (StatusCode, String) {
    let request = Request::post("/v1/models/m:predict")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_string()))
        .unwrap();
    let response = app_with(state, &oxserve_tfserving::extensions().rest)
        .oneshot(request)
        .await
        .unwrap();
    let status = response.status();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8(body.to_vec()).unwrap())
}

#[tokio::test]
async fn rest_shapes_are_charged_to_the_request_budget() {
    let state = state(Arc::new(SumModel::default()), "m", None);
    // 2^16 ragged rows after a first row of 2^12 values: the first row's shape times the row count is 2^28
    // cells, beyond the budget, refused before any buffer is reserved for it.
    let first = vec!["0"; 1 << 12].join(",");
    let rest = vec!["0"; 1 << 16].join(",");
    let body = format!(r#"{{"inputs":[[{first}],{rest}]}}"#);
    let (status, reply) = post(state.clone(), &body).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{reply}");
    assert!(reply.contains("request limit"), "{reply}");
    let (status, reply) = post(state, r#"{"instances":[[1,2],[3,4]]}"#).await;
    assert_eq!(status, StatusCode::OK, "{reply}");
    assert!(reply.contains("predictions"), "{reply}");
}

#[tokio::test]
async fn a_body_over_the_limit_is_refused_in_tf_servings_shape() {
    let state = state_with(
        Arc::new(SumModel::default()),
        &["--model-name", "m", "--max-body-bytes", "2048"],
    );
    let rows = vec!["[1,2]"; 1024].join(",");
    let (status, reply) = post(state.clone(), &format!(r#"{{"instances":[{rows}]}}"#)).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{reply}");
    let body: serde_json::Value = serde_json::from_str(&reply).unwrap();
    assert!(body["error"].as_str().unwrap().contains("2048"), "{reply}");
    let (status, reply) = post(state, r#"{"instances":[[1,2],[3,4]]}"#).await;
    assert_eq!(status, StatusCode::OK, "{reply}");
}
