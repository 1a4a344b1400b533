//! The protobuf decode guard (`wire_budget`) on crafted messages: amplifying ones (many empty repeated or map
//! entries, empty values, deep nesting) are refused before prost sees them; legitimate ones, packed or not,
//! pass with an estimate close to what they really decode to.
#![allow(clippy::unwrap_used)]

use oxserve_protocol::pb::inference::{
    InferTensorContents, ModelInferRequest, model_infer_request::InferInputTensor,
};
use oxserve_protocol::wire_budget::{self, MAX_DEPTH, WireBudgetError, decoded_limit};
use prost::Message;

const INFER: &str = "inference.ModelInferRequest";
const SELDON: &str = "seldon.protos.SeldonMessage";

/// A length-delimited field: key, length, body.
fn field(number: u32, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() + 12);
    prost::encoding::encode_key(number, prost::encoding::WireType::LengthDelimited, &mut out);
    prost::encoding::encode_varint(body.len() as u64, &mut out);
    out.extend_from_slice(body);
    out
}

/// `count` empty length-delimited entries of field `number`.
fn empties(number: u32, count: usize) -> Vec<u8> {
    field(number, &[]).repeat(count)
}

fn refused(name: &str, wire: &[u8]) -> WireBudgetError {
    wire_budget::check(name, wire).expect_err("should be refused")
}

#[test]
fn a_million_empty_v2_inputs_are_refused() {
    // 2 MiB on the wire, ~300 MB decoded: refused, and the message says why with the figures.
    let wire = empties(5, 1 << 20);
    assert_eq!(wire.len(), 2 << 20);
    let estimate = wire_budget::estimate(INFER, &wire).unwrap();
    assert!(estimate > 200_000_000, "{estimate}");
    let e = refused(INFER, &wire);
    let text = e.to_string();
    assert!(
        matches!(
            e,
            WireBudgetError::TooLarge {
                wire_bytes: 2_097_152,
                ..
            }
        ),
        "{text}"
    );
    assert!(
        text.contains("inference.ModelInferRequest message of 2097152 bytes"),
        "{text}"
    );
    assert!(
        text.contains(&decoded_limit(wire.len()).to_string()),
        "{text}"
    );
    // The walk stops at the limit: what it counted is just over it, not the whole 300 MB.
    let WireBudgetError::TooLarge {
        estimate, limit, ..
    } = e
    else {
        unreachable!()
    };
    assert!(
        estimate > limit && estimate < limit + 4096,
        "{estimate} {limit}"
    );
    // Behind a legitimate prefix, and with unknown fields between them, just the same.
    let mut mixed = field(1, b"iris");
    mixed.extend_from_slice(&[0x98, 0x06, 0x01]); // unknown varint field 99
    mixed.extend_from_slice(&wire);
    assert!(wire_budget::check(INFER, &mixed).is_err());
}

#[test]
fn many_map_entries_and_empty_bytes_are_refused() {
    // Request parameters (a map), and parameters of one input.
    assert!(wire_budget::check(INFER, &empties(4, 1 << 20)).is_err());
    let input = field(5, &empties(4, 1 << 20));
    assert!(wire_budget::check(INFER, &input).is_err());
    // Empty raw_input_contents: 2 bytes → a 32-byte `Bytes` each, 16 times the wire; over the 8x + 32 MiB limit
    // once the message is large.
    let raw = empties(7, 16 << 20);
    assert!(wire_budget::check(INFER, &raw).is_err());
    // Empty bytes_contents of one input (contents = 5, bytes_contents = 8).
    let contents = field(5, &field(5, &empties(8, 16 << 20)));
    assert!(wire_budget::check(INFER, &contents).is_err());
    // TF Serving: an inputs map of empty TensorProtos; a TensorProto of empty string_val.
    assert!(wire_budget::check("tensorflow.serving.PredictRequest", &empties(2, 1 << 20)).is_err());
    let strings = field(
        2,
        &[field(1, b"x"), field(2, &empties(8, 16 << 20))].concat(),
    );
    assert!(wire_budget::check("tensorflow.serving.PredictRequest", &strings).is_err());
    // Seldon: a list of empty messages, and feedback wrapping empty values.
    assert!(wire_budget::check("seldon.protos.SeldonMessageList", &empties(1, 1 << 20)).is_err());
    let values = field(1, &field(6, &field(6, &empties(1, 16 << 20))));
    assert!(wire_budget::check("seldon.protos.Feedback", &values).is_err());
}

/// A `google.protobuf.Value` holding a list nested `depth` lists deep.
fn nested_list(depth: usize) -> Vec<u8> {
    let mut value: Vec<u8> = Vec::new();
    for _ in 0..depth {
        value = field(6, &field(1, &value)); // Value.list_value { values: [value] }
    }
    value
}

#[test]
fn deep_value_nesting_is_refused_before_prost_and_without_blowing_the_stack() {
    let deep = field(6, &nested_list(100_000)); // SeldonMessage.jsonData
    let e = refused(SELDON, &deep);
    assert_eq!(
        e.to_string(),
        format!(
            "the seldon.protos.SeldonMessage message nests more than {MAX_DEPTH} levels deep: refused before decoding"
        )
    );
    // Within prost's limit both agree it decodes.
    let shallow = field(6, &nested_list(40));
    wire_budget::check(SELDON, &shallow).unwrap();
    oxserve_protocol::pb::seldon::protos::SeldonMessage::decode(shallow.as_slice()).unwrap();
}

