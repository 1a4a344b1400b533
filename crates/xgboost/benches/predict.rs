//! Rows/s of `Booster::predict` (single-threaded) on the models and batch `fixtures/gen_bench.py` writes into
//! `fixtures/bench/` (it also times XGBoost's `inplace_predict` / `predict(DMatrix)` on the same files, into
//! `bench/python.json`): 1,000-row batches and single rows.
//!
//! Run: `$(crates/xgboost/fixtures/venv.sh current) crates/xgboost/fixtures/gen_bench.py && cargo bench -p
//! oxserve-xgboost --bench predict`. Skips with a message when the files are absent.
#![allow(missing_docs)]

use std::path::Path;

use criterion::{Criterion, criterion_group, criterion_main};
use oxserve_xgboost::{Booster, Predict, Rows};

#[path = "../../trees/tests/support/bench.rs"]
mod support;

fn predict(c: &mut Criterion) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/bench");
    let opts = Predict::default();
    support::models(
        c,
        &dir,
        &["binary-100x6", "multi-500x31"],
        "json",
        |bytes| Booster::load(bytes).ok(),
        |model, xs| model.predict(Rows::F64(xs), &opts).is_ok(),
    );
}

criterion_group!(benches, predict);
criterion_main!(benches);
