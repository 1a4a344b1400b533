//! The XGBoost and LightGBM scikit-learn wrappers inside pickles (`src/boosters.rs`).
//!
//! Their numbers against the libraries are checked with every other case by `conformance.rs` (the `xgb3-*`,
//! `xgb17-*`, `xgb15-*`, `lgbm4-*` and `lgbm3-*` cases of `fixtures/gen_boosters.py`). Here: what the wrappers expose
//! (classes, methods, feature counts), and state an attacker edits — wrong types, truncated booster bytes, class
//! counts that do not match the booster — refused at load with a message naming what is wrong.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use oxserve_pickle::{ArrayData, Dtype, NdArray, Object, Value};
use oxserve_sklearn::{Labels, Matrix, Method, Output, SklearnError};

fn case_dir(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/cases")
        .join(name)
}

/// The value tree of a case's artifact.
fn tree(name: &str) -> Value {
    let dir = case_dir(name);
    let artifact = ["model.joblib", "model.pkl"]
        .into_iter()
        .map(|a| dir.join(a))
        .find(|p| p.is_file())
        .expect("case artifact");
    oxserve_pickle::load_file(&artifact).unwrap()
}

/// The wrapper object: the tree itself, or the last step of a `Pipeline`.
fn wrapper(root: &mut Value) -> &mut Object {
    let Value::Object(obj) = root else {
        panic!("not an object")
    };
    if obj.class_name() != "Pipeline" {
        return obj;
    }
    let Value::Dict(items) = &mut obj.state else {
        panic!("Pipeline state")
    };
    let steps = items
        .iter_mut()
        .find(|(k, _)| k.as_str() == Some("steps"))
        .map(|(_, v)| v)
        .unwrap();
    let Value::List(steps) = steps else {
        panic!("steps")
    };
    let Some(Value::Tuple(pair)) = steps.last_mut() else {
        panic!("last step")
    };
    let Value::Object(last) = &mut pair[1] else {
        panic!("estimator")
    };
    last
}

/// The state entry `key` of `obj`, mutable (inserted as `None` when absent).
fn entry<'a>(obj: &'a mut Object, key: &str) -> &'a mut Value {
    let Value::Dict(items) = &mut obj.state else {
        panic!("state")
    };
    if !items.iter().any(|(k, _)| k.as_str() == Some(key)) {
        items.push((Value::Str(key.to_string()), Value::None));
    }
    items
        .iter_mut()
        .find(|(k, _)| k.as_str() == Some(key))
        .map(|(_, v)| v)
        .unwrap()
}

/// The booster's state entry `key`.
fn booster_entry<'a>(obj: &'a mut Object, key: &str) -> &'a mut Value {
    let Value::Object(b) = entry(obj, "_Booster") else {
        panic!("_Booster")
    };
    entry(b, key)
}

/// Builds the mutated tree and returns the refusal's message.
fn refused(root: &Value) -> String {
    match oxserve_sklearn::build(root) {
        Ok(est) => panic!("accepted a hostile {}", est.class_name()),
        Err(e) => e.to_string(),
    }
}

fn assert_refused(name: &str, edit: impl FnOnce(&mut Object), want: &str) {
    let mut root = tree(name);
    edit(wrapper(&mut root));
    let msg = refused(&root);
    assert!(msg.contains(want), "{name}: {msg:?} does not say {want:?}");
}

fn rows(n: usize, cols: usize) -> Matrix {
    Matrix::new(
        n,
        cols,
        (0..n * cols).map(|i| (i % 7) as f64 * 0.5).collect(),
    )
    .unwrap()
}

