//! Per-family predict throughput on 1000-row batches, single-threaded: the default Seldon method of a
//! representative fixture model per family, on the fixture's own rows tiled to 1000. `families_sklearn.py` times
//! scikit-learn on exactly the same files and batches; compare rows/s.

#![allow(missing_docs, clippy::unwrap_used)]

use std::path::Path;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use oxserve_sklearn::{Matrix, Method};

/// The cases timed: one per family (also read by families_sklearn.py).
pub const CASES: &[&str] = &[
    "logreg-multinomial-strlabels-wine",
    "svc-rbf-prob-wine",
    "gaussiannb-wine",
    "knn-distance-iris",
    "mlp-tanh-binary-cancer",
    "lda-eigen-wine",
    "pipe-ct-slice-mask-logreg-iris",
    "tree-clf-digits-10class",
    "forest-rf-clf-digits",
    "gb-clf-binary-cancer",
    "hgb-clf-binary-nan-cancer",
    "ada-clf-iris",
];

const ROWS: usize = 1000;

fn bench(c: &mut Criterion) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/cases");
    let mut group = c.benchmark_group("predict_1000_rows");
    group.throughput(Throughput::Elements(ROWS as u64));
    for name in CASES {
        let dir = root.join(name);
        let Ok(text) = std::fs::read_to_string(dir.join("case.json")) else {
            eprintln!("skipping {name}: no such case");
            continue;
        };
        let case: serde_json::Value = serde_json::from_str(&text.replace("NaN", "null")).unwrap();
        let rows: Vec<Vec<f64>> =
            serde_json::from_value::<Vec<Vec<Option<f64>>>>(case["X"].clone())
                .unwrap()
                .into_iter()
                .map(|r| r.into_iter().map(|v| v.unwrap_or(f64::NAN)).collect())
                .collect();
        let cols = rows[0].len();
        let data: Vec<f64> = rows.iter().cycle().take(ROWS).flatten().copied().collect();
        let x = Matrix::new(ROWS, cols, data).unwrap();
        let est =
            oxserve_sklearn::load_file(&dir.join(case["artifact"].as_str().unwrap())).unwrap();
        let method = Method::from_name(case["default_method"].as_str().unwrap()).unwrap();
        group.bench_with_input(BenchmarkId::from_parameter(name), &x, |b, x| {
            b.iter(|| est.call(method, x).unwrap())
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
