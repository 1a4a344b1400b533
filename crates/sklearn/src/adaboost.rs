//! AdaBoost: `AdaBoostClassifier` (SAMME, the only algorithm left in scikit-learn 1.9, and SAMME.R, the default
//! before 1.6) and `AdaBoostRegressor` (AdaBoost.R2, weighted median).
//!
//! The members are built with [`crate::registry::build_nested`], so any base estimator this crate knows works (trees by
//! default). NaN and infinity are rejected first, as the ensemble's own `validate_data` does.
//!
//! Classifier, K classes, weights `w_t`: each member votes `+w_t` on its predicted class and `−w_t/(K−1)` on every
//! other class; the sum is divided by `Σ w` (all of `estimator_weights_`). Binary `decision_function = col₁ − col₀`
//! and `predict = d > 0`; multiclass `predict = argmax`. `predict_proba = softmax(d/(K−1))`, binary
//! `softmax([−d, d]/2)`. SAMME.R (scikit-learn ≤ 1.5) replaces each member's vote by
//! `(K−1)·(log p − (1/K)·Σ log p)` of its `predict_proba` `p` clipped below at float64's epsilon (`_samme_proba`),
//! summed and divided by `Σ w` the same way (its weights are all 1). Regressor: per row, sort the members' predictions, and return the first one whose
//! cumulative weight reaches half the total.

use oxserve_pickle::Object;

use crate::flat_tree::{self, Finite};
use crate::{Estimator, Labels, Matrix, Method, Output, SklearnError};

/// The classes this family builds.
pub(crate) const CLASSES: &[&str] = &["AdaBoostClassifier", "AdaBoostRegressor"];

/// Builds `obj` when it is one of [`CLASSES`].
pub(crate) fn build(obj: &Object) -> Option<Result<Box<dyn Estimator>, SklearnError>> {
    if !CLASSES.contains(&obj.class_name()) {
        return None;
    }
    Some(AdaBoost::from_object(obj).map(|a| Box::new(a) as Box<dyn Estimator>))
}

/// A fitted AdaBoost model.
#[derive(Debug)]
pub(crate) struct AdaBoost {
    class: String,
    classes: Option<Labels>,
    members: Vec<Box<dyn Estimator>>,
    /// One weight per member (`estimator_weights_` cut to `len(estimators_)`, as `zip` does).
    weights: Vec<f64>,
    /// `estimator_weights_.sum()` over the whole array.
    weight_sum: f64,
    /// `algorithm="SAMME.R"`: members vote with their log-probabilities.
    samme_r: bool,
    n_features: usize,
}