#[test]
fn wrappers_expose_their_classes_methods_and_features() {
    let est = oxserve_sklearn::load_file(&case_dir("xgb3-clf-iris").join("model.joblib")).unwrap();
    assert_eq!(est.class_name(), "XGBClassifier");
    assert_eq!(est.n_features_in(), Some(4));
    assert_eq!(est.classes(), Some(&Labels::Int(vec![0, 1, 2])));
    assert!(est.supports(Method::Predict) && est.supports(Method::PredictProba));
    assert!(!est.supports(Method::DecisionFunction));
    let Output::Matrix(p) = est.call(Method::PredictProba, &rows(3, 4)).unwrap() else {
        panic!("predict_proba is a matrix")
    };
    assert_eq!((p.rows(), p.cols()), (3, 3));
    for r in p.iter_rows() {
        assert!((r.iter().sum::<f64>() - 1.0).abs() < 1e-6);
    }
    let e = est.call(Method::Predict, &rows(2, 5)).unwrap_err();
    assert_eq!(
        e.to_string(),
        "X has 5 features, but XGBClassifier is expecting 4 features as input"
    );

    let est =
        oxserve_sklearn::load_file(&case_dir("lgbm3-clf-iris-strlabels").join("model.joblib"))
            .unwrap();
    assert_eq!(
        est.classes(),
        Some(&Labels::Str(vec![
            "setosa".into(),
            "versicolor".into(),
            "virginica".into()
        ]))
    );

    // XGBoost ≤ 1.5 encodes labels itself (`_le`): its `classes_` are the labels it was fitted on.
    let est =
        oxserve_sklearn::load_file(&case_dir("xgb15-clf-iris-strlabels").join("model.joblib"))
            .unwrap();
    assert!(matches!(est.classes(), Some(Labels::Str(v)) if v[2] == "virginica"));

    for (case, class) in [
        ("xgb17-reg-diabetes-earlystop", "XGBRegressor"),
        ("lgbm4-reg-diabetes-earlystop", "LGBMRegressor"),
        ("xgb3-rf-reg-diabetes", "XGBRFRegressor"),
    ] {
        let est = oxserve_sklearn::load_file(&case_dir(case).join("model.joblib")).unwrap();
        assert_eq!(est.class_name(), class);
        assert!(!est.supports(Method::PredictProba), "{case}");
        assert!(matches!(
            est.call(Method::PredictProba, &rows(1, 10)),
            Err(SklearnError::NoMethod { .. })
        ));
        assert!(matches!(
            est.call(Method::Predict, &rows(4, 10)).unwrap(),
            Output::Column(v) if v.len() == 4
        ));
    }
}

#[test]
fn xgboost_state_of_the_wrong_type_is_refused() {
    for case in ["xgb3-clf-iris", "xgb17-clf-iris"] {
        assert_refused(
            case,
            |w| *entry(w, "_Booster") = Value::Str("booster".into()),
            "`_Booster` is a str, expected a xgboost.core.Booster",
        );
        assert_refused(
            case,
            |w| *entry(w, "_Booster") = Value::None,
            "no `_Booster`: the estimator was pickled before `fit`",
        );
        assert_refused(
            case,
            |w| *booster_entry(w, "handle") = Value::Str("{}".into()),
            "the booster's `handle` is a str, expected the model's bytes",
        );
        assert_refused(
            case,
            |w| *entry(w, "n_classes_") = Value::Str("3".into()),
            "attribute `n_classes_` is not an integer",
        );
        assert_refused(
            case,
            |w| *entry(w, "missing") = Value::Str("NaN".into()),
            "`missing` is a str, not a number",
        );
        assert_refused(
            case,
            |w| *booster_entry(w, "best_iteration") = Value::Str("2".into()),
            "the booster's `best_iteration` is a str, not a round",
        );
    }
}

