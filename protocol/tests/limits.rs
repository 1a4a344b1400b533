//! Issue #12, defect 1, at the protocol level: every request decoder charges each declared shape to the
//! request's budget ([`RequestLimits`]) before allocating, so the reproductions (a `tftensor` broadcast to 10^12
//! elements, zero-element tensors of 10^12 or 2^31-1 rows) are refused with a message naming the shape, in every
//! protocol and encoding; budgets are shared by a request's tensors and follow the body limit.
#![allow(clippy::unwrap_used)]

use std::collections::HashMap;

use oxserve_core::{DataType, TensorSpec};
use oxserve_protocol::pb::inference::model_infer_request::InferInputTensor;
use oxserve_protocol::pb::inference::{InferTensorContents, ModelInferRequest};
use oxserve_protocol::pb::seldon::protos as pb;
use oxserve_protocol::pb::tensorflow::{DataType as TfType, TensorProto};
use oxserve_protocol::seldon::{DataArray, Payload, SeldonMessage, grpc, tftensor};
use oxserve_protocol::{Budget, LimitError, RequestLimits, tfserving, v2};

const ROWS_ERROR: &str = "tensor shape [1000000000000, 0] declares 1000000000000 rows, more than the request limit allows";

fn seldon_json(body: &str) -> Result<SeldonMessage, String> {
    SeldonMessage::from_json(body.as_bytes(), &RequestLimits::default()).map_err(|e| e.to_string())
}

fn tensor_proto(dtype: TfType, dims: &[i64], fill: impl FnOnce(&mut TensorProto)) -> TensorProto {
    let mut p = tftensor::empty_proto(dtype, dims);
    fill(&mut p);
    p
}

