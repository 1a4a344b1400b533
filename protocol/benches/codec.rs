//! V2 codec throughput: a request body decoded into a tensor and the tensor encoded back as a response, for
//! 1 and 1000 rows of 4 and 30 FP64 features, over REST JSON, the REST binary extension and gRPC typed contents.
#![allow(missing_docs, clippy::unwrap_used)]

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use oxserve_protocol::RequestLimits;
use oxserve_protocol::pb::inference::model_infer_request::InferInputTensor;
use oxserve_protocol::pb::inference::{InferTensorContents, ModelInferRequest};
use oxserve_protocol::v2::{decode_grpc, decode_rest, encode_grpc, encode_rest};

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

criterion_group!(benches, codec);
criterion_main!(benches);
