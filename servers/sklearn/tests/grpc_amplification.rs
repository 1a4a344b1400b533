//! Issue #12, protobuf amplification, against the real `sklearn-server` binary serving the bundled iris model:
//! gRPC messages of a few MiB — well within the 64 MiB message limit — that prost would decode to hundreds of
//! megabytes or more (a million empty V2 inputs, a million empty parameter map entries, millions of empty
//! `google.protobuf.Value`s in Seldon `jsonData`) or nest 100,000 levels deep are refused with
//! `INVALID_ARGUMENT` before prost decodes them; the server's peak RSS (`VmHWM`) stays small and it answers
//! afterwards on both protocols. Also over REST: Seldon feedback charges its messages to the configured body
//! limit, and JSON nested 100,000 deep is a 400 on every JSON route (serde_json's recursion limit of 128).
//!
//! The messages are sent as raw bytes (a pass-through client codec), as an attacker would: building them as
//! prost structs would cost the test itself the memory the server is spared, and encoding a 100,000-deep
//! `Value` would overflow the client's stack.

#![allow(clippy::unwrap_used)]

use std::path::Path;

use bytes::{Buf, BufMut};
use oxserve_protocol::pb::inference as v2pb;
use oxserve_protocol::pb::seldon::protos as pb;
use oxserve_tests::{ServerProcess, repo_root};
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};

/// Sends `Vec<u8>` as the message as it is; ignores the reply's body (these calls are expected to fail).
#[derive(Debug, Clone, Default)]
struct RawCodec;

impl Codec for RawCodec {
    type Encode = Vec<u8>;
    type Decode = ();
    type Encoder = RawCodec;
    type Decoder = RawCodec;
    fn encoder(&mut self) -> RawCodec {
        RawCodec
    }
    fn decoder(&mut self) -> RawCodec {
        RawCodec
    }
}

impl Encoder for RawCodec {
    type Item = Vec<u8>;
    type Error = tonic::Status;
    fn encode(&mut self, item: Vec<u8>, buf: &mut EncodeBuf<'_>) -> Result<(), tonic::Status> {
        buf.put_slice(&item);
        Ok(())
    }
}

impl Decoder for RawCodec {
    type Item = ();
    type Error = tonic::Status;
    fn decode(&mut self, buf: &mut DecodeBuf<'_>) -> Result<Option<()>, tonic::Status> {
        buf.advance(buf.remaining());
        Ok(Some(()))
    }
}

async fn raw_call(endpoint: &str, path: &'static str, message: Vec<u8>) -> tonic::Status {
    let channel = tonic::transport::Endpoint::from_shared(endpoint.to_owned())
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut grpc = tonic::client::Grpc::new(channel)
        .max_encoding_message_size(usize::MAX)
        .max_decoding_message_size(usize::MAX);
    grpc.ready().await.unwrap();
    grpc.unary(
        tonic::Request::new(message),
        http::uri::PathAndQuery::from_static(path),
        RawCodec,
    )
    .await
    .expect_err("the hostile message should be refused")
}

/// A length-delimited field: key, length, body.
fn field(number: u32, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() + 12);
    out.push(u8::try_from(number << 3 | 2).unwrap());
    let mut len = body.len();
    while len >= 0x80 {
        out.push(u8::try_from(len & 0x7f).unwrap() | 0x80);
        len >>= 7;
    }
    out.push(u8::try_from(len).unwrap());
    out.extend_from_slice(body);
    out
}

/// Set on the server whose memory is measured, to tell it from the other test's server.
const MARK: (&str, &str) = ("OXSERVE_TEST_MARK", "grpc-amplification");

