//! Single decision trees: `DecisionTreeClassifier/Regressor` and `ExtraTreeClassifier/Regressor`.
//!
//! `predict_proba` returns the leaf's stored class fractions, `predict` their argmax (classifier) or the leaf mean
//! (regressor; one column per output for multi-output regressors). X is rounded to float32 first, as sklearn does.

use oxserve_pickle::Object;

use crate::flat_tree::{self, Finite, SkTree, TREE_RULES, Trees};
use crate::{Estimator, Labels, Matrix, Method, Output, SklearnError};

/// The classes this family builds.
pub(crate) const CLASSES: &[&str] = &[
    "DecisionTreeClassifier",
    "DecisionTreeRegressor",
    "ExtraTreeClassifier",
    "ExtraTreeRegressor",
];

/// Builds `obj` when it is one of [`CLASSES`].
pub(crate) fn build(obj: &Object) -> Option<Result<Box<dyn Estimator>, SklearnError>> {
    if !CLASSES.contains(&obj.class_name()) {
        return None;
    }
    Some(DecisionTree::from_object(obj).map(|t| Box::new(t) as Box<dyn Estimator>))
}

/// Whether a fitted sklearn tree estimator accepts NaN at predict time (its `allow_nan` tag in 1.9.1): decision
/// trees always, extra trees only with `splitter="random"` (their default).
pub(crate) fn allows_nan(est: &Object) -> bool {
    if est.class_name().starts_with("ExtraTree") {
        return est
            .get("splitter")
            .and_then(|v| v.as_str())
            .is_none_or(|s| s == "random");
    }
    true
}

/// A fitted single tree.
#[derive(Debug)]
pub(crate) struct DecisionTree {
    class: String,
    /// `classes_` for classifiers.
    classes: Option<Labels>,
    /// One tree; its leaves hold the class fractions (classifier) or one mean per output (regressor).
    tree: Trees,
    n_features: usize,
    finite: Finite,
}

impl DecisionTree {
    fn from_object(obj: &Object) -> Result<DecisionTree, SklearnError> {
        let class = obj.class_name();
        let sk = SkTree::from_estimator(obj)?;
        let is_classifier = class.ends_with("Classifier");
        let bad = |e: String| SklearnError::bad_model(class, e);
        let (classes, raw) = if is_classifier {
            let classes = flat_tree::classes(obj)?;
            let raw = sk.classification().map_err(bad)?;
            if raw.width != classes.len() {
                return Err(bad(format!(
                    "tree has {} classes but classes_ has {}",
                    raw.width,
                    classes.len()
                )));
            }
            (Some(classes), raw)
        } else {
            (None, sk.regression(0, 1.0).map_err(bad)?)
        };
        let tree = Trees::new(
            std::slice::from_ref(&raw),
            sk.n_features,
            raw.width,
            TREE_RULES,
        )
        .map_err(bad)?;
        Ok(DecisionTree {
            class: class.to_string(),
            classes,
            tree,
            n_features: sk.n_features,
            finite: if allows_nan(obj) {
                Finite::AllowNan
            } else {
                Finite::Require
            },
        })
    }

    /// Leaf values of every row, row-major (`rows × width`).
    fn leaf_matrix(&self, x: &Matrix) -> Result<Vec<f64>, SklearnError> {
        flat_tree::check_rows(x, self.n_features, &self.class, self.finite)?;
        // -0.0 + v is v for every v, -0.0 included: the leaf values come back exactly as stored, as sklearn's
        // `tree_.predict` copies them.
        let mut out = vec![-0.0; x.rows() * self.tree.n_outputs()];
        self.tree.add_into(x.data(), &mut out)?;
        Ok(out)
    }
}

impl Estimator for DecisionTree {
    fn class_name(&self) -> &str {
        &self.class
    }

    fn n_features_in(&self) -> Option<usize> {
        Some(self.n_features)
    }

    fn supports(&self, method: Method) -> bool {
        match method {
            Method::Predict => true,
            Method::PredictProba => self.classes.is_some(),
            _ => false,
        }
    }

    fn call(&self, method: Method, x: &Matrix) -> Result<Output, SklearnError> {
        if !self.supports(method) {
            return Err(self.no_method(method));
        }
        let width = self.tree.n_outputs();
        let values = self.leaf_matrix(x)?;
        match (&self.classes, method) {
            (Some(classes), Method::Predict) => Ok(Output::Labels(
                crate::math::argmax_labels_flat(&values, width, classes),
            )),
            (Some(_), _) => Ok(Output::Matrix(Matrix::new(x.rows(), width, values)?)),
            (None, _) if width == 1 => Ok(Output::Column(values)),
            (None, _) => Ok(Output::Matrix(Matrix::new(x.rows(), width, values)?)),
        }
    }

    fn classes(&self) -> Option<&Labels> {
        self.classes.as_ref()
    }
}
