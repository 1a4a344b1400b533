//! Open Inference Protocol (V2) codec: round trips for every datatype over JSON, the binary extension, and gRPC
//! typed and raw contents; exact JSON output; and the rejection of every malformed body we could think of.
#![allow(clippy::unwrap_used, missing_docs)]

use std::collections::HashMap;

use oxserve_core::{ModelMetadata, NamedTensor, Tensor, TensorData, TensorSpec};
use oxserve_protocol::pb::inference::infer_parameter::ParameterChoice;
use oxserve_protocol::pb::inference::model_infer_request::{
    InferInputTensor, InferRequestedOutputTensor,
};
use oxserve_protocol::pb::inference::{InferParameter, InferTensorContents, ModelInferRequest};
use oxserve_protocol::v2::*;
use oxserve_protocol::{DataType, RequestLimits};

/// One sample per wire datatype: the JSON `data`, the expected tensor buffer, and its little-endian blob.
fn samples() -> Vec<(&'static str, &'static str, TensorData, Vec<u8>)> {
    let le = |parts: &[&[u8]]| parts.concat();
    vec![
        (
            "BOOL",
            "[true,false,true,true]",
            TensorData::Bool(vec![true, false, true, true]),
            vec![1, 0, 1, 1],
        ),
        (
            "UINT8",
            "[0,1,254,255]",
            TensorData::U8(vec![0, 1, 254, 255]),
            vec![0, 1, 254, 255],
        ),
        (
            "UINT16",
            "[0,1,2,65535]",
            TensorData::I32(vec![0, 1, 2, 65535]),
            le(&[
                &0u16.to_le_bytes(),
                &1u16.to_le_bytes(),
                &2u16.to_le_bytes(),
                &65535u16.to_le_bytes(),
            ]),
        ),
        (
            "UINT32",
            "[0,1,2,4294967295]",
            TensorData::I64(vec![0, 1, 2, 4_294_967_295]),
            le(&[
                &0u32.to_le_bytes(),
                &1u32.to_le_bytes(),
                &2u32.to_le_bytes(),
                &u32::MAX.to_le_bytes(),
            ]),
        ),
        (
            "UINT64",
            "[0,1,2,9223372036854775807]",
            TensorData::I64(vec![0, 1, 2, i64::MAX]),
            le(&[
                &0u64.to_le_bytes(),
                &1u64.to_le_bytes(),
                &2u64.to_le_bytes(),
                &(i64::MAX as u64).to_le_bytes(),
            ]),
        ),
        (
            "INT8",
            "[-128,-1,0,127]",
            TensorData::I32(vec![-128, -1, 0, 127]),
            vec![0x80, 0xff, 0, 0x7f],
        ),
        (
            "INT16",
            "[-32768,-1,0,32767]",
            TensorData::I32(vec![-32768, -1, 0, 32767]),
            le(&[
                &i16::MIN.to_le_bytes(),
                &(-1i16).to_le_bytes(),
                &0i16.to_le_bytes(),
                &i16::MAX.to_le_bytes(),
            ]),
        ),
        (
            "INT32",
            "[-2147483648,-1,0,2147483647]",
            TensorData::I32(vec![i32::MIN, -1, 0, i32::MAX]),
            le(&[
                &i32::MIN.to_le_bytes(),
                &(-1i32).to_le_bytes(),
                &0i32.to_le_bytes(),
                &i32::MAX.to_le_bytes(),
            ]),
        ),
        (
            "INT64",
            "[-9223372036854775808,-1,0,9223372036854775807]",
            TensorData::I64(vec![i64::MIN, -1, 0, i64::MAX]),
            le(&[
                &i64::MIN.to_le_bytes(),
                &(-1i64).to_le_bytes(),
                &0i64.to_le_bytes(),
                &i64::MAX.to_le_bytes(),
            ]),
        ),
        (
            "FP32",
            "[0.5,-1.25,3.0,1e-7]",
            TensorData::F32(vec![0.5, -1.25, 3.0, 1e-7]),
            le(&[
                &0.5f32.to_le_bytes(),
                &(-1.25f32).to_le_bytes(),
                &3f32.to_le_bytes(),
                &1e-7f32.to_le_bytes(),
            ]),
        ),
        (
            "FP64",
            "[0.1,-2.5,3.0,1e300]",
            TensorData::F64(vec![0.1, -2.5, 3.0, 1e300]),
            le(&[
                &0.1f64.to_le_bytes(),
                &(-2.5f64).to_le_bytes(),
                &3f64.to_le_bytes(),
                &1e300f64.to_le_bytes(),
            ]),
        ),
        (
            "BYTES",
            r#"["a","","héllo","x\"y"]"#,
            TensorData::Bytes(vec![
                b"a".to_vec(),
                vec![],
                "héllo".as_bytes().to_vec(),
                b"x\"y".to_vec(),
            ]),
            le(&[
                &1u32.to_le_bytes(),
                b"a",
                &0u32.to_le_bytes(),
                &6u32.to_le_bytes(),
                "héllo".as_bytes(),
                &3u32.to_le_bytes(),
                b"x\"y",
            ]),
        ),
    ]
}

fn json_request(datatype: &str, shape: &str, data: &str) -> String {
    format!(
        r#"{{"inputs":[{{"name":"x","shape":{shape},"datatype":"{datatype}","data":{data}}}]}}"#
    )
}

fn decode_one(body: &str) -> Result<NamedTensor, V2Error> {
    let mut d = decode_rest(body.as_bytes(), None, &RequestLimits::default())?;
    Ok(d.request.inputs.remove(0))
}

/// A binary-extension body: JSON header then blobs.
fn binary_body(header: &str, blobs: &[&[u8]]) -> (Vec<u8>, usize) {
    let mut body = header.as_bytes().to_vec();
    for b in blobs {
        body.extend_from_slice(b);
    }
    (body, header.len())
}

