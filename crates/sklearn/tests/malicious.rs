//! The malicious set (issue #16, item 6): `fixtures/malicious/`, written by `fixtures/gen_malicious.py` in the style
//! of picklescan's and fickling's test generators. Under CPython each file runs code that would create
//! `/tmp/oxserve-malicious-<name>`; here every one must be refused at load, naming the global the manifest says,
//! and no marker may appear.

use std::path::Path;

use oxserve_pickle::PickleError;

fn markers() -> Vec<String> {
    std::fs::read_dir("/tmp")
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with("oxserve-malicious-"))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn every_malicious_file_is_refused_naming_its_global() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/malicious");
    let manifest: serde_json::Map<String, serde_json::Value> = serde_json::from_str(
        &std::fs::read_to_string(dir.join("manifest.json")).expect("manifest.json"),
    )
    .expect("manifest");
    assert!(manifest.len() >= 80, "only {} files", manifest.len());
    let before = markers();
    let mut wrong = Vec::new();
    for (file, want) in &manifest {
        let path = dir.join(file);
        // The global as the file writes it (Python 2 names for protocols 0–2, as the generator records them).
        let want = want.as_str().expect("global");
        match oxserve_pickle::load_file(&path) {
            Err(PickleError::ForbiddenGlobal { global, .. }) if global == want => {}
            other => wrong.push(format!("{file}: {other:?}, want forbidden global {want}")),
        }
        if let Ok(est) = oxserve_sklearn::load_file(&path) {
            wrong.push(format!("{file}: built a {}", est.class_name()));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    assert_eq!(markers(), before, "a marker file appeared");
}
