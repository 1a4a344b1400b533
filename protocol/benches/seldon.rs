//! Seldon v1 decode → tensor → encode, for a 1-row and a 1000-row request (4 and 30 features), in the shape the
//! runtime runs it: bytes → `SeldonMessage` → `Tensor` → reply `SeldonMessage` → Python-style JSON bytes.

#![allow(missing_docs, clippy::unwrap_used)]

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use oxserve_protocol::seldon::{DataArray, DefaultData, Meta, Payload, SeldonMessage, pyjson};
use oxserve_protocol::{RequestLimits, Tensor, TensorData};

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

/// Reading a request into a `SeldonMessage` as the servers do (`from_json`: the fast path of `seldon/quick.rs`
/// for a numeric `ndarray`) against the general serde reader alone (`from_json_general`), same bodies.
fn bench_read(c: &mut Criterion) {
    let limits = RequestLimits::default();
    let mut group = c.benchmark_group("seldon_read");
    for (rows, cols) in [(1, 4), (1000, 30)] {
        let body = request(rows, cols);
        group.throughput(Throughput::Bytes(body.len() as u64));
        group.bench_with_input(
            BenchmarkId::new("from_json", format!("{rows}x{cols}")),
            &body,
            |b, body| b.iter(|| SeldonMessage::from_json(body, &limits).unwrap()),
        );
        group.bench_with_input(
            BenchmarkId::new("from_json_general", format!("{rows}x{cols}")),
            &body,
            |b, body| b.iter(|| SeldonMessage::from_json_general(body, &limits).unwrap()),
        );
    }
    group.finish();
}

/// A 1,000-row mixed `ndarray` with `names` (5 numbers, 5 strings, a `null` in every tenth row), decoded into a
/// table: the cost of a tabular request before any model.
fn mixed_request(rows: usize) -> Vec<u8> {
    let names: Vec<String> = (0..10).map(|j| format!("\"c{j}\"")).collect();
    let rows: Vec<String> = (0..rows)
        .map(|i| {
            let nums: Vec<String> = (0..5)
                .map(|j| format!("{}", 0.1 + (i + j) as f64 * 1.37))
                .collect();
            let strs: Vec<String> = (0..5)
                .map(|j| {
                    if i % 10 == 0 && j == 0 {
                        "null".to_string()
                    } else {
                        format!("\"v{}\"", (i + j) % 6)
                    }
                })
                .collect();
            format!("[{},{}]", nums.join(","), strs.join(","))
        })
        .collect();
    format!(
        r#"{{"data":{{"names":[{}],"ndarray":[{}]}}}}"#,
        names.join(","),
        rows.join(",")
    )
    .into_bytes()
}

fn bench_mixed(c: &mut Criterion) {
    let mut group = c.benchmark_group("seldon_decode_mixed");
    let body = mixed_request(1000);
    group.throughput(Throughput::Elements(1000));
    group.bench_function("1000x10", |b| {
        b.iter(|| {
            let msg: SeldonMessage = serde_json::from_slice(&body).unwrap();
            let Payload::Data(DefaultData {
                array: DataArray::Table(t),
                ..
            }) = msg.payload
            else {
                panic!("not a table")
            };
            t
        })
    });
    group.finish();
}

criterion_group!(benches, bench, bench_read, bench_mixed);
criterion_main!(benches);
