//! Trains smartcore and linfa models on iris in Rust, saves them as a user would, loads them as the server does,
//! and checks the served predictions equal the library's own.

#![allow(clippy::unwrap_used)]

use linfa::prelude::*;
use ndarray::{Array1, Array2};
use oxserve_core::{Model, ModelError, NamedTensor, PredictRequest, Tensor, TensorData};
use oxserve_rustml::{LINFA_FILE, RustModel, SMARTCORE_FILE, save};
use smartcore::linalg::basic::matrix::DenseMatrix;

fn iris() -> (Vec<f64>, Vec<i64>, usize, usize) {
    let d = smartcore::dataset::iris::load_dataset();
    (
        d.data.iter().map(|&v| f64::from(v)).collect(),
        d.target.iter().map(|&t| i64::from(t)).collect(),
        d.num_samples,
        d.num_features,
    )
}

fn request(x: &[f64], rows: usize, cols: usize, outputs: &[&str]) -> PredictRequest {
    PredictRequest {
        inputs: vec![NamedTensor::new(
            "input-0",
            Tensor::new(vec![rows, cols], TensorData::F64(x.to_vec())).unwrap(),
        )],
        outputs: outputs.iter().map(|s| s.to_string()).collect(),
    }
}

fn served(
    dir: &std::path::Path,
    file: &str,
    json: String,
    x: &[f64],
    rows: usize,
    cols: usize,
    out: &str,
) -> Tensor {
    let path = dir.join(file);
    std::fs::write(&path, json).unwrap();
    let model = RustModel::load(&path, None).unwrap();
    model
        .predict(request(x, rows, cols, &[out]))
        .unwrap()
        .outputs
        .remove(0)
        .tensor
}

#[test]
fn smartcore_models_serve_their_own_predictions() {
    let dir = tempfile::tempdir().unwrap();
    let (x, y, rows, cols) = iris();
    let xm = DenseMatrix::new(rows, cols, x.clone(), false).unwrap();

    let lr = smartcore::linear::logistic_regression::LogisticRegression::fit(
        &xm,
        &y,
        Default::default(),
    )
    .unwrap();
    let want = lr.predict(&xm).unwrap();
    let got = served(
        dir.path(),
        SMARTCORE_FILE,
        save("smartcore", "LogisticRegression", &lr).unwrap(),
        &x,
        rows,
        cols,
        "predict",
    );
    assert_eq!(got.data(), &TensorData::I64(want));

    let tree = smartcore::tree::decision_tree_classifier::DecisionTreeClassifier::fit(
        &xm,
        &y,
        Default::default(),
    )
    .unwrap();
    let want = tree.predict(&xm).unwrap();
    let json = save("smartcore", "DecisionTreeClassifier", &tree).unwrap();
    let got = served(
        dir.path(),
        SMARTCORE_FILE,
        json.clone(),
        &x,
        rows,
        cols,
        "predict",
    );
    assert_eq!(got.data(), &TensorData::I64(want));
    let proba = served(
        dir.path(),
        SMARTCORE_FILE,
        json,
        &x,
        rows,
        cols,
        "predict_proba",
    );
    assert_eq!(proba.shape(), &[rows, 3]);

    let yf: Vec<f64> = x.chunks(cols).map(|r| r[0] * 0.5 + r[2]).collect();
    let lin =
        smartcore::linear::linear_regression::LinearRegression::fit(&xm, &yf, Default::default())
            .unwrap();
    let want = lin.predict(&xm).unwrap();
    let got = served(
        dir.path(),
        SMARTCORE_FILE,
        save("smartcore", "LinearRegression", &lin).unwrap(),
        &x,
        rows,
        cols,
        "predict",
    );
    assert_eq!(got.data(), &TensorData::F64(want));
}

