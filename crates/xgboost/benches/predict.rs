//! Rows/s of `Booster::predict` (single-threaded) on the models and batch `fixtures/gen_bench.py` writes into
//! `fixtures/bench/` (it also times XGBoost's `inplace_predict` / `predict(DMatrix)` on the same files, into
//! `bench/python.json`): 1,000-row batches and single rows.
//!
//! Run: `$(crates/xgboost/fixtures/venv.sh current) crates/xgboost/fixtures/gen_bench.py && cargo bench -p
//! oxserve-xgboost --bench predict`. Skips with a message when the files are absent.
#![allow(missing_docs)]

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::Instant;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use oxserve_xgboost::{Booster, Predict, Rows};

#[path = "../../trees/tests/support/bench.rs"]
mod support;
use support::best;

const ROWS: usize = 1000;

fn bench_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/bench")
}

fn predict(c: &mut Criterion) {
    let Some(x) = support::batch(&bench_dir()) else {
        eprintln!(
            "SKIPPED: {} missing; run fixtures/gen_bench.py",
            bench_dir().join("batch.f64").display()
        );
        return;
    };
    let nf = x.len() / ROWS;
    let opts = Predict::default();
    for name in ["binary-100x6", "multi-500x31"] {
        let Ok(bytes) = std::fs::read(bench_dir().join(format!("{name}.json"))) else {
            eprintln!("SKIPPED {name}: model missing");
            continue;
        };
        let t = Instant::now();
        let Ok(model) = Booster::load(&bytes) else {
            eprintln!("SKIPPED {name}: does not load");
            continue;
        };
        println!("{name}: load {:.2} ms", t.elapsed().as_secs_f64() * 1e3);
        for rows in [ROWS, 1] {
            let xs = &x[..rows * nf];
            let n = if rows == 1 { 20_000 } else { 200 };
            let b = best(n, || {
                black_box(model.predict(Rows::F64(black_box(xs)), &opts).is_ok());
            });
            println!(
                "{name} {rows:>4} rows: best of {n} = {:.0} rows/s",
                rows as f64 / b.as_secs_f64()
            );
            let mut group = c.benchmark_group(format!("{name}_{rows}_rows"));
            group.throughput(Throughput::Elements(rows as u64));
            group.bench_function("predict", |bch| {
                bch.iter(|| black_box(model.predict(Rows::F64(black_box(xs)), &opts)));
            });
            group.finish();
        }
    }
}

criterion_group!(benches, predict);
criterion_main!(benches);