#[test]
fn every_datatype_round_trips_through_json() {
    for (datatype, data, values, _) in samples() {
        let t = decode_one(&json_request(datatype, "[2,2]", data)).unwrap();
        assert_eq!(t.tensor.data(), &values, "{datatype}");
        assert_eq!(t.tensor.shape(), &[2, 2]);

        let enc = encode_rest(
            "m",
            None,
            "r1".into(),
            vec![t.clone()],
            &BinaryOutputs::none(),
        )
        .unwrap();
        assert_eq!(enc.header_len, None);
        let back = decode_rest_response(&enc.body, None).unwrap();
        assert_eq!(back.outputs, vec![t], "{datatype}");
    }
}

#[test]
fn every_datatype_round_trips_through_binary() {
    for (datatype, _, values, blob) in samples() {
        let header = format!(
            r#"{{"inputs":[{{"name":"x","shape":[4],"datatype":"{datatype}","parameters":{{"binary_data_size":{}}}}}],"parameters":{{"binary_data_output":true}}}}"#,
            blob.len()
        );
        let (body, hl) = binary_body(&header, &[&blob]);
        let d = decode_rest(&body, Some(hl), &RequestLimits::default()).unwrap();
        assert_eq!(d.request.inputs[0].tensor.data(), &values, "{datatype}");
        assert!(d.binary_outputs.is_binary("anything"));

        let enc = encode_rest(
            "m",
            Some("1"),
            "r".into(),
            d.request.inputs.clone(),
            &d.binary_outputs,
        )
        .unwrap();
        let hl = enc.header_len.unwrap();
        let back = decode_rest_response(&enc.body, Some(hl)).unwrap();
        assert_eq!(back.outputs, d.request.inputs, "{datatype}");
        // The wire blob of types the core stores natively is byte-identical.
        if V2DataType::parse(datatype).unwrap().core().v2_name() == datatype {
            assert_eq!(&enc.body[hl..], &blob[..], "{datatype}");
        }
    }
}

#[test]
fn half_floats_decode_from_binary_only() {
    let header = r#"{"inputs":[{"name":"h","shape":[2],"datatype":"FP16","parameters":{"binary_data_size":4}}]}"#;
    let (body, hl) = binary_body(header, &[&[0x00, 0x3c, 0x00, 0xc0]]);
    let d = decode_rest(&body, Some(hl), &RequestLimits::default()).unwrap();
    assert_eq!(
        d.request.inputs[0].tensor.data(),
        &TensorData::F32(vec![1.0, -2.0])
    );
    assert_eq!(d.inputs[0].datatype, V2DataType::F16);
    let err = decode_one(&json_request("FP16", "[1]", "[1.0]")).unwrap_err();
    assert_eq!(
        err.to_string(),
        "`x`: FP16 is not supported in JSON data; send it as binary data"
    );
}

