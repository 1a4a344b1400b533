//! REST and gRPC as equals, against the real test server: every gRPC request moves the same counters on
//! `/prometheus` as REST's (labelled `transport="grpc"` and the method path), a panic is caught per request on
//! both, and the same bad input answers the same class of status on both transports (the table in the
//! runtime's `error.rs`: 400 ↔ `INVALID_ARGUMENT`, 404 ↔ `NOT_FOUND`, 413 ↔ `RESOURCE_EXHAUSTED`,
//! 500 ↔ `INTERNAL`).

#![allow(clippy::unwrap_used)]

use std::path::Path;

use oxserve_protocol::pb::inference as v2pb;
use oxserve_protocol::pb::seldon::protos as pb;
use oxserve_tests::{ServerProcess, TempDir};
use prost_types::value::Kind;

/// The largest body (and gRPC message) the parity server accepts.
const MAX_BODY: usize = 4096;

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

async fn scrape(server: &ServerProcess) -> String {
    oxserve_tests::http_client()
        .get(format!("http://127.0.0.1:{}/prometheus", server.metrics))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// The value of the series of `metric` whose labels are exactly `labels` (0 when absent).
fn series(metrics: &str, metric: &str, labels: &[(&str, &str)]) -> f64 {
    let mut wanted: Vec<String> = labels.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
    wanted.sort();
    let wanted = format!("{metric}{{{}}} ", wanted.join(","));
    metrics
        .lines()
        .find_map(|line| line.strip_prefix(wanted.as_str()))
        .map_or(0.0, |value| value.trim().parse().unwrap())
}

fn requests(metrics: &str, transport: &str, protocol: &str, route: &str, code: &str) -> f64 {
    series(
        metrics,
        "oxserve_requests_total",
        &[
            ("transport", transport),
            ("protocol", protocol),
            ("route", route),
            ("code", code),
        ],
    )
}

fn number(v: f64) -> prost_types::Value {
    prost_types::Value {
        kind: Some(Kind::NumberValue(v)),
    }
}

fn list(values: Vec<prost_types::Value>) -> prost_types::Value {
    prost_types::Value {
        kind: Some(Kind::ListValue(prost_types::ListValue { values })),
    }
}

fn seldon_data(data: pb::default_data::DataOneof) -> pb::SeldonMessage {
    pb::SeldonMessage {
        data_oneof: Some(pb::seldon_message::DataOneof::Data(pb::DefaultData {
            names: vec![],
            data_oneof: Some(data),
        })),
        ..Default::default()
    }
}

/// A Seldon `ndarray` of rows.
fn seldon_rows(rows: &[&[f64]]) -> pb::SeldonMessage {
    let rows = rows
        .iter()
        .map(|row| list(row.iter().map(|&v| number(v)).collect()))
        .collect();
    seldon_data(pb::default_data::DataOneof::Ndarray(
        prost_types::ListValue { values: rows },
    ))
}

fn seldon_tensor(shape: Vec<i32>, values: Vec<f64>) -> pb::SeldonMessage {
    seldon_data(pb::default_data::DataOneof::Tensor(pb::Tensor {
        shape,
        values,
    }))
}

/// A V2 inference request for `classifier` with one FP64 input.
fn v2_request(datatype: &str, shape: Vec<i64>, values: Vec<f64>) -> v2pb::ModelInferRequest {
    v2pb::ModelInferRequest {
        model_name: "classifier".into(),
        inputs: vec![v2pb::model_infer_request::InferInputTensor {
            name: "input-0".into(),
            datatype: datatype.into(),
            shape,
            contents: Some(v2pb::InferTensorContents {
                fp64_contents: values,
                ..Default::default()
            }),
            ..Default::default()
        }],
        ..Default::default()
    }
}

/// The same request in V2's JSON.
fn v2_json(datatype: &str, shape: &[i64], values: &[f64]) -> serde_json::Value {
    serde_json::json!({
        "inputs": [{"name": "input-0", "datatype": datatype, "shape": shape, "data": values}]
    })
}

#[tokio::test]
async fn grpc_requests_move_the_counters_and_panics_fail_one_request() {
    let dir = TempDir::new("model").unwrap();
    let server = start(&dir.0, &[]);
    let endpoint = format!("http://127.0.0.1:{}", server.grpc);
    let mut seldon = pb::model_client::ModelClient::connect(endpoint.clone())
        .await
        .unwrap();
    let mut v2 =
        v2pb::grpc_inference_service_client::GrpcInferenceServiceClient::connect(endpoint.clone())
            .await
            .unwrap();
    let predict = "/seldon.protos.Model/Predict";
    let infer = "/inference.GRPCInferenceService/ModelInfer";

    let before = scrape(&server).await;
    assert_eq!(requests(&before, "grpc", "seldon", predict, "OK"), 0.0);
    seldon
        .predict(seldon_rows(&[&[1.0, 2.0, 3.0, 4.0]]))
        .await
        .unwrap();
    let err = seldon
        .predict(seldon_rows(&[&[1.0, 2.0, 3.0]]))
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::InvalidArgument, "{err:?}");
    let after = scrape(&server).await;
    assert_eq!(
        requests(&after, "grpc", "seldon", predict, "OK"),
        1.0,
        "{after}"
    );
    assert_eq!(
        requests(&after, "grpc", "seldon", predict, "InvalidArgument"),
        1.0,
        "{after}"
    );

    let row = || v2_request("FP64", vec![1, 4], vec![1.0, 2.0, 3.0, 4.0]);
    assert_eq!(requests(&after, "grpc", "v2", infer, "OK"), 0.0);
    v2.model_infer(row()).await.unwrap();
    // A model panic is this request's INTERNAL; the connection and the process go on.
    let err = v2
        .model_infer(v2_request("FP64", vec![1, 4], vec![666.0, 1.0, 1.0, 1.0]))
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::Internal, "{err:?}");
    v2.model_infer(row()).await.unwrap();
    let after = scrape(&server).await;
    assert_eq!(requests(&after, "grpc", "v2", infer, "OK"), 2.0, "{after}");
    assert_eq!(
        requests(&after, "grpc", "v2", infer, "Internal"),
        1.0,
        "{after}"
    );
    let timed = series(
        &after,
        "oxserve_request_duration_seconds_count",
        &[("transport", "grpc"), ("protocol", "v2"), ("route", infer)],
    );
    assert_eq!(timed, 3.0, "{after}");

    // A service nobody serves: one `unmatched` series, whatever the path, so a client cannot mint series.
    let mut stranger = oxserve_protocol::pb::tensorflow::serving::prediction_service_client::PredictionServiceClient::connect(endpoint)
        .await
        .unwrap();
    let err = stranger
        .predict(oxserve_protocol::pb::tensorflow::serving::PredictRequest::default())
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::Unimplemented, "{err:?}");
    let after = scrape(&server).await;
    assert_eq!(
        requests(&after, "grpc", "grpc", "unmatched", "Unimplemented"),
        1.0,
        "{after}"
    );

    // REST requests: the same metric, `transport="rest"`.
    let reply = oxserve_tests::http_client()
        .post(server.url("/api/v1.0/predictions"))
        .header("Content-Type", "application/json")
        .body(r#"{"data":{"ndarray":[[1,2,3,4]]}}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 200);
    let after = scrape(&server).await;
    assert_eq!(
        requests(&after, "rest", "seldon", "/api/v1.0/predictions", "200"),
        1.0,
        "{after}"
    );
}

