//! Seed requests for every decoder (valid ones of every form, and the hostile reproductions of issue #12) and a
//! seeded mutator that grows them, flips bytes, and swaps numbers for huge dimensions.

use oxserve_protocol::pb::inference::model_infer_request::InferInputTensor;
use oxserve_protocol::pb::inference::{InferTensorContents, ModelInferRequest};
use oxserve_protocol::pb::seldon::protos as seldon_pb;
use oxserve_protocol::pb::tensorflow::serving::PredictRequest;
use oxserve_protocol::pb::tensorflow::{DataType as TfType, TensorProto};
use oxserve_protocol::seldon::tftensor;
use prost::Message as _;
use prost_types::{ListValue, Value, value::Kind};

use crate::Decoder;

/// Dimensions that break naive decoders: zero, the 32- and 64-bit edges, the issue's reproductions, the default
/// body limit and one past it.
pub(crate) const HUGE_DIMS: &[i64] = &[
    0,
    1,
    4,
    1_000_000_000_000,
    2_147_483_647,
    4_294_967_296,
    300_000_000,
    200_000_000,
    67_108_864,
    67_108_865,
    1 << 20,
    (1 << 20) + 1,
    i64::MAX,
    -1,
];

/// The issue's reproductions (and their siblings in the other protocols): hostile requests that each decoder
/// must refuse with an error, within the allocation bound.
pub fn reproductions() -> Vec<(Decoder, Vec<u8>)> {
    let json = |s: &str| s.as_bytes().to_vec();
    vec![
        (
            Decoder::SeldonJson,
            json(
                r#"{"data":{"tftensor":{"dtype":"DT_DOUBLE","tensorShape":{"dim":[{"size":"1000000000000"}]},"doubleVal":[1]}}}"#,
            ),
        ),
        (
            Decoder::SeldonJson,
            json(
                r#"{"data":{"tftensor":{"dtype":"DT_DOUBLE","tensorShape":{"dim":[{"size":"300000000"}]},"doubleVal":[1]}}}"#,
            ),
        ),
        (
            Decoder::SeldonJson,
            json(
                r#"{"data":{"tftensor":{"dtype":"DT_STRING","tensorShape":{"dim":[{"size":"1000000"}]},"stringVal":["QUFBQUFBQUFBQUFBQUFBQQ=="]}}}"#,
            ),
        ),
        (
            Decoder::SeldonJson,
            json(r#"{"data":{"tensor":{"shape":[1000000000000,0],"values":[]}}}"#),
        ),
        (
            Decoder::SeldonJson,
            json(r#"{"data":{"tensor":{"shape":[2147483647,0],"values":[]}}}"#),
        ),
        (
            Decoder::V2Json,
            json(
                r#"{"inputs":[{"name":"x","shape":[1000000000000,0],"datatype":"FP64","data":[]}]}"#,
            ),
        ),
        (
            Decoder::V2Json,
            json(r#"{"inputs":[{"name":"x","shape":[200000000,0],"datatype":"FP64","data":[]}]}"#),
        ),
        (
            Decoder::V2Binary,
            binary(
                r#"{"inputs":[{"name":"x","shape":[2147483647,0],"datatype":"FP64","parameters":{"binary_data_size":0}}]}"#,
                &[],
            ),
        ),
        (Decoder::SeldonPb, seldon_tensor(vec![i32::MAX, 0], vec![])),
        (
            Decoder::SeldonPb,
            seldon_tftensor(TfType::DtDouble, &[1_000_000_000_000], |p| {
                p.double_val = vec![1.0]
            }),
        ),
        (Decoder::V2Pb, v2_typed(vec![i64::from(i32::MAX), 0], 0)),
        (Decoder::V2Pb, v2_raw(vec![i64::from(i32::MAX), 0], vec![])),
        (
            Decoder::TfPb,
            tf_predict(TfType::DtDouble, &[1_000_000_000_000], |p| {
                p.double_val = vec![1.0]
            }),
        ),
        (
            Decoder::TfPbSigned,
            tf_predict(TfType::DtDouble, &[300_000_000, 4], |p| {
                p.double_val = vec![1.0]
            }),
        ),
        (
            Decoder::TfPb,
            tf_predict(TfType::DtFloat, &[i64::from(i32::MAX), 0], |_| {}),
        ),
    ]
}

/// A length-delimited protobuf field.
fn pb_field(number: u32, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() + 12);
    prost::encoding::encode_key(number, prost::encoding::WireType::LengthDelimited, &mut out);
    prost::encoding::encode_varint(body.len() as u64, &mut out);
    out.extend_from_slice(body);
    out
}

/// Protobuf messages that prost alone would amplify hundreds of times (each well under a gRPC message limit):
/// 256k empty V2 inputs, 1M empty parameter map entries, 256k empty TF Serving inputs map entries, 1M empty
/// `google.protobuf.Value`s in the `jsonData` list of a `Feedback`'s request, and a `jsonData` nested 10,000
/// lists deep. The gRPC codec's guard must refuse each before prost allocates; kept out of [`seeds`] because
/// they are large.
pub fn amplifications() -> Vec<(Decoder, Vec<u8>)> {
    let empties = |number: u32, count: usize| pb_field(number, &[]).repeat(count);
    let mut deep = Vec::new();
    for _ in 0..10_000 {
        deep = pb_field(6, &pb_field(1, &deep)); // Value { list_value { values: [deep] } }
    }
    vec![
        (Decoder::V2Pb, empties(5, 256 << 10)),
        (Decoder::V2Pb, empties(4, 1 << 20)),
        (Decoder::TfPb, empties(2, 256 << 10)),
        (
            Decoder::SeldonFeedbackPb,
            pb_field(1, &pb_field(6, &pb_field(6, &empties(1, 1 << 20)))),
        ),
        (Decoder::SeldonPb, pb_field(6, &deep)),
    ]
}

/// Valid requests of every form each decoder reads (plus the reproductions aimed at it).
pub fn seeds(decoder: Decoder) -> Vec<Vec<u8>> {
    let json = |s: &str| s.as_bytes().to_vec();
    let mut out: Vec<Vec<u8>> = match decoder {
        Decoder::SeldonJson => vec![
            json(r#"{"data":{"ndarray":[[5.1,3.5,1.4,0.2],[6.2,2.9,4.3,1.3]]}}"#),
            json(r#"{"data":{"names":["a","b"],"ndarray":[[1,2],[3,4]]}}"#),
            json(r#"{"data":{"ndarray":[["x","y"],["z","w"]]}}"#),
            json(r#"{"data":{"ndarray":[[true,false]]}}"#),
            // The fast path's shape (seldon/quick.rs), with the numbers and layouts it must read as serde does.
            json(
                r#" { "meta" : { } , "data" : { "ndarray" : [ [ -0 , 1e-400 , 2.5E+3, -7 ] ] , "names" : [ "a b" , "ü" ] } } "#,
            ),
            json(r#"{"data":{"names":[],"ndarray":[[[1,2],[3,4]],[[5,6.5],[7,8]]]}}"#),
            json(r#"{"data":{"ndarray":[123456789012345678,-123456789012345678,0.1e1]}}"#),
            json(r#"{"data":{"ndarray":[[],[],[]]}}"#),
            json(
                r#"{"data":{"tensor":{"shape":[2,4],"values":[5.1,3.5,1.4,0.2,6.2,2.9,4.3,1.3]}}}"#,
            ),
            json(r#"{"data":{"tensor":{"shape":[0,4],"values":[]}}}"#),
            json(
                r#"{"data":{"tftensor":{"dtype":"DT_DOUBLE","tensorShape":{"dim":[{"size":"2"},{"size":"4"}]},"doubleVal":[5.1,3.5,1.4,0.2,6.2,2.9,4.3,1.3]}}}"#,
            ),
            json(
                r#"{"data":{"tftensor":{"dtype":"DT_FLOAT","tensorShape":{"dim":[{"size":"2"},{"size":"4"}]},"floatVal":[1]}}}"#,
            ),
            json(
                r#"{"data":{"tftensor":{"dtype":"DT_INT64","tensorShape":{"dim":[{"size":"3"}]},"int64Val":["1","2","3"]}}}"#,
            ),
            json(
                r#"{"data":{"tftensor":{"dtype":"DT_UINT8","tensorShape":{"dim":[{"size":"4"}]},"tensorContent":"AQIDBA=="}}}"#,
            ),
            json(r#"{"strData":"hello"}"#),
            json(r#"{"jsonData":{"a":[1,2,3]}}"#),
            json(r#"{"binData":"AAEC"}"#),
            json(r#"{"meta":{"puid":"x","tags":{"a":1}},"data":{"ndarray":[1,2,3]}}"#),
        ],
        Decoder::SeldonPb => vec![
            seldon_tensor(vec![2, 4], vec![5.1, 3.5, 1.4, 0.2, 6.2, 2.9, 4.3, 1.3]),
            seldon_tensor(vec![0, 4], vec![]),
            seldon_ndarray(),
            seldon_tftensor(TfType::DtDouble, &[2, 2], |p| p.double_val = vec![1.0]),
            seldon_tftensor(TfType::DtString, &[2], |p| {
                p.string_val = vec![b"ab".to_vec(), b"c".to_vec()]
            }),
            seldon_tftensor(TfType::DtInt32, &[2], |p| {
                p.tensor_content = [1i32.to_le_bytes(), 2i32.to_le_bytes()].concat()
            }),
        ],
        Decoder::SeldonFeedbackPb => {
            let msg = |m: Vec<u8>| seldon_pb::SeldonMessage::decode(m.as_slice()).ok();
            vec![
                seldon_pb::Feedback {
                    request: msg(seldon_tensor(vec![1, 4], vec![1.0, 2.0, 3.0, 4.0])),
                    response: msg(seldon_ndarray()),
                    reward: 1.0,
                    truth: msg(seldon_tftensor(TfType::DtDouble, &[3], |p| {
                        p.double_val = vec![1.0]
                    })),
                }
                .encode_to_vec(),
            ]
        }
        Decoder::V2Json => vec![
            json(
                r#"{"id":"1","inputs":[{"name":"x","shape":[2,4],"datatype":"FP64","data":[5.1,3.5,1.4,0.2,6.2,2.9,4.3,1.3]}]}"#,
            ),
            json(r#"{"inputs":[{"name":"x","shape":[1,4],"datatype":"FP32","data":[[1,2,3,4]]}]}"#),
            // The fast path's shape (v2/quick.rs): nested data, integers among floats, whitespace, two inputs.
            json(
                r#" { "inputs" : [ { "name" : "a" , "shape" : [ 2 , 2 ] , "datatype" : "FP64" , "data" : [ [ -0 , 1 ] , [ 2.5e-3 , 123456789012345678 ] ] } , {"name":"b","shape":[1],"datatype":"FP64","data":[7]} ] , "id" : "r-1" } "#,
            ),
            json(r#"{"inputs":[{"name":"x","shape":[3],"datatype":"INT64","data":[1,2,3]}]}"#),
            json(r#"{"inputs":[{"name":"x","shape":[2],"datatype":"BYTES","data":["a","bc"]}]}"#),
            json(r#"{"inputs":[{"name":"x","shape":[2],"datatype":"BOOL","data":[true,false]}]}"#),
            json(r#"{"inputs":[{"name":"x","shape":[2],"datatype":"UINT8","data":[0,255]}]}"#),
            json(r#"{"inputs":[{"name":"x","shape":[0,4],"datatype":"FP64","data":[]}]}"#),
            json(
                r#"{"inputs":[{"name":"a","shape":[1],"datatype":"INT32","data":[1]},{"name":"b","shape":[1],"datatype":"FP64","data":[2]}],"outputs":[{"name":"predict"}]}"#,
            ),
        ],
        Decoder::V2Binary => vec![
            binary(
                r#"{"inputs":[{"name":"x","shape":[1,4],"datatype":"FP64","parameters":{"binary_data_size":32}}]}"#,
                &[1f64, 2.0, 3.0, 4.0]
                    .iter()
                    .flat_map(|v| v.to_le_bytes())
                    .collect::<Vec<_>>(),
            ),
            binary(
                r#"{"inputs":[{"name":"x","shape":[2],"datatype":"BYTES","parameters":{"binary_data_size":11}}]}"#,
                &[
                    &2u32.to_le_bytes()[..],
                    b"ab",
                    &1u32.to_le_bytes()[..],
                    b"c",
                ]
                .concat(),
            ),
            binary(
                r#"{"inputs":[{"name":"x","shape":[4],"datatype":"UINT8","parameters":{"binary_data_size":4}}]}"#,
                &[1, 2, 3, 4],
            ),
            binary(
                r#"{"inputs":[{"name":"x","shape":[2],"datatype":"FP16","parameters":{"binary_data_size":4}},{"name":"y","shape":[1],"datatype":"INT8","data":[1]}]}"#,
                &[0, 60, 0, 64],
            ),
        ],
        Decoder::V2Pb => vec![
            v2_typed(vec![2, 4], 8),
            v2_typed(vec![0, 4], 0),
            v2_raw(
                vec![1, 4],
                [1f64, 2.0, 3.0, 4.0]
                    .iter()
                    .flat_map(|v| v.to_le_bytes())
                    .collect(),
            ),
            ModelInferRequest {
                inputs: vec![InferInputTensor {
                    name: "s".into(),
                    datatype: "BYTES".into(),
                    shape: vec![2],
                    contents: Some(InferTensorContents {
                        bytes_contents: vec![b"a".to_vec(), b"b".to_vec()],
                        ..Default::default()
                    }),
                    ..Default::default()
                }],
                ..Default::default()
            }
            .encode_to_vec(),
        ],
        Decoder::TfJson => vec![
            json(r#"{"instances":[[5.1,3.5,1.4,0.2],[6.2,2.9,4.3,1.3]]}"#),
            json(r#"{"instances":[{"a":[1,2],"b":"x"},{"a":[3,4],"b":"y"}]}"#),
            json(r#"{"inputs":{"a":[[1,2]],"b":[{"b64":"AAEC"}]}}"#),
            json(r#"{"inputs":[[true,false]],"signature_name":"serving_default"}"#),
            json(r#"{"instances":[[[]],[[]]]}"#),
        ],
        Decoder::TfJsonSigned => vec![
            json(r#"{"instances":[[5.1,3.5,1.4,0.2],[6.2,2.9,4.3,1.3]]}"#),
            json(r#"{"inputs":{"x":[[5.1,3.5,1.4,0.2]]}}"#),
            json(r#"{"instances":[{"x":[5.1,3.5,1.4,0.2]}]}"#),
            json(r#"{"inputs":[[1,2,3,4],[5,6,7,8]]}"#),
        ],
        Decoder::TfPb => vec![
            tf_predict(TfType::DtDouble, &[2, 4], |p| {
                p.double_val = (0..8).map(f64::from).collect()
            }),
            tf_predict(TfType::DtFloat, &[3], |p| p.float_val = vec![1.0]),
            tf_predict(TfType::DtString, &[2], |p| {
                p.string_val = vec![b"a".to_vec(), b"bc".to_vec()]
            }),
            tf_predict(TfType::DtInt64, &[2], |p| {
                p.tensor_content = [1i64.to_le_bytes(), 2i64.to_le_bytes()].concat()
            }),
        ],
        Decoder::TfPbSigned => vec![
            tf_predict(TfType::DtDouble, &[1, 4], |p| {
                p.double_val = vec![5.1, 3.5, 1.4, 0.2]
            }),
            tf_predict(TfType::DtDouble, &[2, 4], |p| p.double_val = vec![1.0]),
        ],
    };
    out.extend(
        reproductions()
            .into_iter()
            .filter(|(d, _)| *d == decoder)
            .map(|(_, b)| b),
    );
    out
}

/// The binary extension's framing as [`Decoder::V2Binary`] reads it: header length, JSON header, blobs.
pub(crate) fn binary(json: &str, blobs: &[u8]) -> Vec<u8> {
    let mut out = u32::try_from(json.len())
        .unwrap_or(u32::MAX)
        .to_le_bytes()
        .to_vec();
    out.extend_from_slice(json.as_bytes());
    out.extend_from_slice(blobs);
    out
}

/// A Seldon protobuf message with a `tensor`.
pub(crate) fn seldon_tensor(shape: Vec<i32>, values: Vec<f64>) -> Vec<u8> {
    seldon_data(seldon_pb::default_data::DataOneof::Tensor(
        seldon_pb::Tensor { shape, values },
    ))
}

fn seldon_ndarray() -> Vec<u8> {
    let num = |n: f64| Value {
        kind: Some(Kind::NumberValue(n)),
    };
    let row = |a: f64, b: f64| Value {
        kind: Some(Kind::ListValue(ListValue {
            values: vec![num(a), num(b)],
        })),
    };
    seldon_data(seldon_pb::default_data::DataOneof::Ndarray(ListValue {
        values: vec![row(1.0, 2.0), row(3.0, 4.0)],
    }))
}

/// A Seldon protobuf message with a `tftensor` of `dtype` and `dims`, values set by `fill`.
pub(crate) fn seldon_tftensor(
    dtype: TfType,
    dims: &[i64],
    fill: impl FnOnce(&mut TensorProto),
) -> Vec<u8> {
    seldon_data(seldon_pb::default_data::DataOneof::Tftensor(tensor_proto(
        dtype, dims, fill,
    )))
}

fn seldon_data(data: seldon_pb::default_data::DataOneof) -> Vec<u8> {
    seldon_pb::SeldonMessage {
        data_oneof: Some(seldon_pb::seldon_message::DataOneof::Data(
            seldon_pb::DefaultData {
                names: Vec::new(),
                data_oneof: Some(data),
            },
        )),
        ..Default::default()
    }
    .encode_to_vec()
}

/// A `TensorProto`.
pub(crate) fn tensor_proto(
    dtype: TfType,
    dims: &[i64],
    fill: impl FnOnce(&mut TensorProto),
) -> TensorProto {
    let mut p = tftensor::empty_proto(dtype, dims);
    fill(&mut p);
    p
}

/// A TF Serving `PredictRequest` with one input `x`.
pub(crate) fn tf_predict(
    dtype: TfType,
    dims: &[i64],
    fill: impl FnOnce(&mut TensorProto),
) -> Vec<u8> {
    PredictRequest {
        inputs: [("x".to_string(), tensor_proto(dtype, dims, fill))]
            .into_iter()
            .collect(),
        ..Default::default()
    }
    .encode_to_vec()
}

/// A V2 gRPC request with one FP64 input of `shape` and `n` typed values.
pub(crate) fn v2_typed(shape: Vec<i64>, n: usize) -> Vec<u8> {
    let contents = InferTensorContents {
        fp64_contents: (0..n).map(|i| i as f64).collect(),
        ..Default::default()
    };
    v2_request(shape, Some(contents), Vec::new())
}

/// A V2 gRPC request with one FP64 input of `shape` in `raw_input_contents`.
pub(crate) fn v2_raw(shape: Vec<i64>, raw: Vec<u8>) -> Vec<u8> {
    v2_request(shape, None, vec![raw])
}

fn v2_request(
    shape: Vec<i64>,
    contents: Option<InferTensorContents>,
    raw: Vec<Vec<u8>>,
) -> Vec<u8> {
    ModelInferRequest {
        model_name: "m".into(),
        inputs: vec![InferInputTensor {
            name: "x".into(),
            datatype: "FP64".into(),
            shape,
            contents,
            ..Default::default()
        }],
        raw_input_contents: raw.into_iter().map(Into::into).collect(),
        ..Default::default()
    }
    .encode_to_vec()
}

/// A seeded xorshift generator with the mutations the smoke run applies.
#[derive(Debug, Clone)]
pub struct Mutator(u64);

impl Mutator {
    /// A generator from a seed (0 is replaced, xorshift needs a non-zero state).
    pub fn new(seed: u64) -> Self {
        Mutator(seed.max(1))
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number below `n` (0 when `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    /// One input for `decoder`: a seed, mutated a few times — bytes flipped, inserted, deleted, spliced from
    /// another seed, a slice repeated (long arrays), or (JSON) a number replaced by a huge dimension — or, for
    /// protobuf decoders, sometimes a freshly generated message with a huge shape; or random bytes.
    pub fn input(&mut self, decoder: Decoder, seeds: &[Vec<u8>]) -> Vec<u8> {
        if self.below(16) == 0 {
            let len = self.below(256);
            return (0..len).map(|_| self.next() as u8).collect();
        }
        if decoder.is_protobuf() && self.below(3) == 0 {
            return self.generated(decoder);
        }
        let mut buf = seeds
            .get(self.below(seeds.len()))
            .cloned()
            .unwrap_or_default();
        for _ in 0..=self.below(4) {
            self.mutate(&mut buf, seeds, !decoder.is_protobuf());
        }
        buf
    }

    fn dim(&mut self) -> i64 {
        HUGE_DIMS[self.below(HUGE_DIMS.len())]
    }

    fn mutate(&mut self, buf: &mut Vec<u8>, seeds: &[Vec<u8>], text: bool) {
        let len = buf.len();
        let at = self.below(len + 1);
        match self.below(if text { 8 } else { 6 }) {
            0 => {
                if let Some(b) = buf.get_mut(at) {
                    *b ^= 1 << self.below(8);
                }
            }
            1 => {
                let b = self.next() as u8;
                buf.insert(at, b);
            }
            2 => {
                if at < len {
                    let end = (at + 1 + self.below(8)).min(len);
                    buf.drain(at..end);
                }
            }
            3 => {
                if let Some(other) = seeds.get(self.below(seeds.len()))
                    && !other.is_empty()
                {
                    let from = self.below(other.len());
                    let to = (from + 1 + self.below(32)).min(other.len());
                    buf.splice(at..at, other[from..to].iter().copied());
                }
            }
            4 => {
                // Repeat a slice many times: long arrays, deep nesting, many sub-messages.
                if at < len {
                    let end = (at + 1 + self.below(16)).min(len);
                    let piece = buf[at..end].to_vec();
                    let times = 1 + self.below(2000);
                    let mut grown = Vec::with_capacity(len + piece.len() * times);
                    grown.extend_from_slice(&buf[..end]);
                    for _ in 0..times {
                        grown.extend_from_slice(&piece);
                    }
                    grown.extend_from_slice(&buf[end..]);
                    *buf = grown;
                }
            }
            5 => {
                if let Some(b) = buf.get_mut(at) {
                    *b = [0u8, 1, 0x7f, 0x80, 0xff, 0x0a, 0x12, 0x1a][self.below(8)];
                }
            }
            _ => {
                // Replace the number nearest `at` with a huge dimension.
                let Some(start) = (at..len).chain(0..at).find(|&i| buf[i].is_ascii_digit()) else {
                    return;
                };
                let end = (start..len)
                    .find(|&i| !buf[i].is_ascii_digit())
                    .unwrap_or(len);
                let dim = self.dim().to_string();
                buf.splice(start..end, dim.bytes());
            }
        }
    }

    /// A protobuf request built with a random (often huge) shape and a few values.
    fn generated(&mut self, decoder: Decoder) -> Vec<u8> {
        let rank = self.below(4);
        let dims: Vec<i64> = (0..rank).map(|_| self.dim()).collect();
        let n = self.below(3);
        let dtypes = [
            TfType::DtDouble,
            TfType::DtFloat,
            TfType::DtInt32,
            TfType::DtInt64,
            TfType::DtUint8,
            TfType::DtBool,
            TfType::DtString,
        ];
        let dtype = dtypes[self.below(dtypes.len())];
        let fill = |p: &mut TensorProto| match dtype {
            TfType::DtDouble => p.double_val = vec![1.0; n],
            TfType::DtFloat => p.float_val = vec![1.0; n],
            TfType::DtInt64 => p.int64_val = vec![1; n],
            TfType::DtBool => p.bool_val = vec![true; n],
            TfType::DtString => p.string_val = vec![vec![b'a'; 64]; n],
            _ => p.int_val = vec![1; n],
        };
        match decoder {
            Decoder::SeldonPb | Decoder::SeldonFeedbackPb => {
                let msg = if self.below(2) == 0 {
                    seldon_tftensor(dtype, &dims, fill)
                } else {
                    let shape = dims
                        .iter()
                        .map(|&d| i32::try_from(d).unwrap_or(i32::MAX))
                        .collect();
                    seldon_tensor(shape, vec![1.0; n])
                };
                if decoder == Decoder::SeldonFeedbackPb {
                    let m = seldon_pb::SeldonMessage::decode(msg.as_slice()).ok();
                    seldon_pb::Feedback {
                        request: m.clone(),
                        response: m.clone(),
                        truth: m,
                        reward: 0.0,
                    }
                    .encode_to_vec()
                } else {
                    msg
                }
            }
            Decoder::V2Pb => {
                if self.below(2) == 0 {
                    v2_typed(dims, n)
                } else {
                    v2_raw(dims, vec![0; n * 8])
                }
            }
            _ => tf_predict(dtype, &dims, fill),
        }
    }
}
