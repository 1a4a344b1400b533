//! Meta-classifiers that reduce multiclass problems to binary ones: `OneVsRestClassifier` (Seldon's iris model)
//! and `OneVsOneClassifier`.

use oxserve_pickle::{Object, Value};

use crate::attrs;
use crate::math::{
    argmax_labels, column, output_matrix, output_vec, threshold_labels, two_columns,
};
use crate::{Estimator, Labels, Matrix, Method, Output, SklearnError};

/// The classes this family builds.
pub(crate) const CLASSES: &[&str] = &["OneVsRestClassifier", "OneVsOneClassifier"];

/// Builds `obj` when it is one of [`CLASSES`].
pub(crate) fn build(obj: &Object) -> Option<Result<Box<dyn Estimator>, SklearnError>> {
    match obj.class_name() {
        "OneVsRestClassifier" => {
            Some(OneVsRest::from_object(obj).map(|e| Box::new(e) as Box<dyn Estimator>))
        }
        "OneVsOneClassifier" => {
            Some(OneVsOne::from_object(obj).map(|e| Box::new(e) as Box<dyn Estimator>))
        }
        _ => None,
    }
}

/// Builds the binary members of a meta-estimator; `_ConstantPredictor` (a class that was always or never present
/// in training) is handled here since it is not a public estimator.
fn build_members(obj: &Object) -> Result<Vec<Box<dyn Estimator>>, SklearnError> {
    let members = attrs::seq(obj, "estimators_")?;
    if members.is_empty() {
        return Err(SklearnError::bad_model(
            obj.class_name(),
            "`estimators_` is empty",
        ));
    }
    members
        .iter()
        .map(|v| match v {
            Value::Object(o) if o.class_name() == "_ConstantPredictor" => {
                let y = attrs::f64_vec(o, "y_")?;
                let y = y.first().copied().unwrap_or(0.0);
                Ok(Box::new(ConstantPredictor { y }) as Box<dyn Estimator>)
            }
            other => crate::registry::build_nested(other),
        })
        .collect()
}

/// scikit-learn's `_predict_binary`: the decision function when the member has one, else the positive-class
/// probability, else (regressors) the prediction.
fn binary_score(est: &dyn Estimator, x: &Matrix) -> Result<Vec<f64>, SklearnError> {
    if est.supports(Method::DecisionFunction) {
        output_vec(
            est.call(Method::DecisionFunction, x)?,
            x.rows(),
            est.class_name(),
        )
    } else if est.supports(Method::PredictProba) {
        let p = output_matrix(
            est.call(Method::PredictProba, x)?,
            x.rows(),
            est.class_name(),
        )?;
        Ok(column(&p, 1))
    } else {
        output_vec(est.call(Method::Predict, x)?, x.rows(), est.class_name())
    }
}

/// A member that always predicts the one label it saw (`sklearn.multiclass._ConstantPredictor`).
#[derive(Debug)]
struct ConstantPredictor {
    y: f64,
}

impl Estimator for ConstantPredictor {
    fn class_name(&self) -> &str {
        "_ConstantPredictor"
    }

    fn n_features_in(&self) -> Option<usize> {
        None
    }

    fn supports(&self, method: Method) -> bool {
        matches!(
            method,
            Method::Predict | Method::DecisionFunction | Method::PredictProba
        )
    }

    fn call(&self, method: Method, x: &Matrix) -> Result<Output, SklearnError> {
        match method {
            Method::Predict | Method::DecisionFunction => {
                Ok(Output::Column(vec![self.y; x.rows()]))
            }
            Method::PredictProba => Ok(Output::Matrix(two_columns(&vec![self.y; x.rows()]))),
            _ => Err(self.no_method(method)),
        }
    }
}

/// `OneVsRestClassifier`: one binary classifier per class (a single one for two classes).
#[derive(Debug)]
struct OneVsRest {
    members: Vec<Box<dyn Estimator>>,
    classes: Labels,
    n_features: Option<usize>,
}

