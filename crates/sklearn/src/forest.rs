//! Random forests and extremely randomized trees: `RandomForestClassifier/Regressor`,
//! `ExtraTreesClassifier/Regressor`.
//!
//! As scikit-learn 1.9.1 does: the per-tree class fractions (classifier) or leaf means (regressor) are summed in
//! `estimators_` order into a zeroed accumulator and divided by the number of trees; `predict` of a classifier is
//! the argmax of that mean. X is rounded to float32 first.

use oxserve_pickle::{Object, Value};

use crate::flat_tree::{self, Finite, SkTree, TREE_RULES, Trees};
use crate::{Estimator, Labels, Matrix, Method, Output, SklearnError};

/// The classes this family builds.
pub(crate) const CLASSES: &[&str] = &[
    "RandomForestClassifier",
    "RandomForestRegressor",
    "ExtraTreesClassifier",
    "ExtraTreesRegressor",
];

/// Builds `obj` when it is one of [`CLASSES`].
pub(crate) fn build(obj: &Object) -> Option<Result<Box<dyn Estimator>, SklearnError>> {
    if !CLASSES.contains(&obj.class_name()) {
        return None;
    }
    Some(Forest::from_object(obj).map(|f| Box::new(f) as Box<dyn Estimator>))
}

/// The fitted tree estimators of an ensemble's `estimators_` list (or 1-D object array).
pub(crate) fn estimator_objects<'a>(
    obj: &'a Object,
    key: &str,
) -> Result<Vec<&'a Object>, SklearnError> {
    let class = obj.class_name();
    let items: &[Value] = match crate::attrs::req(obj, key)? {
        Value::List(v) | Value::Tuple(v) => v,
        Value::Array(a) => match &a.data {
            oxserve_pickle::ArrayData::Object(v) => v,
            _ => {
                return Err(SklearnError::bad_model(
                    class,
                    format!("`{key}` is not an object array"),
                ));
            }
        },
        other => {
            return Err(SklearnError::bad_model(
                class,
                format!("`{key}` is a {}", other.kind()),
            ));
        }
    };
    items
        .iter()
        .enumerate()
        .map(|(i, v)| {
            v.as_object().ok_or_else(|| {
                SklearnError::bad_model(class, format!("`{key}[{i}]` is a {}", v.kind()))
            })
        })
        .collect()
}

/// A fitted forest.
#[derive(Debug)]
pub(crate) struct Forest {
    class: String,
    classes: Option<Labels>,
    trees: Trees,
    /// Values per tree leaf: classes (classifier) or outputs (regressor).
    width: usize,
    n_features: usize,
    finite: Finite,
}

impl Forest {
    fn from_object(obj: &Object) -> Result<Forest, SklearnError> {
        let class = obj.class_name();
        let is_classifier = class.ends_with("Classifier");
        let classes = if is_classifier {
            Some(flat_tree::classes(obj)?)
        } else {
            None
        };
        let members = estimator_objects(obj, "estimators_")?;
        let Some(first) = members.first() else {
            return Err(SklearnError::bad_model(class, "`estimators_` is empty"));
        };
        let mut raws = Vec::with_capacity(members.len());
        let mut n_features = None;
        for (i, m) in members.iter().enumerate() {
            let sk = SkTree::from_estimator(m)?;
            if *n_features.get_or_insert(sk.n_features) != sk.n_features {
                return Err(SklearnError::bad_model(
                    class,
                    format!("tree {i} has {} features", sk.n_features),
                ));
            }
            let raw = if is_classifier {
                sk.classification()
            } else {
                sk.regression(0, 1.0)
            }
            .map_err(|e| SklearnError::bad_model(class, format!("tree {i}: {e}")))?;
            raws.push(raw);
        }
        let width = raws[0].width;
        if raws.iter().any(|t| t.width != width) {
            return Err(SklearnError::bad_model(
                class,
                "trees disagree on their number of outputs",
            ));
        }
        if let Some(c) = &classes
            && c.len() != width
        {
            return Err(SklearnError::bad_model(
                class,
                format!("trees have {width} classes, classes_ has {}", c.len()),
            ));
        }
        let n_features = n_features.unwrap_or(0);
        let trees = Trees::new(&raws, n_features, width, TREE_RULES)
            .map_err(|e| SklearnError::bad_model(class, e))?;
        drop(raws);
        if let Some(n) = crate::attrs::n_features_in(obj)
            && n != n_features
        {
            return Err(SklearnError::bad_model(
                class,
                format!("n_features_in_ {n} but trees use {n_features}"),
            ));
        }
        Ok(Forest {
            class: class.to_string(),
            classes,
            trees,
            width,
            n_features,
            // sklearn asks the first tree whether NaN is allowed.
            finite: if crate::tree::allows_nan(first) {
                Finite::AllowNan
            } else {
                Finite::Require
            },
        })
    }

    /// Mean over trees of the leaf vectors, row-major `rows × width`.
    fn mean(&self, x: &Matrix) -> Result<Vec<f64>, SklearnError> {
        flat_tree::check_rows(x, self.n_features, &self.class, self.finite)?;
        // sklearn sums the trees' outputs into a zeroed accumulator, in `estimators_` order, as `add_into` does.
        let mut out = vec![0.0; x.rows() * self.width];
        self.trees.add_into(x.data(), &mut out)?;
        let k = self.trees.len() as f64;
        for o in &mut out {
            *o /= k;
        }
        Ok(out)
    }
}

impl Estimator for Forest {
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
        let mean = self.mean(x)?;
        match (&self.classes, method) {
            (Some(classes), Method::Predict) => Ok(Output::Labels(
                crate::math::argmax_labels_flat(&mean, self.width, classes),
            )),
            (None, _) if self.width == 1 => Ok(Output::Column(mean)),
            _ => Ok(Output::Matrix(Matrix::new(x.rows(), self.width, mean)?)),
        }
    }

    fn classes(&self) -> Option<&Labels> {
        self.classes.as_ref()
    }
}
