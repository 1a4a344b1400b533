//! Reading a fixture case (`case.json`: input rows, scikit-learn's outputs, tolerance) and checking a loaded
//! estimator against it; shared by `conformance.rs` (one artifact per case) and `versions.rs` (several).

use std::path::{Path, PathBuf};

use oxserve_sklearn::{Estimator, Labels, Matrix, Method, Output};
use serde_json::Value as Json;

/// The folders under `root` that hold a `case.json`, sorted; none when `root` is absent.
pub(crate) fn case_dirs(root: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(root) else {
        return Vec::new();
    };
    let mut dirs: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.join("case.json").is_file())
        .collect();
    dirs.sort();
    dirs
}

/// Reads `dir/case.json`. Python's json writes NaN as a bare `NaN`: it is read as null here, and null as NaN in
/// [`check_outputs`].
pub(crate) fn read_case(dir: &Path) -> Result<Json, String> {
    let text = std::fs::read_to_string(dir.join("case.json"))
        .map_err(|e| format!("{}: {e}", dir.join("case.json").display()))?
        .replace("NaN", "null");
    serde_json::from_str(&text).map_err(|e| e.to_string())
}

/// Runs every method the case recorded on its rows `X` and compares within the case's tolerance
/// (`|got − want| ≤ atol + rtol·|want|`, 1e-9 / 1e-9 by default); returns every mismatch, joined.
pub(crate) fn check_outputs(est: &dyn Estimator, case: &Json) -> Result<(), String> {
    let atol = case["atol"].as_f64().unwrap_or(1e-9);
    let rtol = case["rtol"].as_f64().unwrap_or(1e-9);
    let rows: Vec<Vec<f64>> = serde_json::from_value::<Vec<Vec<Option<f64>>>>(case["X"].clone())
        .map_err(|e| e.to_string())?
        .into_iter()
        .map(|r| r.into_iter().map(|v| v.unwrap_or(f64::NAN)).collect())
        .collect();
    let cols = rows.first().map_or(0, Vec::len);
    let x = Matrix::new(rows.len(), cols, rows.concat()).map_err(|e| e.to_string())?;
    let mut errors = Vec::new();
    let outputs = case["outputs"].as_object().ok_or("no outputs")?;
    for (name, want) in outputs {
        let Some(method) = Method::from_name(name) else {
            continue;
        };
        if !est.supports(method) {
            errors.push(format!("{name}: not supported"));
            continue;
        }
        match est.call(method, &x) {
            Err(e) => errors.push(format!("{name}: {e}")),
            Ok(got) => {
                if let Err(e) = compare(&got, want, atol, rtol) {
                    errors.push(format!("{name}: {e}"));
                }
            }
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors.join("; "))
    }
}

fn close(got: f64, want: f64, atol: f64, rtol: f64) -> bool {
    (got - want).abs() <= atol + rtol * want.abs() || (got.is_nan() && want.is_nan())
}

fn compare(got: &Output, want: &Json, atol: f64, rtol: f64) -> Result<(), String> {
    let want_flat: Vec<&Json> = match want {
        Json::Array(items) => items
            .iter()
            .flat_map(|v| match v {
                Json::Array(inner) => inner.iter().collect::<Vec<_>>(),
                other => vec![other],
            })
            .collect(),
        other => vec![other],
    };
    let got_flat: Vec<Json> = match got {
        Output::Labels(Labels::Int(v)) => v.iter().map(|&x| Json::from(x)).collect(),
        Output::Labels(Labels::Float(v)) | Output::Column(v) => {
            v.iter().map(|&x| Json::from(x)).collect()
        }
        Output::Labels(Labels::Str(v)) => v.iter().map(|x| Json::from(x.as_str())).collect(),
        Output::Matrix(m) => m.data().iter().map(|&x| Json::from(x)).collect(),
    };
    if got_flat.len() != want_flat.len() {
        return Err(format!(
            "got {} values, want {}",
            got_flat.len(),
            want_flat.len()
        ));
    }
    for (i, (g, w)) in got_flat.iter().zip(want_flat).enumerate() {
        let ok = match (g.as_f64(), w.as_f64()) {
            (Some(g), Some(w)) => close(g, w, atol, rtol),
            _ => g == w,
        };
        if !ok {
            return Err(format!("value {i}: got {g}, want {w}"));
        }
    }
    Ok(())
}
