//! Pipelines fitted on pandas DataFrames and numpy object arrays (`fixtures/tables/`, written by
//! `gen_tables.py`): each case's rows go in as a table and must give scikit-learn's answers; its bad requests
//! must be refused with a message naming the column at fault.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use oxserve_sklearn::{Column, ColumnData, Estimator, Labels, Method, Output, Table};
use serde_json::Value as Json;

const TOL: f64 = 1e-9;

fn case_dirs() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/tables");
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&root)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("case.json").is_file())
        .collect();
    dirs.sort();
    dirs
}

/// A column typed by its JSON cells, as the protocols type a mixed `ndarray`: strings (null = missing), else
/// numbers (null = NaN).
fn column(name: &str, cells: Vec<&Json>) -> Column {
    let data = if cells.iter().any(|c| c.is_string()) {
        ColumnData::Str(
            cells
                .iter()
                .map(|c| c.as_str().map(str::to_string))
                .collect(),
        )
    } else {
        ColumnData::F64(
            cells
                .iter()
                .map(|c| c.as_f64().unwrap_or(f64::NAN))
                .collect(),
        )
    };
    Column::new(name, data)
}

/// The rows as a table; `None` when a row is ragged (the protocols refuse those before any model).
fn table(columns: &[Json], rows: &[Json]) -> Option<Table> {
    let rows: Vec<&Vec<Json>> = rows.iter().map(|r| r.as_array().unwrap()).collect();
    if rows.iter().any(|r| r.len() != columns.len()) {
        return None;
    }
    let cols = columns
        .iter()
        .enumerate()
        .map(|(j, name)| column(name.as_str().unwrap(), rows.iter().map(|r| &r[j]).collect()))
        .collect();
    Some(Table::new(cols).unwrap())
}

fn close(got: f64, want: f64) -> bool {
    (got - want).abs() <= TOL + TOL * want.abs()
}

fn check(est: &dyn Estimator, method: Method, t: &Table, want: &Json) -> Result<(), String> {
    let out = est.call_table(method, t).map_err(|e| e.to_string())?;
    let got: Vec<Json> = match out {
        Output::Labels(Labels::Str(v)) => v.into_iter().map(Json::from).collect(),
        Output::Labels(Labels::Int(v)) => v.into_iter().map(Json::from).collect(),
        Output::Labels(Labels::Float(v)) | Output::Column(v) => {
            v.into_iter().map(Json::from).collect()
        }
        Output::Matrix(m) => m.iter_rows().map(|r| Json::from(r.to_vec())).collect(),
    };
    let want = want.as_array().unwrap();
    if got.len() != want.len() {
        return Err(format!("{} rows, want {}", got.len(), want.len()));
    }
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        let same = match (g, w) {
            (Json::Array(g), Json::Array(w)) => {
                g.len() == w.len()
                    && g.iter()
                        .zip(w)
                        .all(|(a, b)| close(a.as_f64().unwrap(), b.as_f64().unwrap()))
            }
            (Json::String(_), _) => g == w,
            _ => close(g.as_f64().unwrap(), w.as_f64().unwrap()),
        };
        if !same {
            return Err(format!("row {i}: got {g}, want {w}"));
        }
    }
    Ok(())
}

