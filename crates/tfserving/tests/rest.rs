//! TF Serving's REST API through the runtime's router, without a socket: every request form and error shape.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use common::{PairModel, SumModel, TextModel, state};
use http_body_util::BodyExt;
use oxserve_core::Model;
use oxserve_runtime::{ServerState, app_with};
use serde_json::{Value, json};
use tower::ServiceExt;

fn router(state: Arc<ServerState>) -> axum::Router {
    app_with(state, &oxserve_tfserving::extensions().rest)
}

async fn send(state: Arc<ServerState>, request: Request<Body>) -> (StatusCode, String) {
    let response = router(state).oneshot(request).await.unwrap();
    let status = response.status();
    assert_eq!(
        response.headers().get(header::CONTENT_TYPE).unwrap(),
        "application/json"
    );
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8(body.to_vec()).unwrap())
}

async fn get(model: Arc<dyn Model>, name: &str, path: &str) -> (StatusCode, String) {
    send(
        state(model, name, None),
        Request::get(path).body(Body::empty()).unwrap(),
    )
    .await
}

async fn post(model: Arc<dyn Model>, path: &str, body: &str) -> (StatusCode, String) {
    post_to(state(model, "m", None), path, body).await
}

async fn post_to(state: Arc<ServerState>, path: &str, body: &str) -> (StatusCode, String) {
    let request = Request::post(path)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_string()))
        .unwrap();
    send(state, request).await
}

fn pair() -> Arc<dyn Model> {
    Arc::new(PairModel::default())
}

fn sum() -> Arc<dyn Model> {
    Arc::new(SumModel::default())
}

fn error(message: &str) -> String {
    json!({ "error": message }).to_string()
}

#[tokio::test]
async fn model_status_and_versions() {
    let want = json!({"model_version_status":[{"version":"1","state":"AVAILABLE","status":{"error_code":"OK","error_message":""}}]});
    for path in [
        "/v1/models/half",
        "/v1/models/half/versions/1",
        "/v1/models/half/labels/stable",
    ] {
        let (status, body) = get(pair(), "half", path).await;
        assert_eq!(status, StatusCode::OK, "{path}");
        assert_eq!(
            serde_json::from_str::<Value>(&body).unwrap(),
            want,
            "{path}"
        );
    }
    let (status, body) = get(pair(), "half", "/v1/models/half/versions/2").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        body,
        error("Servable not found for request: Specific(half, 2)")
    );
    let (status, body) = get(pair(), "half", "/v1/models/other").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body, error("Servable not found for request: Latest(other)"));
    // A numeric runtime version is the served version.
    let (status, body) = send(
        state(pair(), "half", Some("7")),
        Request::get("/v1/models/half/versions/7")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["model_version_status"][0]["version"], "7");
}

#[tokio::test]
async fn metadata_is_a_signature_def_map() {
    let want = json!({
        "model_spec": {"name": "half", "signature_name": "", "version": "1"},
        "metadata": {"signature_def": {"signature_def": {"serving_default": {
            "inputs": {
                "x": {"dtype": "DT_FLOAT", "tensor_shape": {"dim": [{"size": "-1", "name": ""}, {"size": "3", "name": ""}], "unknown_rank": false}, "name": "x"},
                "n": {"dtype": "DT_INT64", "tensor_shape": {"dim": [{"size": "-1", "name": ""}], "unknown_rank": false}, "name": "n"}
            },
            "outputs": {
                "scaled": {"dtype": "DT_FLOAT", "tensor_shape": {"dim": [{"size": "-1", "name": ""}, {"size": "3", "name": ""}], "unknown_rank": false}, "name": "scaled"},
                "total": {"dtype": "DT_DOUBLE", "tensor_shape": {"dim": [{"size": "-1", "name": ""}], "unknown_rank": false}, "name": "total"}
            },
            "method_name": "tensorflow/serving/predict",
            "defaults": {}
        }}}}
    });
    for path in [
        "/v1/models/half/metadata",
        "/v1/models/half/versions/1/metadata",
    ] {
        let (status, body) = get(pair(), "half", path).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(serde_json::from_str::<Value>(&body).unwrap(), want);
    }
}

#[tokio::test]
async fn row_format_with_named_inputs_answers_one_object_per_row() {
    let (status, body) = post(
        pair(),
        "/v1/models/m:predict",
        r#"{"instances": [{"x": [1, 2, 3], "n": 2}, {"x": [0.5, 1, -1], "n": -1}]}"#,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body,
        r#"{"predictions":[{"scaled":[2.0,4.0,6.0],"total":8.0},{"scaled":[-0.5,-1.0,1.0],"total":-0.5}]}"#
    );
}