#[test]
fn exact_json_response() {
    let outputs = vec![
        NamedTensor::new(
            "predict",
            Tensor::new(vec![2, 1], TensorData::I64(vec![0, 2])).unwrap(),
        ),
        NamedTensor::new(
            "predict_proba",
            Tensor::new(vec![1, 3], TensorData::F64(vec![0.1, 1.0 / 3.0, f64::NAN])).unwrap(),
        ),
        NamedTensor::new(
            "label",
            Tensor::new(vec![1, 1], TensorData::Bytes(vec![b"setosa".to_vec()])).unwrap(),
        ),
    ];
    let enc = encode_rest(
        "iris",
        None,
        "abc".into(),
        outputs.clone(),
        &BinaryOutputs::none(),
    )
    .unwrap();
    assert_eq!(
        String::from_utf8(enc.body).unwrap(),
        r#"{"model_name":"iris","id":"abc","outputs":[{"name":"predict","shape":[2,1],"datatype":"INT64","data":[0,2]},{"name":"predict_proba","shape":[1,3],"datatype":"FP64","data":[0.1,0.3333333333333333,null]},{"name":"label","shape":[1,1],"datatype":"BYTES","data":["setosa"]}]}"#
    );

    // With a version, response parameters and a per-output parameter, as MLServer writes them.
    let mut resp =
        InferenceResponse::from_outputs("iris", Some("v1"), "abc".into(), outputs[..1].to_vec())
            .unwrap();
    resp.parameters = Some(Default::default());
    resp.outputs[0].parameters = Some(serde_json::from_str(r#"{"content_type":"np"}"#).unwrap());
    let enc = encode_response(resp, &BinaryOutputs::none()).unwrap();
    assert_eq!(
        String::from_utf8(enc.body).unwrap(),
        r#"{"model_name":"iris","model_version":"v1","id":"abc","parameters":{},"outputs":[{"name":"predict","shape":[2,1],"datatype":"INT64","parameters":{"content_type":"np"},"data":[0,2]}]}"#
    );
}

#[test]
fn binary_response_mixes_binary_and_json_outputs() {
    let outputs = vec![
        NamedTensor::new(
            "a",
            Tensor::new(vec![2], TensorData::F32(vec![1.0, 2.0])).unwrap(),
        ),
        NamedTensor::new("b", Tensor::new(vec![1], TensorData::I64(vec![7])).unwrap()),
    ];
    let binary = BinaryOutputs {
        default: false,
        per_output: vec![("a".into(), true)],
    };
    let enc = encode_rest("m", None, "i".into(), outputs.clone(), &binary).unwrap();
    let hl = enc.header_len.unwrap();
    assert_eq!(
        std::str::from_utf8(&enc.body[..hl]).unwrap(),
        r#"{"model_name":"m","id":"i","outputs":[{"name":"a","shape":[2],"datatype":"FP32","parameters":{"binary_data_size":8}},{"name":"b","shape":[1],"datatype":"INT64","data":[7]}]}"#
    );
    assert_eq!(&enc.body[hl..], &[0, 0, 0x80, 0x3f, 0, 0, 0, 0x40]);
    assert_eq!(
        decode_rest_response(&enc.body, Some(hl)).unwrap().outputs,
        outputs
    );
}

#[test]
fn binary_flags_come_from_request_and_outputs() {
    let body = r#"{"id":"q","parameters":{"binary_data_output":true,"content_type":"np"},
        "inputs":[{"name":"x","shape":[1],"datatype":"FP64","data":[1]}],
        "outputs":[{"name":"a","parameters":{"binary_data":false}},{"name":"b"}]}"#;
    let d = decode_rest(body.as_bytes(), None, &RequestLimits::default()).unwrap();
    assert_eq!(d.id.as_deref(), Some("q"));
    assert_eq!(d.request.outputs, vec!["a".to_owned(), "b".to_owned()]);
    assert!(!d.binary_outputs.is_binary("a"));
    assert!(d.binary_outputs.is_binary("b"));
    assert_eq!(d.parameters["content_type"], "np");

    let bad = r#"{"inputs":[],"outputs":[{"name":"a","parameters":{"binary_data":"yes"}}]}"#;
    assert_eq!(
        decode_rest(bad.as_bytes(), None, &RequestLimits::default())
            .unwrap_err()
            .to_string(),
        "`a`: parameter `binary_data` must be a boolean"
    );
}

#[test]
fn flat_and_nested_data_agree_and_field_order_does_not_matter() {
    let flat = decode_one(&json_request("FP64", "[2,3]", "[1,2,3,4,5,6]")).unwrap();
    let nested = decode_one(&json_request("FP64", "[2,3]", "[[1,2,3],[4,5,6]]")).unwrap();
    assert_eq!(flat, nested);
    // Like MLServer's reshape, nesting need not mirror the shape: only the element count must match it.
    let reshaped = decode_one(&json_request("FP64", "[3,2]", "[[1,2,3],[4,5,6]]")).unwrap();
    assert_eq!(reshaped.tensor.shape(), &[3, 2]);
    assert_eq!(reshaped.tensor.data(), flat.tensor.data());
    let data_first =
        r#"{"inputs":[{"data":[[1,2,3],[4,5,6]],"name":"x","datatype":"FP64","shape":[2,3]}]}"#;
    assert_eq!(decode_one(data_first).unwrap(), flat);
    let data_first_bad =
        r#"{"inputs":[{"data":[[1,2,3],[4,"5",6]],"name":"x","datatype":"FP64","shape":[2,3]}]}"#;
    assert_eq!(
        decode_one(data_first_bad).unwrap_err().to_string(),
        "`x`: element 4 of FP64 data is a string"
    );
    // Unknown fields are ignored, as MLServer does.
    let extra = r#"{"inputs":[{"name":"x","shape":[1],"datatype":"INT32","data":[1],"extra":{"a":[1]}}],"x":1}"#;
    assert_eq!(
        decode_one(extra).unwrap().tensor.data(),
        &TensorData::I32(vec![1])
    );
}

#[test]
fn bad_shapes_are_rejected() {
    let err = decode_one(&json_request("FP64", "[2,3]", "[1,2,3,4,5]")).unwrap_err();
    assert_eq!(
        err.to_string(),
        "`x`: shape [2, 3] holds 6 elements but data has 5"
    );
    let err = decode_one(&json_request("FP64", "[-1,3]", "[1,2,3]")).unwrap_err();
    assert_eq!(
        err.to_string(),
        "`x`: shape [-1, 3] has a negative dimension"
    );
    let err = decode_one(&json_request(
        "FP64",
        "[9223372036854775807,9223372036854775807]",
        "[1]",
    ))
    .unwrap_err();
    assert!(matches!(err, V2Error::ShapeOverflow { .. }), "{err}");
    // A huge but representable shape with tiny data fails on the count, allocating nothing big (even without a
    // budget), and with the server's budget on the shape, before the data is looked at.
    let huge = json_request("FP64", "[4611686018427387903]", "[1]");
    let err = decode_rest(
        huge.as_bytes(),
        None,
        &RequestLimits::from_body_limit(usize::MAX),
    )
    .unwrap_err();
    assert!(matches!(err, V2Error::ElementCount { .. }), "{err}");
    let err = decode_one(&huge).unwrap_err();
    assert!(matches!(err, V2Error::Limit { .. }), "{err}");
    let err = decode_one(&json_request("FP64", "[1.5]", "[1]")).unwrap_err();
    assert!(matches!(err, V2Error::Json(_)), "{err}");
}

#[test]
fn ragged_and_mistyped_data_are_rejected() {
    let err = decode_one(&json_request("FP64", "[2,2]", "[[1,2],[3]]")).unwrap_err();
    assert_eq!(
        err.to_string(),
        "`x`: nested data is ragged (rows of different lengths or mixed nesting depth)"
    );
    let err = decode_one(&json_request("INT64", "[2]", "[1,2.5]")).unwrap_err();
    assert_eq!(
        err.to_string(),
        "`x`: element 1 of INT64 data is the non-integer 2.5"
    );
    let err = decode_one(&json_request("INT64", "[2]", "[1,true]")).unwrap_err();
    assert_eq!(err.to_string(), "`x`: element 1 of INT64 data is a boolean");
    let err = decode_one(&json_request("UINT8", "[1]", "[256]")).unwrap_err();
    assert_eq!(
        err.to_string(),
        "`x`: element 0 (256) is out of range for UINT8"
    );
    let err = decode_one(&json_request("fp64", "[1]", "[1]")).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("`x`: unknown datatype `fp64`; expected one of BOOL"),
        "{err}"
    );
    let err = decode_one(r#"{"inputs":[{"name":"x","shape":[1],"datatype":"FP64"}]}"#).unwrap_err();
    assert_eq!(
        err.to_string(),
        "input `x` has neither `data` nor `parameters.binary_data_size`"
    );
    let err = decode_rest(
        b"{\"inputs\":[{\"name\":\"x\"",
        None,
        &RequestLimits::default(),
    )
    .unwrap_err();
    assert!(matches!(err, V2Error::Json(_)), "{err}");
    // NaN arrives as null for floats.
    let t = decode_one(&json_request("FP64", "[2]", "[null,1]")).unwrap();
    let TensorData::F64(v) = t.tensor.data() else {
        panic!()
    };
    assert!(v[0].is_nan() && v[1] == 1.0);
}

#[test]
fn binary_bodies_are_never_trusted() {
    let header = r#"{"inputs":[{"name":"x","shape":[2],"datatype":"FP64","parameters":{"binary_data_size":16}}]}"#;
    let blob = [0u8; 16];
    // Truncated body.
    let (body, hl) = binary_body(header, &[&blob[..10]]);
    assert_eq!(
        decode_rest(&body, Some(hl), &RequestLimits::default())
            .unwrap_err()
            .to_string(),
        "input `x`: binary_data_size is 16 but only 10 bytes remain in the body"
    );
    // Header length past the body.
    assert!(matches!(
        decode_rest(&body, Some(body.len() + 1), &RequestLimits::default()),
        Err(V2Error::HeaderLength { .. })
    ));
    // Header length cutting the JSON.
    assert!(matches!(
        decode_rest(&body, Some(5), &RequestLimits::default()),
        Err(V2Error::Json(_))
    ));
    // Trailing bytes.
    let (body, hl) = binary_body(header, &[&blob, &[1, 2]]);
    assert_eq!(
        decode_rest(&body, Some(hl), &RequestLimits::default())
            .unwrap_err()
            .to_string(),
        "2 bytes follow the last binary input"
    );
    // A lying size that fits the body but not the shape.
    let lying = r#"{"inputs":[{"name":"x","shape":[2],"datatype":"FP64","parameters":{"binary_data_size":12}}]}"#;
    let (body, hl) = binary_body(lying, &[&blob[..12]]);
    assert_eq!(
        decode_rest(&body, Some(hl), &RequestLimits::default())
            .unwrap_err()
            .to_string(),
        "`x`: 12 bytes of binary data do not hold 2 FP64 elements (16 bytes)"
    );
    // Absurd sizes.
    for size in ["18446744073709551615", "-1", "\"16\""] {
        let h = format!(
            r#"{{"inputs":[{{"name":"x","shape":[2],"datatype":"FP64","parameters":{{"binary_data_size":{size}}}}}]}}"#
        );
        let (body, hl) = binary_body(&h, &[&blob]);
        assert!(
            decode_rest(&body, Some(hl), &RequestLimits::default()).is_err(),
            "{size}"
        );
    }
    // Binary size without the header.
    let (body, _) = binary_body(header, &[]);
    assert!(matches!(
        decode_rest(&body, None, &RequestLimits::default()),
        Err(V2Error::BinaryWithoutHeader { .. })
    ));
    // Both data and a binary size.
    let both = r#"{"inputs":[{"name":"x","shape":[1],"datatype":"FP64","data":[1],"parameters":{"binary_data_size":8}}]}"#;
    assert!(matches!(
        decode_rest(both.as_bytes(), Some(both.len()), &RequestLimits::default()),
        Err(V2Error::DataAndBinary { .. })
    ));
    // A huge BYTES shape with a small blob.
    let huge = r#"{"inputs":[{"name":"s","shape":[4611686018427387903],"datatype":"BYTES","parameters":{"binary_data_size":5}}]}"#;
    let (body, hl) = binary_body(huge, &[&[1, 0, 0, 0, b'a']]);
    assert!(matches!(
        decode_rest(&body, Some(hl), &RequestLimits::from_body_limit(usize::MAX)),
        Err(V2Error::BytesFraming { .. })
    ));
    assert!(matches!(
        decode_rest(&body, Some(hl), &RequestLimits::default()),
        Err(V2Error::Limit { .. })
    ));
}

#[test]
fn binary_inputs_are_read_in_order_with_json_inputs_between() {
    let header = r#"{"inputs":[
        {"name":"a","shape":[2],"datatype":"INT32","parameters":{"binary_data_size":8}},
        {"name":"j","shape":[1],"datatype":"BOOL","data":[true]},
        {"name":"s","shape":[2],"datatype":"BYTES","parameters":{"binary_data_size":11}}]}"#;
    let (body, hl) = binary_body(
        header,
        &[
            &[1, 0, 0, 0, 2, 0, 0, 0],
            &[3, 0, 0, 0, b'a', b'b', b'c', 0, 0, 0, 0],
        ],
    );
    let d = decode_rest(&body, Some(hl), &RequestLimits::default()).unwrap();
    let data: Vec<_> = d
        .request
        .inputs
        .iter()
        .map(|i| i.tensor.data().clone())
        .collect();
    assert_eq!(
        data,
        vec![
            TensorData::I32(vec![1, 2]),
            TensorData::Bool(vec![true]),
            TensorData::Bytes(vec![b"abc".to_vec(), vec![]])
        ]
    );
    // BYTES framing that overruns its blob.
    let (body, hl) = binary_body(
        header,
        &[
            &[1, 0, 0, 0, 2, 0, 0, 0],
            &[9, 0, 0, 0, b'a', b'b', b'c', 0, 0, 0, 0],
        ],
    );
    assert_eq!(
        decode_rest(&body, Some(hl), &RequestLimits::default())
            .unwrap_err()
            .to_string(),
        "`s`: bad BYTES framing: element 0: length 9 but only 7 bytes remain"
    );
}

