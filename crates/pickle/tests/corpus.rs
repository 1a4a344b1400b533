//! Every `model.joblib` / `model.pkl` in the shared conformance corpus loads, with spot checks on a few.
//! Skipped (with a message) when `../shared/conformance/public` is absent, as on a fresh clone.

use std::path::{Path, PathBuf};

use oxserve_pickle::{ArrayData, Dtype, Value};

fn corpus_dir() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/conformance/public");
    if dir.is_dir() {
        Some(dir)
    } else {
        println!("skipped: {} not found", dir.display());
        None
    }
}

fn model_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(cases) = std::fs::read_dir(dir) else {
        return out;
    };
    for case in cases.flatten() {
        for name in ["model.joblib", "model.pkl"] {
            let p = case.path().join(name);
            if p.is_file() {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

fn load(dir: &Path, case: &str) -> Value {
    let joblib = dir.join(case).join("model.joblib");
    let path = if joblib.exists() {
        joblib
    } else {
        dir.join(case).join("model.pkl")
    };
    match oxserve_pickle::load_file(&path) {
        Ok(v) => v,
        Err(e) => panic!("{}: {e}", path.display()),
    }
}

#[test]
fn every_corpus_model_loads() {
    let Some(dir) = corpus_dir() else { return };
    let files = model_files(&dir);
    assert!(!files.is_empty(), "no model files in {}", dir.display());
    let mut failures = Vec::new();
    for path in &files {
        match oxserve_pickle::load_file(path) {
            Ok(Value::Object(o)) => println!("ok {} -> {}", path.display(), o.class.dotted()),
            Ok(other) => {
                failures.push(format!("{}: top value is {}", path.display(), other.kind()))
            }
            Err(e) => failures.push(format!("{}: {e}", path.display())),
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} failed:\n{}",
        failures.len(),
        files.len(),
        failures.join("\n")
    );
}

#[test]
fn seldon_iris_is_one_vs_rest_of_logistic_regressions() {
    let Some(dir) = corpus_dir() else { return };
    let model = load(&dir, "seldon-iris");
    let top = model.as_object().expect("top object");
    assert_eq!(top.class.dotted(), "sklearn.multiclass.OneVsRestClassifier");
    let estimators = top
        .get("estimators_")
        .and_then(Value::as_seq)
        .expect("estimators_");
    assert_eq!(estimators.len(), 3);
    for e in estimators {
        let lr = e.as_object().expect("estimator object");
        assert_eq!(lr.class_name(), "LogisticRegression");
        let coef = lr
            .get("coef_")
            .and_then(Value::as_array)
            .expect("coef_ array");
        assert_eq!(coef.shape, vec![1, 4]);
        assert_eq!(coef.dtype, Dtype::Float(8));
        assert_eq!(coef.to_f64().map(|v| v.len()), Ok(4));
    }
    let classes = top
        .get("classes_")
        .and_then(Value::as_array)
        .expect("classes_");
    assert_eq!(classes.len(), 3);
}

#[test]
fn tree_nodes_are_a_record_array() {
    let Some(dir) = corpus_dir() else { return };
    let model = load(&dir, "tree-clf-iris");
    let top = model.as_object().expect("top object");
    assert_eq!(
        top.class.dotted(),
        "sklearn.tree._classes.DecisionTreeClassifier"
    );
    let tree = top.get("tree_").and_then(Value::as_object).expect("tree_");
    assert_eq!(tree.class.dotted(), "sklearn.tree._tree.Tree");
    assert_eq!(tree.args.len(), 3, "Tree(n_features, n_classes, n_outputs)");
    assert_eq!(tree.args.first().and_then(Value::as_i64), Some(4));
    let node_count = tree
        .get("node_count")
        .and_then(Value::as_i64)
        .expect("node_count");
    let nodes = tree.get("nodes").and_then(Value::as_array).expect("nodes");
    assert!(matches!(nodes.dtype, Dtype::Record { .. }));
    assert_eq!(nodes.len() as i64, node_count);
    let threshold = nodes.field_f64("threshold").expect("threshold");
    let left = nodes.field_i64("left_child").expect("left_child");
    assert_eq!(threshold.len() as i64, node_count);
    // The root splits on a real threshold; leaves have left_child == -1 and threshold == -2.
    assert!(left.first().is_some_and(|&l| l > 0));
    assert!(
        left.iter()
            .zip(&threshold)
            .all(|(&l, &t)| (l == -1) == (t == -2.0))
    );
    let values = tree
        .get("values")
        .and_then(Value::as_array)
        .expect("values");
    assert_eq!(values.shape.first().copied(), Some(node_count as usize));
    let classes = top
        .get("classes_")
        .and_then(Value::as_array)
        .expect("classes_");
    assert!(matches!(
        classes.data,
        ArrayData::Int(_) | ArrayData::Str(_)
    ));
}

#[test]
fn compressed_and_pickle_containers_load() {
    let Some(dir) = corpus_dir() else { return };
    for case in ["container-zlib3-wine", "container-pickle-p4-iris"] {
        let model = load(&dir, case);
        assert!(model.as_object().is_some(), "{case}: {}", model.kind());
    }
}
