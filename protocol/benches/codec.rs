//! V2 codec throughput: a request body decoded into a tensor and the tensor encoded back as a response, for
//! 1 and 1000 rows of 4 and 30 FP64 features, over REST JSON, the REST binary extension and gRPC typed contents.
//!
//! `large_fp64` / `large_fp32` (issue #20): one 1,000×30 batch decoded from each wire form into its tensor — a
//! Seldon `ndarray` JSON body, a V2 JSON body, a V2 binary-extension body (JSON header + raw little-endian
//! bytes) and a gRPC `ModelInferRequest` with `raw_input_contents` (decoded from its protobuf bytes as tonic
//! hands them over: a `Bytes` buffer, checked by the wire budget first) — each in bytes per second of its own
//! wire form, beside `memcpy` of the same byte counts in the same run. `cargo bench -p oxserve-protocol --bench
//! codec -- large_` runs these alone.
#![allow(missing_docs, clippy::unwrap_used)]

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use oxserve_protocol::RequestLimits;
use oxserve_protocol::pb::inference::model_infer_request::InferInputTensor;
use oxserve_protocol::pb::inference::{InferTensorContents, ModelInferRequest};
use oxserve_protocol::seldon::{DefaultData, Payload, SeldonMessage};
use oxserve_protocol::v2::{
    decode_grpc, decode_rest, decode_rest_chunks, encode_grpc, encode_rest,
};
use prost::Message;
use prost::bytes::Bytes;

/// Feature values with full f64 precision, as numpy writes them.
fn values(rows: usize, cols: usize) -> Vec<f64> {
    let mut x = 0x2545_f491_4f6c_dd1du64;
    (0..rows * cols)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 11) as f64 / (1u64 << 53) as f64 * 10.0 - 5.0
        })
        .collect()
}

fn json_body(rows: usize, cols: usize) -> Vec<u8> {
    let data = serde_json::to_string(&values(rows, cols)).unwrap();
    format!(
        r#"{{"id":"bench","inputs":[{{"name":"input-0","shape":[{rows},{cols}],"datatype":"FP64","data":{data}}}]}}"#
    )
    .into_bytes()
}

fn binary_body(rows: usize, cols: usize) -> (Vec<u8>, usize) {
    let v = values(rows, cols);
    let header = format!(
        r#"{{"id":"bench","inputs":[{{"name":"input-0","shape":[{rows},{cols}],"datatype":"FP64","parameters":{{"binary_data_size":{}}}}}],"parameters":{{"binary_data_output":true}}}}"#,
        v.len() * 8
    );
    let mut body = header.clone().into_bytes();
    v.iter()
        .for_each(|x| body.extend_from_slice(&x.to_le_bytes()));
    (body, header.len())
}

