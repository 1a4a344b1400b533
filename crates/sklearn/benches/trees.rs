//! Rows/s of `predict_proba` on 1000-row batches for the tree engines: a 100-tree `RandomForestClassifier` and a
//! 100-iteration `HistGradientBoostingClassifier` (see `fixtures/gen_bench.py`, which writes the models and the
//! batch into `fixtures/bench/`; `benches/sklearn_speed.py` times scikit-learn on the same files).
//!
//! Run: `$(scripts/fixtures-venv.sh) crates/sklearn/fixtures/gen_bench.py && cargo bench -p oxserve-sklearn
//! --bench trees`. Skips with a message when the files are absent.

use std::hint::black_box;
use std::path::{Path, PathBuf};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use oxserve_sklearn::{Matrix, Method};

const ROWS: usize = 1000;

fn bench_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/bench")
}

/// The 1000-row batch, from raw little-endian f64 (`batch.f64`, row-major).
fn batch() -> Option<Matrix> {
    let bytes = std::fs::read(bench_dir().join("batch.f64")).ok()?;
    let data: Vec<f64> = bytes
        .chunks_exact(8)
        .map(|b| f64::from_le_bytes(b.try_into().unwrap_or([0; 8])))
        .collect();
    let cols = data.len() / ROWS;
    Matrix::new(ROWS, cols, data).ok()
}

fn trees(c: &mut Criterion) {
    let Some(x) = batch() else {
        eprintln!(
            "SKIPPED: {} missing; run fixtures/gen_bench.py",
            bench_dir().join("batch.f64").display()
        );
        return;
    };
    let mut group = c.benchmark_group("predict_proba_1000_rows");
    group.throughput(Throughput::Elements(ROWS as u64));
    for name in ["rf-clf-100", "hgb-clf"] {
        let path = bench_dir().join(format!("{name}.joblib"));
        let model = match oxserve_sklearn::load_file(&path) {
            Ok(m) => m,
            Err(e) => {
                eprintln!("SKIPPED {name}: cannot load {}: {e}", path.display());
                continue;
            }
        };
        // On a shared machine the mean is inflated by other processes; the best of many short runs is the
        // closest to the uncontended time, and is what `sklearn_speed.py` reports too.
        let best = (0..300)
            .map(|_| {
                let t = std::time::Instant::now();
                black_box(model.call(Method::PredictProba, black_box(&x)).is_ok());
                t.elapsed()
            })
            .min()
            .unwrap_or_default();
        println!(
            "{name}: best of 300 = {:.3} ms/batch, {:.0} rows/s",
            best.as_secs_f64() * 1e3,
            ROWS as f64 / best.as_secs_f64()
        );
        group.bench_function(name, |b| {
            b.iter(|| black_box(model.call(Method::PredictProba, black_box(&x))));
        });
    }
    group.finish();
}

criterion_group!(benches, trees);
criterion_main!(benches);
