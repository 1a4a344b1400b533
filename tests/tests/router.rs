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
    router_with(&[
        "--predictive-unit-id",
        "classifier",
        "--predictive-unit-image",
        "oxserve/test:1.2",
    ])
}

async fn call(router: axum::Router, request: Request<Body>) -> (StatusCode, String, String) {
    let response = router.oneshot(request).await.unwrap();
    let status = response.status();
    let content_type = response
        .headers()
        .get(header::CONTENT_TYPE)
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    assert_eq!(
        response
            .headers()
            .get("access-control-allow-origin")
            .unwrap(),
        "*"
    );
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        content_type,
        String::from_utf8(body.to_vec()).unwrap(),
    )
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
    let (status, ct, body) = call(
        router(),
        post_json(
            "/api/v1.0/predictions",
            r#"{ "data": { "ndarray": [1,2,3,4] } }"#,
        ),
    )
    .await;
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
        assert_eq!(
            call(router(), post_json(path, json)).await.2,
            want,
            "{path}"
        );
    }
    let form = format!("json={}", urlencode(json));
    let req = Request::post("/predict")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(form.clone()))
        .unwrap();
    assert_eq!(call(router(), req).await.2, want, "form field");
    let req = Request::get(format!("/predict?{form}"))
        .body(Body::empty())
        .unwrap();
    assert_eq!(call(router(), req).await.2, want, "query parameter");
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
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
    assert_eq!(
        v["meta"]["requestPath"],
        serde_json::json!({"classifier": "oxserve/test:1.2", "x": "y"})
    );
    assert_eq!(v["meta"]["metrics"][0]["key"], "k");
    assert!(v["meta"].get("routing").is_none());
}