fn codec(c: &mut Criterion) {
    let shapes = [(1, 4), (1, 30), (1000, 4), (1000, 30)];

    let mut group = c.benchmark_group("v2_rest_json_roundtrip");
    for (rows, cols) in shapes {
        let body = json_body(rows, cols);
        group.throughput(Throughput::Bytes(body.len() as u64));
        group.bench_with_input(
            BenchmarkId::from_parameter(format!("{rows}x{cols}")),
            &body,
            |b, body| {
                b.iter(|| {
                    let d = decode_rest(black_box(body), None, &RequestLimits::default()).unwrap();
                    let out = encode_rest(
                        "m",
                        None,
                        d.id.unwrap_or_default(),
                        d.request.inputs,
                        &d.binary_outputs,
                    );
                    black_box(out.unwrap())
                })
            },
        );
    }
    group.finish();

    let mut group = c.benchmark_group("v2_rest_json_decode");
    for (rows, cols) in shapes {
        let body = json_body(rows, cols);
        group.throughput(Throughput::Bytes(body.len() as u64));
        group.bench_with_input(
            BenchmarkId::from_parameter(format!("{rows}x{cols}")),
            &body,
            |b, body| {
                b.iter(|| {
                    black_box(
                        decode_rest(black_box(body), None, &RequestLimits::default()).unwrap(),
                    )
                })
            },
        );
    }
    group.finish();

    let mut group = c.benchmark_group("v2_rest_binary_roundtrip");
    for (rows, cols) in shapes {
        let (body, header_len) = binary_body(rows, cols);
        group.throughput(Throughput::Bytes(body.len() as u64));
        group.bench_with_input(
            BenchmarkId::from_parameter(format!("{rows}x{cols}")),
            &body,
            |b, body| {
                b.iter(|| {
                    let d =
                        decode_rest(black_box(body), Some(header_len), &RequestLimits::default())
                            .unwrap();
                    let out = encode_rest(
                        "m",
                        None,
                        d.id.unwrap_or_default(),
                        d.request.inputs,
                        &d.binary_outputs,
                    );
                    black_box(out.unwrap())
                })
            },
        );
    }
    group.finish();

    let mut group = c.benchmark_group("v2_grpc_typed_roundtrip");
    for (rows, cols) in shapes {
        let request = ModelInferRequest {
            id: "bench".into(),
            inputs: vec![InferInputTensor {
                name: "input-0".into(),
                datatype: "FP64".into(),
                shape: vec![rows as i64, cols as i64],
                parameters: Default::default(),
                contents: Some(InferTensorContents {
                    fp64_contents: values(rows, cols),
                    ..Default::default()
                }),
            }],
            ..Default::default()
        };
        group.bench_with_input(
            BenchmarkId::from_parameter(format!("{rows}x{cols}")),
            &request,
            |b, request| {
                b.iter(|| {
                    let d =
                        decode_grpc(black_box(request.clone()), &RequestLimits::default()).unwrap();
                    black_box(
                        encode_grpc(
                            "m",
                            None,
                            d.id.unwrap_or_default(),
                            d.request.inputs,
                            d.raw_output,
                        )
                        .unwrap(),
                    )
                })
            },
        );
    }
    group.finish();
}

/// One 1,000×30 batch in every wire form, as f64 values (`fp32`: rounded to f32 first, written as f32).
struct Large {
    /// `FP64` or `FP32`.
    datatype: &'static str,
    /// The little-endian tensor bytes.
    raw: Vec<u8>,
    /// The values as JSON numbers, nested by row (Seldon) and flat (V2).
    nested: String,
    flat: String,
}

impl Large {
    fn new(datatype: &'static str, rows: usize, cols: usize) -> Large {
        let v = values(rows, cols);
        let (raw, text): (Vec<u8>, Vec<String>) = if datatype == "FP32" {
            let v: Vec<f32> = v.iter().map(|&x| x as f32).collect();
            (
                v.iter().flat_map(|x| x.to_le_bytes()).collect(),
                v.iter().map(|x| format!("{x:?}")).collect(),
            )
        } else {
            (
                v.iter().flat_map(|x| x.to_le_bytes()).collect(),
                v.iter().map(|x| format!("{x:?}")).collect(),
            )
        };
        let nested = text
            .chunks(cols)
            .map(|row| format!("[{}]", row.join(",")))
            .collect::<Vec<_>>()
            .join(",");
        Large {
            datatype,
            raw,
            nested: format!("[{nested}]"),
            flat: format!("[{}]", text.join(",")),
        }
    }

