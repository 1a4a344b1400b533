//! The engine's own overhead: `OnnxModel::predict` (signature checks, dtype conversion, the session lock, output
//! copies) against a raw ort `Session::run` on a borrowed input view, on the same committed fixtures and batch, one
//! intra-op thread each. "owned input" hands ONNX Runtime a fresh buffer per call, as a server has one per
//! request (the borrowed view reuses one warm buffer, as a Python loop over the same array does).
//! Needs `scripts/fetch-onnxruntime.sh` (or `ORT_DYLIB_PATH`).
#![allow(missing_docs, clippy::unwrap_used)]

use std::hint::black_box;
use std::path::{Path, PathBuf};

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use ort::session::Session;
use ort::value::TensorRef;
use oxserve_core::{Model, NamedTensor, PredictRequest, Tensor, TensorData};
use oxserve_onnx::{LoadOptions, OnnxModel};

fn fixture(case: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(case)
}

fn values(n: usize) -> Vec<f32> {
    let mut x = 0x2545_f491_4f6c_dd1du64;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 40) as f32 / (1u64 << 24) as f32
        })
        .collect()
}

fn bench_case(c: &mut Criterion, case: &str, input: &str, row_shape: &[usize], batch: usize) {
    let fallback = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.onnxruntime");
    let options = LoadOptions {
        intra_op_threads: Some(1),
        library_fallback: Some(fallback.clone()),
    };
    let model = OnnxModel::load(&fixture(case), &options).unwrap();
    let env = oxserve_onnx::environment(Some(&fallback)).unwrap();
    let mut session = Session::builder(env)
        .unwrap()
        .with_intra_threads(1)
        .unwrap()
        .with_inter_threads(1)
        .unwrap()
        .commit_from_file(fixture(case).join("model.onnx"))
        .unwrap();
    let mut shape = vec![batch];
    shape.extend_from_slice(row_shape);
    let n: usize = shape.iter().product();
    let data = values(n);
    let ort_shape: Vec<i64> = shape.iter().map(|&d| d as i64).collect();

    let mut group = c.benchmark_group(format!("{case}/batch{batch}"));
    group.bench_function("raw session.run", |b| {
        b.iter(|| {
            let view = TensorRef::from_array_view((ort_shape.clone(), data.as_slice())).unwrap();
            let outputs = session.run(ort::inputs![input => view]).unwrap();
            for (_, value) in outputs.iter() {
                black_box(
                    value
                        .try_extract_tensor::<f32>()
                        .map(|(_, d)| d.len())
                        .unwrap_or(0),
                );
            }
        })
    });
    group.bench_function("raw session.run, owned input", |b| {
        b.iter_batched(
            || data.clone(),
            |owned| {
                let value = ort::value::Tensor::from_array((ort_shape.clone(), owned)).unwrap();
                let outputs = session.run(ort::inputs![input => value]).unwrap();
                for (_, value) in outputs.iter() {
                    black_box(
                        value
                            .try_extract_tensor::<f32>()
                            .map(|(_, d)| d.len())
                            .unwrap_or(0),
                    );
                }
            },
            BatchSize::SmallInput,
        )
    });
    let f32_request = PredictRequest {
        inputs: vec![NamedTensor::new(
            input,
            Tensor::new(shape.clone(), TensorData::F32(data.clone())).unwrap(),
        )],
        outputs: vec![],
    };
    group.bench_function("OnnxModel::predict FP32", |b| {
        b.iter_batched(
            || f32_request.clone(),
            |r| black_box(model.predict(r).unwrap()),
            BatchSize::SmallInput,
        )
    });
    let f64_request = PredictRequest {
        inputs: vec![NamedTensor::new(
            input,
            Tensor::new(
                shape.clone(),
                TensorData::F64(data.iter().map(|&v| f64::from(v)).collect()),
            )
            .unwrap(),
        )],
        outputs: vec![],
    };
    group.bench_function("OnnxModel::predict FP64 (JSON numbers)", |b| {
        b.iter_batched(
            || f64_request.clone(),
            |r| black_box(model.predict(r).unwrap()),
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

fn benches(c: &mut Criterion) {
    bench_case(c, "keras-conv", "image", &[16, 16, 3], 64);
    bench_case(c, "sklearn-pipeline", "X", &[4], 64);
}

criterion_group!(onnx, benches);
criterion_main!(onnx);