#[test]
fn seldon_json_refuses_the_reproductions() {
    let err = seldon_json(
        r#"{"data":{"tftensor":{"dtype":"DT_DOUBLE","tensorShape":{"dim":[{"size":"1000000000000"}]},"doubleVal":[1]}}}"#,
    )
    .unwrap_err();
    assert!(
        err.contains(
            "tensor shape [1000000000000] declares 1000000000000 elements along one dimension"
        ),
        "{err}"
    );
    // 3·10^8 is a dimension the 64 MiB budget does not allow either; 10^6 is, but not broadcast from one value
    // to 8 MB of doubles.
    for size in ["300000000", "1000000"] {
        let err = seldon_json(&format!(
            r#"{{"data":{{"tftensor":{{"dtype":"DT_DOUBLE","tensorShape":{{"dim":[{{"size":"{size}"}},{{"size":"10"}}]}},"doubleVal":[1]}}}}}}"#
        ))
        .unwrap_err();
        assert!(err.contains("request limit"), "{err}");
    }
    let err =
        seldon_json(r#"{"data":{"tensor":{"shape":[1000000000000,0],"values":[]}}}"#).unwrap_err();
    assert!(err.contains(ROWS_ERROR), "{err}");
    // The plain `Deserialize` impl applies the default limits too.
    assert!(
        serde_json::from_str::<SeldonMessage>(
            r#"{"data":{"tensor":{"shape":[2147483647,0],"values":[]}}}"#
        )
        .is_err()
    );
    // Valid forms still decode, a modest broadcast included.
    let ok = seldon_json(
        r#"{"data":{"tftensor":{"dtype":"DT_DOUBLE","tensorShape":{"dim":[{"size":"2"},{"size":"4"}]},"doubleVal":[1]}}}"#,
    )
    .unwrap();
    let Payload::Data(data) = ok.payload else {
        panic!()
    };
    assert_eq!(data.array.tensor().unwrap().shape(), [2, 4]);
    let ok = seldon_json(r#"{"data":{"tensor":{"shape":[3,0],"values":[]}}}"#).unwrap();
    let Payload::Data(data) = ok.payload else {
        panic!()
    };
    assert!(matches!(data.array, DataArray::Tensor(ref t) if t.shape() == [3, 0]));
}

#[test]
fn seldon_json_budget_follows_the_body_limit() {
    let limits = RequestLimits::from_body_limit(100);
    let ndarray = format!(
        r#"{{"data":{{"ndarray":[{}]}}}}"#,
        vec!["[]"; 101].join(",")
    );
    let err = SeldonMessage::from_json(ndarray.as_bytes(), &limits).unwrap_err();
    assert!(err.to_string().contains("declares 101 rows"), "{err}");
    let ndarray = format!(
        r#"{{"data":{{"ndarray":[{}]}}}}"#,
        vec!["[]"; 100].join(",")
    );
    assert!(SeldonMessage::from_json(ndarray.as_bytes(), &limits).is_ok());
    // A broadcast of 13 doubles is 104 bytes: one more than a 100-byte body could carry.
    let tf = |n: usize| {
        format!(
            r#"{{"data":{{"tftensor":{{"dtype":"DT_DOUBLE","tensorShape":{{"dim":[{{"size":"{n}"}}]}},"doubleVal":[1]}}}}}}"#
        )
    };
    assert!(SeldonMessage::from_json(tf(12).as_bytes(), &limits).is_ok());
    let err = SeldonMessage::from_json(tf(13).as_bytes(), &limits).unwrap_err();
    assert!(err.to_string().contains("broadcasts one value"), "{err}");
}

#[test]
fn tftensor_broadcasts_are_charged_by_their_decoded_size() {
    let mut budget = RequestLimits::from_body_limit(1000).budget();
    // 10 strings of 100 bytes are more than 1,000 bytes once copied.
    let p = tensor_proto(TfType::DtString, &[10], |p| {
        p.string_val = vec![vec![b'a'; 100]]
    });
    let err = tftensor::from_proto(&p, &mut budget).unwrap_err();
    assert!(err.contains("broadcasts one value"), "{err}");
    // tensor_content is checked against the shape after the shape against the budget.
    let p = tensor_proto(TfType::DtFloat, &[i64::from(i32::MAX), 0], |p| {
        p.tensor_content = vec![]
    });
    assert!(
        tftensor::from_proto(&p, &mut Budget::default())
            .unwrap_err()
            .contains("2147483647 rows")
    );
}

fn seldon_pb(data: pb::default_data::DataOneof) -> pb::SeldonMessage {
    pb::SeldonMessage {
        data_oneof: Some(pb::seldon_message::DataOneof::Data(pb::DefaultData {
            names: vec![],
            data_oneof: Some(data),
        })),
        ..Default::default()
    }
}

#[test]
fn seldon_protobuf_refuses_the_reproductions() {
    let limits = RequestLimits::default();
    let tensor = seldon_pb(pb::default_data::DataOneof::Tensor(pb::Tensor {
        shape: vec![i32::MAX, 0],
        values: vec![],
    }));
    let err = grpc::from_pb(tensor.clone(), &limits).unwrap_err();
    assert!(
        err.contains("tensor shape [2147483647, 0] declares 2147483647 rows"),
        "{err}"
    );
    let tf = seldon_pb(pb::default_data::DataOneof::Tftensor(tensor_proto(
        TfType::DtDouble,
        &[1_000_000_000_000],
        |p| p.double_val = vec![1.0],
    )));
    assert!(
        grpc::from_pb(tf, &limits)
            .unwrap_err()
            .contains("request limit")
    );
    // A feedback's three messages share one budget: each fits alone, not all three.
    let small = RequestLimits::from_body_limit(1000);
    let third = seldon_pb(pb::default_data::DataOneof::Tensor(pb::Tensor {
        shape: vec![400, 0],
        values: vec![],
    }));
    assert!(grpc::from_pb(third.clone(), &small).is_ok());
    let fb = pb::Feedback {
        request: Some(third.clone()),
        response: Some(third.clone()),
        truth: Some(third),
        reward: 1.0,
    };
    let err = grpc::feedback_from_pb(fb, &small).unwrap_err();
    assert!(
        err.contains("more elements than the request limit allows"),
        "{err}"
    );
}

#[test]
fn v2_json_binary_and_grpc_refuse_the_reproductions() {
    let limits = RequestLimits::default();
    let json = r#"{"inputs":[{"name":"x","shape":[1000000000000,0],"datatype":"FP64","data":[]}]}"#;
    let err = v2::decode_rest(json.as_bytes(), None, &limits).unwrap_err();
    assert!(matches!(err, v2::V2Error::Limit { .. }), "{err}");
    assert!(
        err.to_string().starts_with(&format!("`x`: {ROWS_ERROR}")),
        "{err}"
    );

    let header = r#"{"inputs":[{"name":"x","shape":[2147483647,0],"datatype":"FP64","parameters":{"binary_data_size":0}}]}"#;
    let err = v2::decode_rest(header.as_bytes(), Some(header.len()), &limits).unwrap_err();
    assert!(matches!(err, v2::V2Error::Limit { .. }), "{err}");

    for raw in [false, true] {
        let request = ModelInferRequest {
            inputs: vec![InferInputTensor {
                name: "x".into(),
                datatype: "FP64".into(),
                shape: vec![i64::from(i32::MAX), 0],
                contents: (!raw).then(InferTensorContents::default),
                ..Default::default()
            }],
            raw_input_contents: if raw {
                vec![Default::default()]
            } else {
                vec![]
            },
            ..Default::default()
        };
        let err = v2::decode_grpc(request, &limits).unwrap_err();
        assert!(
            err.to_string().contains("declares 2147483647 rows"),
            "{err}"
        );
    }
}

#[test]
fn v2_inputs_share_the_request_budget() {
    let limits = RequestLimits::from_body_limit(100);
    let input =
        |name: &str| format!(r#"{{"name":"{name}","shape":[60,0],"datatype":"FP64","data":[]}}"#);
    let one = format!(r#"{{"inputs":[{}]}}"#, input("a"));
    assert!(v2::decode_rest(one.as_bytes(), None, &limits).is_ok());
    let two = format!(r#"{{"inputs":[{},{}]}}"#, input("a"), input("b"));
    let err = v2::decode_rest(two.as_bytes(), None, &limits).unwrap_err();
    assert!(
        err.to_string().starts_with("`b`: tensor shape [60, 0]"),
        "{err}"
    );
}

#[test]
fn tf_serving_json_and_protobuf_refuse_the_reproductions() {
    let limits = RequestLimits::default();
    let signature = [TensorSpec::new("x", DataType::F64, vec![-1, 4])];
    // A first row of 2^12 values and 2^16 more rows: 2^28 cells by the first row's shape.
    let body = format!(
        r#"{{"instances":[[{}],{}]}}"#,
        vec!["0"; 1 << 12].join(","),
        vec!["0"; 1 << 16].join(",")
    );
    for sig in [&signature[..], &[]] {
        let err = tfserving::decode_predict(body.as_bytes(), sig, &limits).unwrap_err();
        assert!(err.to_string().contains("request limit"), "{err}");
    }
    // Broadcasts and zero-width shapes in a PredictRequest.
    let inputs = |p: TensorProto| HashMap::from([("x".to_string(), p)]);
    for proto in [
        tensor_proto(TfType::DtDouble, &[1_000_000_000_000, 4], |p| {
            p.double_val = vec![1.0]
        }),
        tensor_proto(TfType::DtDouble, &[300_000_000, 4], |p| {
            p.double_val = vec![1.0]
        }),
        tensor_proto(TfType::DtDouble, &[i64::from(i32::MAX), 0], |_| {}),
    ] {
        for sig in [&signature[..], &[]] {
            let err =
                tfserving::inputs_from_protos(&inputs(proto.clone()), sig, &limits).unwrap_err();
            assert!(err.to_string().contains("request limit"), "{err}");
        }
    }
    let ok = tensor_proto(TfType::DtDouble, &[2, 4], |p| p.double_val = vec![1.0]);
    assert_eq!(
        tfserving::inputs_from_protos(&inputs(ok), &signature, &limits).unwrap()[0]
            .tensor
            .len(),
        8
    );
}

#[test]
fn limit_errors_name_the_shape_and_the_limit() {
    let mut b = RequestLimits::from_body_limit(1 << 20).budget();
    let e = b.shape(&[5, 1 << 21]).unwrap_err();
    assert_eq!(
        e,
        LimitError::Dimension {
            shape: vec![5, 1 << 21],
            axis: 1,
            size: 1 << 21,
            max: 1 << 20
        }
    );
    assert_eq!(
        e.to_string(),
        "tensor shape [5, 2097152] declares 2097152 elements along one dimension, more than the request limit \
         allows (1048576, set by the body limit)"
    );
}
