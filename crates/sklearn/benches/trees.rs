//! Rows/s of `predict_proba` on 1,000-row batches and on single rows for the tree engines: a 100-tree
//! `RandomForestClassifier` and a 100-iteration `HistGradientBoostingClassifier` (see `fixtures/gen_bench.py`, which
//! writes the models and the batch into `fixtures/bench/`; `benches/sklearn_speed.py` times scikit-learn on the
//! same files and rows).
//!
//! Run: `$(scripts/fixtures-venv.sh) crates/sklearn/fixtures/gen_bench.py && cargo bench -p oxserve-sklearn
//! --bench trees`. Skips with a message when the files are absent.
#![allow(missing_docs)]

use std::path::Path;
use std::time::Instant;

use criterion::{Criterion, criterion_group, criterion_main};
use oxserve_sklearn::{Matrix, Method};

#[path = "../../trees/tests/support/bench.rs"]
mod support;

fn trees(c: &mut Criterion) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/bench");
    let Some(x) = support::batch(&dir) else {
        eprintln!(
            "SKIPPED: {} missing; run fixtures/gen_bench.py",
            dir.join("batch.f64").display()
        );
        return;
    };
    let nf = x.len() / support::ROWS;
    for name in ["rf-clf-100", "hgb-clf"] {
        let path = dir.join(format!("{name}.joblib"));
        let t = Instant::now();
        let model = match oxserve_sklearn::load_file(&path) {
            Ok(m) => m,
            Err(e) => {
                eprintln!("SKIPPED {name}: cannot load {}: {e}", path.display());
                continue;
            }
        };
        println!("{name}: load {:.2} ms", t.elapsed().as_secs_f64() * 1e3);
        // The batches as matrices up front, so the timing holds the prediction alone (as scikit-learn's holds
        // `predict_proba` on a ready array).
        let (Ok(full), Ok(one)) = (
            Matrix::new(support::ROWS, nf, x.clone()),
            Matrix::new(1, nf, x[..nf].to_vec()),
        ) else {
            eprintln!("SKIPPED {name}: bad batch");
            continue;
        };
        support::run(c, name, &x, |xs| {
            let m = if xs.len() == nf { &one } else { &full };
            model.call(Method::PredictProba, m).is_ok()
        });
    }
}

criterion_group!(benches, trees);
criterion_main!(benches);
