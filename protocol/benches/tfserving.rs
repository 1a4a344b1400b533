//! TF Serving REST codec throughput: a row-format `:predict` body (64 instances of 30 FP32 features, as a Keras
//! client sends them) decoded against the signature into a tensor, and that tensor encoded back as
//! `{"predictions": ...}` with TF Serving's float printing; the columnar form beside it.
#![allow(missing_docs, clippy::unwrap_used)]

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use oxserve_core::{DataType, NamedTensor, TensorSpec};
use oxserve_protocol::RequestLimits;
use oxserve_protocol::tfserving::{decode_predict, encode_predict};

/// Feature values with full f32 precision.
fn values(n: usize) -> Vec<f32> {
    let mut x = 0x2545_f491_4f6c_dd1du64;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            ((x >> 40) as f32 / (1u64 << 24) as f32) * 10.0 - 5.0
        })
        .collect()
}

fn rows(rows: usize, cols: usize) -> String {
    let v = values(rows * cols);
    let rows: Vec<&[f32]> = v.chunks(cols).collect();
    serde_json::to_string(&rows).unwrap()
}

fn codec(c: &mut Criterion) {
    let (n, cols) = (64, 30);
    let signature = [TensorSpec::new("x", DataType::F32, vec![-1, cols as i64])];
    let mut group = c.benchmark_group("tfserving_rest_roundtrip");
    for (label, body) in [
        ("row_64x30", format!(r#"{{"instances":{}}}"#, rows(n, cols))),
        (
            "columnar_64x30",
            format!(r#"{{"inputs":{}}}"#, rows(n, cols)),
        ),
    ] {
        let body = body.into_bytes();
        group.throughput(Throughput::Bytes(body.len() as u64));
        group.bench_function(label, |b| {
            b.iter(|| {
                let decoded =
                    decode_predict(black_box(&body), &signature, &RequestLimits::default())
                        .unwrap();
                let format = decoded.format;
                let outputs: Vec<NamedTensor> = decoded
                    .inputs
                    .into_iter()
                    .map(|t| NamedTensor::new("y", t.tensor))
                    .collect();
                black_box(encode_predict(format, &outputs).unwrap())
            })
        });
    }
    group.finish();

    let body = format!(r#"{{"instances":{}}}"#, rows(n, cols)).into_bytes();
    let decoded = decode_predict(&body, &signature, &RequestLimits::default()).unwrap();
    let mut group = c.benchmark_group("tfserving_rest_parts");
    group.bench_function("decode_row_64x30", |b| {
        b.iter(|| {
            black_box(
                decode_predict(black_box(&body), &signature, &RequestLimits::default()).unwrap(),
            )
        })
    });
    group.bench_function("encode_row_64x30", |b| {
        b.iter(|| black_box(encode_predict(decoded.format, black_box(&decoded.inputs)).unwrap()))
    });
    group.finish();
}

criterion_group!(benches, codec);
criterion_main!(benches);