    fn seldon(&self) -> Vec<u8> {
        format!(r#"{{"data":{{"ndarray":{}}}}}"#, self.nested).into_bytes()
    }

    fn v2_json(&self, rows: usize, cols: usize) -> Vec<u8> {
        format!(
            r#"{{"id":"bench","inputs":[{{"name":"input-0","shape":[{rows},{cols}],"datatype":"{}","data":{}}}]}}"#,
            self.datatype, self.flat
        )
        .into_bytes()
    }

    fn v2_binary(&self, rows: usize, cols: usize) -> (Vec<u8>, usize) {
        let header = format!(
            r#"{{"id":"bench","inputs":[{{"name":"input-0","shape":[{rows},{cols}],"datatype":"{}","parameters":{{"binary_data_size":{}}}}}]}}"#,
            self.datatype,
            self.raw.len()
        );
        let mut body = header.clone().into_bytes();
        body.extend_from_slice(&self.raw);
        (body, header.len())
    }

    fn grpc_raw(&self, rows: usize, cols: usize) -> Bytes {
        ModelInferRequest {
            model_name: "m".into(),
            id: "bench".into(),
            inputs: vec![InferInputTensor {
                name: "input-0".into(),
                datatype: self.datatype.into(),
                shape: vec![rows as i64, cols as i64],
                ..Default::default()
            }],
            raw_input_contents: vec![self.raw.clone().into()],
            ..Default::default()
        }
        .encode_to_vec()
        .into()
    }
}

/// `body` cut as hyper's adaptive read buffer delivers it: 8 KiB, then doubling.
fn hyper_chunks(body: &[u8]) -> Vec<Bytes> {
    let mut chunks = Vec::new();
    let (mut rest, mut size) = (body, 8192);
    while !rest.is_empty() {
        let (chunk, tail) = rest.split_at(size.min(rest.len()));
        chunks.push(Bytes::copy_from_slice(chunk));
        rest = tail;
        size *= 2;
    }
    chunks
}

/// `memcpy` of `len` bytes into a preallocated buffer: the bandwidth each decode is read against.
fn bench_memcpy(
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    len: usize,
) {
    let src = vec![0x5au8; len];
    let mut dst = vec![0u8; len];
    group.throughput(Throughput::Bytes(len as u64));
    group.bench_function(BenchmarkId::new("memcpy", len), |b| {
        b.iter(|| {
            dst.copy_from_slice(black_box(&src));
            black_box(&mut dst);
        })
    });
}

fn large(c: &mut Criterion) {
    let (rows, cols) = (1000, 30);
    let limits = RequestLimits::default();
    for datatype in ["FP64", "FP32"] {
        let large = Large::new(datatype, rows, cols);
        let mut group = c.benchmark_group(format!("large_{}", datatype.to_lowercase()));

        bench_memcpy(&mut group, large.raw.len());

        let (body, header_len) = large.v2_binary(rows, cols);
        group.throughput(Throughput::Bytes(body.len() as u64));
        group.bench_function(BenchmarkId::new("v2_binary", body.len()), |b| {
            b.iter(|| black_box(decode_rest(black_box(&body), Some(header_len), &limits).unwrap()))
        });

        // The same body as hyper hands it over: in chunks of its adaptive read buffer (8 KiB, doubling), decoded
        // from them (the runtime's path) and, for comparison, joined first (what collecting it into one
        // buffer cost).
        let chunks = hyper_chunks(&body);
        group.bench_function(BenchmarkId::new("v2_binary_chunks", body.len()), |b| {
            b.iter(|| {
                black_box(
                    decode_rest_chunks(black_box(&chunks), Some(header_len), &limits).unwrap(),
                )
            })
        });
        group.bench_function(BenchmarkId::new("v2_binary_joined", body.len()), |b| {
            b.iter(|| {
                let joined = black_box(&chunks).concat();
                black_box(decode_rest(&joined, Some(header_len), &limits).unwrap())
            })
        });

        let wire = large.grpc_raw(rows, cols);
        group.throughput(Throughput::Bytes(wire.len() as u64));
        group.bench_function(BenchmarkId::new("grpc_raw", wire.len()), |b| {
            b.iter(|| {
                // As `WireBudgetCodec` decodes what tonic hands it: the budget walk, then prost from the
                // received buffer (a `Bytes` clone is a reference count, not a copy).
                let wire = black_box(&wire).clone();
                oxserve_protocol::wire_budget::check("inference.ModelInferRequest", &wire).unwrap();
                let request = ModelInferRequest::decode(wire).unwrap();
                black_box(decode_grpc(request, &limits).unwrap())
            })
        });

        let body = large.v2_json(rows, cols);
        bench_memcpy(&mut group, body.len());
        group.throughput(Throughput::Bytes(body.len() as u64));
        group.bench_function(BenchmarkId::new("v2_json", body.len()), |b| {
            b.iter(|| black_box(decode_rest(black_box(&body), None, &limits).unwrap()))
        });

        let body = large.seldon();
        group.throughput(Throughput::Bytes(body.len() as u64));
        group.bench_function(BenchmarkId::new("seldon_ndarray", body.len()), |b| {
            b.iter(|| {
                let message = SeldonMessage::from_json(black_box(&body), &limits).unwrap();
                let Payload::Data(DefaultData { array, .. }) = message.payload else {
                    panic!("not data")
                };
                black_box(array.into_tensor().unwrap())
            })
        });
        group.finish();
    }
}

criterion_group!(benches, codec, large);
criterion_main!(benches);
