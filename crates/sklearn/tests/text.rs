//! Text pipelines (issue #15) through the library API: every case of `fixtures/text/` (written by
//! `fixtures/gen_text.py` with the pinned scikit-learn) loads, vectorizes its documents to scikit-learn's sparse
//! matrix, and answers every method scikit-learn answered on the raw strings.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use oxserve_sklearn::{Estimator, Labels, Matrix, Method, Output};
use serde_json::Value as Json;

fn case_dirs() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/text");
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("case.json").is_file())
        .collect();
    dirs.sort();
    dirs
}

fn close(got: f64, want: f64, atol: f64, rtol: f64) -> bool {
    (got - want).abs() <= atol + rtol * want.abs()
}

fn check_values(what: &str, got: &[f64], want: &[f64], atol: f64, rtol: f64) -> Result<(), String> {
    if got.len() != want.len() {
        return Err(format!("{what}: {} values, want {}", got.len(), want.len()));
    }
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        if !close(*g, *w, atol, rtol) {
            return Err(format!("{what}[{i}]: got {g}, want {w}"));
        }
    }
    Ok(())
}

fn floats(v: &Json) -> Vec<f64> {
    match v {
        Json::Array(items) => items.iter().flat_map(floats).collect(),
        Json::Number(n) => vec![n.as_f64().unwrap()],
        other => panic!("not a number: {other}"),
    }
}

fn dense_of_csr(t: &Json) -> Matrix {
    let rows = t["rows"].as_u64().unwrap() as usize;
    let cols = t["cols"].as_u64().unwrap() as usize;
    let indptr: Vec<usize> = t["indptr"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap() as usize)
        .collect();
    let indices: Vec<usize> = t["indices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap() as usize)
        .collect();
    let data = floats(&t["data"]);
    let mut m = Matrix::zeros(rows, cols);
    for i in 0..rows {
        for k in indptr[i]..indptr[i + 1] {
            m.row_mut(i)[indices[k]] = data[k];
        }
    }
    m
}

fn check_case(dir: &Path) -> Result<(), String> {
    let case: Json =
        serde_json::from_str(&std::fs::read_to_string(dir.join("case.json")).unwrap()).unwrap();
    let (atol, rtol) = (
        case["atol"].as_f64().unwrap_or(1e-9),
        case["rtol"].as_f64().unwrap_or(1e-9),
    );
    let est =
        oxserve_sklearn::load_file(&dir.join("model.joblib")).map_err(|e| format!("load: {e}"))?;
    if !est.takes_strings() {
        return Err("takes_strings() is false".into());
    }
    let docs: Vec<&str> = case["docs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d.as_str().unwrap())
        .collect();

    // The vectorizer part (every step but the last, or the lone vectorizer), entry by entry.
    let want = dense_of_csr(&case["transform"]);
    let got = est
        .vectorize(&docs)
        .map_err(|e| format!("vectorize: {e}"))?;
    if (got.rows(), got.cols()) != (want.rows(), want.cols()) {
        return Err(format!(
            "vectorize: shape {}x{}, want {}x{}",
            got.rows(),
            got.cols(),
            want.rows(),
            want.cols()
        ));
    }
    let got_dense = match got.to_dense() {
        Ok(m) => m,
        Err(e) => return Err(format!("densify: {e}")),
    };
    for i in 0..want.rows() {
        check_values(
            &format!("transform row {i}"),
            got_dense.row(i),
            want.row(i),
            atol,
            rtol,
        )?;
    }

    let outputs = case["outputs"].as_object().unwrap();
    for (name, want) in outputs {
        let method = Method::from_name(name).unwrap();
        if !est.supports(method) {
            return Err(format!("{name}: not supported"));
        }
        let out = est
            .call_strings(method, &docs)
            .map_err(|e| format!("{name}: {e}"))?;
        match out {
            Output::Labels(Labels::Str(labels)) => {
                let want: Vec<&str> = want
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|v| v.as_str().unwrap())
                    .collect();
                if labels != want {
                    return Err(format!("{name}: got {labels:?}, want {want:?}"));
                }
            }
            Output::Labels(Labels::Int(v)) => {
                let v: Vec<f64> = v.iter().map(|&i| i as f64).collect();
                check_values(name, &v, &floats(want), 0.0, 0.0)?;
            }
            Output::Labels(Labels::Float(v)) | Output::Column(v) => {
                check_values(name, &v, &floats(want), atol, rtol)?
            }
            Output::Matrix(m) => check_values(name, m.data(), &floats(want), atol, rtol)?,
        }
    }
    Ok(())
}

#[test]
fn text_pipelines_match_scikit_learn() {
    let dirs = case_dirs();
    assert!(
        dirs.len() >= 12,
        "expected the generated text cases, found {}",
        dirs.len()
    );
    let failures: Vec<String> = dirs
        .iter()
        .filter_map(|d| {
            check_case(d)
                .err()
                .map(|e| format!("{}: {e}", d.file_name().unwrap().to_string_lossy()))
        })
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        dirs.len(),
        failures.join("\n")
    );
}