#[tokio::test]
async fn bad_input_gets_seldon_error_bodies() {
    let cases = [
        ("not json", 400, "Can't find JSON in data"),
        (r#"{"meta":{}}"#, 400, "Invalid request data type"),
        ("[1,2]", 400, "Invalid request data type"),
        (
            r#"{"data":{"ndarray":[[1,2,3]]}}"#,
            400,
            "expects [rows, 4]",
        ),
        (r#"{"data":{"ndarray":[[1,2],[3]]}}"#, 400, "ragged"),
        (
            r#"{"data":{"ndarray":[[1,"a"]]}}"#,
            400,
            "mixes element types",
        ),
        (
            r#"{"data":{"tensor":{"shape":[2,4],"values":[1]}}}"#,
            400,
            "shape",
        ),
        (r#"{"strData":"hello"}"#, 400, "not strData"),
        (
            r#"{"data":{"ndarray":[[-999,1,1,1]]}}"#,
            500,
            "test model failure",
        ),
        (
            r#"{"data":{"ndarray":[[666,1,1,1]]}}"#,
            500,
            "internal error",
        ),
    ];
    for (body, code, info) in cases {
        let (status, ct, reply) = call(router(), post_json("/api/v1.0/predictions", body)).await;
        assert_eq!(status.as_u16(), code, "{body}: {reply}");
        assert_eq!(ct, "application/json");
        let v: serde_json::Value = serde_json::from_str(&reply).unwrap();
        let s = &v["status"];
        assert_eq!(s["code"], -1, "{reply}");
        assert_eq!(s["status"], 1);
        let reason = if code == 400 {
            "MICROSERVICE_BAD_DATA"
        } else {
            "MICROSERVICE_INTERNAL_ERROR"
        };
        assert_eq!(s["reason"], reason, "{reply}");
        assert!(
            s["info"].as_str().unwrap().contains(info),
            "{body}: {reply}"
        );
        assert_eq!(v.as_object().unwrap().len(), 1);
        assert_eq!(s.as_object().unwrap().len(), 4);
    }
}

#[tokio::test]
async fn body_limit_is_enforced_with_a_seldon_error() {
    let router = router_with(&["--max-body-bytes", "64"]);
    let big = format!(
        r#"{{"data":{{"ndarray":[[{}]]}}}}"#,
        vec!["1"; 100].join(",")
    );
    let (status, _, reply) = call(router, post_json("/api/v1.0/predictions", &big)).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{reply}");
    assert!(reply.contains("MICROSERVICE_BAD_DATA"));
}

#[tokio::test]
async fn unknown_routes_and_methods_use_the_protocol_error_shape() {
    let (status, _, body) =
        call(router(), Request::get("/nope").body(Body::empty()).unwrap()).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(body.contains(r#""info":"404 Not Found"#), "{body}");
    let (status, _, body) = call(
        router(),
        Request::get("/api/v1.0/predictions")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert!(body.contains("405 Method Not Allowed"), "{body}");
    let (status, _, body) = call(
        router(),
        Request::get("/v2/nope").body(Body::empty()).unwrap(),
    )
    .await;
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
    assert_eq!(
        body,
        format!("{{\"data\":{{\"tensor\":{{\"shape\":[0]}}}},{RP}}}\n")
    );
    let (_, _, body) = call(router(), post_json("/send-feedback", fb)).await;
    assert!(body.starts_with(r#"{"data":{"ndarray":[]}"#));
    let (status, _, body) = call(
        router(),
        post_json("/api/v1.0/feedback", r#"{"reward":1,"bogus":2}"#),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.contains("Invalid JSON"), "{body}");

    let (status, ct, body) = call(
        router(),
        Request::get("/health/ping").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(
        (status, ct.as_str(), body.as_str()),
        (StatusCode::OK, "text/html; charset=utf-8", "pong")
    );
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
    let (status, _, body) = call(
        router(),
        post_json(
            "/transform-input",
            r#"{"data":{"names":["a","b"],"ndarray":[[1,2]]}}"#,
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body,
        format!("{{\"data\":{{\"names\":[\"t:0\",\"t:1\"],\"ndarray\":[[1,2]]}},{RP}}}\n")
    );
    let (_, _, body) = call(
        router(),
        post_json("/transform-output", r#"{"strData":"x"}"#),
    )
    .await;
    assert_eq!(body, format!("{{{RP},\"strData\":\"x\"}}\n"));
    let (status, _, body) = call(
        router(),
        post_json("/route", r#"{"data":{"ndarray":[[1]]}}"#),
    )
    .await;
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
    let (_, _, body) = call(
        app(state),
        Request::get("/metadata").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(
        body,
        "{\"custom\":{},\"inputs\":[{\"datatype\":\"BYTES\",\"name\":\"input\",\"shape\":[4]}],\"name\":\"iris\",\"outputs\":[],\"platform\":\"oxserve\",\"versions\":[\"iris/v1\"]}\n"
    );
    std::fs::write(dir.0.join("metadata.yaml"), "name: iris\nbogus: 1\n").unwrap();
    let state = build_state(&config, Arc::new(RowStatsModel::default()), &dir.0).unwrap();
    let (status, _, body) = call(
        app(state),
        Request::get("/metadata").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(
        body.contains("MICROSERVICE_BAD_METADATA") && body.contains("Model metadata unavailable"),
        "{body}"
    );
}

#[tokio::test]
async fn v2_routes_answer_in_v2_shapes() {
    let get = |p: &str| Request::get(p).body(Body::empty()).unwrap();
    let (status, _, body) = call(router(), get("/v2")).await;
    assert_eq!(status, StatusCode::OK);
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["name"], "oxserve");
    assert_eq!(v["extensions"], serde_json::json!(["binary_tensor_data"]));
    assert_eq!(
        call(router(), get("/v2/health/live")).await.2,
        r#"{"live":true}"#
    );
    assert_eq!(
        call(router(), get("/v2/health/ready")).await.2,
        r#"{"ready":true}"#
    );
    assert_eq!(
        call(router(), get("/v2/models/classifier/ready")).await.2,
        r#"{"name":"classifier","ready":true}"#
    );
    let (status, _, body) = call(router(), get("/v2/models/nope/ready")).await;
    assert_eq!(
        (status, body.as_str()),
        (StatusCode::NOT_FOUND, r#"{"error":"Model nope not found"}"#)
    );
    let (status, _, body) = call(router(), get("/v2/models/classifier/versions/v9")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        body,
        r#"{"error":"Model classifier with version v9 not found"}"#
    );

    let (status, _, body) = call(router(), get("/v2/models/classifier")).await;
    assert_eq!(status, StatusCode::OK);
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["name"], "classifier");
    assert_eq!(v["platform"], "oxserve-test");
    assert_eq!(
        v["inputs"][0],
        serde_json::json!({"name": "input-0", "datatype": "FP64", "shape": [-1, 4]})
    );
    assert_eq!(v["outputs"][1]["name"], "sum");

    let infer = r#"{"id":"r1","inputs":[{"name":"input-0","shape":[2,4],"datatype":"FP64","data":[1,2,3,4,0,0,0,0]}],
                    "outputs":[{"name":"sum"},{"name":"proba"}]}"#;
    let (status, ct, body) = call(router(), post_json("/v2/models/classifier/infer", infer)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(ct, "application/json");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["model_name"], "classifier");
    assert_eq!(v["id"], "r1");
    assert_eq!(
        v["outputs"][0],
        serde_json::json!({"name":"sum","shape":[2],"datatype":"FP64","data":[10.0,0.0]})
    );
    assert_eq!(v["outputs"][1]["shape"], serde_json::json!([2, 3]));
    // No id: the server makes one (a UUID, as MLServer does).
    let (_, _, body) = call(
        router(),
        post_json(
            "/v2/models/classifier/infer",
            r#"{"inputs":[{"name":"x","shape":[1,4],"datatype":"FP64","data":[1,2,3,4]}]}"#,
        ),
    )
    .await;
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["id"].as_str().unwrap().len(), 36, "{body}");

    let errors = [
        ("/v2/models/classifier/infer", "not json", 400),
        (
            "/v2/models/classifier/infer",
            r#"{"inputs":[{"name":"x","shape":[1,3],"datatype":"FP64","data":[1,2,3]}]}"#,
            400,
        ),
        (
            "/v2/models/classifier/infer",
            r#"{"inputs":[{"name":"x","shape":[1,4],"datatype":"FP64","data":[1,2,3]}]}"#,
            400,
        ),
        (
            "/v2/models/classifier/infer",
            r#"{"inputs":[{"name":"x","shape":[1,4],"datatype":"FP64","data":[1,2,3,4]}],"outputs":[{"name":"nope"}]}"#,
            400,
        ),
        (
            "/v2/models/classifier/infer",
            r#"{"inputs":[{"name":"x","shape":[1,4],"datatype":"FP64","data":[-999,2,3,4]}]}"#,
            500,
        ),
        ("/v2/models/other/infer", r#"{"inputs":[]}"#, 404),
    ];
    for (path, body, code) in errors {
        let (status, _, reply) = call(router(), post_json(path, body)).await;
        assert_eq!(status.as_u16(), code, "{body}: {reply}");
        let v: serde_json::Value = serde_json::from_str(&reply).unwrap();
        assert!(
            v["error"].is_string() && v.as_object().unwrap().len() == 1,
            "{reply}"
        );
    }
}

#[tokio::test]
async fn v2_binary_extension_round_trip() {
    let header = r#"{"inputs":[{"name":"input-0","shape":[1,4],"datatype":"FP64","parameters":{"binary_data_size":32}}],"outputs":[{"name":"sum","parameters":{"binary_data":true}}]}"#;
    let mut body = header.as_bytes().to_vec();
    for v in [1.0f64, 2.0, 3.0, 4.0] {
        body.extend_from_slice(&v.to_le_bytes());
    }
    let request = Request::post("/v2/models/classifier/infer")
        .header(header::CONTENT_TYPE, "application/octet-stream")
        .header("inference-header-content-length", header.len().to_string())
        .body(Body::from(body))
        .unwrap();
    let response = router().oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let json_len: usize = response.headers()["inference-header-content-length"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let head: serde_json::Value = serde_json::from_slice(&bytes[..json_len]).unwrap();
    assert_eq!(head["outputs"][0]["parameters"]["binary_data_size"], 8);
    assert_eq!(&bytes[json_len..], &10.0f64.to_le_bytes());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_the_concurrency_limit_requests_are_refused_at_once() {
    let router = router_with(&["--max-concurrency", "1"]);
    let slow = r#"{"data":{"ndarray":[[777,1,1,1]]}}"#;
    let first = tokio::spawn(call(
        router.clone(),
        post_json("/api/v1.0/predictions", slow),
    ));
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    let started = std::time::Instant::now();
    let (status, _, body) = call(router.clone(), post_json("/api/v1.0/predictions", slow)).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert!(
        started.elapsed() < std::time::Duration::from_millis(200),
        "refusal must not wait"
    );
    assert!(body.contains("overloaded"), "{body}");
    let (status, _, _) = call(
        router.clone(),
        post_json(
            "/v2/models/model/infer",
            r#"{"inputs":[{"name":"x","shape":[1,4],"datatype":"FP64","data":[777,1,1,1]}]}"#,
        ),
    )
    .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(first.await.unwrap().0, StatusCode::OK);
    let (status, _, _) = call(
        router,
        post_json(
            "/api/v1.0/predictions",
            r#"{"data":{"ndarray":[[1,1,1,1]]}}"#,
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "the slot is free again");
}

#[tokio::test]
async fn lenient_inputs_found_by_schemathesis_are_refused_or_safe() {
    let (status, _, body) = call(
        router(),
        post_json("/api/v1.0/feedback", r#"{"reward":-1.5}"#),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::OK,
        "a negative reward is accepted: {body}"
    );
    let (status, _, body) = call(router(), post_json("/api/v1.0/feedback", "[null, null]")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, _, body) = call(
        router(),
        post_json("/transform-input", r#"{"data":{"ndarray":"AAA"}}"#),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body.contains("must be a list"), "{body}");
}

/// Shutting down: readiness probes fail with KServe's 503 (not an overload 429), liveness still answers.
#[tokio::test]
async fn readiness_during_shutdown_is_503() {
    let config = Config::parse_from(["oxserve"]);
    let state = build_state(
        &config,
        Arc::new(RowStatsModel::default()),
        &std::env::temp_dir(),
    )
    .unwrap();
    let get = |p: &str| Request::get(p).body(Body::empty()).unwrap();
    state.set_not_ready();
    let (status, _, body) = call(app(state.clone()), get("/v2/health/ready")).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body, r#"{"error":"server is shutting down"}"#);
    assert_eq!(
        call(app(state.clone()), get("/ready")).await.0,
        StatusCode::SERVICE_UNAVAILABLE
    );
    assert_eq!(
        call(app(state), get("/v2/health/live")).await.0,
        StatusCode::OK
    );
}
