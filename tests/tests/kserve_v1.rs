//! KServe's V1 data plane on the runtime's REST app, without a socket: the routes, bodies, status codes and
//! error bodies of KServe's Python model server (`v1_endpoints.py`, `errors.py`), and the readiness sequence.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use clap::Parser;
use http_body_util::BodyExt;
use oxserve_runtime::{Config, ServerState, app, build_state};
use oxserve_tests::RowStatsModel;
use serde_json::{Value, json};
use tower::ServiceExt;

fn state(args: &[&str]) -> Arc<ServerState> {
    let mut argv = vec!["oxserve", "--model_name", "sklearn-iris"];
    argv.extend_from_slice(args);
    let config = Config::parse_from(argv);
    build_state(
        &config,
        Arc::new(RowStatsModel::default()),
        &std::env::temp_dir(),
    )
    .unwrap()
}

async fn call(
    state: &Arc<ServerState>,
    method: Method,
    path: &str,
    body: &str,
) -> (StatusCode, Value) {
    let request = Request::builder()
        .method(method)
        .uri(path)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_string()))
        .unwrap();
    let response = app(state.clone()).oneshot(request).await.unwrap();
    let status = response.status();
    assert_eq!(
        response.headers().get(header::CONTENT_TYPE).unwrap(),
        "application/json",
        "{path}"
    );
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let text = String::from_utf8(bytes.to_vec()).unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

const QUICKSTART: &str = r#"{"instances": [[6.8, 2.8, 4.8, 1.4], [6.0, 3.4, 4.5, 1.6]]}"#;