impl OneVsRest {
    fn from_object(obj: &Object) -> Result<Self, SklearnError> {
        let classes = attrs::classes(obj, &["label_binarizer_"])?;
        if let Some(lb) = attrs::opt(obj, "label_binarizer_").and_then(Value::as_object)
            && attrs::opt_str(lb, "y_type_").is_some_and(|kind| kind.starts_with("multilabel"))
        {
            return Err(SklearnError::bad_model(
                obj.class_name(),
                "multilabel models are not supported",
            ));
        }
        let members = build_members(obj)?;
        let expected = if classes.len() == 2 { 1 } else { classes.len() };
        if members.len() != expected {
            return Err(SklearnError::bad_model(
                obj.class_name(),
                format!("{} estimators for {} classes", members.len(), classes.len()),
            ));
        }
        Ok(OneVsRest {
            n_features: attrs::n_features_in(obj)
                .or_else(|| members.iter().find_map(|m| m.n_features_in())),
            members,
            classes,
        })
    }
}

impl Estimator for OneVsRest {
    fn class_name(&self) -> &str {
        "OneVsRestClassifier"
    }

    fn n_features_in(&self) -> Option<usize> {
        self.n_features
    }

    fn supports(&self, method: Method) -> bool {
        match method {
            Method::Predict => true,
            Method::DecisionFunction | Method::PredictProba => self.members[0].supports(method),
            _ => false,
        }
    }

    fn call(&self, method: Method, x: &Matrix) -> Result<Output, SklearnError> {
        if !self.supports(method) {
            return Err(self.no_method(method));
        }
        // Like scikit-learn, the members validate the batch (errors name the member's class).
        let n = x.rows();
        let k = self.members.len();
        match method {
            Method::Predict if k == 1 => {
                // Binary: threshold the single member's score at 0 (decision function) or 0.5 (probability).
                let first = self.members[0].as_ref();
                let thresh = if first.supports(Method::DecisionFunction) {
                    0.0
                } else {
                    0.5
                };
                let s = binary_score(first, x)?;
                Ok(Output::Labels(threshold_labels(&s, &self.classes, thresh)))
            }
            Method::Predict => {
                // scikit-learn keeps a running maximum and overwrites the argmax on equality, so ties go to the
                // *last* class reaching the maximum (unlike np.argmax).
                // The per-row buffers come after the first member has validated the batch, so a batch of the
                // wrong width is refused before anything is allocated for its rows.
                let mut scores = self.members.iter().map(|m| binary_score(m.as_ref(), x));
                let first = scores.next().transpose()?;
                let mut maxima = vec![f64::NEG_INFINITY; n];
                let mut arg = vec![0usize; n];
                for (i, s) in first.into_iter().map(Ok).chain(scores).enumerate() {
                    let s = s?;
                    for r in 0..n {
                        let v = s.get(r).copied().unwrap_or(f64::NAN);
                        maxima[r] = maxima[r].max(v);
                        if maxima[r] == v {
                            arg[r] = i;
                        }
                    }
                }
                Ok(Output::Labels(self.classes.take(&arg)))
            }
            Method::DecisionFunction if k == 1 => self.members[0].call(method, x),
            Method::DecisionFunction => {
                let mut scores = self
                    .members
                    .iter()
                    .map(|m| output_vec(m.call(method, x)?, n, m.class_name()));
                let first = scores.next().transpose()?;
                let mut out = Matrix::zeros(n, k);
                for (j, s) in first.into_iter().map(Ok).chain(scores).enumerate() {
                    let s = s?;
                    for (r, v) in s.iter().take(n).enumerate() {
                        out.row_mut(r)[j] = *v;
                    }
                }
                Ok(Output::Matrix(out))
            }
            _ => {
                let mut probas = self
                    .members
                    .iter()
                    .map(|m| output_matrix(m.call(Method::PredictProba, x)?, n, m.class_name()));
                let first = probas.next().transpose()?;
                let mut pos = Matrix::zeros(n, k);
                for (j, p) in first.into_iter().map(Ok).chain(probas).enumerate() {
                    let p = p?;
                    // The positive class's column (NaN where a member wrote fewer columns), read in place.
                    for (r, row) in p.iter_rows().take(n).enumerate() {
                        pos.row_mut(r)[j] = row.get(1).copied().unwrap_or(f64::NAN);
                    }
                }
                let mut out = if k == 1 { two_columns(pos.data()) } else { pos };
                let c = out.cols();
                for row in out.data_mut().chunks_exact_mut(c) {
                    // scikit-learn divides only rows with a non-zero sum; all-zero rows stay zero.
                    let sum: f64 = row.iter().sum();
                    if sum != 0.0 {
                        row.iter_mut().for_each(|v| *v /= sum);
                    }
                }
                Ok(Output::Matrix(out))
            }
        }
    }

