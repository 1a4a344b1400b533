//! Every fixture case through the library API: load the artifact, run each method scikit-learn ran, compare within
//! the case's tolerance. Covers the repo's own generated cases (`fixtures/cases/`, always) and the shared corpus
//! (`../shared/conformance/public/`, when present).

use std::path::Path;

use serde_json::Value as Json;

mod support;

/// Checks one case; returns a description of every mismatch.
fn check_case(dir: &Path) -> Result<(), String> {
    let case = support::read_case(dir)?;
    let artifact = case["artifact"].as_str().unwrap_or("model.joblib");
    let est = oxserve_sklearn::load_file(&dir.join(artifact)).map_err(|e| format!("load: {e}"))?;
    support::check_outputs(est.as_ref(), &case)
}

fn run_suite(root: &Path, skip: &[&str]) -> (usize, Vec<String>) {
    let mut failures = Vec::new();
    let mut checked = 0;
    for dir in support::case_dirs(root) {
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
