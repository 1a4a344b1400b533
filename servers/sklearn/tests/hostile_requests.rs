//! Issue #12, defect 1, against the real `sklearn-server` binary serving the bundled iris model: each request of
//! a few dozen bytes that used to abort the process ("memory allocation of … bytes failed") — a `tftensor` whose
//! one value is broadcast to 10^12 (or 3·10^8) elements, and zero-element tensors with a huge leading dimension
//! (`[1000000000000, 0]`, `[2147483647, 0]`) — over REST and gRPC, Seldon and V2, is answered 400 /
//! `INVALID_ARGUMENT` in the protocol's own error shape, and the process is alive and answers afterwards.

#![allow(clippy::unwrap_used)]

use std::path::Path;

use oxserve_protocol::pb::inference as v2pb;
use oxserve_protocol::pb::seldon::protos as pb;
use oxserve_protocol::pb::tensorflow::{DataType as TfType, TensorProto};
use oxserve_protocol::seldon::tftensor;
use oxserve_tests::{ServerProcess, repo_root};
use serde_json::{Value, json};

fn start(extra: &[(&str, &str)]) -> ServerProcess {
    let params = json!([{
        "name": "model_uri",
        "value": repo_root().join("examples/iris").display().to_string(),
        "type": "STRING"
    }])
    .to_string();
    let mut env = vec![
        ("PREDICTIVE_UNIT_PARAMETERS", params.as_str()),
        ("PREDICTIVE_UNIT_ID", "classifier"),
    ];
    env.extend_from_slice(extra);
    ServerProcess::start(Path::new(env!("CARGO_BIN_EXE_sklearn-server")), &env).unwrap()
}

async fn post(
    server: &ServerProcess,
    path: &str,
    body: Vec<u8>,
    header_len: Option<usize>,
) -> (u16, Value) {
    let mut request = oxserve_tests::http_client()
        .post(server.url(path))
        .header("Content-Type", "application/json");
    if let Some(len) = header_len {
        request = request.header("Inference-Header-Content-Length", len.to_string());
    }
    let reply = request.body(body).send().await.unwrap();
    let status = reply.status().as_u16();
    (status, reply.json().await.unwrap())
}

/// The process has not exited, and a valid request on each protocol still gets the iris answer.
async fn assert_alive(server: &mut ServerProcess) {
    assert!(server.try_wait().unwrap().is_none(), "the server exited");
    let (status, reply) = post(
        server,
        "/api/v1.0/predictions",
        br#"{"data":{"ndarray":[[5.1,3.5,1.4,0.2]]}}"#.to_vec(),
        None,
    )
    .await;
    assert_eq!(status, 200, "{reply}");
    let (status, reply) = post(
        server,
        "/v2/models/classifier/infer",
        br#"{"inputs":[{"name":"x","shape":[1,4],"datatype":"FP64","data":[5.1,3.5,1.4,0.2]}]}"#
            .to_vec(),
        None,
    )
    .await;
    assert_eq!(status, 200, "{reply}");
}

fn tftensor_json(size: &str) -> Vec<u8> {
    format!(
        r#"{{"data":{{"tftensor":{{"dtype":"DT_DOUBLE","tensorShape":{{"dim":[{{"size":"{size}"}}]}},"doubleVal":[1]}}}}}}"#
    )
    .into_bytes()
}

#[tokio::test]
async fn rest_reproductions_are_refused_and_the_process_lives() {
    let mut server = start(&[]);
    let seldon: [Vec<u8>; 4] = [
        tftensor_json("1000000000000"),
        tftensor_json("300000000"),
        br#"{"data":{"tensor":{"shape":[1000000000000,0],"values":[]}}}"#.to_vec(),
        br#"{"data":{"tensor":{"shape":[2147483647,0],"values":[]}}}"#.to_vec(),
    ];
    for body in seldon {
        let (status, reply) = post(&server, "/api/v1.0/predictions", body.clone(), None).await;
        assert_eq!(status, 400, "{reply}");
        let status = &reply["status"];
        assert_eq!(status["reason"], "MICROSERVICE_BAD_DATA", "{reply}");
        assert!(
            status["info"].as_str().unwrap().contains("request limit"),
            "{reply}"
        );
        assert_alive(&mut server).await;
    }
    // The messages name the shape and the limit: a dimension beyond it, or a broadcast of 10^7 doubles (80 MB)
    // that stays within the element budget but not within what a 64 MiB body could carry.
    let (status, reply) = post(
        &server,
        "/api/v1.0/predictions",
        tftensor_json("1000000000000"),
        None,
    )
    .await;
    assert_eq!(status, 400, "{reply}");
    let info = reply["status"]["info"].as_str().unwrap();
    assert!(
        info.contains(
            "tensor shape [1000000000000] declares 1000000000000 elements along one dimension"
        ),
        "{reply}"
    );
    let body = br#"{"data":{"tftensor":{"dtype":"DT_DOUBLE","tensorShape":{"dim":[{"size":"1000000"},{"size":"10"}]},"doubleVal":[1]}}}"#;
    let (status, reply) = post(&server, "/api/v1.0/predictions", body.to_vec(), None).await;
    assert_eq!(status, 400, "{reply}");
    let info = reply["status"]["info"].as_str().unwrap();
    assert!(
        info.contains("tensor shape [1000000, 10] broadcasts one value"),
        "{reply}"
    );
    assert_alive(&mut server).await;

    let v2 = br#"{"inputs":[{"name":"x","shape":[1000000000000,0],"datatype":"FP64","data":[]}]}"#;
    let (status, reply) = post(&server, "/v2/models/classifier/infer", v2.to_vec(), None).await;
    assert_eq!(status, 400, "{reply}");
    assert!(
        reply["error"]
            .as_str()
            .unwrap()
            .contains("tensor shape [1000000000000, 0] declares 1000000000000 rows"),
        "{reply}"
    );
    assert_alive(&mut server).await;

    let header = r#"{"inputs":[{"name":"x","shape":[2147483647,0],"datatype":"FP64","parameters":{"binary_data_size":0}}]}"#;
    let (status, reply) = post(
        &server,
        "/v2/models/classifier/infer",
        header.as_bytes().to_vec(),
        Some(header.len()),
    )
    .await;
    assert_eq!(status, 400, "{reply}");
    assert!(
        reply["error"].as_str().unwrap().contains("request limit"),
        "{reply}"
    );
    assert_alive(&mut server).await;
}