    fn classes(&self) -> Option<&Labels> {
        Some(&self.classes)
    }
}

/// `OneVsOneClassifier`: one binary classifier per pair of classes, combined by votes plus bounded confidences.
#[derive(Debug)]
struct OneVsOne {
    members: Vec<Box<dyn Estimator>>,
    classes: Labels,
    n_features: Option<usize>,
}

impl OneVsOne {
    fn from_object(obj: &Object) -> Result<Self, SklearnError> {
        let classes = attrs::classes(obj, &[])?;
        if attrs::opt(obj, "pairwise_indices_").is_some() {
            return Err(SklearnError::bad_model(
                obj.class_name(),
                "pairwise (precomputed kernel) members are not supported",
            ));
        }
        let members = build_members(obj)?;
        let k = classes.len();
        if k < 2 || members.len() != k * (k - 1) / 2 {
            return Err(SklearnError::bad_model(
                obj.class_name(),
                format!("{} estimators for {k} classes", members.len()),
            ));
        }
        Ok(OneVsOne {
            n_features: attrs::n_features_in(obj)
                .or_else(|| members.iter().find_map(|m| m.n_features_in())),
            members,
            classes,
        })
    }

    fn decision(&self, x: &Matrix) -> Result<Matrix, SklearnError> {
        if let Some(n) = self.n_features {
            x.expect_features(n, "OneVsOneClassifier")?;
        }
        let n = x.rows();
        let mut predictions = Vec::with_capacity(self.members.len());
        let mut confidences = Vec::with_capacity(self.members.len());
        for m in &self.members {
            predictions.push(output_vec(m.call(Method::Predict, x)?, n, m.class_name())?);
            confidences.push(binary_score(m.as_ref(), x)?);
        }
        Ok(crate::svm::ovr_decision(n, self.classes.len(), |r, p| {
            (
                predictions[p].get(r).copied().unwrap_or(f64::NAN),
                confidences[p].get(r).copied().unwrap_or(f64::NAN),
            )
        }))
    }
}

impl Estimator for OneVsOne {
    fn class_name(&self) -> &str {
        "OneVsOneClassifier"
    }

    fn n_features_in(&self) -> Option<usize> {
        self.n_features
    }

    fn supports(&self, method: Method) -> bool {
        matches!(method, Method::Predict | Method::DecisionFunction)
    }

    fn call(&self, method: Method, x: &Matrix) -> Result<Output, SklearnError> {
        let d = self.decision(x)?;
        let binary = self.classes.len() == 2;
        match method {
            Method::Predict if binary => {
                let first = self.members[0].as_ref();
                let thresh = if first.supports(Method::DecisionFunction) {
                    0.0
                } else {
                    0.5
                };
                Ok(Output::Labels(threshold_labels(
                    &column(&d, 1),
                    &self.classes,
                    thresh,
                )))
            }
            Method::Predict => Ok(Output::Labels(argmax_labels(&d, &self.classes))),
            Method::DecisionFunction if binary => Ok(Output::Column(column(&d, 1))),
            Method::DecisionFunction => Ok(Output::Matrix(d)),
            _ => Err(self.no_method(method)),
        }
    }

    fn classes(&self) -> Option<&Labels> {
        Some(&self.classes)
    }
}
