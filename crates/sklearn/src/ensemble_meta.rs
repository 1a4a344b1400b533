//! Ensembles of arbitrary fitted estimators: `VotingClassifier` (hard/soft, weights), `VotingRegressor`,
//! `StackingClassifier` and `StackingRegressor`.
//!
//! The members of voting and stacking classifiers were fitted on label-*encoded* targets (`0..K`), so their
//! predictions are class indices; the ensemble maps its final answer through its own `classes_`.

use oxserve_pickle::{Object, Value};

use crate::attrs;
use crate::math::{argmax_labels, column, hstack, labels_f64, output_matrix};
use crate::{Estimator, Labels, Matrix, Method, Output, SklearnError};

/// The classes this family builds.
pub(crate) const CLASSES: &[&str] = &[
    "StackingClassifier",
    "StackingRegressor",
    "VotingClassifier",
    "VotingRegressor",
];

/// Builds `obj` when it is one of [`CLASSES`].
pub(crate) fn build(obj: &Object) -> Option<Result<Box<dyn Estimator>, SklearnError>> {
    Some(match obj.class_name() {
        "VotingClassifier" | "VotingRegressor" => {
            Voting::from_object(obj).map(|e| Box::new(e) as Box<dyn Estimator>)
        }
        "StackingClassifier" | "StackingRegressor" => {
            Stacking::from_object(obj).map(|e| Box::new(e) as Box<dyn Estimator>)
        }
        _ => return None,
    })
}

/// The fitted members (`estimators_`, skipping any `'drop'` placeholder).
fn members(obj: &Object) -> Result<Vec<Box<dyn Estimator>>, SklearnError> {
    let items = attrs::seq(obj, "estimators_")?;
    let members: Vec<Box<dyn Estimator>> = items
        .iter()
        .filter(|v| !matches!(v, Value::Str(s) if s == "drop"))
        .map(crate::registry::build_nested)
        .collect::<Result<_, _>>()?;
    if members.is_empty() {
        return Err(SklearnError::bad_model(
            obj.class_name(),
            "no fitted estimators",
        ));
    }
    Ok(members)
}

/// `_weights_not_none`: the user's `weights` for the estimators that were not `'drop'`.
fn weights(obj: &Object, n_members: usize) -> Result<Option<Vec<f64>>, SklearnError> {
    let Some(w) = attrs::opt(obj, "weights") else {
        return Ok(None);
    };
    let w = attrs::f64_of(w, obj.class_name(), "weights")?;
    let params = attrs::opt(obj, "estimators")
        .and_then(attrs::seq_of)
        .unwrap_or(&[]);
    let kept: Vec<f64> = if params.len() == w.len() {
        w.iter()
            .zip(params)
            .filter(|(_, p)| !matches!(p.as_seq(), Some([_, Value::Str(s)]) if s == "drop"))
            .map(|(w, _)| *w)
            .collect()
    } else {
        w
    };
    if kept.len() != n_members {
        return Err(SklearnError::bad_model(
            obj.class_name(),
            format!("{} weights for {n_members} estimators", kept.len()),
        ));
    }
    Ok(Some(kept))
}

/// `np.average` over members: `Σ w_m v_m / Σ w` (or the plain mean), accumulated in member order.
fn average(parts: &[Matrix], weights: Option<&[f64]>) -> Matrix {
    let mut out = Matrix::zeros(parts[0].rows(), parts[0].cols());
    let total: f64 = weights.map_or(parts.len() as f64, |w| w.iter().sum());
    for (m, part) in parts.iter().enumerate() {
        let w = weights.map_or(1.0, |w| w[m]);
        for (o, v) in out.data_mut().iter_mut().zip(part.data()) {
            *o += if weights.is_some() { v * w } else { *v };
        }
    }
    out.data_mut().iter_mut().for_each(|v| *v /= total);
    out
}

