//! Issue #12: a batch with rows but no columns (`[2^31 − 1, 0]`, zero bytes of data) is refused before smartcore
//! or linfa allocates anything per row, for models that know their feature count and for those that do not.

#![allow(clippy::unwrap_used)]

use linfa::prelude::*;
use ndarray::{Array1, Array2};
use oxserve_core::{Model, ModelError, NamedTensor, PredictRequest, Tensor, TensorData};
use oxserve_rustml::{LINFA_FILE, RustModel, SMARTCORE_FILE, save};
use smartcore::linalg::basic::matrix::DenseMatrix;

fn zero_width(rows: usize, output: &str) -> PredictRequest {
    PredictRequest {
        inputs: vec![NamedTensor::new(
            "input-0",
            Tensor::new(vec![rows, 0], TensorData::F64(Vec::new())).unwrap(),
        )],
        outputs: vec![output.to_string()],
    }
}

fn assert_refused(model: &RustModel, output: &str) {
    for rows in [1, 2_147_483_647, 1 << 40] {
        match model.predict(zero_width(rows, output)) {
            Err(ModelError::BadInput(m)) => assert!(m.contains("0 feature(s)"), "{m}"),
            other => panic!("[{rows}, 0] {output}: {other:?}"),
        }
    }
}

#[test]
fn zero_width_batches_are_refused_before_the_library_runs() {
    let dir = tempfile::tempdir().unwrap();
    let d = smartcore::dataset::iris::load_dataset();
    let x: Vec<f64> = d.data.iter().map(|&v| f64::from(v)).collect();
    let y: Vec<i64> = d.target.iter().map(|&t| i64::from(t)).collect();
    let (rows, cols) = (d.num_samples, d.num_features);
    let xm = DenseMatrix::new(rows, cols, x.clone(), false).unwrap();

    // A smartcore tree does not record its feature count.
    let tree = smartcore::tree::decision_tree_classifier::DecisionTreeClassifier::fit(
        &xm,
        &y,
        Default::default(),
    )
    .unwrap();
    let path = dir.path().join(SMARTCORE_FILE);
    std::fs::write(
        &path,
        save("smartcore", "DecisionTreeClassifier", &tree).unwrap(),
    )
    .unwrap();
    let model = RustModel::load(&path, None).unwrap();
    assert_refused(&model, "predict");
    assert_refused(&model, "predict_proba");

    let records = Array2::from_shape_vec((rows, cols), x).unwrap();
    let targets: Array1<usize> = y.iter().map(|&t| t as usize).collect();
    let linfa_tree = linfa_trees::DecisionTree::params()
        .fit(&Dataset::new(records, targets))
        .unwrap();
    let path = dir.path().join(LINFA_FILE);
    std::fs::write(&path, save("linfa", "DecisionTree", &linfa_tree).unwrap()).unwrap();
    let model = RustModel::load(&path, None).unwrap();
    assert_refused(&model, "predict");
}
