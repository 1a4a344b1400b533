//! Single decision trees: `DecisionTreeClassifier/Regressor` and `ExtraTreeClassifier/Regressor`.
//!
//! `predict_proba` returns the leaf's stored class fractions, `predict` their argmax (classifier) or the leaf mean
//! (regressor; one column per output for multi-output regressors). X is rounded to float32 first, as sklearn does.

use oxserve_pickle::Object;

use crate::flat_tree::{self, Finite, FlatTree, SkTree};
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
    tree: FlatTree,
    n_features: usize,
    finite: Finite,
}

impl DecisionTree {
    fn from_object(obj: &Object) -> Result<DecisionTree, SklearnError> {
        let class = obj.class_name();
        let sk = SkTree::from_estimator(obj)?;
        let is_classifier = class.ends_with("Classifier");
        let (classes, tree) = if is_classifier {
            let classes = flat_tree::classes(obj)?;
            let tree = sk
                .classification()
                .map_err(|e| SklearnError::bad_model(class, e))?;
            if tree.width() != classes.len() {
                return Err(SklearnError::bad_model(
                    class,
                    format!(
                        "tree has {} classes but classes_ has {}",
                        tree.width(),
                        classes.len()
                    ),
                ));
            }
            (Some(classes), tree)
        } else {
            (
                None,
                sk.regression(None)
                    .map_err(|e| SklearnError::bad_model(class, e))?,
            )
        };
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
        let rows = flat_tree::prepare_rows(x, self.n_features, &self.class, self.finite)?;
        let width = self.tree.width();
        let nf = self.n_features;
        let mut out = Vec::with_capacity(x.rows() * width);
        flat_tree::for_each_leaf(
            std::slice::from_ref(&self.tree),
            &rows,
            nf,
            x.rows(),
            |_, _, tree, leaves| {
                for &leaf in leaves {
                    out.extend_from_slice(tree.values(leaf));
                }
            },
        );
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
        let width = self.tree.width();
        let values = self.leaf_matrix(x)?;
        match (&self.classes, method) {
            (Some(classes), Method::Predict) => Ok(Output::Labels(flat_tree::argmax_labels(
                &values, width, classes,
            ))),
            (Some(_), _) => Ok(Output::Matrix(Matrix::new(x.rows(), width, values)?)),
            (None, _) if width == 1 => Ok(Output::Column(values)),
            (None, _) => Ok(Output::Matrix(Matrix::new(x.rows(), width, values)?)),
        }
    }

    fn classes(&self) -> Option<&Labels> {
        self.classes.as_ref()
    }
}