fn load(case: &str) -> Box<dyn Estimator> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/text")
        .join(case)
        .join("model.joblib");
    oxserve_sklearn::load_file(&path).unwrap()
}

#[test]
fn numeric_models_refuse_strings_and_vectorizers_refuse_numbers() {
    let numeric = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/cases/logreg-binary-strlabels-cancer/model.joblib");
    let est = oxserve_sklearn::load_file(&numeric).unwrap();
    assert!(!est.takes_strings());
    let err = est
        .call_strings(Method::Predict, &["a"])
        .unwrap_err()
        .to_string();
    assert!(err.contains("takes numeric features, not strings"), "{err}");
    let text = load("tfidf-logreg");
    let err = text
        .call(Method::Predict, &Matrix::new(1, 2, vec![1.0, 2.0]).unwrap())
        .unwrap_err()
        .to_string();
    assert!(err.contains("takes raw documents"), "{err}");
}

#[test]
fn hashing_pipeline_never_densifies_the_hash_space() {
    // 2**14 hashed columns x 5,000 rows would be 82 M values densely: over the budget, yet the pipeline answers
    // because SGDClassifier computes on the sparse entries.
    let est = load("hashing-sgd");
    let docs: Vec<&str> = std::iter::repeat_n("the GPU kernel server", 5000).collect();
    let Output::Labels(Labels::Str(labels)) = est.call_strings(Method::Predict, &docs).unwrap()
    else {
        panic!("string labels expected");
    };
    assert_eq!(labels.len(), 5000);
    // The lone vectorizer's dense transform of the same batch is refused, naming the shape.
    let x = est.vectorize(&docs).unwrap();
    let err = x.to_dense().unwrap_err().to_string();
    assert!(err.contains("5000 rows x 16384 features"), "{err}");
}

#[test]
fn label_transformers_match_scikit_learn() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/labels");
    let mut checked = 0;
    for entry in std::fs::read_dir(&root).unwrap() {
        let dir = entry.unwrap().path();
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        let case: Json =
            serde_json::from_str(&std::fs::read_to_string(dir.join("case.json")).unwrap()).unwrap();
        let est = oxserve_sklearn::load_file(&dir.join("model.joblib")).unwrap();
        if let Some(x) = case["X"].as_array() {
            // TargetEncoder: rows of numeric categories (null = NaN), or one string feature.
            let out = if x[0][0].is_string() {
                assert!(est.takes_strings(), "{name}");
                let docs: Vec<&str> = x.iter().map(|r| r[0].as_str().unwrap()).collect();
                est.call_strings(Method::Transform, &docs)
            } else {
                let cols = x[0].as_array().unwrap().len();
                let data: Vec<f64> = x
                    .iter()
                    .flat_map(|r| {
                        r.as_array()
                            .unwrap()
                            .iter()
                            .map(|v| v.as_f64().unwrap_or(f64::NAN))
                    })
                    .collect();
                est.call(
                    Method::Transform,
                    &Matrix::new(x.len(), cols, data).unwrap(),
                )
            };
            let Output::Matrix(m) = out.unwrap() else {
                panic!("{name}: a matrix expected")
            };
            let want = floats(&case["transform"]);
            assert_eq!(m.data().len(), want.len(), "{name}");
            for (g, w) in m.data().iter().zip(&want) {
                assert!(
                    (g - w).abs() <= 1e-12 + 1e-12 * w.abs(),
                    "{name}: {g} vs {w}"
                );
            }
            checked += 1;
            continue;
        }
        let y = case["y"].as_array().unwrap();
        let out = if y[0].is_string() {
            assert!(est.takes_strings(), "{name}");
            let y: Vec<&str> = y.iter().map(|v| v.as_str().unwrap()).collect();
            est.call_strings(Method::Transform, &y)
        } else {
            assert!(!est.takes_strings(), "{name}");
            let y: Vec<f64> = y.iter().map(|v| v.as_f64().unwrap()).collect();
            est.call(Method::Transform, &Matrix::new(y.len(), 1, y).unwrap())
        }
        .unwrap();
        let got = match out {
            Output::Labels(Labels::Int(v)) => v.iter().map(|&i| i as f64).collect(),
            Output::Matrix(m) => m.into_data(),
            other => panic!("{name}: {other:?}"),
        };
        assert_eq!(got, floats(&case["transform"]), "{name}");
        checked += 1;
    }
    assert_eq!(checked, 9);

    let enc = oxserve_sklearn::load_file(&root.join("labelencoder-str/model.joblib")).unwrap();
    let err = enc
        .call_strings(Method::Transform, &["café", "lait"])
        .unwrap_err()
        .to_string();
    assert_eq!(err, "y contains previously unseen labels: [\"lait\"]");
}