#[test]
fn table_pipelines_match_scikit_learn() {
    let mut checked = 0;
    let mut failures = Vec::new();
    for dir in case_dirs() {
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        let case: Json =
            serde_json::from_str(&std::fs::read_to_string(dir.join("case.json")).unwrap()).unwrap();
        let est = oxserve_sklearn::load_file(&dir.join("model.joblib"))
            .unwrap_or_else(|e| panic!("{name}: load: {e}"));
        assert!(est.takes_table(), "{name}: a table model");
        assert_eq!(
            est.feature_names_in().is_none(),
            case["positional"].as_bool().unwrap(),
            "{name}: feature_names_in_"
        );
        let columns = case["columns"].as_array().unwrap();
        let t = table(columns, case["rows"].as_array().unwrap()).unwrap();
        for (method, want) in case["outputs"].as_object().unwrap() {
            let m = Method::from_name(method).unwrap();
            checked += 1;
            if let Err(e) = check(est.as_ref(), m, &t, want) {
                failures.push(format!("{name} {method}: {e}"));
            }
        }
        // Columns in another order than fitted are put back in order when named.
        if !case["positional"].as_bool().unwrap() {
            let mut reversed = t.clone().into_columns();
            reversed.reverse();
            let r = Table::new(reversed).unwrap();
            for (method, want) in case["outputs"].as_object().unwrap() {
                let m = Method::from_name(method).unwrap();
                if let Err(e) = check(est.as_ref(), m, &r, want) {
                    failures.push(format!("{name} {method} (columns reversed): {e}"));
                }
            }
        }
        for bad in case["bad"].as_array().unwrap() {
            let Some(t) = table(
                bad["columns"].as_array().unwrap(),
                bad["rows"].as_array().unwrap(),
            ) else {
                continue;
            };
            let wanted = bad["error"].as_str().unwrap();
            match est.call_table(Method::Predict, &t) {
                Ok(_) => failures.push(format!("{name}: accepted a bad request ({wanted})")),
                Err(e) if !e.to_string().contains(wanted) => {
                    failures.push(format!("{name}: error `{e}` does not say `{wanted}`"))
                }
                Err(_) => {}
            }
        }
    }
    assert!(checked >= 5, "only {checked} outputs checked");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Records as a table the way the protocols build one from `jsonData` records: every key a column (in the order
/// first seen), a key a record lacks a missing cell.
fn records_table(records: &[Json]) -> Table {
    let mut keys: Vec<String> = Vec::new();
    for r in records {
        for k in r.as_object().unwrap().keys() {
            if !keys.contains(k) {
                keys.push(k.clone());
            }
        }
    }
    let columns = keys
        .iter()
        .map(|k| {
            let cells: Vec<Option<&Json>> = records.iter().map(|r| r.get(k)).collect();
            let data = if cells.iter().flatten().any(|c| c.is_string()) {
                ColumnData::Str(
                    cells
                        .iter()
                        .map(|c| c.and_then(Json::as_str).map(str::to_string))
                        .collect(),
                )
            } else if cells.iter().flatten().any(|c| c.is_boolean()) {
                ColumnData::Bool(cells.iter().map(|c| c.and_then(Json::as_bool)).collect())
            } else {
                ColumnData::F64(
                    cells
                        .iter()
                        .map(|c| c.and_then(Json::as_f64).unwrap_or(f64::NAN))
                        .collect(),
                )
            };
            Column::new(k.as_str(), data)
        })
        .collect();
    Table::new(columns).unwrap()
}

#[test]
fn dict_vectorizer_pipeline_matches_scikit_learn() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/tables/dictvec-logreg");
    let case: Json =
        serde_json::from_str(&std::fs::read_to_string(dir.join("records.json")).unwrap()).unwrap();
    let est = oxserve_sklearn::load_file(&dir.join("model.joblib")).unwrap();
    assert!(est.takes_table());
    let t = records_table(case["records"].as_array().unwrap());
    for (method, want) in case["outputs"].as_object().unwrap() {
        check(est.as_ref(), Method::from_name(method).unwrap(), &t, want)
            .unwrap_or_else(|e| panic!("{method}: {e}"));
    }
    // The vectorizer alone gives scikit-learn's matrix (absent keys and unseen values and keys are zeros).
    let value = oxserve_pickle::load_file(&dir.join("model.joblib")).unwrap();
    let steps = value.get("steps").and_then(|s| s.as_seq()).unwrap();
    let first = &steps[0].as_seq().unwrap()[1];
    let dv = oxserve_sklearn::build(first).unwrap();
    check(dv.as_ref(), Method::Transform, &t, &case["transform"]).unwrap();
    // A plain numeric matrix is not records.
    let err = dv
        .call(Method::Transform, &oxserve_sklearn::Matrix::zeros(1, 2))
        .unwrap_err();
    assert!(err.to_string().contains("records"), "{err}");
}