#[tokio::test]
async fn columnar_format_with_named_inputs_answers_a_map_of_outputs() {
    let (status, body) = post(
        pair(),
        "/v1/models/m/versions/1:predict",
        r#"{"signature_name": "serving_default", "inputs": {"x": [[1, 2, 3], [0.1, 0, 0]], "n": [3, 1]}}"#,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // 0.1f32 printed as TF Serving prints a float (6 significant digits read back the same float); the FP64
    // sum 1.1000000014901161 does not round-trip at 6 digits and takes 17.
    assert_eq!(
        body,
        r#"{"outputs":{"scaled":[[3.0,6.0,9.0],[0.1,0.0,0.0]],"total":[9.0,1.1000000014901161]}}"#
    );
}

#[tokio::test]
async fn single_input_unnamed_as_kserve_v1_sends_it() {
    for path in [
        "/v1/models/m:predict",
        "/v1/models/m/versions/1:predict",
        "/v1/models/m/labels/canary:predict",
    ] {
        let (status, body) = post(sum(), path, r#"{"instances": [[1, 2], [3, 4.5]]}"#).await;
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
        assert_eq!(body, r#"{"predictions":[3.0,7.5]}"#);
    }
    let (status, body) = post(sum(), "/v1/models/m:predict", r#"{"inputs": [[1, 2]]}"#).await;
    assert_eq!(
        (status, body.as_str()),
        (StatusCode::OK, r#"{"outputs":[3.0]}"#)
    );
    // Named, one input: an object per instance.
    let (status, body) = post(
        sum(),
        "/v1/models/m:predict",
        r#"{"instances": [{"features": [1, 2]}]}"#,
    )
    .await;
    assert_eq!(
        (status, body.as_str()),
        (StatusCode::OK, r#"{"predictions":[3.0]}"#)
    );
    // TF Serving's non-finite tokens in and out.
    let (status, body) = post(
        sum(),
        "/v1/models/m:predict",
        r#"{"instances": [[NaN, 1], [Infinity, 1], [-Infinity, 0]]}"#,
    )
    .await;
    assert_eq!(
        (status, body.as_str()),
        (
            StatusCode::OK,
            r#"{"predictions":[NaN,Infinity,-Infinity]}"#
        )
    );
}

#[tokio::test]
async fn b64_values_in_and_bytes_outputs_out() {
    let (status, body) = post(
        Arc::new(TextModel::default()),
        "/v1/models/m:predict",
        r#"{"instances": [{"b64": "aGVsbG8="}, "abc"]}"#,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body,
        r#"{"predictions":[{"length":5,"upper_bytes":{"b64":"SEVMTE8="}},{"length":3,"upper_bytes":{"b64":"QUJD"}}]}"#
    );
    let (status, body) = post(
        Arc::new(TextModel::default()),
        "/v1/models/m:predict",
        r#"{"instances": [{"b64": "not base64!"}]}"#,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
}

#[tokio::test]
async fn request_errors_are_tf_servings() {
    let cases: &[(&str, &str, StatusCode, &str)] = &[
        (
            "/v1/models/m:predict",
            r#"{"signature_name": "other", "instances": [[1, 2]]}"#,
            StatusCode::BAD_REQUEST,
            "Serving signature name: \"other\" not found in signature def",
        ),
        (
            "/v1/models/nope:predict",
            r#"{"instances": [[1, 2]]}"#,
            StatusCode::NOT_FOUND,
            "Servable not found for request: Latest(nope)",
        ),
        (
            "/v1/models/m/versions/3:predict",
            r#"{"instances": [[1, 2]]}"#,
            StatusCode::NOT_FOUND,
            "Servable not found for request: Specific(m, 3)",
        ),
        (
            "/v1/models/m:predict",
            r#"{"instances": [[1, 2]], "inputs": [[1, 2]]}"#,
            StatusCode::BAD_REQUEST,
            "Not formatted correctly expecting only one of 'inputs' or 'instances' keys exists",
        ),
        (
            "/v1/models/m:predict",
            r#"{"rows": [[1, 2]]}"#,
            StatusCode::BAD_REQUEST,
            "Missing 'inputs' or 'instances' key",
        ),
        (
            "/v1/models/m:predict",
            r#"{"instances": [[1, 2, 3]]}"#,
            StatusCode::BAD_REQUEST,
            "input `features` has shape [1, 3], but the signature expects [-1, 2] (-1 is any size)",
        ),
        (
            "/v1/models/m:predict",
            r#"{"instances": [[1, 2], [3]]}"#,
            StatusCode::BAD_REQUEST,
            "input `features` is not rectangular: a list at depth 1 has 1 elements, expected 2",
        ),
        (
            "/v1/models/m:predict",
            r#"{"instances": [[1, "2"]]}"#,
            StatusCode::BAD_REQUEST,
            "JSON Value: \"2\" Type: String is not of expected type: float (input `features`)",
        ),
        (
            "/v1/models/m:predict",
            r#"{"instances": [[1, 2]"#,
            StatusCode::BAD_REQUEST,
            "JSON Parse error: Missing a comma or ']' after an array element. at offset: 21",
        ),
        (
            "/v1/models/m:classify",
            r#"{"examples": []}"#,
            StatusCode::NOT_IMPLEMENTED,
            ":classify (tf.Example input; use :predict) is not implemented",
        ),
        (
            "/v1/models/m:regress",
            r#"{"examples": []}"#,
            StatusCode::NOT_IMPLEMENTED,
            ":regress (tf.Example input; use :predict) is not implemented",
        ),
        (
            "/v1/models/m:explain",
            r#"{}"#,
            StatusCode::BAD_REQUEST,
            "Malformed request: POST /v1/models/m:explain",
        ),
    ];
    for (path, body, want_status, want) in cases {
        let (status, got) = post(sum(), path, body).await;
        assert_eq!((status, got), (*want_status, error(want)), "{path} {body}");
    }
}

#[tokio::test]
async fn multi_input_errors() {
    let cases: &[(&str, &str)] = &[
        (
            r#"{"instances": [[1, 2, 3]]}"#,
            "The signature has 2 inputs (x, n): 'instances' must name them (an object per instance)",
        ),
        (
            r#"{"instances": [{"x": [1, 2, 3]}]}"#,
            "Failed to process element: 0 key: n of 'instances' list. Error: missing input `n`",
        ),
        (
            r#"{"instances": [{"x": [1, 2, 3], "n": 1, "z": 0}]}"#,
            "instance 0 has an input `z` that is not in the signature; the inputs are: x, n",
        ),
        (
            r#"{"inputs": {"x": [[1, 2, 3]]}}"#,
            "Missing named input: n in 'inputs' object.",
        ),
        (
            r#"{"inputs": {"x": [[1, 2, 3]], "n": [1.5]}}"#,
            "JSON Value: 1.5 Type: Number is not of expected type: int64 (input `n`)",
        ),
        (
            r#"{"inputs": {"x": [[1, 2, 3]], "n": [true]}}"#,
            "JSON Value: true Type: True is not of expected type: int64 (input `n`)",
        ),
    ];
    for (body, want) in cases {
        let (status, got) = post(pair(), "/v1/models/m:predict", body).await;
        assert_eq!(
            (status, got),
            (StatusCode::BAD_REQUEST, error(want)),
            "{body}"
        );
    }
    // The model's own refusal (rows disagree) is a 400 too.
    let (status, got) = post(
        pair(),
        "/v1/models/m:predict",
        r#"{"inputs": {"x": [[1, 2, 3]], "n": [1, 2]}}"#,
    )
    .await;
    assert_eq!(
        (status, got),
        (
            StatusCode::BAD_REQUEST,
            error("x has 1 rows but n has shape [2]")
        )
    );
}

#[tokio::test]
async fn unknown_paths_under_v1_are_malformed_requests() {
    let (status, body) = get(sum(), "m", "/v1/foo").await;
    assert_eq!(
        (status, body),
        (
            StatusCode::BAD_REQUEST,
            error("Malformed request: GET /v1/foo")
        )
    );
    let (status, body) = get(sum(), "m", "/v1/models").await;
    assert_eq!(
        (status, body),
        (
            StatusCode::BAD_REQUEST,
            error("Missing model name in request.")
        )
    );
    let (status, body) = get(sum(), "m", "/v1/models/").await;
    assert_eq!(
        (status, body),
        (
            StatusCode::BAD_REQUEST,
            error("Malformed request: GET /v1/models/")
        )
    );
    let (status, body) = get(sum(), "m", "/v1/models/m/versions/x").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
}

#[tokio::test]
async fn requests_are_counted_as_tfserving() {
    let state = state(sum(), "m", None);
    let (status, _) = post_to(
        state.clone(),
        "/v1/models/m:predict",
        r#"{"instances": [[1, 2]]}"#,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let metrics = String::from_utf8(state.metrics.render()).unwrap();
    assert!(
        metrics
            .lines()
            .any(|l| l.contains("protocol=\"tfserving\"") && l.contains("code=\"200\"")),
        "{metrics}"
    );
}