#[test]
fn linfa_models_serve_their_own_predictions() {
    let dir = tempfile::tempdir().unwrap();
    let (x, y, rows, cols) = iris();
    let records = Array2::from_shape_vec((rows, cols), x.clone()).unwrap();
    let targets: Array1<usize> = y.iter().map(|&t| t as usize).collect();
    let data = Dataset::new(records.clone(), targets);

    let multi = linfa_logistic::MultiLogisticRegression::default()
        .max_iterations(50)
        .fit(&data)
        .unwrap();
    let want: Vec<i64> = multi.predict(&records).iter().map(|&c| c as i64).collect();
    let json = save("linfa", "MultiLogisticRegression", &multi).unwrap();
    let got = served(
        dir.path(),
        LINFA_FILE,
        json.clone(),
        &x,
        rows,
        cols,
        "predict",
    );
    assert_eq!(got.data(), &TensorData::I64(want));
    let proba = served(
        dir.path(),
        LINFA_FILE,
        json,
        &x,
        rows,
        cols,
        "predict_proba",
    );
    assert_eq!(proba.shape(), &[rows, 3]);

    let tree = linfa_trees::DecisionTree::params().fit(&data).unwrap();
    let want: Vec<i64> = tree.predict(&records).iter().map(|&c| c as i64).collect();
    let got = served(
        dir.path(),
        LINFA_FILE,
        save("linfa", "DecisionTree", &tree).unwrap(),
        &x,
        rows,
        cols,
        "predict",
    );
    assert_eq!(got.data(), &TensorData::I64(want));

    let yf: Array1<f64> = x.chunks(cols).map(|r| r[0] * 0.5 + r[2]).collect();
    let reg = linfa_linear::LinearRegression::new()
        .fit(&Dataset::new(records.clone(), yf))
        .unwrap();
    let want = reg.predict(&records).to_vec();
    let got = served(
        dir.path(),
        LINFA_FILE,
        save("linfa", "LinearRegression", &reg).unwrap(),
        &x,
        rows,
        cols,
        "predict",
    );
    assert_eq!(got.data(), &TensorData::F64(want));
}

#[test]
fn bad_files_and_inputs_are_clean_errors() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(SMARTCORE_FILE);
    std::fs::write(
        &path,
        r#"{"format":"oxserve-rustml/1","library":"smartcore","estimator":"SVC","model":{}}"#,
    )
    .unwrap();
    assert!(
        RustModel::load(&path, None)
            .unwrap_err()
            .to_string()
            .contains("unsupported smartcore estimator `SVC`")
    );
    std::fs::write(&path, r#"{"format":"oxserve-rustml/1","library":"smartcore","estimator":"LogisticRegression","model":{"x":1}}"#).unwrap();
    assert!(
        RustModel::load(&path, None)
            .unwrap_err()
            .to_string()
            .contains("does not match")
    );
    std::fs::write(&path, "not json").unwrap();
    assert!(RustModel::load(&path, None).is_err());

    let (x, y, rows, cols) = iris();
    let records = Array2::from_shape_vec((rows, cols), x).unwrap();
    let reg = linfa_linear::LinearRegression::new()
        .fit(&Dataset::new(
            records,
            y.iter().map(|&v| v as f64).collect::<Array1<f64>>(),
        ))
        .unwrap();
    let path = dir.path().join(LINFA_FILE);
    std::fs::write(&path, save("linfa", "LinearRegression", &reg).unwrap()).unwrap();
    let model = RustModel::load(&path, None).unwrap();
    let err = model
        .predict(request(&[1.0, 2.0, 3.0], 1, 3, &[]))
        .unwrap_err();
    assert!(
        matches!(err, ModelError::BadInput(ref m) if m.contains("expecting 4 features")),
        "{err:?}"
    );
    let err = model
        .predict(request(&[1.0; 4], 1, 4, &["predict_proba"]))
        .unwrap_err();
    assert!(matches!(err, ModelError::UnknownOutput { .. }), "{err:?}");
}