#[test]
fn non_utf8_bytes_need_binary_output() {
    let out = vec![NamedTensor::new(
        "o",
        Tensor::new(vec![2], TensorData::Bytes(vec![b"ok".to_vec(), vec![0xff]])).unwrap(),
    )];
    let err = encode_rest("m", None, "i".into(), out.clone(), &BinaryOutputs::none()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "output `o`: element 1 is not valid UTF-8; request it with `binary_data`"
    );
    let enc = encode_rest("m", None, "i".into(), out.clone(), &BinaryOutputs::all()).unwrap();
    let back = decode_rest_response(&enc.body, enc.header_len).unwrap();
    assert_eq!(back.outputs, out);
}

fn grpc_input(
    name: &str,
    datatype: &str,
    shape: Vec<i64>,
    contents: Option<InferTensorContents>,
) -> InferInputTensor {
    InferInputTensor {
        name: name.into(),
        datatype: datatype.into(),
        shape,
        parameters: HashMap::new(),
        contents,
    }
}

/// The typed contents a client would send for a sample.
fn typed(datatype: &str, values: &TensorData) -> InferTensorContents {
    let mut c = InferTensorContents::default();
    match (datatype, values) {
        (_, TensorData::Bool(v)) => c.bool_contents = v.clone(),
        (_, TensorData::U8(v)) => c.uint_contents = v.iter().map(|&x| u32::from(x)).collect(),
        ("UINT16", TensorData::I32(v)) => c.uint_contents = v.iter().map(|&x| x as u32).collect(),
        (_, TensorData::I32(v)) => c.int_contents = v.clone(),
        ("UINT32", TensorData::I64(v)) => c.uint_contents = v.iter().map(|&x| x as u32).collect(),
        ("UINT64", TensorData::I64(v)) => c.uint64_contents = v.iter().map(|&x| x as u64).collect(),
        (_, TensorData::I64(v)) => c.int64_contents = v.clone(),
        (_, TensorData::F32(v)) => c.fp32_contents = v.clone(),
        (_, TensorData::F64(v)) => c.fp64_contents = v.clone(),
        (_, TensorData::Bytes(v)) => c.bytes_contents = v.clone(),
    }
    c
}

