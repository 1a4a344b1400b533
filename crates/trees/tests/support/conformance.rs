//! Helpers the tree engines' conformance tests share (included with `#[path]` by `oxserve-xgboost` and
//! `oxserve-lightgbm`): JSON arrays to flat numbers, tolerance checks, and the shared corpus's location.
#![allow(dead_code, clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use serde_json::Value;

/// Every number of a nested JSON array, row-major; `null` reads as NaN (how the fixtures write missing values).
pub(crate) fn flat(v: &Value) -> Vec<f64> {
    match v {
        Value::Array(a) => a.iter().flat_map(flat).collect(),
        Value::Null => vec![f64::NAN],
        v => vec![v.as_f64().unwrap()],
    }
}

/// `|got - want| <= atol + rtol·|want|` everywhere, or the first place it is not.
pub(crate) fn close(
    got: &[f64],
    want: &[f64],
    atol: f64,
    rtol: f64,
    what: &str,
) -> Result<(), String> {
    if got.len() != want.len() {
        return Err(format!("{what}: {} values, want {}", got.len(), want.len()));
    }
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        if (g - w).abs() > atol + rtol * w.abs() {
            return Err(format!(
                "{what}[{i}]: got {g}, want {w} (diff {:e})",
                (g - w).abs()
            ));
        }
    }
    Ok(())
}

/// The shared corpus's case folders whose names start with `prefix`: `$OXSERVE_SHARED/conformance/public`, else
/// `../shared/conformance/public` from the repository root. `None` when the corpus is absent (the suite skips).
pub(crate) fn shared_cases(manifest_dir: &str, prefix: &str) -> Option<Vec<PathBuf>> {
    let root = std::env::var_os("OXSERVE_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(manifest_dir).join("../../../shared"))
        .join("conformance/public");
    let Ok(entries) = std::fs::read_dir(&root) else {
        eprintln!("shared corpus not present at {}; skipped", root.display());
        return None;
    };
    let mut dirs: Vec<PathBuf> = entries
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with(prefix))
        })
        .collect();
    dirs.sort();
    assert!(!dirs.is_empty(), "no {prefix}* case in {}", root.display());
    Some(dirs)
}

/// Reads a JSON file.
pub(crate) fn read_json(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// A table of JSON records (`[{"age": 40.5, "color": "red"}, ...]`, columns in the first record's key order, which
/// serde_json sorts, so a model reads them by name): a column
/// holding any string is a string column (`null` missing), any other a float64 one (`null` as NaN).
pub(crate) fn table_of_records(records: &Value) -> oxserve_core::Table {
    use oxserve_core::{Column, ColumnData, Table};
    let rows = records.as_array().unwrap();
    let names: Vec<String> = rows[0].as_object().unwrap().keys().cloned().collect();
    let columns = names
        .iter()
        .map(|name| {
            let values: Vec<&Value> = rows.iter().map(|r| &r[name.as_str()]).collect();
            let data = if values.iter().any(|v| v.is_string()) {
                ColumnData::Str(
                    values
                        .iter()
                        .map(|v| v.as_str().map(String::from))
                        .collect(),
                )
            } else {
                ColumnData::F64(
                    values
                        .iter()
                        .map(|v| v.as_f64().unwrap_or(f64::NAN))
                        .collect(),
                )
            };
            Column::new(name.clone(), data)
        })
        .collect();
    Table::new(columns).unwrap()
}
