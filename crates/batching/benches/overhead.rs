//! The batcher's own cost, for a model that does nothing: a direct call, one caller through the queue (the
//! worker's thread hop and the merge/split of a one-request batch), and 16 callers whose rows are merged —
//! each through the blocking `predict` (a caller thread each) and through `predict_async` (tasks on one
//! current-thread tokio runtime, as the server awaits them).
#![allow(missing_docs, clippy::unwrap_used)]

use std::hint::black_box;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use oxserve_batching::{BatchConfig, BatchingModel};
use oxserve_core::{
    DataType, Model, ModelError, ModelMetadata, NamedTensor, PredictFuture, PredictRequest,
    PredictResponse, Submission, Tensor, TensorData, TensorSpec,
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

fn submit(model: &BatchingModel, request: PredictRequest) -> PredictFuture {
    match model.predict_async(request) {
        Submission::Pending(answer) => answer,
        Submission::Direct(_) => panic!("not batched"),
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
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    c.bench_function("one caller through the queue, async", |b| {
        b.iter(|| black_box(runtime.block_on(submit(&lone, row())).unwrap()))
    });

    let merged_async = Arc::new(BatchingModel::new(
        echo(),
        BatchConfig::new(callers, Duration::from_micros(200)),
    ));
    c.bench_function("16 async callers merged, per request", |b| {
        b.iter_custom(|iters| {
            runtime.block_on(async {
                let start = Instant::now();
                let tasks: Vec<_> = (0..callers)
                    .map(|_| {
                        let model = merged_async.clone();
                        tokio::spawn(async move {
                            for _ in 0..iters {
                                black_box(submit(&model, row()).await.unwrap());
                            }
                        })
                    })
                    .collect();
                for t in tasks {
                    t.await.unwrap();
                }
                start.elapsed() / callers as u32
            })
        })
    });
    let s = merged_async.stats().snapshot();
    eprintln!(
        "16 async callers: {} batches, mean {:.1} rows per batch",
        s.batches,
        s.mean_rows_per_batch()
    );
    let s = merged.stats().snapshot();
    eprintln!(
        "16 callers: {} batches, mean {:.1} rows per batch",
        s.batches,
        s.mean_rows_per_batch()
    );
}

criterion_group!(benches, overhead);
criterion_main!(benches);
