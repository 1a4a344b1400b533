//! The server binary as a real process on loopback ephemeral ports: REST, gRPC (tonic clients), metrics,
//! start-up failures, and graceful shutdown with requests in flight.

#![allow(clippy::unwrap_used)]

use std::path::Path;

use oxserve_protocol::pb::seldon::protos as pb;
use oxserve_tests::{ServerProcess, TempDir};

fn binary() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_oxserve-test-server"))
}

fn start(model_dir: &Path, extra: &[(&str, &str)]) -> ServerProcess {
    let mut env = vec![
        ("PREDICTIVE_UNIT_ID", "classifier"),
        ("PREDICTIVE_UNIT_IMAGE", "oxserve/test:1.2"),
        ("PREDICTIVE_UNIT_METRICS_ENDPOINT", "/prometheus"),
    ];
    env.extend_from_slice(extra);
    ServerProcess::start_with_model(binary(), model_dir, &env).unwrap()
}

fn row(values: &[f64]) -> pb::SeldonMessage {
    let list = prost_types::ListValue {
        values: vec![prost_types::Value {
            kind: Some(prost_types::value::Kind::ListValue(
                prost_types::ListValue {
                    values: values
                        .iter()
                        .map(|&v| prost_types::Value {
                            kind: Some(prost_types::value::Kind::NumberValue(v)),
                        })
                        .collect(),
                },
            )),
        }],
    };
    pb::SeldonMessage {
        data_oneof: Some(pb::seldon_message::DataOneof::Data(pb::DefaultData {
            names: vec![],
            data_oneof: Some(pb::default_data::DataOneof::Ndarray(list)),
        })),
        ..Default::default()
    }
}

#[tokio::test]
async fn rest_grpc_and_metrics_on_their_ports() {
    let dir = TempDir::new("model").unwrap();
    let server = start(&dir.0, &[]);
    let client = oxserve_tests::http_client();
    let reply = client
        .post(server.url("/api/v1.0/predictions"))
        .header("Content-Type", "application/json")
        .body(r#"{ "data": { "ndarray": [1,2,3,4] } }"#)
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 200);
    let body: serde_json::Value = reply.json().await.unwrap();
    assert_eq!(
        body["data"]["names"],
        serde_json::json!(["t:0", "t:1", "t:2"])
    );

    let endpoint = format!("http://127.0.0.1:{}", server.grpc);
    let mut model = pb::model_client::ModelClient::connect(endpoint.clone())
        .await
        .unwrap();
    let mut request = row(&[1.0, 2.0, 3.0, 4.0]);
    request.meta = Some(pb::Meta {
        puid: "xyz".into(),
        ..Default::default()
    });
    let reply = model.predict(request.clone()).await.unwrap().into_inner();
    let meta = reply.meta.clone().unwrap();
    assert_eq!(meta.puid, "xyz");
    assert_eq!(
        meta.request_path.get("classifier").map(String::as_str),
        Some("oxserve/test:1.2")
    );
    let Some(pb::seldon_message::DataOneof::Data(data)) = reply.data_oneof.clone() else {
        panic!("no data in {reply:?}")
    };
    assert_eq!(data.names, ["t:0", "t:1", "t:2"]);
    let Some(pb::default_data::DataOneof::Ndarray(list)) = data.data_oneof else {
        panic!("no ndarray")
    };
    assert_eq!(list.values.len(), 1);

    let mut seldon = pb::seldon_client::SeldonClient::connect(endpoint.clone())
        .await
        .unwrap();
    let reply2 = seldon.predict(request).await.unwrap().into_inner();
    assert_eq!(reply2, reply);
    let md = seldon
        .model_metadata(pb::SeldonModelMetadataRequest { name: "any".into() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (md.name.as_str(), md.versions.clone()),
        ("oxserve/test", vec!["1.2".to_string()])
    );
    assert_eq!(model.metadata(()).await.unwrap().into_inner(), md);
    assert_eq!(
        seldon.graph_metadata(()).await.unwrap_err().code(),
        tonic::Code::Unknown
    );

    let err = model.predict(row(&[1.0, 2.0, 3.0])).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::InvalidArgument, "{err:?}");
    let err = model
        .predict(row(&[666.0, 1.0, 1.0, 1.0]))
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::Internal, "{err:?}");
    // The panic above did not take the process down.
    assert!(model.predict(row(&[1.0, 2.0, 3.0, 4.0])).await.is_ok());

    let fb = model
        .send_feedback(pb::Feedback {
            request: Some(row(&[1.0, 2.0, 3.0, 4.0])),
            reward: 1.0,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(fb.meta.is_some());
    let mut generic = pb::generic_client::GenericClient::connect(endpoint)
        .await
        .unwrap();
    let echoed = generic
        .transform_input(row(&[1.0, 2.0]))
        .await
        .unwrap()
        .into_inner();
    let Some(pb::seldon_message::DataOneof::Data(d)) = echoed.data_oneof else {
        panic!()
    };
    assert_eq!(d.names, ["t:0", "t:1"]);
    assert!(generic.route(row(&[1.0])).await.is_err());

    let metrics = client
        .get(format!("http://127.0.0.1:{}/prometheus", server.metrics))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains(r#"oxserve_requests_total{code="200",protocol="seldon",route="/api/v1.0/predictions",transport="rest"} 1"#),
        "{metrics}"
    );
    assert!(
        metrics.contains("seldon_api_model_feedback_total"),
        "{metrics}"
    );
    assert!(
        metrics.contains("process_resident_memory_bytes"),
        "{metrics}"
    );
    let other = client
        .get(format!("http://127.0.0.1:{}/metrics", server.metrics))
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), 404);
}