#[test]
fn truncated_or_corrupt_booster_bytes_are_refused() {
    for case in ["xgb3-clf-iris", "xgb17-clf-iris"] {
        for keep in [0usize, 1, 9, 100, 1000] {
            assert_refused(
                case,
                |w| {
                    let Value::Bytes(b) = booster_entry(w, "handle") else {
                        panic!("handle")
                    };
                    b.truncate(keep);
                },
                "cannot build `XGBClassifier`: the pickled booster: invalid XGBoost model",
            );
        }
        // The whole document but its last byte.
        assert_refused(
            case,
            |w| {
                let Value::Bytes(b) = booster_entry(w, "handle") else {
                    panic!("handle")
                };
                b.pop();
            },
            "the pickled booster: invalid XGBoost model",
        );
    }
    // XGBoost 1.0–1.5's framing (`CONFIG-offset:`, an offset, the legacy binary model) with an offset past the end.
    let mut framed = b"CONFIG-offset:".to_vec();
    framed.extend_from_slice(&1_000_000i64.to_le_bytes());
    framed.extend_from_slice(b"binf");
    assert_refused(
        "xgb3-clf-iris",
        |w| *booster_entry(w, "handle") = Value::Bytes(framed),
        "the config offset 1000000 is outside the 4 bytes that follow",
    );
    for case in ["lgbm4-clf-iris-strlabels", "lgbm3-clf-iris-strlabels"] {
        let key = if case.starts_with("lgbm4") {
            "_handle"
        } else {
            "handle"
        };
        assert_refused(
            case,
            |w| {
                let Value::Str(s) = booster_entry(w, key) else {
                    panic!("model text")
                };
                let cut = s.len() / 2;
                s.truncate(cut);
            },
            "cannot build `LGBMClassifier`: the pickled booster: invalid LightGBM model",
        );
        assert_refused(
            case,
            |w| *booster_entry(w, key) = Value::Bytes(vec![1, 2, 3]),
            "the booster's model is a bytes, expected the model text",
        );
        assert_refused(
            case,
            |w| *booster_entry(w, "best_iteration") = Value::Float(1.5),
            "the booster's `best_iteration` is a float, not an integer",
        );
    }
}

#[test]
fn class_counts_that_do_not_match_the_booster_are_refused() {
    // A 3-class booster under a wrapper that claims 2 or 5 classes.
    assert_refused(
        "xgb3-clf-iris",
        |w| *entry(w, "n_classes_") = Value::Int(2),
        "2 classes need a booster with 1 output(s), the pickled booster has 3",
    );
    assert_refused(
        "xgb3-clf-iris",
        |w| *entry(w, "n_classes_") = Value::Int(5),
        "5 classes need a booster with 5 output(s), the pickled booster has 3",
    );
    assert_refused(
        "xgb3-clf-iris",
        |w| *entry(w, "n_classes_") = Value::Int(1),
        "`n_classes_` is 1, expected at least 2",
    );
    // XGBoost 1.7 pickles `classes_` too: it must agree with `n_classes_`.
    assert_refused(
        "xgb17-clf-iris",
        |w| {
            *entry(w, "classes_") = Value::Array(NdArray {
                dtype: Dtype::Int(8),
                shape: vec![2],
                data: ArrayData::Int(vec![0, 1]),
            })
        },
        "2 classes in `classes_` but the class count is 3",
    );
    // A binary booster under a wrapper with three classes.
    assert_refused(
        "xgb3-pipeline-clf-cancer",
        |w| *entry(w, "n_classes_") = Value::Int(3),
        "3 classes need a booster with 3 output(s), the pickled booster has 1",
    );
    assert_refused(
        "lgbm4-clf-iris-strlabels",
        |w| *entry(w, "_n_classes") = Value::Int(2),
        "3 classes in `classes_` but the class count is 2",
    );
    assert_refused(
        "lgbm3-clf-iris-strlabels",
        |w| {
            *entry(w, "_classes") = Value::Array(NdArray {
                dtype: Dtype::Int(8),
                shape: vec![2],
                data: ArrayData::Int(vec![4, 9]),
            });
            *entry(w, "_n_classes") = Value::Int(2);
        },
        "2 classes need a booster with 1 output(s), the pickled booster has 3",
    );
    assert_refused(
        "lgbm4-pipeline-clf-cancer",
        |w| *entry(w, "_n_features") = Value::Int(29),
        "`_n_features` is 29 but the booster reads 30 features",
    );
}

#[test]
fn best_iteration_beyond_the_booster_is_refused() {
    assert_refused(
        "xgb17-reg-diabetes-earlystop",
        |w| *booster_entry(w, "best_iteration") = Value::Int(10_000),
        "best_iteration 10000 is beyond the booster's",
    );
}

#[test]
fn only_the_libraries_own_modules_are_wrappers() {
    let mut root = tree("xgb3-clf-iris");
    wrapper(&mut root).class.module = "sklearn.ensemble".into();
    let msg = refused(&root);
    assert!(
        msg.starts_with("unsupported estimator `sklearn.ensemble.XGBClassifier`"),
        "{msg}"
    );
}
