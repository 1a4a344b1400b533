//! The scikit-learn version matrix (issue #16, item 1): the same small models (67, over every family the README
//! lists) saved by every scikit-learn release that installs on Python 3.11 (1.1.3 through 1.9.1, numpy 1.x up to
//! 1.4 and 2.x after), each as joblib default, joblib `compress=3`, and plain pickle protocols 2 and 4, with that
//! release's own outputs (`fixtures/versions/gen_versions.sh`). Every file is loaded and every recorded method
//! compared within the case's tolerance; every failure is listed with its release, model, container, family and
//! message.

use std::path::{Path, PathBuf};

mod support;

/// The releases the matrix must hold (the latest patch of each minor release).
const RELEASES: &[&str] = &[
    "1.1.3", "1.2.2", "1.3.2", "1.4.2", "1.5.2", "1.6.1", "1.7.2", "1.8.0", "1.9.1",
];

/// The four containers each model is saved in.
const ARTIFACTS: &[&str] = &[
    "model.joblib",
    "model.z3.joblib",
    "model.p2.pkl",
    "model.p4.pkl",
];

fn matrix_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/versions")
}

/// One checked file's failure.
struct Failure {
    release: String,
    model: String,
    artifact: String,
    family: String,
    message: String,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}/{}/{} [{}]: {}",
            self.release, self.model, self.artifact, self.family, self.message
        )
    }
}

/// Loads and checks every file of the matrix; returns how many were checked and every failure. Panics when a
/// release, a model in one release but not another, or a container is missing (the matrix must stay whole).
fn run_matrix() -> (usize, Vec<Failure>) {
    let root = matrix_root();
    let mut models: Option<Vec<String>> = None;
    let mut checked = 0;
    let mut failures = Vec::new();
    for release in RELEASES {
        let dirs = support::case_dirs(&root.join(release));
        let names: Vec<String> = dirs
            .iter()
            .filter_map(|d| d.file_name().map(|n| n.to_string_lossy().into_owned()))
            .collect();
        assert!(
            !names.is_empty(),
            "no models under {}/{release}",
            root.display()
        );
        match &models {
            None => models = Some(names.clone()),
            Some(first) => assert_eq!(
                first, &names,
                "release {release} holds a different set of models than {}",
                RELEASES[0]
            ),
        }
        for dir in dirs {
            let model = dir
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let case = support::read_case(&dir).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(
                case["versions"]["scikit-learn"].as_str(),
                Some(*release),
                "{}",
                dir.display()
            );
            let family = case["family"].as_str().unwrap_or("?").to_string();
            for artifact in ARTIFACTS {
                let path = dir.join(artifact);
                assert!(path.is_file(), "{} is missing", path.display());
                checked += 1;
                let result = oxserve_sklearn::load_file(&path)
                    .map_err(|e| format!("load: {e}"))
                    .and_then(|est| support::check_outputs(est.as_ref(), &case));
                if let Err(mut message) = result {
                    // The "supported: …" list of an unsupported-estimator error is long and the same every time.
                    if let Some(at) = message.find("; supported: ") {
                        message.truncate(at);
                    }
                    failures.push(Failure {
                        release: (*release).to_string(),
                        model: model.clone(),
                        artifact: (*artifact).to_string(),
                        family: family.clone(),
                        message,
                    });
                }
            }
        }
    }
    (checked, failures)
}

#[test]
fn version_matrix_matches_each_release() {
    let (checked, failures) = run_matrix();
    assert!(
        failures.is_empty(),
        "{} of {checked} files failed:\n{}",
        failures.len(),
        failures
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("\n")
    );
}