/// Member predictions as class indices (`None` if a member predicts something that is not an index).
fn predicted_indices(
    est: &dyn Estimator,
    x: &Matrix,
    k: usize,
) -> Result<Vec<usize>, SklearnError> {
    let out = est.call(Method::Predict, x)?;
    let values = match out {
        Output::Labels(l) => labels_f64(&l),
        Output::Column(v) => Some(v),
        Output::Matrix(_) => None,
    };
    values
        .and_then(|v| {
            v.into_iter()
                .map(|f| (f >= 0.0 && (f as usize) < k && f.fract() == 0.0).then_some(f as usize))
                .collect()
        })
        .ok_or_else(|| {
            SklearnError::BadInput(format!(
                "`{}` did not predict encoded class indices",
                est.class_name()
            ))
        })
}

/// `VotingClassifier` / `VotingRegressor`.
#[derive(Debug)]
struct Voting {
    class: String,
    members: Vec<Box<dyn Estimator>>,
    weights: Option<Vec<f64>>,
    /// `Some` for the classifier.
    classes: Option<Labels>,
    soft: bool,
    flatten: bool,
}

impl Voting {
    fn from_object(obj: &Object) -> Result<Self, SklearnError> {
        let class = obj.class_name();
        let members = members(obj)?;
        let weights = weights(obj, members.len())?;
        let classes = if class == "VotingClassifier" {
            Some(attrs::classes(obj, &["le_"])?)
        } else {
            None
        };
        // The members were fitted on the encoded labels, so each has exactly `classes_`'s count of classes (the
        // width every vote and probability row has).
        if let Some(c) = &classes
            && (c.is_empty()
                || members
                    .iter()
                    .any(|m| m.classes().is_some_and(|mc| mc.len() != c.len())))
        {
            return Err(SklearnError::bad_model(
                class,
                format!(
                    "`classes_` has {} labels, unlike the members' classes",
                    c.len()
                ),
            ));
        }
        let soft = attrs::opt_str(obj, "voting") == Some("soft");
        if soft && members.iter().any(|m| !m.supports(Method::PredictProba)) {
            return Err(SklearnError::bad_model(
                class,
                "soft voting over a member without `predict_proba`",
            ));
        }
        Ok(Voting {
            class: class.to_string(),
            members,
            weights,
            classes,
            soft,
            flatten: attrs::flag(obj, "flatten_transform", true),
        })
    }

    fn probas(&self, x: &Matrix) -> Result<Vec<Matrix>, SklearnError> {
        self.members
            .iter()
            .map(|m| output_matrix(m.call(Method::PredictProba, x)?, x.rows(), m.class_name()))
            .collect()
    }

    fn predictions(&self, x: &Matrix) -> Result<Vec<Matrix>, SklearnError> {
        self.members
            .iter()
            .map(|m| output_matrix(m.call(Method::Predict, x)?, x.rows(), m.class_name()))
            .collect()
    }
}

impl Estimator for Voting {
    fn class_name(&self) -> &str {
        &self.class
    }

    fn n_features_in(&self) -> Option<usize> {
        self.members.iter().find_map(|m| m.n_features_in())
    }

    fn supports(&self, method: Method) -> bool {
        match method {
            Method::Predict => true,
            Method::Transform => !self.soft || self.flatten,
            Method::PredictProba => self.classes.is_some() && self.soft,
            _ => false,
        }
    }

    fn call(&self, method: Method, x: &Matrix) -> Result<Output, SklearnError> {
        if !self.supports(method) {
            return Err(self.no_method(method));
        }
        // The members validate the batch, as in scikit-learn.
        let w = self.weights.as_deref();
        let Some(classes) = &self.classes else {
            let preds = self.predictions(x)?;
            let stacked = hstack(x.rows(), &preds);
            if method == Method::Transform {
                return Ok(Output::Matrix(stacked));
            }
            return Ok(Output::Column(average(&preds, w).into_data()));
        };
        match (method, self.soft) {
            (Method::PredictProba, _) => Ok(Output::Matrix(average(&self.probas(x)?, w))),
            (Method::Predict, true) => Ok(Output::Labels(argmax_labels(
                &average(&self.probas(x)?, w),
                classes,
            ))),
            (Method::Transform, true) => Ok(Output::Matrix(hstack(x.rows(), &self.probas(x)?))),
            (Method::Transform, false) => {
                Ok(Output::Matrix(hstack(x.rows(), &self.predictions(x)?)))
            }
            _ => {
                // Hard voting: weighted bincount of the members' encoded predictions, first maximum wins.
                let k = classes.len();
                let mut tally = Matrix::zeros(x.rows(), k);
                for (m, member) in self.members.iter().enumerate() {
                    let idx = predicted_indices(member.as_ref(), x, k)?;
                    let wm = w.map_or(1.0, |w| w[m]);
                    for (r, &c) in idx.iter().enumerate() {
                        tally.row_mut(r)[c] += wm;
                    }
                }
                Ok(Output::Labels(argmax_labels(&tally, classes)))
            }
        }
    }