impl AdaBoost {
    fn from_object(obj: &Object) -> Result<AdaBoost, SklearnError> {
        let class = obj.class_name();
        let bad = |r: String| SklearnError::bad_model(class, r);
        let samme_r = match obj.get("algorithm").and_then(|v| v.as_str()) {
            Some("SAMME.R") => class == "AdaBoostClassifier",
            None | Some("SAMME" | "deprecated") => false,
            Some(alg) => {
                return Err(bad(format!(
                    "algorithm {alg:?} is not supported (SAMME or SAMME.R)"
                )));
            }
        };
        let classes = if class.ends_with("Classifier") {
            Some(flat_tree::classes(obj)?)
        } else {
            None
        };
        let all_weights = crate::attrs::f64_vec(obj, "estimator_weights_")?;
        let objects = crate::forest::estimator_objects(obj, "estimators_")?;
        if objects.is_empty() || objects.len() > all_weights.len() {
            return Err(bad(format!(
                "{} estimators for {} weights",
                objects.len(),
                all_weights.len()
            )));
        }
        let members = objects
            .iter()
            .map(|o| {
                crate::registry::build_nested(&oxserve_pickle::Value::Object(Box::new(
                    (*o).clone(),
                )))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let n_features = match crate::attrs::n_features_in(obj) {
            Some(n) => n,
            None => members[0]
                .n_features_in()
                .ok_or_else(|| bad("missing `n_features_in_`".into()))?,
        };
        if members
            .iter()
            .any(|m| m.n_features_in().is_some_and(|f| f != n_features))
        {
            return Err(bad(format!(
                "members disagree with n_features_in_ {n_features}"
            )));
        }
        Ok(AdaBoost {
            class: class.to_string(),
            classes,
            weights: all_weights[..members.len()].to_vec(),
            weight_sum: all_weights.iter().sum(),
            samme_r,
            members,
            n_features,
        })
    }

    /// SAMME decision values, row-major `rows × K` (before the binary fold).
    fn votes(&self, x: &Matrix, classes: &Labels) -> Result<Vec<f64>, SklearnError> {
        let k = classes.len();
        let n = x.rows();
        let mut pred = vec![0.0; n * k];
        // `-1 / (n_classes - 1) * w` in sklearn: the factor first, then times w.
        let other = if k > 1 { -1.0 / (k as f64 - 1.0) } else { 0.0 };
        if self.samme_r {
            for m in &self.members {
                self.add_samme_r(m.as_ref(), x, k, &mut pred)?;
            }
        }
        for (m, &w) in self
            .members
            .iter()
            .zip(&self.weights)
            .filter(|_| !self.samme_r)
        {
            let Output::Labels(labels) = m.call(Method::Predict, x)? else {
                return Err(SklearnError::BadInput(format!(
                    "{} member did not predict labels",
                    self.class
                )));
            };
            let idx = crate::math::label_positions(&labels, classes);
            if idx.len() != n {
                return Err(SklearnError::BadInput(format!(
                    "{} member returned {} labels",
                    self.class,
                    idx.len()
                )));
            }
            for (r, hit) in idx.into_iter().enumerate() {
                for (c, p) in pred[r * k..(r + 1) * k].iter_mut().enumerate() {
                    *p += if hit == Some(c) { w } else { other * w };
                }
            }
        }
        for p in &mut pred {
            *p /= self.weight_sum;
        }
        Ok(pred)
    }

    /// Adds one member's SAMME.R vote, scikit-learn ≤ 1.5's `_samme_proba`, to `pred` (`rows × k`).
    fn add_samme_r(
        &self,
        m: &dyn Estimator,
        x: &Matrix,
        k: usize,
        pred: &mut [f64],
    ) -> Result<(), SklearnError> {
        let Output::Matrix(proba) = m.call(Method::PredictProba, x)? else {
            return Err(SklearnError::BadInput(format!(
                "{} member did not return probabilities",
                self.class
            )));
        };
        if proba.cols() != k || proba.rows() != x.rows() {
            return Err(SklearnError::BadInput(format!(
                "{} member returned {}×{} probabilities for {} rows and {k} classes",
                self.class,
                proba.rows(),
                proba.cols(),
                x.rows()
            )));
        }
        let (kf, inv_k) = (k as f64 - 1.0, 1.0 / k as f64);
        let mut logs = vec![0.0; k];
        for (row, out) in proba.data().chunks_exact(k).zip(pred.chunks_exact_mut(k)) {
            for (l, &p) in logs.iter_mut().zip(row) {
                *l = p.max(f64::EPSILON).ln();
            }
            let mean = inv_k * logs.iter().sum::<f64>();
            for (o, &l) in out.iter_mut().zip(&logs) {
                *o += kf * (l - mean);
            }
        }
        Ok(())
    }

    fn decision(&self, x: &Matrix, classes: &Labels) -> Result<Output, SklearnError> {
        let k = classes.len();
        let n = x.rows();
        if k == 1 {
            return Ok(Output::Matrix(Matrix::zeros(n, 1)));
        }
        let votes = self.votes(x, classes)?;
        if k == 2 {
            return Ok(Output::Column(
                votes.chunks_exact(2).map(|v| -v[0] + v[1]).collect(),
            ));
        }
        Ok(Output::Matrix(Matrix::new(n, k, votes)?))
    }

    fn median(&self, x: &Matrix) -> Result<Vec<f64>, SklearnError> {
        let n = x.rows();
        let t = self.members.len();
        let mut preds = vec![0.0; n * t];
        for (j, m) in self.members.iter().enumerate() {
            let col = match m.call(Method::Predict, x)? {
                Output::Column(v) => v,
                Output::Labels(Labels::Float(v)) => v,
                _ => {
                    return Err(SklearnError::BadInput(format!(
                        "{} member did not predict one value",
                        self.class
                    )));
                }
            };
            if col.len() != n {
                return Err(SklearnError::BadInput(format!(
                    "{} member returned {} values",
                    self.class,
                    col.len()
                )));
            }
            for (r, v) in col.into_iter().enumerate() {
                preds[r * t + j] = v;
            }
        }
        let mut order: Vec<usize> = Vec::with_capacity(t);
        let mut out = Vec::with_capacity(n);
        for row in preds.chunks_exact(t) {
            order.clear();
            order.extend(0..t);
            order.sort_by(|&a, &b| row[a].total_cmp(&row[b]));
            let total: f64 = order.iter().map(|&j| self.weights[j]).sum();
            let mut cdf = 0.0;
            let mut chosen = order[t - 1];
            for &j in &order {
                cdf += self.weights[j];
                if cdf >= 0.5 * total {
                    chosen = j;
                    break;
                }
            }
            out.push(row[chosen]);
        }
        Ok(out)
    }
}

impl Estimator for AdaBoost {
    fn class_name(&self) -> &str {
        &self.class
    }

    fn n_features_in(&self) -> Option<usize> {
        Some(self.n_features)
    }

    fn supports(&self, method: Method) -> bool {
        match method {
            Method::Predict => true,
            Method::PredictProba | Method::DecisionFunction => self.classes.is_some(),
            _ => false,
        }
    }

    fn call(&self, method: Method, x: &Matrix) -> Result<Output, SklearnError> {
        if !self.supports(method) {
            return Err(self.no_method(method));
        }
        flat_tree::check_batch(x, self.n_features, &self.class, Finite::Require)?;
        let n = x.rows();
        let Some(classes) = &self.classes else {
            return Ok(Output::Column(self.median(x)?));
        };
        let k = classes.len();
        let decision = self.decision(x, classes)?;
        match (method, decision) {
            (Method::DecisionFunction, d) => Ok(d),
            (Method::Predict, Output::Column(d)) => {
                let idx: Vec<usize> = d.iter().map(|&v| usize::from(v > 0.0)).collect();
                Ok(Output::Labels(classes.take(&idx)))
            }
            (Method::Predict, Output::Matrix(m)) => Ok(Output::Labels(
                crate::math::argmax_labels_flat(m.data(), m.cols(), classes),
            )),
            (_, Output::Column(d)) => {
                let mut out = Vec::with_capacity(2 * n);
                for v in d {
                    let mut row = [-v / 2.0, v / 2.0];
                    flat_tree::softmax_in_place(&mut row);
                    out.extend(row);
                }
                Ok(Output::Matrix(Matrix::new(n, 2, out)?))
            }
            (_, Output::Matrix(mut m)) if k == 1 => {
                m.data_mut().iter_mut().for_each(|v| *v = 1.0);
                Ok(Output::Matrix(m))
            }
            (_, Output::Matrix(mut m)) => {
                let scale = k as f64 - 1.0;
                for i in 0..n {
                    let row = m.row_mut(i);
                    row.iter_mut().for_each(|v| *v /= scale);
                    flat_tree::softmax_in_place(row);
                }
                Ok(Output::Matrix(m))
            }
            (_, Output::Labels(_)) => Err(self.no_method(method)),
        }
    }

    fn classes(&self) -> Option<&Labels> {
        self.classes.as_ref()
    }
}
