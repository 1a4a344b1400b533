//! scikit-learn's estimators in Rust.
//!
//! [`load_file`] reads a `model.joblib` / `model.pkl` through the safe pickle reader and [`build`] turns the value
//! tree into a typed [`Estimator`]; [`Estimator::call`] computes `predict`, `predict_proba`, `decision_function`,
//! `transform` or `score_samples` on a batch in float64, as scikit-learn does. An unsupported class is an error
//! naming it and the supported ones.

mod attrs;
mod error;
mod estimator;
mod guard;
mod math;
mod registry;
mod table;

// Estimator families, one module each (see `registry.rs` for the class names each one builds).
mod calibration;
mod cluster;
mod compose;
mod dict_vectorizer;
mod discriminant;
mod ensemble_meta;
mod label;
mod linear;
mod multiclass;
mod naive_bayes;
mod neighbors;
mod neural;
mod preprocessing;
mod stop_words;
mod svm;
mod target_encoder;
mod text;

mod adaboost;
mod boosters;
mod flat_tree;
mod forest;
mod gradient_boosting;
mod hist_gradient_boosting;
mod iforest;
mod tree;

pub use error::SklearnError;
pub use estimator::{Estimator, Labels, MAX_DENSE_VALUES, Matrix, Method, Output, SparseMatrix};
pub use oxserve_core::{Column, ColumnData, Table};
pub use registry::{build, supported_classes};

use std::path::Path;

/// Reads a joblib or pickle file and builds the estimator it holds.
pub fn load_file(path: &Path) -> Result<Box<dyn Estimator>, SklearnError> {
    let value = oxserve_pickle::load_file(path)?;
    build(&value)
}