#[test]
fn huge_lists_of_tiny_values_are_refused() {
    // 8 MiB of empty Values in a jsonData list: 4M × 32 bytes decoded.
    let list = field(6, &field(6, &empties(1, 4 << 20)));
    assert!(wire_budget::check(SELDON, &list).is_err());
}

#[test]
fn legitimate_tensors_pass_packed_or_not() {
    // A 1M-element FP32 tensor, packed: decoded about as large as on the wire.
    let request = ModelInferRequest {
        model_name: "iris".into(),
        inputs: vec![InferInputTensor {
            name: "x".into(),
            datatype: "FP32".into(),
            shape: vec![1000, 1000],
            contents: Some(InferTensorContents {
                fp32_contents: vec![0.5; 1_000_000],
                ..Default::default()
            }),
            ..Default::default()
        }],
        ..Default::default()
    };
    let wire = request.encode_to_vec();
    wire_budget::check(INFER, &wire).unwrap();
    let estimate = wire_budget::estimate(INFER, &wire).unwrap();
    assert!((4_000_000..4_010_000).contains(&estimate), "{estimate}");

    // The same floats unpacked (one key per element, as some encoders write them) count 4 bytes each too.
    let unpacked: Vec<u8> = (0..1_000_000)
        .flat_map(|_| [0x15, 0, 0, 0, 0x3f]) // fp32_contents = 2, wire type 5
        .collect();
    let unpacked = field(5, &field(5, &unpacked));
    wire_budget::check(INFER, &unpacked).unwrap();
    let estimate = wire_budget::estimate(INFER, &unpacked).unwrap();
    assert!((4_000_000..4_010_000).contains(&estimate), "{estimate}");

    // 16M int64 zeros, packed: one wire byte each, eight decoded, exactly the ratio the limit allows for.
    let request = ModelInferRequest {
        inputs: vec![InferInputTensor {
            name: "mask".into(),
            datatype: "INT64".into(),
            shape: vec![16 << 20],
            contents: Some(InferTensorContents {
                int64_contents: vec![0; 16 << 20],
                ..Default::default()
            }),
            ..Default::default()
        }],
        ..Default::default()
    };
    let wire = request.encode_to_vec();
    wire_budget::check(INFER, &wire).unwrap();
    assert!(wire_budget::estimate(INFER, &wire).unwrap() >= 128 << 20);

    // Thousands of small named inputs, raw contents: well within the slack.
    let request = ModelInferRequest {
        inputs: (0..5000)
            .map(|i| InferInputTensor {
                name: format!("x{i}"),
                datatype: "FP32".into(),
                shape: vec![1, 4],
                ..Default::default()
            })
            .collect(),
        raw_input_contents: vec![vec![0u8; 16].into(); 5000],
        ..Default::default()
    };
    wire_budget::check(INFER, &request.encode_to_vec()).unwrap();
}

#[test]
fn malformed_messages_under_the_limit_are_left_to_prost() {
    // Truncated length, truncated varint, a bad wire type: prost refuses them with its own error.
    for wire in [&[0x2a, 0x05, 0x00][..], &[0x08, 0xff], &[0x2f, 0x00]] {
        wire_budget::check(INFER, wire).unwrap();
        assert!(ModelInferRequest::decode(wire).is_err());
    }
    // A type the crate has no schema for passes unchecked.
    wire_budget::check("no.such.Message", &empties(5, 1 << 20)).unwrap();
}

#[test]
fn feedback_messages_share_one_budget_of_the_given_limits() {
    use oxserve_protocol::RequestLimits;
    use oxserve_protocol::seldon::Feedback;
    let message = |rows: usize| {
        serde_json::json!({"data": {"tftensor": {
            "dtype": "DT_DOUBLE",
            "tensorShape": {"dim": [{"size": rows.to_string()}, {"size": "4"}]},
            "doubleVal": [1]
        }}})
    };
    let limits = RequestLimits::from_body_limit(4096);
    // 100 × 4 doubles (3,200 bytes) fit a 4 KiB limit once, not twice; 200 × 4 not at all.
    let one = serde_json::json!({"request": message(100), "reward": 1});
    let f = Feedback::from_value(one, &limits).unwrap();
    assert!(f.request.is_some() && f.response.is_none() && f.reward == 1.0);
    let two = serde_json::json!({"request": message(100), "truth": message(100)});
    let e = Feedback::from_value(two, &limits).unwrap_err();
    assert!(e.to_string().contains("4096 bytes"), "{e}");
    let big = serde_json::json!({"response": message(200)});
    assert!(Feedback::from_value(big.clone(), &limits).is_err());
    assert!(Feedback::from_value(big, &RequestLimits::default()).is_ok());
    // Nulls are absent messages; unknown fields are refused as before.
    let f = Feedback::from_value(serde_json::json!({"request": null}), &limits).unwrap();
    assert!(f.request.is_none());
    assert!(Feedback::from_value(serde_json::json!({"bogus": 1}), &limits).is_err());
}
