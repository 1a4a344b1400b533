//! The 10-column mixed table (5 numeric, 5 categorical) of `fixtures/tables/bench-10col` through
//! ColumnTransformer(StandardScaler, OneHotEncoder) + LogisticRegression `predict_proba`, at 1 and 1,000 rows.
//! scikit-learn's figures for the same rows, timed by `gen_tables.py`, are in `fixtures/tables/bench.json`.

#![allow(missing_docs, clippy::unwrap_used)]

use std::path::Path;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use oxserve_sklearn::{Column, ColumnData, Method, Table};
use serde_json::Value;

fn table(rows: &[Value], columns: &[Value], n: usize) -> Table {
    let cols = columns
        .iter()
        .enumerate()
        .map(|(j, name)| {
            let cells = rows.iter().take(n).map(|r| &r[j]);
            let data = if rows[0][j].is_string() {
                ColumnData::Str(cells.map(|c| c.as_str().map(str::to_string)).collect())
            } else {
                ColumnData::F64(cells.map(|c| c.as_f64().unwrap_or(f64::NAN)).collect())
            };
            Column::new(name.as_str().unwrap(), data)
        })
        .collect();
    Table::new(cols).unwrap()
}

fn bench(c: &mut Criterion) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/tables/bench-10col");
    let case: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("case.json")).unwrap()).unwrap();
    let est = oxserve_sklearn::load_file(&dir.join("model.joblib")).unwrap();
    let rows = case["rows"].as_array().unwrap();
    let columns = case["columns"].as_array().unwrap();
    let mut group = c.benchmark_group("table_onehot_scaler_logreg");
    for n in [1, 1000] {
        let t = table(rows, columns, n);
        group.throughput(Throughput::Elements(n as u64));
        group.bench_with_input(BenchmarkId::from_parameter(n), &t, |b, t| {
            b.iter(|| est.call_table(Method::PredictProba, t).unwrap())
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
