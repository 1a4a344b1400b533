//! The batcher's own cost, for a model that does nothing: a direct call, one caller through the queue (the
//! worker's thread hop and the merge/split of a one-request batch), and 16 callers whose rows are merged.
#![allow(missing_docs, clippy::unwrap_used)]

use std::hint::black_box;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use oxserve_batching::{BatchConfig, BatchingModel};
use oxserve_core::{
    DataType, Model, ModelError, ModelMetadata, NamedTensor, PredictRequest, PredictResponse,
    Tensor, TensorData, TensorSpec,
};

/// Echoes its input.
struct Echo(ModelMetadata);

impl Model for Echo {
    fn metadata(&self) -> &ModelMetadata {
        &self.0
    }

    fn predict(&self, request: PredictRequest) -> Result<PredictResponse, ModelError> {
        Ok(PredictResponse {
            outputs: request.inputs,
        })
    }
}

fn echo() -> Arc<dyn Model> {
    Arc::new(Echo(ModelMetadata {
        platform: "bench".into(),
        inputs: vec![TensorSpec::new("x", DataType::F32, vec![-1, 4])],
        outputs: vec![TensorSpec::new("x", DataType::F32, vec![-1, 4])],
    }))
}

fn row() -> PredictRequest {
    PredictRequest {
        inputs: vec![NamedTensor::new(
            "x",
            Tensor::new(vec![1, 4], TensorData::F32(vec![1.0, 2.0, 3.0, 4.0])).unwrap(),
        )],
        outputs: Vec::new(),
    }
}

fn overhead(c: &mut Criterion) {
    let direct = echo();
    c.bench_function("direct call", |b| {
        b.iter(|| black_box(direct.predict(row()).unwrap()))
    });

    // max_batch_size 1 would switch batching off; a 1 ns wait closes every batch at once.
    let lone = BatchingModel::new(echo(), BatchConfig::new(32, Duration::from_nanos(1)));
    c.bench_function("one caller through the queue", |b| {
        b.iter(|| black_box(lone.predict(row()).unwrap()))
    });

    // 16 callers at once, batches of up to 16 rows: time per request.
    let callers = 16;
    let merged = Arc::new(BatchingModel::new(
        echo(),
        BatchConfig::new(callers, Duration::from_micros(200)),
    ));
    c.bench_function("16 callers merged, per request", |b| {
        b.iter_custom(|iters| {
            let barrier = Arc::new(Barrier::new(callers));
            let start = Instant::now();
            let threads: Vec<_> = (0..callers)
                .map(|_| {
                    let model = merged.clone();
                    let barrier = barrier.clone();
                    std::thread::spawn(move || {
                        barrier.wait();
                        for _ in 0..iters {
                            black_box(model.predict(row()).unwrap());
                        }
                    })
                })
                .collect();
            for t in threads {
                t.join().unwrap();
            }
            start.elapsed() / callers as u32
        })
    });
    let s = merged.stats().snapshot();
    eprintln!(
        "16 callers: {} batches, mean {:.1} rows per batch",
        s.batches,
        s.mean_rows_per_batch()
    );
}

criterion_group!(benches, overhead);
criterion_main!(benches);
