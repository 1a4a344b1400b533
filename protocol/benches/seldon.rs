//! Seldon v1 decode → tensor → encode, for a 1-row and a 1000-row request (4 and 30 features), in the shape the
//! runtime runs it: bytes → `SeldonMessage` → `Tensor` → reply `SeldonMessage` → Python-style JSON bytes.

#![allow(missing_docs, clippy::unwrap_used)]

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use oxserve_protocol::seldon::{DataArray, DefaultData, Meta, Payload, SeldonMessage, pyjson};
use oxserve_protocol::{Tensor, TensorData};

fn request(rows: usize, cols: usize) -> Vec<u8> {
    let row: Vec<String> = (0..cols)
        .map(|j| format!("{}", 0.1 + j as f64 * 1.37))
        .collect();
    let row = format!("[{}]", row.join(","));
    let body = vec![row; rows].join(",");
    format!(r#"{{"data":{{"ndarray":[{body}]}}}}"#).into_bytes()
}

fn round_trip(body: &[u8]) -> Vec<u8> {
    let msg: SeldonMessage = serde_json::from_slice(body).unwrap();
    let Payload::Data(DefaultData { array, .. }) = msg.payload else {
        panic!()
    };
    let input = array.into_tensor().unwrap();
    let rows = input.shape()[0];
    // A stand-in for the model: 3 outputs per row.
    let out = Tensor::new(
        vec![rows, 3],
        TensorData::F64(vec![0.333_333_333_333_333_3; rows * 3]),
    )
    .unwrap();
    let reply = SeldonMessage {
        meta: Meta::default(),
        payload: Payload::Data(DefaultData {
            names: vec!["t:0".into(), "t:1".into(), "t:2".into()],
            array: DataArray::NdArray(out),
        }),
        status: None,
    };
    pyjson::to_vec(&reply).unwrap()
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("seldon_decode_encode");
    for (rows, cols) in [(1, 4), (1000, 4), (1000, 30)] {
        let body = request(rows, cols);
        group.throughput(Throughput::Elements(rows as u64));
        group.bench_with_input(
            BenchmarkId::from_parameter(format!("{rows}x{cols}")),
            &body,
            |b, body| b.iter(|| round_trip(body)),
        );
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