#[test]
fn every_datatype_round_trips_through_grpc_typed_and_raw() {
    for (datatype, _, values, blob) in samples() {
        let request = ModelInferRequest {
            id: "g".into(),
            inputs: vec![grpc_input(
                "x",
                datatype,
                vec![4],
                Some(typed(datatype, &values)),
            )],
            ..Default::default()
        };
        let d = decode_grpc(request, &RequestLimits::default()).unwrap();
        assert_eq!(d.request.inputs[0].tensor.data(), &values, "{datatype}");
        assert!(!d.raw_output);
        assert_eq!(d.id.as_deref(), Some("g"));
        let resp = encode_grpc(
            "m",
            None,
            "g".into(),
            d.request.inputs.clone(),
            d.raw_output,
        )
        .unwrap();
        let out = &resp.outputs[0];
        assert_eq!(out.shape, vec![4]);
        assert_eq!(out.datatype, values.dtype().v2_name());
        assert!(resp.raw_output_contents.is_empty());
        let again = ModelInferRequest {
            inputs: vec![grpc_input(
                "x",
                &out.datatype,
                out.shape.clone(),
                out.contents.clone(),
            )],
            ..Default::default()
        };
        assert_eq!(
            decode_grpc(again, &RequestLimits::default())
                .unwrap()
                .request
                .inputs,
            d.request.inputs,
            "{datatype}"
        );

        let raw = ModelInferRequest {
            inputs: vec![grpc_input("x", datatype, vec![2, 2], None)],
            raw_input_contents: vec![blob.clone()],
            ..Default::default()
        };
        let d = decode_grpc(raw, &RequestLimits::default()).unwrap();
        assert!(d.raw_output);
        assert_eq!(d.request.inputs[0].tensor.data(), &values, "{datatype}");
        let resp = encode_grpc(
            "m",
            Some("2"),
            String::new(),
            d.request.inputs.clone(),
            true,
        )
        .unwrap();
        assert_eq!(resp.model_version, "2");
        assert_eq!(resp.raw_output_contents.len(), 1);
        assert_eq!(
            resp.outputs[0].contents,
            Some(InferTensorContents::default())
        );
        if V2DataType::parse(datatype).unwrap().core().v2_name() == datatype {
            assert_eq!(resp.raw_output_contents[0], blob, "{datatype}");
        }
    }
}