fn seldon_tensor(shape: Vec<i32>) -> pb::SeldonMessage {
    pb::SeldonMessage {
        data_oneof: Some(pb::seldon_message::DataOneof::Data(pb::DefaultData {
            names: vec![],
            data_oneof: Some(pb::default_data::DataOneof::Tensor(pb::Tensor {
                shape,
                values: vec![],
            })),
        })),
        ..Default::default()
    }
}

fn seldon_tftensor(dims: &[i64]) -> pb::SeldonMessage {
    pb::SeldonMessage {
        data_oneof: Some(pb::seldon_message::DataOneof::Data(pb::DefaultData {
            names: vec![],
            data_oneof: Some(pb::default_data::DataOneof::Tftensor(TensorProto {
                double_val: vec![1.0],
                ..tftensor::empty_proto(TfType::DtDouble, dims)
            })),
        })),
        ..Default::default()
    }
}

fn v2_request(shape: Vec<i64>, raw: bool) -> v2pb::ModelInferRequest {
    v2pb::ModelInferRequest {
        model_name: "classifier".into(),
        inputs: vec![v2pb::model_infer_request::InferInputTensor {
            name: "x".into(),
            datatype: "FP64".into(),
            shape,
            contents: (!raw).then(v2pb::InferTensorContents::default),
            ..Default::default()
        }],
        raw_input_contents: if raw {
            vec![Default::default()]
        } else {
            vec![]
        },
        ..Default::default()
    }
}

#[tokio::test]
async fn grpc_reproductions_are_refused_and_the_process_lives() {
    let mut server = start(&[]);
    let endpoint = format!("http://127.0.0.1:{}", server.grpc);
    let mut seldon = pb::model_client::ModelClient::connect(endpoint.clone())
        .await
        .unwrap();
    let hostile = [
        seldon_tensor(vec![i32::MAX, 0]),
        seldon_tftensor(&[1_000_000_000_000]),
        seldon_tftensor(&[300_000_000]),
    ];
    for request in hostile {
        let err = seldon.predict(request).await.unwrap_err();
        assert_eq!(err.code(), tonic::Code::InvalidArgument, "{err:?}");
        assert!(err.message().contains("request limit"), "{err:?}");
        assert_alive(&mut server).await;
    }

    let mut v2 = v2pb::grpc_inference_service_client::GrpcInferenceServiceClient::connect(endpoint)
        .await
        .unwrap();
    for raw in [false, true] {
        let err = v2
            .model_infer(v2_request(vec![i64::from(i32::MAX), 0], raw))
            .await
            .unwrap_err();
        assert_eq!(err.code(), tonic::Code::InvalidArgument, "{err:?}");
        assert!(
            err.message()
                .contains("tensor shape [2147483647, 0] declares 2147483647 rows"),
            "{err:?}"
        );
        assert_alive(&mut server).await;
    }
    let ok = v2
        .model_infer(v2pb::ModelInferRequest {
            model_name: "classifier".into(),
            inputs: vec![v2pb::model_infer_request::InferInputTensor {
                name: "x".into(),
                datatype: "FP64".into(),
                shape: vec![1, 4],
                contents: Some(v2pb::InferTensorContents {
                    fp64_contents: vec![5.1, 3.5, 1.4, 0.2],
                    ..Default::default()
                }),
                ..Default::default()
            }],
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(ok.outputs.len(), 1);
}

#[tokio::test]
async fn the_budget_follows_max_body_bytes() {
    let mut server = start(&[("OXSERVE_MAX_BODY_BYTES", "4096")]);
    let broadcast = |rows: usize| {
        format!(
            r#"{{"data":{{"tftensor":{{"dtype":"DT_DOUBLE","tensorShape":{{"dim":[{{"size":"{rows}"}},{{"size":"4"}}]}},"doubleVal":[1]}}}}}}"#
        )
        .into_bytes()
    };
    // 100 rows of 4 (3,200 bytes of doubles) fit a 4 KiB budget; 200 rows (6,400 bytes) do not.
    let (status, reply) = post(&server, "/api/v1.0/predictions", broadcast(100), None).await;
    assert_eq!(status, 200, "{reply}");
    assert_eq!(
        reply["data"]["tftensor"]["tensorShape"]["dim"][0]["size"],
        "100"
    );
    let (status, reply) = post(&server, "/api/v1.0/predictions", broadcast(200), None).await;
    assert_eq!(status, 400, "{reply}");
    assert!(
        reply["status"]["info"]
            .as_str()
            .unwrap()
            .contains("4096 bytes"),
        "{reply}"
    );
    // A zero-width tensor with more rows than the 4,096-cell budget.
    let (status, reply) = post(
        &server,
        "/v2/models/classifier/infer",
        br#"{"inputs":[{"name":"x","shape":[5000,0],"datatype":"FP64","data":[]}]}"#.to_vec(),
        None,
    )
    .await;
    assert_eq!(status, 400, "{reply}");
    assert!(
        reply["error"].as_str().unwrap().contains("5000 rows"),
        "{reply}"
    );
    assert_alive(&mut server).await;
}
