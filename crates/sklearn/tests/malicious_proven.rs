//! The malicious-pickle suite (issue #16, item 6): `fixtures/hostile/malicious/`, made by
//! `fixtures/gen_hostile.py malicious` (see `fixtures/malicious.py`). Every file there creates a marker file under
//! `/tmp` when CPython loads it — the generator ran each one under CPython and checked — and each must be refused
//! by `oxserve_pickle::loads` and by `oxserve_sklearn::load_file` with an error naming the global the manifest
//! gives, with no marker appearing.

use std::path::{Path, PathBuf};

use oxserve_pickle::PickleError;
use serde_json::Value as Json;

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/hostile/malicious")
}

/// Files whose name starts with the marker's (a payload may add a suffix, as `numpy.save` adds `.npy`).
fn markers(marker: &str) -> Vec<PathBuf> {
    let marker = Path::new(marker);
    let (Some(parent), Some(stem)) = (marker.parent(), marker.file_name()) else {
        return Vec::new();
    };
    let stem = stem.to_string_lossy();
    std::fs::read_dir(parent)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter(|e| e.file_name().to_string_lossy().starts_with(stem.as_ref()))
                .map(|e| e.path())
                .collect()
        })
        .unwrap_or_default()
}

fn remove(path: &Path) {
    let _ = if path.is_dir() && !path.is_symlink() {
        std::fs::remove_dir_all(path)
    } else {
        std::fs::remove_file(path)
    };
}

/// Checks one payload; `Err` says how it was not refused as it should be.
fn check(entry: &Json) -> Result<(), String> {
    let file = entry["file"].as_str().ok_or("no file")?;
    let global = entry["global"].as_str().ok_or("no global")?;
    let marker = entry["marker"].as_str().ok_or("no marker")?;
    // A marker left by an interrupted generator run is not this test's doing.
    markers(marker).iter().for_each(|p| remove(p));
    let path = dir().join(file);
    let bytes = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let want = format!("forbidden global {global} ");
    let mut problems = Vec::new();
    match oxserve_pickle::loads(&bytes) {
        Ok(v) => problems.push(format!(
            "oxserve_pickle::loads accepted it (a {})",
            v.kind()
        )),
        Err(e @ PickleError::ForbiddenGlobal { .. }) if e.to_string().contains(&want) => {}
        Err(e) => problems.push(format!("oxserve_pickle::loads: {e}")),
    }
    match oxserve_sklearn::load_file(&path) {
        Ok(_) => problems.push("oxserve_sklearn::load_file accepted it".into()),
        Err(e) if e.to_string().contains(&want) => {}
        Err(e) => {
            let mut e = e.to_string();
            // The "supported: …" list of an unsupported-estimator error is long and the same every time.
            if let Some(at) = e.find("; supported: ") {
                e.truncate(at);
            }
            problems.push(format!("oxserve_sklearn::load_file: {e}"));
        }
    }
    let left = markers(marker);
    if !left.is_empty() {
        problems.push(format!("marker appeared: {left:?}"));
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "{file} (must name {global}): {}",
            problems.join("; ")
        ))
    }
}

/// Runs the whole suite; returns how many files were checked and `(file, problem)` for each failure.
fn run_suite() -> (usize, Vec<(String, String)>) {
    let text = std::fs::read_to_string(dir().join("manifest.json")).expect("manifest.json");
    let manifest: Vec<Json> = serde_json::from_str(&text).expect("manifest.json is a list");
    let failures = manifest
        .iter()
        .filter_map(|entry| {
            check(entry).err().map(|problem| {
                let file = entry["file"].as_str().unwrap_or("?").to_string();
                (file, problem)
            })
        })
        .collect();
    (manifest.len(), failures)
}

#[test]
fn malicious_pickles_are_refused_naming_the_global() {
    let (checked, failures) = run_suite();
    assert!(checked >= 100, "only {checked} payloads in the manifest");
    assert!(
        failures.is_empty(),
        "{} of {checked} payloads were not refused as they should be:\n{}",
        failures.len(),
        failures
            .iter()
            .map(|(_, p)| p.as_str())
            .collect::<Vec<_>>()
            .join("\n")
    );
}