#[test]
fn grpc_typed_contents_use_the_field_mapping_of_the_spec() {
    let out = |data: TensorData| {
        let t = Tensor::new(vec![data.len()], data).unwrap();
        let r = encode_grpc(
            "m",
            None,
            String::new(),
            vec![NamedTensor::new("o", t)],
            false,
        )
        .unwrap();
        r.outputs[0].contents.clone().unwrap()
    };
    assert_eq!(out(TensorData::I64(vec![1])).int64_contents, vec![1]);
    assert_eq!(out(TensorData::F64(vec![0.5])).fp64_contents, vec![0.5]);
    assert_eq!(
        out(TensorData::Bytes(vec![b"a".to_vec()])).bytes_contents,
        vec![b"a".to_vec()]
    );
    assert_eq!(out(TensorData::U8(vec![9])).uint_contents, vec![9]);
    assert_eq!(out(TensorData::I32(vec![-3])).int_contents, vec![-3]);

    let wrong_field = ModelInferRequest {
        inputs: vec![grpc_input(
            "x",
            "FP64",
            vec![1],
            Some(InferTensorContents {
                fp32_contents: vec![1.0],
                ..Default::default()
            }),
        )],
        ..Default::default()
    };
    assert_eq!(
        decode_grpc(wrong_field, &RequestLimits::default())
            .unwrap_err()
            .to_string(),
        "input `x`: datatype FP64 expects `fp64_contents` but the elements are in `fp32_contents`"
    );
    let short = ModelInferRequest {
        inputs: vec![grpc_input(
            "x",
            "INT8",
            vec![2],
            Some(InferTensorContents {
                int_contents: vec![1, 200],
                ..Default::default()
            }),
        )],
        ..Default::default()
    };
    assert_eq!(
        decode_grpc(short, &RequestLimits::default())
            .unwrap_err()
            .to_string(),
        "`x`: element 1 (200) is out of range for INT8"
    );
    let count = ModelInferRequest {
        inputs: vec![grpc_input(
            "x",
            "FP64",
            vec![3],
            Some(InferTensorContents {
                fp64_contents: vec![1.0],
                ..Default::default()
            }),
        )],
        ..Default::default()
    };
    assert_eq!(
        decode_grpc(count, &RequestLimits::default())
            .unwrap_err()
            .to_string(),
        "`x`: shape [3] holds 3 elements but fp64_contents has 1"
    );
}

#[test]
fn grpc_raw_and_typed_mix_like_mlserver() {
    let request = ModelInferRequest {
        inputs: vec![
            grpc_input("a", "FP64", vec![1], None),
            grpc_input(
                "b",
                "INT64",
                vec![1],
                Some(InferTensorContents {
                    int64_contents: vec![5],
                    ..Default::default()
                }),
            ),
            grpc_input("c", "INT32", vec![1], Some(InferTensorContents::default())),
        ],
        raw_input_contents: vec![2.5f64.to_le_bytes().to_vec(), 7i32.to_le_bytes().to_vec()],
        ..Default::default()
    };
    let d = decode_grpc(request.clone(), &RequestLimits::default()).unwrap();
    let data: Vec<_> = d
        .request
        .inputs
        .iter()
        .map(|i| i.tensor.data().clone())
        .collect();
    assert_eq!(
        data,
        vec![
            TensorData::F64(vec![2.5]),
            TensorData::I64(vec![5]),
            TensorData::I32(vec![7])
        ]
    );
    let mut extra = request.clone();
    extra.raw_input_contents.push(vec![]);
    assert_eq!(
        decode_grpc(extra, &RequestLimits::default())
            .unwrap_err()
            .to_string(),
        "3 raw_input_contents entries for 2 inputs without typed contents"
    );
    let mut truncated = request;
    truncated.raw_input_contents[0].pop();
    assert!(matches!(
        decode_grpc(truncated, &RequestLimits::default()),
        Err(V2Error::BinarySize { .. })
    ));
}

#[test]
fn grpc_parameters_become_json() {
    let p = |c| InferParameter {
        parameter_choice: Some(c),
    };
    let request = ModelInferRequest {
        parameters: HashMap::from([
            ("b".to_owned(), p(ParameterChoice::BoolParam(true))),
            ("i".to_owned(), p(ParameterChoice::Int64Param(-3))),
            ("s".to_owned(), p(ParameterChoice::StringParam("np".into()))),
            ("d".to_owned(), p(ParameterChoice::DoubleParam(0.5))),
            ("u".to_owned(), p(ParameterChoice::Uint64Param(u64::MAX))),
        ]),
        outputs: vec![InferRequestedOutputTensor {
            name: "predict".into(),
            parameters: HashMap::new(),
        }],
        ..Default::default()
    };
    let d = decode_grpc(request, &RequestLimits::default()).unwrap();
    assert_eq!(
        serde_json::to_string(&d.parameters).unwrap(),
        r#"{"b":true,"d":0.5,"i":-3,"s":"np","u":18446744073709551615}"#
    );
    assert_eq!(d.request.outputs, vec!["predict".to_owned()]);
    let back = json_to_infer_parameters(&d.parameters);
    assert_eq!(back["u"], p(ParameterChoice::Uint64Param(u64::MAX)));
    assert_eq!(back["d"], p(ParameterChoice::DoubleParam(0.5)));
    assert_eq!(back["i"], p(ParameterChoice::Int64Param(-3)));
    assert_eq!(infer_parameters_to_json(back), d.parameters);
}

#[test]
fn metadata_conversions() {
    let meta = ModelMetadata {
        platform: "sklearn".into(),
        inputs: vec![TensorSpec::new("input-0", DataType::F64, vec![-1, 4])],
        outputs: vec![TensorSpec::new("predict", DataType::I64, vec![-1, 1])],
    };
    let rest = model_metadata_rest("iris", vec![], &meta);
    assert_eq!(
        serde_json::to_string(&rest).unwrap(),
        r#"{"name":"iris","versions":[],"platform":"sklearn","inputs":[{"name":"input-0","datatype":"FP64","shape":[-1,4]}],"outputs":[{"name":"predict","datatype":"INT64","shape":[-1,1]}]}"#
    );
    let grpc = model_metadata_grpc("iris", vec!["v1".into()], &meta);
    assert_eq!(grpc.inputs[0].shape, vec![-1, 4]);
    assert_eq!(grpc.outputs[0].datatype, "INT64");
    assert_eq!(grpc.versions, vec!["v1".to_owned()]);
    let server = MetadataServerResponse {
        name: "mlserver".into(),
        version: "1.7.1".into(),
        extensions: vec![],
    };
    assert_eq!(
        serde_json::to_string(&server).unwrap(),
        r#"{"name":"mlserver","version":"1.7.1","extensions":[]}"#
    );
    assert_eq!(
        serde_json::to_string(&ErrorResponse::new("Model x not found")).unwrap(),
        r#"{"error":"Model x not found"}"#
    );
}

