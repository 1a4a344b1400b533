//! The REST router without a socket: every Seldon v1 route and error shape, through `oneshot`.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use clap::Parser;
use http_body_util::BodyExt;
use oxserve_runtime::{Config, app, build_state};
use oxserve_tests::RowStatsModel;
use tower::ServiceExt;

fn router_with(args: &[&str]) -> axum::Router {
    let mut argv = vec!["oxserve"];
    argv.extend_from_slice(args);
    let config = Config::parse_from(argv);
    let dir = std::env::temp_dir();
    let state = build_state(&config, Arc::new(RowStatsModel::default()), &dir).unwrap();
    app(state)
}

fn router() -> axum::Router {
    router_with(&["--predictive-unit-id", "classifier", "--predictive-unit-image", "oxserve/test:1.2"])
}

async fn call(router: axum::Router, request: Request<Body>) -> (StatusCode, String, String) {
    let response = router.oneshot(request).await.unwrap();
    let status = response.status();
    let content_type = response
        .headers()
        .get(header::CONTENT_TYPE)
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    assert_eq!(response.headers().get("access-control-allow-origin").unwrap(), "*");
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, content_type, String::from_utf8(body.to_vec()).unwrap())
}

fn post_json(path: &str, body: &str) -> Request<Body> {
    Request::post(path)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_string()))
        .unwrap()
}

const RP: &str = r#""meta":{"requestPath":{"classifier":"oxserve/test:1.2"}}"#;

