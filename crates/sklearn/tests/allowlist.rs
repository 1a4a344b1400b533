//! The pickle allowlist (issue #16, item 3) against real files: every model file in the repo's fixtures but the
//! malicious set (the generated cases, the hostile attribute edits, the version matrix and the synthetic 0.2x files when present, the
//! shared corpus when present) names only admitted globals, and a list of dangerous globals is refused naming the
//! global, through both `GLOBAL` and `STACK_GLOBAL`.

use std::path::{Path, PathBuf};

use oxserve_pickle::PickleError;

/// Every `model.joblib` / `model.pkl` / `*.joblib` / `*.pkl` under `root`.
fn model_files(root: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(root) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            // `malicious/` holds the files that must be refused (`tests/malicious.rs`).
            if !path.file_name().is_some_and(|n| {
                let n = n.to_string_lossy();
                n.starts_with('.') || n == "malicious"
            }) {
                model_files(&path, out);
            }
        } else if path.extension().is_some_and(|e| {
            matches!(
                e.to_str(),
                Some("joblib" | "pkl" | "pickle" | "z" | "gz" | "bz2" | "xz" | "lzma")
            )
        }) {
            out.push(path);
        }
    }
}

#[test]
fn every_global_in_the_fixtures_is_admitted() {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut roots = vec![manifest.join("fixtures")];
    // The shared corpus beside the repository (or at `$OXSERVE_SHARED`), when present.
    let shared = std::env::var_os("OXSERVE_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| manifest.join("../../../shared"));
    roots.push(shared.join("conformance/public"));
    let mut files = Vec::new();
    for root in &roots {
        model_files(root, &mut files);
    }
    assert!(files.len() > 100, "only {} model files found", files.len());
    let mut forbidden = Vec::new();
    for file in &files {
        if let Err(PickleError::ForbiddenGlobal { global, .. }) = oxserve_pickle::load_file(file) {
            forbidden.push(format!("{}: {global}", file.display()));
        }
    }
    assert!(
        forbidden.is_empty(),
        "{} of {} files name a refused global:\n{}",
        forbidden.len(),
        files.len(),
        forbidden.join("\n")
    );
}

/// Globals a malicious pickle would name: code execution, file and network access, attribute walks through
/// admitted modules, scikit-learn's own helpers that run code, and near-misses of admitted names.
const DANGEROUS: &[(&str, &str)] = &[
    ("os", "system"),
    ("posix", "system"),
    ("nt", "system"),
    ("os", "popen"),
    ("subprocess", "Popen"),
    ("subprocess", "check_output"),
    ("builtins", "eval"),
    ("builtins", "exec"),
    ("builtins", "compile"),
    ("builtins", "getattr"),
    ("builtins", "__import__"),
    ("builtins", "open"),
    ("__builtin__", "eval"),
    ("__builtin__", "apply"),
    ("runpy", "_run_code"),
    ("runpy", "run_path"),
    ("pty", "spawn"),
    ("shutil", "rmtree"),
    ("socket", "create_connection"),
    ("webbrowser", "open"),
    ("pickle", "loads"),
    ("_pickle", "loads"),
    ("marshal", "loads"),
    ("types", "FunctionType"),
    ("types", "CodeType"),
    ("operator", "attrgetter"),
    ("operator", "methodcaller"),
    ("functools", "reduce"),
    ("importlib", "import_module"),
    ("ctypes", "CDLL"),
    ("code", "interact"),
    ("numpy", "load"),
    ("numpy", "loadtxt"),
    ("numpy.testing._private.utils", "runstring"),
    ("numpy.f2py", "compile"),
    ("numpy.lib.npyio", "load"),
    ("joblib", "load"),
    ("joblib.numpy_pickle", "load"),
    ("sklearn.externals.joblib", "load"),
    ("sklearn.externals.joblib.numpy_pickle", "load"),
    ("sklearn", "os.system"),
    ("sklearn", "__builtins__.eval"),
    ("sklearn.utils", "os.system"),
    ("sklearn.svm._classes", "SVC.__reduce__"),
    ("sklearn.utils._testing", "assert_run_python_script"),
    (
        "sklearn.utils._testing",
        "assert_run_python_script_without_output",
    ),
    ("sklearn.utils.fixes", "parse_version"),
    ("sklearn.datasets", "fetch_openml"),
    ("sklearn.utils._show_versions", "show_versions"),
    ("sklearn.base", "BaseEstimator"),
    ("sklearn.tree._tree", "SVC"),
    ("sklearn.svm", "SVC"),
    ("_loss", "system"),
    ("_loss", "CyHalfBinomialLoss.__reduce__"),
    ("xgboost.core", "_LIB"),
    ("lightgbm.basic", "_LIB"),
];

/// `GLOBAL module name`, then `STOP` (protocol 0 framing).
fn global_pickle(module: &str, name: &str) -> Vec<u8> {
    format!("c{module}\n{name}\n.").into_bytes()
}

/// `PROTO 4`, two `SHORT_BINUNICODE`s, `STACK_GLOBAL`, `STOP`.
fn stack_global_pickle(module: &str, name: &str) -> Vec<u8> {
    let mut out = b"\x80\x04".to_vec();
    for s in [module, name] {
        out.push(0x8c);
        out.push(u8::try_from(s.len()).expect("short name"));
        out.extend_from_slice(s.as_bytes());
    }
    out.extend_from_slice(b"\x93.");
    out
}

#[test]
fn dangerous_globals_are_refused_naming_them() {
    for &(module, name) in DANGEROUS {
        assert!(
            !oxserve_pickle::is_allowed_global(module, name),
            "{module}.{name}"
        );
        for bytes in [
            global_pickle(module, name),
            stack_global_pickle(module, name),
        ] {
            match oxserve_pickle::loads(&bytes) {
                Err(PickleError::ForbiddenGlobal { global, .. }) => {
                    assert_eq!(global, format!("{module}.{name}"))
                }
                other => panic!("{module}.{name}: {other:?}"),
            }
        }
    }
}

#[test]
fn every_class_the_crate_builds_is_admitted_somewhere() {
    // The estimators `oxserve-sklearn` builds that are scikit-learn's own (the boosters' wrappers have their own
    // list): each must be on the allowlist under at least one of the module paths below.
    let modules = [
        "sklearn.linear_model._base",
        "sklearn.linear_model._bayes",
        "sklearn.linear_model._coordinate_descent",
        "sklearn.linear_model._huber",
        "sklearn.linear_model._least_angle",
        "sklearn.linear_model._logistic",
        "sklearn.linear_model._omp",
        "sklearn.linear_model._passive_aggressive",
        "sklearn.linear_model._perceptron",
        "sklearn.linear_model._ridge",
        "sklearn.linear_model._stochastic_gradient",
        "sklearn.linear_model._glm.glm",
        "sklearn.linear_model._quantile",
        "sklearn.linear_model._theil_sen",
        "sklearn.svm._classes",
        "sklearn.naive_bayes",
        "sklearn.discriminant_analysis",
        "sklearn.neighbors._classification",
        "sklearn.neighbors._regression",
        "sklearn.neighbors._nearest_centroid",
        "sklearn.neural_network._multilayer_perceptron",
        "sklearn.preprocessing._data",
        "sklearn.preprocessing._polynomial",
        "sklearn.preprocessing._encoders",
        "sklearn.preprocessing._label",
        "sklearn.preprocessing._target_encoder",
        "sklearn.preprocessing._discretization",
        "sklearn.preprocessing._function_transformer",
        "sklearn.impute._base",
        "sklearn.decomposition._pca",
        "sklearn.decomposition._incremental_pca",
        "sklearn.decomposition._truncated_svd",
        "sklearn.pipeline",
        "sklearn.compose._column_transformer",
        "sklearn.feature_extraction.text",
        "sklearn.feature_extraction._dict_vectorizer",
        "sklearn.multiclass",
        "sklearn.calibration",
        "sklearn.ensemble._voting",
        "sklearn.ensemble._stacking",
        "sklearn.ensemble._forest",
        "sklearn.ensemble._gb",
        "sklearn.ensemble._weight_boosting",
        "sklearn.ensemble._iforest",
        "sklearn.ensemble._hist_gradient_boosting.gradient_boosting",
        "sklearn.tree._classes",
        "sklearn.cluster._kmeans",
    ];
    let missing: Vec<&str> = oxserve_sklearn::supported_classes()
        .into_iter()
        .filter(|c| !c.starts_with("XGB") && !c.starts_with("LGBM"))
        .filter(|c| {
            !modules
                .iter()
                .any(|m| oxserve_pickle::is_allowed_global(m, c))
        })
        .collect();
    assert!(missing.is_empty(), "not on the allowlist: {missing:?}");
}