/// The server's peak resident memory in MB (`VmHWM`): this test process's `sklearn-server` child that carries
/// [`MARK`] in its environment.
fn server_peak_rss_mb() -> u64 {
    let me = std::process::id().to_string();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // "pid (comm) state ppid …"; comm may hold spaces, so split after the last ')'.
        let Some((head, tail)) = stat.rsplit_once(')') else {
            continue;
        };
        let ppid = tail.split_whitespace().nth(1);
        let environ = std::fs::read(entry.path().join("environ")).unwrap_or_default();
        let marked = environ
            .split(|&b| b == 0)
            .any(|kv| kv == format!("{}={}", MARK.0, MARK.1).as_bytes());
        if head.ends_with("(sklearn-server") && ppid == Some(me.as_str()) && marked {
            let status = std::fs::read_to_string(entry.path().join("status")).unwrap();
            let kb: u64 = status
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
                .unwrap();
            return kb / 1024;
        }
    }
    panic!("no marked sklearn-server child of this test found");
}

async fn assert_alive(server: &mut ServerProcess, endpoint: &str) {
    assert!(server.try_wait().unwrap().is_none(), "the server exited");
    let mut v2 = v2pb::grpc_inference_service_client::GrpcInferenceServiceClient::connect(
        endpoint.to_owned(),
    )
    .await
    .unwrap();
    let ready = v2
        .model_ready(v2pb::ModelReadyRequest {
            name: "classifier".into(),
            version: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(ready.ready);
    let mut seldon = pb::model_client::ModelClient::connect(endpoint.to_owned())
        .await
        .unwrap();
    let list = prost_types::ListValue {
        values: [5.1, 3.5, 1.4, 0.2]
            .map(|n| prost_types::Value {
                kind: Some(prost_types::value::Kind::NumberValue(n)),
            })
            .to_vec(),
    };
    let row = prost_types::Value {
        kind: Some(prost_types::value::Kind::ListValue(list)),
    };
    let reply = seldon
        .predict(pb::SeldonMessage {
            data_oneof: Some(pb::seldon_message::DataOneof::Data(pb::DefaultData {
                names: vec![],
                data_oneof: Some(pb::default_data::DataOneof::Ndarray(
                    prost_types::ListValue { values: vec![row] },
                )),
            })),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(reply.data_oneof.is_some(), "{reply:?}");
}

fn start(extra: &[(&str, &str)]) -> ServerProcess {
    let mut env = vec![("PREDICTIVE_UNIT_ID", "classifier")];
    env.extend_from_slice(extra);
    ServerProcess::start_with_model(
        Path::new(env!("CARGO_BIN_EXE_sklearn-server")),
        &repo_root().join("examples/iris"),
        &env,
    )
    .unwrap()
}

#[tokio::test]
async fn amplifying_messages_are_refused_before_decoding() {
    let mut server = start(&[MARK]);
    let endpoint = format!("http://127.0.0.1:{}", server.grpc);
    assert_alive(&mut server, &endpoint).await;
    let before = server_peak_rss_mb();

    const INFER: &str = "/inference.GRPCInferenceService/ModelInfer";
    const PREDICT: &str = "/seldon.protos.Model/Predict";
    let empty_input = field(5, &[]);
    let empty_value = field(1, &[]);
    let mut hostile: Vec<(&str, &str, Vec<u8>)> = vec![
        // ~1M empty inputs after a model name: 2 MiB on the wire, ~300 MB as prost structs.
        ("V2 empty inputs", INFER, {
            let mut m = field(1, b"classifier");
            m.extend(empty_input.repeat(1 << 20));
            m
        }),
        // ~1M empty request parameters (map entries), 2 MiB.
        (
            "V2 parameter map entries",
            INFER,
            field(4, &[]).repeat(1 << 20),
        ),
        // 2M empty Values in a jsonData list, 4 MiB.
        (
            "Seldon jsonData list",
            PREDICT,
            field(6, &field(6, &empty_value.repeat(2 << 20))),
        ),
    ];
    // jsonData nested 100,000 lists deep (~1 MB).
    let mut deep = Vec::new();
    for _ in 0..100_000 {
        deep = field(6, &field(1, &deep));
    }
    hostile.push(("Seldon jsonData nesting", PREDICT, field(6, &deep)));

    for (what, path, message) in hostile {
        let status = raw_call(&endpoint, path, message).await;
        assert_eq!(
            status.code(),
            tonic::Code::InvalidArgument,
            "{what}: {status:?}"
        );
        assert!(
            status.message().contains("refused before decoding"),
            "{what}: {status:?}"
        );
        assert_alive(&mut server, &endpoint).await;
    }
    let peak = server_peak_rss_mb();
    eprintln!("sklearn-server peak RSS: {before} MB before, {peak} MB after the hostile messages");
    assert!(peak < 300, "peak RSS {peak} MB");
}

async fn post(server: &ServerProcess, path: &str, body: Vec<u8>) -> (u16, serde_json::Value) {
    let reply = oxserve_tests::http_client()
        .post(server.url(path))
        .header("Content-Type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    let status = reply.status().as_u16();
    (status, reply.json().await.unwrap_or_default())
}

/// A Seldon message whose `tftensor` broadcasts one double to `rows` × 4.
fn broadcast(rows: usize) -> String {
    format!(
        r#"{{"data":{{"tftensor":{{"dtype":"DT_DOUBLE","tensorShape":{{"dim":[{{"size":"{rows}"}},{{"size":"4"}}]}},"doubleVal":[1]}}}}}}"#
    )
}

/// `[[[…]]]` nested `depth` deep.
fn nested(depth: usize) -> String {
    "[".repeat(depth) + &"]".repeat(depth)
}

#[tokio::test]
async fn rest_feedback_follows_the_body_limit_and_deep_json_is_refused() {
    let mut server = start(&[("OXSERVE_MAX_BODY_BYTES", "1048576")]);
    // Seldon feedback charges its messages to the configured limit (1 MiB), not the 64 MiB default: a request
    // broadcasting to 40,000 × 4 doubles (1.28 MB) is refused, 20,000 × 4 (640 kB) accepted.
    for (rows, expected) in [(20_000, 200), (40_000, 400)] {
        let body = format!(r#"{{"request":{},"reward":1}}"#, broadcast(rows));
        let (status, reply) = post(&server, "/api/v1.0/feedback", body.into_bytes()).await;
        assert_eq!(status, expected, "{rows} rows: {reply}");
        if expected == 400 {
            let info = reply["status"]["info"].as_str().unwrap();
            assert!(info.contains("1048576 bytes"), "{reply}");
        }
    }
    // Two messages of 20,000 rows share one budget.
    let body = format!(
        r#"{{"request":{},"truth":{},"reward":1}}"#,
        broadcast(20_000),
        broadcast(20_000)
    );
    let (status, reply) = post(&server, "/api/v1.0/feedback", body.into_bytes()).await;
    assert_eq!(status, 400, "{reply}");

    // JSON nested 100,000 deep is refused by serde_json's recursion limit (128), on every JSON route, without
    // overflowing the stack.
    let deep = nested(100_000);
    let bodies = [
        ("/api/v1.0/predictions", deep.clone()),
        (
            "/api/v1.0/predictions",
            format!(r#"{{"data":{{"ndarray":{deep}}}}}"#),
        ),
        ("/api/v1.0/predictions", format!(r#"{{"jsonData":{deep}}}"#)),
        (
            "/api/v1.0/feedback",
            format!(r#"{{"request":{{"jsonData":{deep}}}}}"#),
        ),
        ("/v2/models/classifier/infer", deep.clone()),
        (
            "/v2/models/classifier/infer",
            format!(
                r#"{{"inputs":[{{"name":"x","shape":[1,4],"datatype":"FP64","data":{deep}}}]}}"#
            ),
        ),
        (
            "/v2/models/classifier/infer",
            format!(
                r#"{{"inputs":[{{"name":"x","shape":[1,4],"datatype":"FP64","data":[1,2,3,4],"parameters":{{"a":{deep}}}}}]}}"#
            ),
        ),
    ];
    for (path, body) in bodies {
        let (status, reply) = post(&server, path, body.into_bytes()).await;
        assert_eq!(status, 400, "{path}: {reply}");
        assert!(server.try_wait().unwrap().is_none(), "the server exited");
    }
    let endpoint = format!("http://127.0.0.1:{}", server.grpc);
    assert_alive(&mut server, &endpoint).await;
}