#[test]
fn request_types_serialize_per_spec() {
    let req = InferenceRequest {
        id: None,
        parameters: None,
        inputs: vec![
            RequestInput::from_tensor(
                "x",
                Tensor::new(vec![1, 2], TensorData::F64(vec![1.0, 2.5])).unwrap(),
            )
            .unwrap(),
        ],
        outputs: None,
    };
    let json = serde_json::to_string(&req).unwrap();
    assert_eq!(
        json,
        r#"{"inputs":[{"name":"x","shape":[1,2],"datatype":"FP64","data":[1.0,2.5]}]}"#
    );
    let d = decode_rest(json.as_bytes(), None, &RequestLimits::default()).unwrap();
    assert_eq!(d.id, None);
    assert_eq!(
        d.request.inputs[0].tensor.data(),
        &TensorData::F64(vec![1.0, 2.5])
    );
}

#[test]
fn no_truncation_or_corruption_panics() {
    let header = r#"{"inputs":[{"name":"s","shape":[2],"datatype":"BYTES","parameters":{"binary_data_size":11}},{"name":"f","shape":[1,2],"datatype":"FP64","data":[[1,2]]}],"outputs":[{"name":"o","parameters":{"binary_data":true}}]}"#;
    let (body, hl) = binary_body(header, &[&[3, 0, 0, 0, b'a', b'b', b'c', 0, 0, 0, 0]]);
    assert!(decode_rest(&body, Some(hl), &RequestLimits::default()).is_ok());
    for cut in 0..body.len() {
        let _ = decode_rest(&body[..cut], Some(hl.min(cut)), &RequestLimits::default());
        let _ = decode_rest(&body[..cut], None, &RequestLimits::default());
        let _ = decode_rest(&body, Some(cut), &RequestLimits::default());
    }
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    for _ in 0..20_000 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let mut corrupt = body.clone();
        let at = (x % corrupt.len() as u64) as usize;
        corrupt[at] = (x >> 32) as u8;
        let _ = decode_rest(&corrupt, Some(hl), &RequestLimits::default());
    }
}

fn rest(body: &str) -> Result<DecodedInfer, V2Error> {
    decode_rest(body.as_bytes(), None, &RequestLimits::default())
}

#[test]
fn mlserver_request_content_types_np_and_str_take_one_input() {
    let two = r#"{"parameters":{"content_type":"np"},"inputs":[
        {"name":"a","shape":[1],"datatype":"FP64","data":[1]},
        {"name":"b","shape":[1],"datatype":"FP64","data":[2]}]}"#;
    assert_eq!(
        rest(two).unwrap_err().to_string(),
        "The 'np' codec only supports a single input tensor (2 were received)"
    );
    // `pd`: one input per column, any number.
    assert!(rest(&two.replace(r#""np""#, r#""pd""#)).is_ok());
    let str_numbers = r#"{"parameters":{"content_type":"str"},"inputs":[
        {"name":"a","shape":[1],"datatype":"FP64","data":[1]}]}"#;
    assert_eq!(
        rest(str_numbers).unwrap_err().to_string(),
        "input `a`: content type `str` needs BYTES data, not FP64"
    );
    let d = rest(
        r#"{"parameters":{"content_type":"str"},"inputs":[
        {"name":"a","shape":[2],"datatype":"BYTES","data":["hi","there"]}]}"#,
    )
    .unwrap();
    assert_eq!(
        d.request.inputs[0].tensor.data(),
        &TensorData::Bytes(vec![b"hi".to_vec(), b"there".to_vec()])
    );
    // The same rule over gRPC.
    let request = ModelInferRequest {
        parameters: HashMap::from([(
            "content_type".to_owned(),
            InferParameter {
                parameter_choice: Some(ParameterChoice::StringParam("np".into())),
            },
        )]),
        inputs: vec![
            grpc_input(
                "a",
                "FP64",
                vec![1],
                Some(typed("FP64", &TensorData::F64(vec![1.0]))),
            ),
            grpc_input(
                "b",
                "FP64",
                vec![1],
                Some(typed("FP64", &TensorData::F64(vec![2.0]))),
            ),
        ],
        ..Default::default()
    };
    assert!(matches!(
        decode_grpc(request, &RequestLimits::default()),
        Err(V2Error::CodecInputs { got: 2, .. })
    ));
}