#[tokio::test]
async fn seed_curl_answers_one_row_with_t_names() {
    let (status, ct, body) = call(router(), post_json("/api/v1.0/predictions", r#"{ "data": { "ndarray": [1,2,3,4] } }"#)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(ct, "application/json");
    assert_eq!(
        body,
        format!(
            "{{\"data\":{{\"names\":[\"t:0\",\"t:1\",\"t:2\"],\"ndarray\":[[0.09003057317038046,0.24472847105479764,0.6652409557748218]]}},{RP}}}\n"
        )
    );
}

#[tokio::test]
async fn every_predict_route_and_encoding_gives_the_same_reply() {
    let json = r#"{"data":{"ndarray":[[1,2,3,4]]}}"#;
    let (_, _, want) = call(router(), post_json("/api/v1.0/predictions", json)).await;
    for path in ["/predict", "/api/v0.1/predictions"] {
        assert_eq!(call(router(), post_json(path, json)).await.2, want, "{path}");
    }
    let form = format!("json={}", urlencode(json));
    let req = Request::post("/predict")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(form.clone()))
        .unwrap();
    assert_eq!(call(router(), req).await.2, want, "form field");
    let req = Request::get(format!("/predict?{form}")).body(Body::empty()).unwrap();
    assert_eq!(call(router(), req).await.2, want, "query parameter");
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[tokio::test]
async fn tensor_in_tensor_out_and_meta_is_kept() {
    let body = r#"{"data":{"names":["a","b","c","d"],"tensor":{"shape":[2,4],"values":[1,2,3,4,0,0,0,0]}},
                   "meta":{"puid":"abc","tags":{"t1":"v1"},"routing":{"x":1},"requestPath":{"x":"y"},
                   "metrics":[{"key":"k","type":"GAUGE","value":2}]}}"#;
    let (status, _, reply) = call(router(), post_json("/api/v1.0/predictions", body)).await;
    assert_eq!(status, StatusCode::OK);
    let v: serde_json::Value = serde_json::from_str(&reply).unwrap();
    assert_eq!(v["data"]["names"], serde_json::json!(["t:0", "t:1", "t:2"]));
    assert_eq!(v["data"]["tensor"]["shape"], serde_json::json!([2, 3]));
    assert_eq!(v["data"]["tensor"]["values"].as_array().unwrap().len(), 6);
    assert!(v["data"].get("ndarray").is_none());
    assert_eq!(v["meta"]["puid"], "abc");
    assert_eq!(v["meta"]["tags"], serde_json::json!({"t1": "v1"}));
    assert_eq!(v["meta"]["requestPath"], serde_json::json!({"classifier": "oxserve/test:1.2", "x": "y"}));
    assert_eq!(v["meta"]["metrics"][0]["key"], "k");
    assert!(v["meta"].get("routing").is_none());
}

#[tokio::test]
async fn bad_input_gets_seldon_error_bodies() {
    let cases = [
        ("not json", 400, "Can't find JSON in data"),
        (r#"{"meta":{}}"#, 400, "Invalid request data type"),
        ("[1,2]", 400, "Invalid request data type"),
        (r#"{"data":{"ndarray":[[1,2,3]]}}"#, 400, "expects [rows, 4]"),
        (r#"{"data":{"ndarray":[[1,2],[3]]}}"#, 400, "ragged"),
        (r#"{"data":{"ndarray":[[1,"a"]]}}"#, 400, "mixes element types"),
        (r#"{"data":{"tensor":{"shape":[2,4],"values":[1]}}}"#, 400, "shape"),
        (r#"{"strData":"hello"}"#, 400, "not strData"),
        (r#"{"data":{"ndarray":[[-999,1,1,1]]}}"#, 500, "test model failure"),
        (r#"{"data":{"ndarray":[[666,1,1,1]]}}"#, 500, "internal error"),
    ];
    for (body, code, info) in cases {
        let (status, ct, reply) = call(router(), post_json("/api/v1.0/predictions", body)).await;
        assert_eq!(status.as_u16(), code, "{body}: {reply}");
        assert_eq!(ct, "application/json");
        let v: serde_json::Value = serde_json::from_str(&reply).unwrap();
        let s = &v["status"];
        assert_eq!(s["code"], -1, "{reply}");
        assert_eq!(s["status"], 1);
        let reason = if code == 400 { "MICROSERVICE_BAD_DATA" } else { "MICROSERVICE_INTERNAL_ERROR" };
        assert_eq!(s["reason"], reason, "{reply}");
        assert!(s["info"].as_str().unwrap().contains(info), "{body}: {reply}");
        assert_eq!(v.as_object().unwrap().len(), 1);
        assert_eq!(s.as_object().unwrap().len(), 4);
    }
}

#[tokio::test]
async fn body_limit_is_enforced_with_a_seldon_error() {
    let router = router_with(&["--max-body-bytes", "64"]);
    let big = format!(r#"{{"data":{{"ndarray":[[{}]]}}}}"#, vec!["1"; 100].join(","));
    let (status, _, reply) = call(router, post_json("/api/v1.0/predictions", &big)).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{reply}");
    assert!(reply.contains("MICROSERVICE_BAD_DATA"));
}

#[tokio::test]
async fn unknown_routes_and_methods_use_the_protocol_error_shape() {
    let (status, _, body) = call(router(), Request::get("/nope").body(Body::empty()).unwrap()).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(body.contains(r#""info":"404 Not Found"#), "{body}");
    let (status, _, body) = call(router(), Request::get("/api/v1.0/predictions").body(Body::empty()).unwrap()).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert!(body.contains("405 Method Not Allowed"), "{body}");
    let (status, _, body) = call(router(), Request::get("/v2/nope").body(Body::empty()).unwrap()).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(body.starts_with(r#"{"error":"#), "{body}");
}

#[tokio::test]
async fn feedback_health_metadata_and_probes() {
    let fb = r#"{"request":{"data":{"ndarray":[[1,2,3,4]]}},"reward":1}"#;
    let (status, _, body) = call(router(), post_json("/api/v1.0/feedback", fb)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, format!("{{\"data\":{{\"ndarray\":[]}},{RP}}}\n"));
    let (_, _, body) = call(router(), post_json("/api/v0.1/feedback", r#"{"reward":0}"#)).await;
    assert_eq!(body, format!("{{\"data\":{{\"tensor\":{{\"shape\":[0]}}}},{RP}}}\n"));
    let (_, _, body) = call(router(), post_json("/send-feedback", fb)).await;
    assert!(body.starts_with(r#"{"data":{"ndarray":[]}"#));
    let (status, _, body) = call(router(), post_json("/api/v1.0/feedback", r#"{"reward":1,"bogus":2}"#)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.contains("Invalid JSON"), "{body}");

    let (status, ct, body) = call(router(), Request::get("/health/ping").body(Body::empty()).unwrap()).await;
    assert_eq!((status, ct.as_str(), body.as_str()), (StatusCode::OK, "text/html; charset=utf-8", "pong"));
    for path in ["/health/status", "/api/v1.0/health/status"] {
        let (_, _, body) = call(router(), Request::get(path).body(Body::empty()).unwrap()).await;
        assert_eq!(body, format!("{{{RP},\"strData\":\"healthy\"}}\n"));
    }
    for path in ["/metadata", "/api/v1.0/metadata"] {
        let (_, _, body) = call(router(), Request::get(path).body(Body::empty()).unwrap()).await;
        assert_eq!(
            body,
            "{\"custom\":{},\"inputs\":[],\"name\":\"oxserve/test\",\"outputs\":[],\"platform\":\"\",\"versions\":[\"1.2\"]}\n"
        );
    }
    for path in ["/live", "/ready"] {
        let (status, _, _) = call(router(), Request::get(path).body(Body::empty()).unwrap()).await;
        assert_eq!(status, StatusCode::OK);
    }
}

#[tokio::test]
async fn model_node_routes_echo_or_refuse() {
    let (status, _, body) = call(router(), post_json("/transform-input", r#"{"data":{"names":["a","b"],"ndarray":[[1,2]]}}"#)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, format!("{{\"data\":{{\"names\":[\"t:0\",\"t:1\"],\"ndarray\":[[1,2]]}},{RP}}}\n"));
    let (_, _, body) = call(router(), post_json("/transform-output", r#"{"strData":"x"}"#)).await;
    assert_eq!(body, format!("{{{RP},\"strData\":\"x\"}}\n"));
    let (status, _, body) = call(router(), post_json("/route", r#"{"data":{"ndarray":[[1]]}}"#)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.contains("route is not implemented"));
    let (_, _, body) = call(router(), post_json("/aggregate", "{}")).await;
    assert!(body.contains("aggregate is not implemented"));
}

#[tokio::test]
async fn metadata_yaml_and_env_override_the_defaults() {
    let dir = oxserve_tests::TempDir::new("meta").unwrap();
    std::fs::write(
        dir.0.join("metadata.yaml"),
        "name: iris\nversions: [iris/v1]\nplatform: sklearn\ninputs:\n- datatype: BYTES\n  name: input\n  shape: [4]\n",
    )
    .unwrap();
    let config = Config::parse_from(["oxserve", "--model-metadata", "{\"platform\": \"oxserve\"}"]);
    let state = build_state(&config, Arc::new(RowStatsModel::default()), &dir.0).unwrap();
    let (_, _, body) = call(app(state), Request::get("/metadata").body(Body::empty()).unwrap()).await;
    assert_eq!(
        body,
        "{\"custom\":{},\"inputs\":[{\"datatype\":\"BYTES\",\"name\":\"input\",\"shape\":[4]}],\"name\":\"iris\",\"outputs\":[],\"platform\":\"oxserve\",\"versions\":[\"iris/v1\"]}\n"
    );
    std::fs::write(dir.0.join("metadata.yaml"), "name: iris\nbogus: 1\n").unwrap();
    let state = build_state(&config, Arc::new(RowStatsModel::default()), &dir.0).unwrap();
    let (status, _, body) = call(app(state), Request::get("/metadata").body(Body::empty()).unwrap()).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(body.contains("MICROSERVICE_BAD_METADATA") && body.contains("Model metadata unavailable"), "{body}");
}
