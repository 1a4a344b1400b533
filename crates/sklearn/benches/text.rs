//! TF-IDF + LinearSVC on 1,000 short sentences (issue #15): `Pipeline.predict` from raw strings, single-threaded,
//! on the model and sentences `fixtures/gen_text.py` wrote to `fixtures/text/bench/` (where it also recorded
//! scikit-learn's time on the same rows, `sklearn_timing.json`). Compare rows/s.

#![allow(missing_docs, clippy::unwrap_used)]

use std::path::Path;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use oxserve_sklearn::Method;

fn bench(c: &mut Criterion) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/text/bench");
    let docs: Vec<String> =
        serde_json::from_str(&std::fs::read_to_string(dir.join("docs.json")).unwrap()).unwrap();
    let docs: Vec<&str> = docs.iter().map(String::as_str).collect();
    let est = oxserve_sklearn::load_file(&dir.join("model.joblib")).unwrap();
    let mut group = c.benchmark_group("tfidf_linearsvc_predict");
    for rows in [1, docs.len()] {
        group.throughput(Throughput::Elements(rows as u64));
        group.bench_function(format!("{rows}_rows"), |b| {
            b.iter(|| est.call_strings(Method::Predict, &docs[..rows]).unwrap())
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