/// What a case sends over gRPC.
enum GrpcCall {
    Seldon(Box<pb::SeldonMessage>),
    V2(v2pb::ModelInferRequest),
}

/// One bad input, sent over both transports.
struct Case {
    what: &'static str,
    /// The REST path and JSON body.
    rest: (&'static str, String),
    grpc: GrpcCall,
    /// The REST status both must agree with.
    status: u16,
}

/// The gRPC code the runtime's table gives an HTTP status.
fn grpc_code_of(status: u16) -> tonic::Code {
    match status {
        400 => tonic::Code::InvalidArgument,
        404 => tonic::Code::NotFound,
        413 | 429 => tonic::Code::ResourceExhausted,
        500 => tonic::Code::Internal,
        other => panic!("no gRPC code for HTTP {other} in the runtime's table"),
    }
}

fn cases() -> Vec<Case> {
    let seldon = "/api/v1.0/predictions";
    let infer = "/v2/models/classifier/infer";
    let json = |v: serde_json::Value| v.to_string();
    let padding = "x".repeat(MAX_BODY);
    vec![
        Case {
            what: "Seldon: a row of 3 features for a 4-feature model",
            rest: (
                seldon,
                json(serde_json::json!({"data": {"ndarray": [[1, 2, 3]]}})),
            ),
            grpc: GrpcCall::Seldon(Box::new(seldon_rows(&[&[1.0, 2.0, 3.0]]))),
            status: 400,
        },
        Case {
            what: "Seldon: no data",
            rest: (seldon, "{}".into()),
            grpc: GrpcCall::Seldon(Box::default()),
            status: 400,
        },
        Case {
            what: "Seldon: strData for a numeric model",
            rest: (seldon, json(serde_json::json!({"strData": "hello"}))),
            grpc: GrpcCall::Seldon(Box::new(pb::SeldonMessage {
                data_oneof: Some(pb::seldon_message::DataOneof::StrData("hello".into())),
                ..Default::default()
            })),
            status: 400,
        },
        Case {
            what: "Seldon: tensor values that do not fill the shape",
            rest: (
                seldon,
                json(
                    serde_json::json!({"data": {"tensor": {"shape": [2, 4], "values": [1, 2, 3]}}}),
                ),
            ),
            grpc: GrpcCall::Seldon(Box::new(seldon_tensor(vec![2, 4], vec![1.0, 2.0, 3.0]))),
            status: 400,
        },
        Case {
            what: "Seldon: a shape over the request limit",
            rest: (
                seldon,
                json(
                    serde_json::json!({"data": {"tensor": {"shape": [2147483647, 0], "values": []}}}),
                ),
            ),
            grpc: GrpcCall::Seldon(Box::new(seldon_tensor(vec![i32::MAX, 0], vec![]))),
            status: 400,
        },
        Case {
            what: "Seldon: a ragged ndarray",
            rest: (
                seldon,
                json(serde_json::json!({"data": {"ndarray": [[1, 2], [3]]}})),
            ),
            grpc: GrpcCall::Seldon(Box::new(seldon_data(pb::default_data::DataOneof::Ndarray(
                prost_types::ListValue {
                    values: vec![
                        list(vec![number(1.0), number(2.0)]),
                        list(vec![number(3.0)]),
                    ],
                },
            )))),
            status: 400,
        },
        Case {
            what: "Seldon: two rows over --max-request-cost",
            rest: (
                seldon,
                json(serde_json::json!({"data": {"ndarray": [[1, 2, 3, 4], [1, 2, 3, 4]]}})),
            ),
            grpc: GrpcCall::Seldon(Box::new(seldon_rows(&[
                &[1.0, 2.0, 3.0, 4.0],
                &[1.0, 2.0, 3.0, 4.0],
            ]))),
            status: 400,
        },
        Case {
            what: "Seldon: the model fails",
            rest: (
                seldon,
                json(serde_json::json!({"data": {"ndarray": [[-999, 1, 1, 1]]}})),
            ),
            grpc: GrpcCall::Seldon(Box::new(seldon_rows(&[&[-999.0, 1.0, 1.0, 1.0]]))),
            status: 500,
        },
        Case {
            what: "Seldon: the model panics",
            rest: (
                seldon,
                json(serde_json::json!({"data": {"ndarray": [[666, 1, 1, 1]]}})),
            ),
            grpc: GrpcCall::Seldon(Box::new(seldon_rows(&[&[666.0, 1.0, 1.0, 1.0]]))),
            status: 500,
        },
        Case {
            what: "Seldon: a message over the body limit",
            rest: (
                seldon,
                json(
                    serde_json::json!({"data": {"ndarray": [[1, 2, 3, 4]]}, "meta": {"puid": padding}}),
                ),
            ),
            grpc: GrpcCall::Seldon(Box::new(pb::SeldonMessage {
                meta: Some(pb::Meta {
                    puid: padding.clone(),
                    ..Default::default()
                }),
                ..seldon_rows(&[&[1.0, 2.0, 3.0, 4.0]])
            })),
            status: 413,
        },
        Case {
            what: "V2: an unknown model",
            rest: (
                "/v2/models/nope/infer",
                json(v2_json("FP64", &[1, 4], &[1.0, 2.0, 3.0, 4.0])),
            ),
            grpc: GrpcCall::V2(v2pb::ModelInferRequest {
                model_name: "nope".into(),
                ..v2_request("FP64", vec![1, 4], vec![1.0, 2.0, 3.0, 4.0])
            }),
            status: 404,
        },
        Case {
            what: "V2: an unknown version",
            rest: (
                "/v2/models/classifier/versions/v9/infer",
                json(v2_json("FP64", &[1, 4], &[1.0, 2.0, 3.0, 4.0])),
            ),
            grpc: GrpcCall::V2(v2pb::ModelInferRequest {
                model_version: "v9".into(),
                ..v2_request("FP64", vec![1, 4], vec![1.0, 2.0, 3.0, 4.0])
            }),
            status: 404,
        },
        Case {
            what: "V2: an unknown datatype",
            rest: (infer, json(v2_json("FP99", &[1, 4], &[1.0, 2.0, 3.0, 4.0]))),
            grpc: GrpcCall::V2(v2_request("FP99", vec![1, 4], vec![1.0, 2.0, 3.0, 4.0])),
            status: 400,
        },
        Case {
            what: "V2: data that does not fill the shape",
            rest: (infer, json(v2_json("FP64", &[1, 4], &[1.0, 2.0, 3.0]))),
            grpc: GrpcCall::V2(v2_request("FP64", vec![1, 4], vec![1.0, 2.0, 3.0])),
            status: 400,
        },
        Case {
            what: "V2: a negative dimension",
            rest: (
                infer,
                json(v2_json("FP64", &[-1, 4], &[1.0, 2.0, 3.0, 4.0])),
            ),
            grpc: GrpcCall::V2(v2_request("FP64", vec![-1, 4], vec![1.0, 2.0, 3.0, 4.0])),
            status: 400,
        },
        Case {
            what: "V2: a shape over the request limit",
            rest: (infer, json(v2_json("FP64", &[2147483647, 0], &[]))),
            grpc: GrpcCall::V2(v2_request("FP64", vec![2147483647, 0], vec![])),
            status: 400,
        },
        Case {
            what: "V2: 3 features for a 4-feature model",
            rest: (infer, json(v2_json("FP64", &[1, 3], &[1.0, 2.0, 3.0]))),
            grpc: GrpcCall::V2(v2_request("FP64", vec![1, 3], vec![1.0, 2.0, 3.0])),
            status: 400,
        },
        Case {
            what: "V2: an output the model does not have",
            rest: (infer, {
                let mut body = v2_json("FP64", &[1, 4], &[1.0, 2.0, 3.0, 4.0]);
                body["outputs"] = serde_json::json!([{"name": "nope"}]);
                json(body)
            }),
            grpc: GrpcCall::V2(v2pb::ModelInferRequest {
                outputs: vec![v2pb::model_infer_request::InferRequestedOutputTensor {
                    name: "nope".into(),
                    ..Default::default()
                }],
                ..v2_request("FP64", vec![1, 4], vec![1.0, 2.0, 3.0, 4.0])
            }),
            status: 400,
        },
        Case {
            what: "V2: the model fails",
            rest: (
                infer,
                json(v2_json("FP64", &[1, 4], &[-999.0, 1.0, 1.0, 1.0])),
            ),
            grpc: GrpcCall::V2(v2_request("FP64", vec![1, 4], vec![-999.0, 1.0, 1.0, 1.0])),
            status: 500,
        },
        Case {
            what: "V2: the model panics",
            rest: (
                infer,
                json(v2_json("FP64", &[1, 4], &[666.0, 1.0, 1.0, 1.0])),
            ),
            grpc: GrpcCall::V2(v2_request("FP64", vec![1, 4], vec![666.0, 1.0, 1.0, 1.0])),
            status: 500,
        },
        Case {
            what: "V2: a request over the body limit",
            rest: (infer, {
                let mut body = v2_json("FP64", &[1, 4], &[1.0, 2.0, 3.0, 4.0]);
                body["id"] = serde_json::json!(padding);
                json(body)
            }),
            grpc: GrpcCall::V2(v2pb::ModelInferRequest {
                id: padding.clone(),
                ..v2_request("FP64", vec![1, 4], vec![1.0, 2.0, 3.0, 4.0])
            }),
            status: 413,
        },
    ]
}

#[tokio::test]
async fn the_same_bad_input_answers_the_same_status_on_rest_and_grpc() {
    let dir = TempDir::new("model").unwrap();
    let max_body = MAX_BODY.to_string();
    // One row costs 1,000 (`RowStatsModel::ROW_COST`): two are over this limit.
    let server = start(
        &dir.0,
        &[
            ("OXSERVE_MAX_BODY_BYTES", max_body.as_str()),
            ("OXSERVE_MAX_REQUEST_COST", "1500"),
        ],
    );
    let client = oxserve_tests::http_client();
    let endpoint = format!("http://127.0.0.1:{}", server.grpc);
    let mut seldon = pb::model_client::ModelClient::connect(endpoint.clone())
        .await
        .unwrap();
    let mut v2 = v2pb::grpc_inference_service_client::GrpcInferenceServiceClient::connect(endpoint)
        .await
        .unwrap();
    let mut failures = Vec::new();
    for case in cases() {
        let (path, body) = &case.rest;
        let status = client
            .post(server.url(path))
            .header("Content-Type", "application/json")
            .body(body.clone())
            .send()
            .await
            .unwrap()
            .status()
            .as_u16();
        let code = match case.grpc {
            GrpcCall::Seldon(message) => seldon.predict(*message).await.map(|_| ()),
            GrpcCall::V2(request) => v2.model_infer(request).await.map(|_| ()),
        }
        .map_or_else(|status| status.code(), |()| tonic::Code::Ok);
        if status != case.status || code != grpc_code_of(case.status) {
            failures.push(format!(
                "{}: REST {status} / gRPC {code:?}, expected {} / {:?}",
                case.what,
                case.status,
                grpc_code_of(case.status)
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // The panics above failed their requests alone.
    seldon
        .predict(seldon_rows(&[&[1.0, 2.0, 3.0, 4.0]]))
        .await
        .unwrap();
}

/// A message in the form REST writes it: what a gRPC reply would read as over REST.
fn as_json(message: pb::SeldonMessage) -> serde_json::Value {
    use oxserve_protocol::seldon::{grpc as conv, pyjson};
    let message = conv::from_pb(message, &oxserve_protocol::RequestLimits::default()).unwrap();
    serde_json::from_slice(&pyjson::to_vec(&message).unwrap()).unwrap()
}

/// `transform-input` / `transform-output` and `send-feedback` answer the same message over REST and gRPC, as
/// Seldon's Python wrapper builds both: the request's names never come back (`t:i` for 2-D and more, none for
/// 1-D), and feedback's empty result is an `ndarray` after a `data` request, an empty `tensor` otherwise.
#[tokio::test]
async fn transforms_and_feedback_answer_the_same_on_rest_and_grpc() {
    let dir = TempDir::new("model").unwrap();
    let server = start(&dir.0, &[]);
    let client = oxserve_tests::http_client();
    let rest = |path: &'static str, body: serde_json::Value| {
        let request = client.post(server.url(path)).json(&body).send();
        async move {
            let reply = request.await.unwrap();
            assert_eq!(reply.status(), 200, "{path}");
            reply.json::<serde_json::Value>().await.unwrap()
        }
    };
    let mut generic =
        pb::generic_client::GenericClient::connect(format!("http://127.0.0.1:{}", server.grpc))
            .await
            .unwrap();
    let named = |mut message: pb::SeldonMessage| {
        if let Some(pb::seldon_message::DataOneof::Data(data)) = &mut message.data_oneof {
            data.names = vec!["a".into(), "b".into()];
        }
        message
    };
    let cases = [
        (
            "1-D ndarray",
            serde_json::json!({"data": {"names": ["a", "b"], "ndarray": [1.5, 2.5]}}),
            named(seldon_data(pb::default_data::DataOneof::Ndarray(
                prost_types::ListValue {
                    values: vec![number(1.5), number(2.5)],
                },
            ))),
        ),
        (
            "2-D ndarray",
            serde_json::json!({"data": {"names": ["a", "b"], "ndarray": [[1.5, 2.5]]}}),
            named(seldon_rows(&[&[1.5, 2.5]])),
        ),
        (
            "1-D tensor",
            serde_json::json!({"data": {"names": ["a", "b"], "tensor": {"shape": [2], "values": [1.5, 2.5]}}}),
            named(seldon_tensor(vec![2], vec![1.5, 2.5])),
        ),
        (
            "2-D tensor",
            serde_json::json!({"data": {"names": ["a", "b"], "tensor": {"shape": [1, 2], "values": [1.5, 2.5]}}}),
            named(seldon_tensor(vec![1, 2], vec![1.5, 2.5])),
        ),
        (
            "strData",
            serde_json::json!({"strData": "text"}),
            pb::SeldonMessage {
                data_oneof: Some(pb::seldon_message::DataOneof::StrData("text".into())),
                ..Default::default()
            },
        ),
    ];
    for (what, json, message) in cases {
        for (path, over_grpc) in [("/transform-input", true), ("/transform-output", false)] {
            let over_rest = rest(path, json.clone()).await;
            let reply = if over_grpc {
                generic.transform_input(message.clone()).await
            } else {
                generic.transform_output(message.clone()).await
            };
            let over_grpc = as_json(reply.unwrap().into_inner());
            assert_eq!(over_rest, over_grpc, "{what} on {path}");
            if let Some(names) = over_rest["data"].get("names") {
                let expected = if what.starts_with("2-D") {
                    serde_json::json!(["t:0", "t:1"])
                } else {
                    serde_json::json!([])
                };
                assert_eq!(names, &expected, "{what} on {path}: {over_rest}");
            }
        }
    }

    for (what, json, request) in [
        (
            "after data",
            serde_json::json!({"request": {"data": {"ndarray": [[1.5, 2.5]]}}, "reward": 1}),
            Some(seldon_rows(&[&[1.5, 2.5]])),
        ),
        ("without a request", serde_json::json!({"reward": 1}), None),
    ] {
        let over_rest = rest("/api/v1.0/feedback", json).await;
        let reply = generic
            .send_feedback(pb::Feedback {
                request,
                reward: 1.0,
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        let Some(pb::seldon_message::DataOneof::Data(data)) = &reply.data_oneof else {
            panic!("{what}: {reply:?}");
        };
        // The REST reply is protobuf's JSON of the same message: empty fields vanish.
        let expected = match &data.data_oneof {
            Some(pb::default_data::DataOneof::Ndarray(list)) if list.values.is_empty() => {
                serde_json::json!({"ndarray": []})
            }
            Some(pb::default_data::DataOneof::Tensor(t))
                if t.shape == [0] && t.values.is_empty() =>
            {
                serde_json::json!({"tensor": {"shape": [0]}})
            }
            other => panic!("{what}: {other:?}"),
        };
        assert!(data.names.is_empty(), "{what}: {reply:?}");
        assert_eq!(over_rest["data"], expected, "{what}");
        assert_eq!(over_rest["meta"], as_json(reply)["meta"], "{what}");
    }
}