#[test]
fn mlserver_input_content_types_base64_datetime_str() {
    let d = rest(
        r#"{"inputs":[
        {"name":"img","shape":[2],"datatype":"BYTES","parameters":{"content_type":"base64"},
         "data":["aGVsbG8=","not base64!"]},
        {"name":"when","shape":[2,1],"datatype":"BYTES","parameters":{"content_type":"datetime"},
         "data":[["1970-01-02"],["1970-01-01T01:00:00+01:00"]]},
        {"name":"n","shape":[1],"datatype":"INT64","parameters":{"content_type":"np"},"data":[3]}]}"#,
    )
    .unwrap();
    let inputs = &d.request.inputs;
    assert_eq!(
        inputs[0].tensor.data(),
        &TensorData::Bytes(vec![b"hello".to_vec(), b"not base64!".to_vec()])
    );
    assert_eq!(
        inputs[1].tensor.data(),
        &TensorData::I64(vec![86_400_000_000_000, 0])
    );
    assert_eq!(inputs[1].tensor.shape(), &[2, 1]);
    assert_eq!(inputs[2].tensor.data(), &TensorData::I64(vec![3]));
    // The wire datatype stays what was sent.
    assert_eq!(d.inputs[1].datatype, V2DataType::Bytes);

    let bad_date = r#"{"inputs":[{"name":"when","shape":[1],"datatype":"BYTES",
        "parameters":{"content_type":"datetime"},"data":["2023-02-29"]}]}"#;
    assert_eq!(
        rest(bad_date).unwrap_err().to_string(),
        "input `when`: element 0 (\"2023-02-29\") is not an ISO 8601 datetime within pandas' datetime64[ns] \
         range (content type `datetime`)"
    );
    let numbers = r#"{"inputs":[{"name":"x","shape":[1],"datatype":"FP32",
        "parameters":{"content_type":"base64"},"data":[1]}]}"#;
    assert!(matches!(
        rest(numbers),
        Err(V2Error::CodecDatatype {
            content_type: "base64",
            ..
        })
    ));
    // `str` checks UTF-8 where the binary extension could carry anything.
    let header = r#"{"inputs":[{"name":"s","shape":[1],"datatype":"BYTES","parameters":{"content_type":"str","binary_data_size":6}}]}"#;
    let mut body = header.as_bytes().to_vec();
    body.extend_from_slice(&[2, 0, 0, 0, 0xff, 0xfe]);
    let err = decode_rest(&body, Some(header.len()), &RequestLimits::default()).unwrap_err();
    assert!(matches!(err, V2Error::CodecValue { index: 0, .. }), "{err}");
    // Unknown content types are left alone, as MLServer finds no codec for them.
    assert!(
        rest(r#"{"parameters":{"content_type":"whatever"},"inputs":[{"name":"a","shape":[1],"datatype":"FP64","parameters":{"content_type":"nope"},"data":[1]}]}"#)
            .is_ok()
    );
}

/// MLServer's `pd_json` (its pandas codec's JSON column): under a `pd` request each element is one JSON value
/// and the column takes their kind; outside one it is ignored, as MLServer reads it in the pandas codec only.
#[test]
fn pandas_json_columns_are_typed_by_their_values() {
    let d = rest(
        r#"{"parameters":{"content_type":"pd"},"inputs":[
        {"name":"age","shape":[3],"datatype":"BYTES","parameters":{"content_type":"pd_json"},"data":["1.5","null","2"]},
        {"name":"n","shape":[3],"datatype":"BYTES","parameters":{"content_type":"pd_json"},"data":["1","2","3"]},
        {"name":"color","shape":[3],"datatype":"BYTES","parameters":{"content_type":"pd_json"},"data":["\"red\"","null","\"blue\""]},
        {"name":"ok","shape":[3],"datatype":"BYTES","parameters":{"content_type":"pd_json"},"data":["true","false",null]}]}"#,
    )
    .unwrap();
    let inputs = &d.request.inputs;
    match inputs[0].tensor.data() {
        TensorData::F64(v) => assert!(v[0] == 1.5 && v[1].is_nan() && v[2] == 2.0, "{v:?}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(inputs[1].tensor.data(), &TensorData::I64(vec![1, 2, 3]));
    assert_eq!(
        inputs[2].tensor.data(),
        &TensorData::Bytes(vec![b"red".to_vec(), Vec::new(), b"blue".to_vec()])
    );
    assert_eq!(inputs[2].tensor.missing(), Some(&[false, true, false][..]));
    assert_eq!(
        inputs[3].tensor.data(),
        &TensorData::Bool(vec![true, false, false])
    );
    assert_eq!(inputs[3].tensor.missing(), Some(&[false, false, true][..]));

    let mixed = r#"{"parameters":{"content_type":"pd"},"inputs":[{"name":"c","shape":[2],"datatype":"BYTES",
        "parameters":{"content_type":"pd_json"},"data":["1","\"a\""]}]}"#;
    assert_eq!(
        rest(mixed).unwrap_err().to_string(),
        "input `c`: element 1 (\"\\\"a\\\"\") is not of the same kind as the column's first value (numbers, \
         strings or booleans) (content type `pd_json`)"
    );
    let list = r#"{"parameters":{"content_type":"pd"},"inputs":[{"name":"c","shape":[1],"datatype":"BYTES",
        "parameters":{"content_type":"pd_json"},"data":["[1,2]"]}]}"#;
    assert!(matches!(
        rest(list),
        Err(V2Error::CodecValue {
            content_type: "pd_json",
            index: 0,
            ..
        })
    ));
    // Without a `pd` request the column stays the strings it was sent as.
    let plain = rest(
        r#"{"inputs":[{"name":"c","shape":[1],"datatype":"BYTES","parameters":{"content_type":"pd_json"},"data":["1"]}]}"#,
    )
    .unwrap();
    assert_eq!(
        plain.request.inputs[0].tensor.data(),
        &TensorData::Bytes(vec![b"1".to_vec()])
    );
}

#[test]
fn bytes_null_is_a_missing_string() {
    let d = rest(
        r#"{"parameters":{"content_type":"pd"},"inputs":[
        {"name":"color","shape":[3],"datatype":"BYTES","data":["red",null,"blue"]}]}"#,
    )
    .unwrap();
    let tensor = &d.request.inputs[0].tensor;
    assert_eq!(tensor.missing(), Some(&[false, true, false][..]));
    let table = oxserve_core::Table::from_inputs(&d.request.inputs).unwrap();
    assert_eq!(
        table.columns()[0].data,
        oxserve_core::ColumnData::Str(vec![Some("red".into()), None, Some("blue".into())])
    );
    // A null in the first place, and a value typed only after `data` (datatype last), too.
    let d = rest(r#"{"inputs":[{"name":"c","shape":[2],"data":[null,"x"],"datatype":"BYTES"}]}"#)
        .unwrap();
    assert_eq!(
        d.request.inputs[0].tensor.missing(),
        Some(&[true, false][..])
    );
    // Integers and booleans still refuse null.
    assert!(
        rest(r#"{"inputs":[{"name":"c","shape":[1],"datatype":"INT64","data":[null]}]}"#).is_err()
    );
}