#[tokio::test]
async fn sigterm_finishes_in_flight_requests() {
    let dir = TempDir::new("model").unwrap();
    let marker = dir.0.join("in-flight");
    let marker_env = marker.display().to_string();
    // One worker per request: a model running inline holds its worker, so all four are read and in flight.
    let server = start(
        &dir.0,
        &[
            ("OXSERVE_TEST_SLOW_MARKER", marker_env.as_str()),
            ("TOKIO_WORKER_THREADS", "4"),
        ],
    );
    let client = oxserve_tests::http_client();
    let url = server.url("/api/v1.0/predictions");
    let mut calls = Vec::new();
    for _ in 0..4 {
        let (client, url) = (client.clone(), url.clone());
        calls.push(tokio::spawn(async move {
            client
                .post(url)
                .header("Content-Type", "application/json")
                .body(r#"{"data":{"ndarray":[[777,1,1,1]]}}"#)
                .send()
                .await
                .map(|r| r.status().as_u16())
        }));
    }
    // Signal only once the model has started all four (the marker gets a line per request), at most 10 s.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while std::fs::read_to_string(&marker).map_or(0, |t| t.lines().count()) < 4 {
        assert!(
            std::time::Instant::now() < deadline,
            "the requests never reached the model"
        );
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    let status = tokio::task::spawn_blocking(move || server.terminate())
        .await
        .unwrap()
        .unwrap();
    for call in calls {
        assert_eq!(
            call.await.unwrap().unwrap(),
            200,
            "an in-flight request was cut"
        );
    }
    assert!(status.success(), "exit status {status}");
}

#[test]
fn startup_fails_cleanly_on_bad_configuration() {
    let dir = TempDir::new("model").unwrap();
    let model = dir.0.display().to_string();
    let cases = [
        format!(
            r#"[{{"name":"model_uri","value":"{model}","type":"STRING"}},{{"name":"foo","value":"1","type":"STRING"}}]"#
        ),
        format!(
            r#"[{{"name":"model_uri","value":"{model}","type":"STRING"}},{{"name":"method","value":"1","type":"BLOB"}}]"#
        ),
        r#"[{"name":"model_uri","value":"/does/not/exist","type":"STRING"}]"#.to_string(),
        "[]".to_string(),
    ];
    for params in cases {
        let result =
            ServerProcess::start(binary(), &[("PREDICTIVE_UNIT_PARAMETERS", params.as_str())]);
        let err = result.expect_err("server should refuse to start");
        assert!(err.to_string().contains("exited"), "{params}: {err}");
    }
}

#[tokio::test]
async fn grpc_reflection_lists_every_service() {
    use tonic_reflection::pb::v1::ServerReflectionRequest;
    use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;

    let dir = TempDir::new("model").unwrap();
    let server = start(&dir.0, &[]);
    let channel =
        tonic::transport::Endpoint::from_shared(format!("http://127.0.0.1:{}", server.grpc))
            .unwrap()
            .connect()
            .await
            .unwrap();
    let mut client = ServerReflectionClient::new(channel);
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut replies = client
        .server_reflection_info(tokio_stream::iter(vec![request]))
        .await
        .unwrap()
        .into_inner();
    let reply = replies.message().await.unwrap().unwrap();
    let Some(MessageResponse::ListServicesResponse(list)) = reply.message_response else {
        panic!("unexpected reply {reply:?}")
    };
    let names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
    for want in [
        "seldon.protos.Model",
        "seldon.protos.Seldon",
        "seldon.protos.Generic",
        "seldon.protos.Transformer",
        "seldon.protos.OutputTransformer",
        "seldon.protos.Router",
        "seldon.protos.Combiner",
        "inference.GRPCInferenceService",
    ] {
        assert!(
            names.iter().any(|n| n == want),
            "{want} missing from {names:?}"
        );
    }
}
