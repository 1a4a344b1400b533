//! Every fixture case through the library API: load the artifact, run each method scikit-learn ran, compare within
//! the case's tolerance. Covers the repo's own generated cases (`fixtures/cases/`, always) and the shared corpus
//! (`../shared/conformance/public/`, when present).

use std::path::{Path, PathBuf};

use oxserve_sklearn::{Labels, Matrix, Method, Output};
use serde_json::Value as Json;

fn case_dirs(root: &Path) -> Vec<PathBuf> {
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

/// Checks one case; returns a description of every mismatch.
fn check_case(dir: &Path) -> Result<(), String> {
    // Python's json writes NaN as a bare `NaN`: read it as null, and null as NaN below.
    let text = std::fs::read_to_string(dir.join("case.json"))
        .map_err(|e| e.to_string())?
        .replace("NaN", "null");
    let case: Json = serde_json::from_str(&text).map_err(|e| e.to_string())?;
    let artifact = case["artifact"].as_str().unwrap_or("model.joblib");
    let est = oxserve_sklearn::load_file(&dir.join(artifact)).map_err(|e| format!("load: {e}"))?;
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

fn run_suite(root: &Path, skip: &[&str]) -> (usize, Vec<String>) {
    let mut failures = Vec::new();
    let mut checked = 0;
    for dir in case_dirs(root) {
        let text = std::fs::read_to_string(dir.join("case.json"))
            .unwrap_or_default()
            .replace("NaN", "null");
        let case: Json = serde_json::from_str(&text).unwrap_or(Json::Null);
        let artifact = case["artifact"].as_str().unwrap_or("");
        if !(artifact.ends_with(".joblib")
            || artifact.ends_with(".pkl")
            || artifact.ends_with(".pickle"))
        {
            continue;
        }
        let name = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if skip.contains(&name.as_str()) {
            continue;
        }
        checked += 1;
        if let Err(e) = check_case(&dir) {
            failures.push(format!("{name}: {e}"));
        }
    }
    (checked, failures)
}

#[test]
fn generated_fixtures_match_scikit_learn() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/cases");
    let (checked, failures) = run_suite(&root, &[]);
    assert!(checked > 0, "no fixture cases under {}", root.display());
    assert!(
        failures.is_empty(),
        "{} of {checked} cases failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn shared_conformance_corpus_matches_scikit_learn() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/conformance/public");
    if !root.is_dir() {
        eprintln!("SKIPPED: {} not present", root.display());
        return;
    }
    let (checked, failures) = run_suite(&root, &[]);
    assert!(checked > 0);
    assert!(
        failures.is_empty(),
        "{} of {checked} cases failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