    fn classes(&self) -> Option<&Labels> {
        self.classes.as_ref()
    }
}

/// `StackingClassifier` / `StackingRegressor`.
#[derive(Debug)]
struct Stacking {
    class: String,
    members: Vec<(Box<dyn Estimator>, Method)>,
    final_estimator: Box<dyn Estimator>,
    passthrough: bool,
    classes: Option<Labels>,
}

impl Stacking {
    fn from_object(obj: &Object) -> Result<Self, SklearnError> {
        let class = obj.class_name();
        let members = members(obj)?;
        let methods: Vec<Method> = attrs::seq(obj, "stack_method_")?
            .iter()
            .filter(|m| m.as_str() != Some("drop"))
            .map(|m| {
                m.as_str().and_then(Method::from_name).ok_or_else(|| {
                    SklearnError::bad_model(class, format!("unknown stack method {}", m.kind()))
                })
            })
            .collect::<Result<_, _>>()?;
        if methods.len() != members.len() {
            return Err(SklearnError::bad_model(
                class,
                "`stack_method_` does not match `estimators_`",
            ));
        }
        let final_estimator = crate::registry::build_nested(attrs::req(obj, "final_estimator_")?)?;
        let classes = if class == "StackingClassifier" {
            let c = attrs::classes(obj, &["_label_encoder"])?;
            Some(c)
        } else {
            None
        };
        Ok(Stacking {
            class: class.to_string(),
            members: members.into_iter().zip(methods).collect(),
            final_estimator,
            passthrough: attrs::flag(obj, "passthrough", false),
            classes,
        })
    }

    /// The meta-features: each member's stack-method output (binary `predict_proba` keeps column 1), then X when
    /// `passthrough`.
    fn meta(&self, x: &Matrix) -> Result<Matrix, SklearnError> {
        // The members validate the batch, as in scikit-learn.
        let binary = self.classes.as_ref().is_some_and(|c| c.len() == 2);
        let mut parts = Vec::with_capacity(self.members.len() + 1);
        for (est, method) in &self.members {
            let m = output_matrix(est.call(*method, x)?, x.rows(), est.class_name())?;
            if *method == Method::PredictProba && binary {
                parts.push(Matrix::new(x.rows(), 1, column(&m, 1))?);
            } else {
                parts.push(m);
            }
        }
        if self.passthrough {
            parts.push(x.clone());
        }
        Ok(hstack(x.rows(), &parts))
    }
}

impl Estimator for Stacking {
    fn class_name(&self) -> &str {
        &self.class
    }

    fn n_features_in(&self) -> Option<usize> {
        self.members[0].0.n_features_in()
    }

    fn supports(&self, method: Method) -> bool {
        match method {
            Method::Transform | Method::Predict => true,
            Method::PredictProba | Method::DecisionFunction => {
                self.classes.is_some() && self.final_estimator.supports(method)
            }
            Method::ScoreSamples => false,
        }
    }

    fn call(&self, method: Method, x: &Matrix) -> Result<Output, SklearnError> {
        if !self.supports(method) {
            return Err(self.no_method(method));
        }
        let meta = self.meta(x)?;
        match (method, &self.classes) {
            (Method::Transform, _) => Ok(Output::Matrix(meta)),
            (Method::Predict, Some(classes)) => {
                let idx = predicted_indices(self.final_estimator.as_ref(), &meta, classes.len())?;
                Ok(Output::Labels(classes.take(&idx)))
            }
            _ => self.final_estimator.call(method, &meta),
        }
    }

    fn classes(&self) -> Option<&Labels> {
        self.classes.as_ref()
    }
}