#[tokio::test]
async fn liveness_model_list_and_readiness() {
    let s = state(&[]);
    assert_eq!(
        call(&s, Method::GET, "/", "").await,
        (StatusCode::OK, json!({"status": "alive"}))
    );
    assert_eq!(
        call(&s, Method::GET, "/v1/models", "").await,
        (StatusCode::OK, json!({"models": ["sklearn-iris"]}))
    );
    assert_eq!(
        call(&s, Method::GET, "/v1/models/sklearn-iris", "").await,
        (
            StatusCode::OK,
            json!({"name": "sklearn-iris", "ready": true})
        )
    );
    assert_eq!(
        call(&s, Method::GET, "/v1/models/other", "").await,
        (
            StatusCode::NOT_FOUND,
            json!({"error": "Model with name other does not exist."})
        )
    );
    // Shutting down: the model is no longer ready (KServe's ModelNotReady, 503); liveness and predictions go on
    // while in-flight work drains.
    s.set_not_ready();
    assert_eq!(
        call(&s, Method::GET, "/v1/models/sklearn-iris", "").await,
        (
            StatusCode::SERVICE_UNAVAILABLE,
            json!({"error": "Model with name sklearn-iris is not ready."})
        )
    );
    assert_eq!(call(&s, Method::GET, "/", "").await.0, StatusCode::OK);
    let (status, _) = call(
        &s,
        Method::POST,
        "/v1/models/sklearn-iris:predict",
        QUICKSTART,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn predict_with_instances_or_inputs() {
    let s = state(&[]);
    let (status, reply) = call(
        &s,
        Method::POST,
        "/v1/models/sklearn-iris:predict",
        QUICKSTART,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{reply}");
    // The model's default output (`proba`, three columns), one entry per instance.
    let rows = reply["predictions"].as_array().unwrap();
    assert_eq!(rows.len(), 2, "{reply}");
    assert_eq!(rows[0].as_array().unwrap().len(), 3, "{reply}");
    assert_eq!(reply.as_object().unwrap().len(), 1, "{reply}");
    let (status, by_inputs) = call(
        &s,
        Method::POST,
        "/v1/models/sklearn-iris:predict",
        r#"{"inputs": [[6.8, 2.8, 4.8, 1.4], [6.0, 3.4, 4.5, 1.6]]}"#,
    )
    .await;
    assert_eq!((status, &by_inputs), (StatusCode::OK, &reply));
}

#[tokio::test]
async fn errors_in_kserves_shapes() {
    let s = state(&[]);
    let predict = "/v1/models/sklearn-iris:predict";
    let (status, reply) = call(&s, Method::POST, predict, "{not json").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        reply["error"]
            .as_str()
            .unwrap()
            .starts_with("Unrecognized request format: "),
        "{reply}"
    );
    assert_eq!(
        call(&s, Method::POST, predict, r#"{"data": [[1, 2, 3, 4]]}"#).await,
        (
            StatusCode::BAD_REQUEST,
            json!({"error": "Expected \"instances\" or \"inputs\" in the request body"})
        )
    );
    assert_eq!(
        call(&s, Method::POST, predict, r#"{"instances": 3}"#).await,
        (
            StatusCode::BAD_REQUEST,
            json!({"error": "Expected \"instances\" to be a list"})
        )
    );
    let (status, reply) = call(&s, Method::POST, predict, r#"{"instances": [[1, 2, 3]]}"#).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{reply}");
    assert!(
        reply["error"].as_str().unwrap().contains("[-1, 4]"),
        "{reply}"
    );
    // The model fails: 500, KServe's InferenceError status.
    let (status, reply) = call(
        &s,
        Method::POST,
        predict,
        r#"{"instances": [[-999, 0, 0, 0]]}"#,
    )
    .await;
    assert_eq!(
        (status, reply),
        (
            StatusCode::INTERNAL_SERVER_ERROR,
            json!({"error": "test model failure"})
        )
    );
    assert_eq!(
        call(&s, Method::POST, "/v1/models/nope:predict", QUICKSTART).await,
        (
            StatusCode::NOT_FOUND,
            json!({"error": "Model with name nope does not exist."})
        )
    );
    // `:explain` without an explainer: KServe's NotImplementedError, 501, after the body is decoded.
    assert_eq!(
        call(
            &s,
            Method::POST,
            "/v1/models/sklearn-iris:explain",
            QUICKSTART
        )
        .await,
        (
            StatusCode::NOT_IMPLEMENTED,
            json!({"error": "Could not find explainer_host."})
        )
    );
    assert_eq!(
        call(&s, Method::POST, "/v1/models/sklearn-iris:explain", "{")
            .await
            .0,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        call(&s, Method::POST, "/v1/models/nope:explain", QUICKSTART)
            .await
            .0,
        StatusCode::NOT_FOUND
    );
    // Routes V1 does not have, and methods it does not serve.
    assert_eq!(
        call(&s, Method::GET, predict, "").await.0,
        StatusCode::METHOD_NOT_ALLOWED
    );
    let (status, reply) = call(&s, Method::POST, "/v1/models/sklearn-iris/x:predict", "{}").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(reply["error"].is_string(), "{reply}");
    assert_eq!(
        call(&s, Method::DELETE, "/v1/models", "").await.0,
        StatusCode::METHOD_NOT_ALLOWED
    );
    // A 405 names what the path takes (RFC 9110; schemathesis's ST204 caught its absence on the V1 wildcard).
    for (method, path, allow) in [
        (Method::TRACE, "/v1/models/sklearn-iris", "GET"),
        (Method::TRACE, predict, "POST"),
        (Method::GET, "/v1/models/sklearn-iris:explain", "POST"),
        (Method::DELETE, "/v1/models", "GET,HEAD"),
    ] {
        let request = Request::builder()
            .method(method.clone())
            .uri(path)
            .body(Body::empty())
            .unwrap();
        let response = app(s.clone()).oneshot(request).await.unwrap();
        assert_eq!(
            response.status(),
            StatusCode::METHOD_NOT_ALLOWED,
            "{method} {path}"
        );
        assert_eq!(
            response
                .headers()
                .get(header::ALLOW)
                .map(|v| v.to_str().unwrap().replace(' ', "")),
            Some(allow.to_string()),
            "{method} {path}"
        );
    }
}

#[tokio::test]
async fn body_limit_and_metrics_label() {
    let s = state(&["--max-body-bytes", "64"]);
    let big = format!(
        r#"{{"instances": [{}]}}"#,
        vec!["[1, 2, 3, 4]"; 20].join(",")
    );
    let (status, reply) = call(&s, Method::POST, "/v1/models/sklearn-iris:predict", &big).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{reply}");
    assert!(reply["error"].as_str().unwrap().contains("64"), "{reply}");
    call(&s, Method::GET, "/", "").await;
    let metrics = String::from_utf8(s.metrics.render()).unwrap();
    assert!(
        metrics.contains(r#"protocol="kserve_v1""#) && metrics.contains(r#"code="413""#),
        "{metrics}"
    );
}

#[tokio::test]
async fn routes_are_documented_and_served() {
    let checked = oxserve_runtime::rest::check_document(state(&[]), &[])
        .await
        .unwrap();
    assert!(checked >= 37, "{checked}");
    let (status, doc) = call(&state(&[]), Method::GET, "/api/v1.0/doc/openapi.json", "").await;
    assert_eq!(status, StatusCode::OK);
    for path in [
        "/",
        "/v1/models",
        "/v1/models/{name}",
        "/v1/models/{name}:predict",
        "/v1/models/{name}:explain",
    ] {
        assert!(doc["paths"].get(path).is_some(), "{path} missing");
    }
}
