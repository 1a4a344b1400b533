//! Gradient boosting on regression trees: `GradientBoostingClassifier` (binary and multiclass) and
//! `GradientBoostingRegressor` (any loss).
//!
//! `raw = init + Σ_stages learning_rate · tree(float32 X)`, accumulated stage by stage as sklearn's
//! `predict_stages` does. The init comes from `init_`: `'zero'`, a `DummyClassifier`/`DummyRegressor` (its prior or
//! constant through the loss's link), or any other estimator this crate builds (its `predict_proba`/`predict` on
//! the float32 batch, through the same link). The link and clip are those of the scikit-learn that saved the model
//! (`_loss`'s class and `_sklearn_version`): multiclass `log(p)` up to 1.3, `log(p / gmean(p))` from 1.4;
//! probabilities clipped at float32's epsilon up to 1.7, float64's from 1.8. Classifier: binary `decision_function = raw`, `predict = raw ≥ 0`
//! (sklearn's `>=`, unlike HGB's `>`), `predict_proba = [1−expit(raw), expit(raw)]` (`expit(2·raw)` for the
//! exponential loss); multiclass softmax / argmax. Regressor: `predict = raw` (every GB regression loss has the
//! identity link). NaN and infinity are rejected, as sklearn's `validate_data` does here.

use oxserve_pickle::{ArrayData, Object, Value};

use crate::flat_tree::{self, Finite, SkTree, TREE_RULES, Trees};
use crate::{Estimator, Labels, Matrix, Method, Output, SklearnError};

/// The classes this family builds.
pub(crate) const CLASSES: &[&str] = &["GradientBoostingClassifier", "GradientBoostingRegressor"];

/// Builds `obj` when it is one of [`CLASSES`].
pub(crate) fn build(obj: &Object) -> Option<Result<Box<dyn Estimator>, SklearnError>> {
    if !CLASSES.contains(&obj.class_name()) {
        return None;
    }
    Some(GradientBoosting::from_object(obj).map(|g| Box::new(g) as Box<dyn Estimator>))
}

/// The classifier's link between probabilities and raw scores.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Link {
    /// Regression: identity.
    Identity,
    /// Binary `log_loss`: logit / expit.
    Logit,
    /// Binary `exponential`: ½·logit / expit(2·raw).
    HalfLogit,
    /// Multiclass `log_loss`: symmetric multinomial logit / softmax.
    Multinomial,
}

/// Where the raw scores start.
#[derive(Debug)]
enum Init {
    /// Raw scores per output, the same for every row (`'zero'`, or a dummy estimator through the link).
    Constant(Vec<f64>),
    /// Another estimator: its `predict_proba` (classifier) or `predict` (regressor) through the link.
    Estimator(Box<dyn Estimator>),
}

/// How the scikit-learn that saved the model turned init probabilities into raw scores (`_init_raw_predictions`).
#[derive(Debug, Clone, Copy)]
struct InitRule {
    /// Multiclass: the symmetric `log(p / gmean(p))` of 1.4+'s `HalfMultinomialLoss`, or `false` for
    /// `log(p)` as ≤ 1.3's `sklearn.ensemble._gb_losses.MultinomialDeviance` computed it.
    centred: bool,
    /// The clip `[eps, 1 − eps]`: float32's epsilon up to scikit-learn 1.7, float64's from 1.8.
    eps: f64,
}

impl InitRule {
    fn of(obj: &Object) -> InitRule {
        let legacy_loss = ["_loss", "loss_"]
            .iter()
            .filter_map(|k| obj.get(k).and_then(Value::as_object))
            .any(|l| {
                matches!(
                    l.class.module.as_str(),
                    "sklearn.ensemble._gb_losses" | "sklearn.ensemble.gradient_boosting"
                )
            });
        let before_1_8 = obj
            .get("_sklearn_version")
            .and_then(Value::as_str)
            .and_then(|v| {
                let mut parts = v.split('.').map(|p| p.parse::<u32>().ok());
                Some((parts.next()??, parts.next()??))
            })
            .is_some_and(|version| version < (1, 8));
        InitRule {
            centred: !legacy_loss,
            eps: if before_1_8 {
                f64::from(f32::EPSILON)
            } else {
                f64::EPSILON
            },
        }
    }
}

/// A fitted gradient boosting model.
#[derive(Debug)]
pub(crate) struct GradientBoosting {
    class: String,
    classes: Option<Labels>,
    /// Stage-major: tree `s * k + j` is stage `s`, output `j`, its leaves scaled by the learning rate.
    trees: Trees,
    /// Trees per stage (`n_trees_per_iteration_`): 1, or the number of classes.
    k: usize,
    init: Init,
    link: Link,
    init_rule: InitRule,
    n_features: usize,
}

impl GradientBoosting {
    fn from_object(obj: &Object) -> Result<GradientBoosting, SklearnError> {
        let class = obj.class_name();
        let bad = |r: String| SklearnError::bad_model(class, r);
        let classes = if class.ends_with("Classifier") {
            Some(flat_tree::classes(obj)?)
        } else {
            None
        };
        let learning_rate = crate::attrs::float(obj, "learning_rate")?;
        let est = crate::attrs::array(obj, "estimators_")?;
        let (n_stages, k) = match est.shape.as_slice() {
            [s, k] => (*s, *k),
            other => {
                return Err(bad(format!(
                    "`estimators_` has shape {other:?}, expected 2-D"
                )));
            }
        };
        let ArrayData::Object(items) = &est.data else {
            return Err(bad("`estimators_` is not an object array".into()));
        };
        if n_stages == 0 || k == 0 || items.len() != n_stages * k {
            return Err(bad(format!("`estimators_` has shape [{n_stages}, {k}]")));
        }
        let link = match &classes {
            None => Link::Identity,
            Some(c) if c.len() == 2 && k == 1 => {
                if obj.get("loss").and_then(Value::as_str) == Some("exponential") {
                    Link::HalfLogit
                } else {
                    Link::Logit
                }
            }
            Some(c) if c.len() == k && k > 2 => Link::Multinomial,
            Some(c) => return Err(bad(format!("{} classes but {k} trees per stage", c.len()))),
        };
        let mut raws = Vec::with_capacity(items.len());
        let mut n_features = None;
        for (i, item) in items.iter().enumerate() {
            let tree_obj = item
                .as_object()
                .ok_or_else(|| bad(format!("`estimators_` item {i} is a {}", item.kind())))?;
            let sk = SkTree::from_estimator(tree_obj)?;
            if sk.n_outputs != 1 {
                return Err(bad(format!("stage tree {i} has {} outputs", sk.n_outputs)));
            }
            if *n_features.get_or_insert(sk.n_features) != sk.n_features {
                return Err(bad(format!(
                    "stage tree {i} has {} features",
                    sk.n_features
                )));
            }
            // sklearn's `predict_stages`: `out[i, j] += learning_rate * value` per stage, i.e. the leaf value
            // times the tree's weight.
            raws.push(
                sk.regression(i % k, learning_rate)
                    .map_err(|e| bad(format!("stage tree {i}: {e}")))?,
            );
        }
        let n_features = n_features.unwrap_or(0);
        let trees = Trees::new(&raws, n_features, k, TREE_RULES).map_err(&bad)?;
        drop(raws);
        let init_rule = InitRule::of(obj);
        let init = Self::init(obj, link, init_rule, k)?;
        Ok(GradientBoosting {
            class: class.to_string(),
            classes,
            trees,
            k,
            init,
            link,
            init_rule,
            n_features,
        })
    }

    fn init(obj: &Object, link: Link, rule: InitRule, k: usize) -> Result<Init, SklearnError> {
        let class = obj.class_name();
        let init = crate::attrs::req(obj, "init_")?;
        if init.as_str() == Some("zero") {
            return Ok(Init::Constant(vec![0.0; k]));
        }
        let Some(init_obj) = init.as_object() else {
            return Err(SklearnError::bad_model(
                class,
                format!("`init_` is a {}", init.kind()),
            ));
        };
        match init_obj.class_name() {
            "DummyClassifier" => {
                let strategy = init_obj
                    .get("strategy")
                    .and_then(Value::as_str)
                    .unwrap_or("prior");
                if strategy != "prior" {
                    return Err(SklearnError::bad_model(
                        class,
                        format!(
                            "init DummyClassifier(strategy={strategy:?}) is not supported (only 'prior')"
                        ),
                    ));
                }
                let prior = crate::attrs::f64_vec(init_obj, "class_prior_")?;
                let raw = link_probabilities(&prior, link, rule, k).ok_or_else(|| {
                    SklearnError::bad_model(class, "init prior does not match the classes")
                })?;
                Ok(Init::Constant(raw))
            }
            "DummyRegressor" => {
                let c = crate::attrs::f64_vec(init_obj, "constant_")?;
                if c.len() != k {
                    return Err(SklearnError::bad_model(
                        class,
                        format!("init constant_ has {} values", c.len()),
                    ));
                }
                Ok(Init::Constant(c))
            }
            _ => Ok(Init::Estimator(crate::registry::build_nested(
                &Value::Object(Box::new(init_obj.clone())),
            )?)),
        }
    }

    /// Raw scores, row-major `rows × k`.
    fn raw(&self, x: &Matrix) -> Result<Vec<f64>, SklearnError> {
        flat_tree::check_rows(x, self.n_features, &self.class, Finite::Require)?;
        let n = x.rows();
        let k = self.k;
        let mut raw = match &self.init {
            Init::Constant(c) => c.iter().copied().cycle().take(n * k).collect::<Vec<f64>>(),
            Init::Estimator(est) => self.estimator_init(est.as_ref(), x)?,
        };
        self.trees.add_into(x.data(), &mut raw)?;
        Ok(raw)
    }

    fn estimator_init(&self, est: &dyn Estimator, x: &Matrix) -> Result<Vec<f64>, SklearnError> {
        let x32 = flat_tree::rounded_to_f32(x)?;
        let n = x.rows();
        let k = self.k;
        if self.link == Link::Identity {
            let out = match est.call(Method::Predict, &x32)? {
                Output::Column(v) => v,
                Output::Matrix(m) => m.into_data(),
                Output::Labels(Labels::Float(v)) => v,
                Output::Labels(Labels::Int(v)) => v.into_iter().map(|x| x as f64).collect(),
                Output::Labels(Labels::Str(_)) => {
                    return Err(SklearnError::BadInput(
                        "init estimator predicted strings".into(),
                    ));
                }
            };
            return if out.len() == n * k {
                Ok(out)
            } else {
                Err(SklearnError::BadInput(format!(
                    "init estimator returned {} values",
                    out.len()
                )))
            };
        }
        let Output::Matrix(p) = est.call(Method::PredictProba, &x32)? else {
            return Err(SklearnError::BadInput(
                "init estimator's predict_proba is not a matrix".into(),
            ));
        };
        let mut out = Vec::with_capacity(n * k);
        for row in p.iter_rows() {
            out.extend(
                link_probabilities(row, self.link, self.init_rule, k).ok_or_else(|| {
                    SklearnError::BadInput("init estimator's probabilities do not fit".into())
                })?,
            );
        }
        Ok(out)
    }
}

/// Probabilities → raw scores through the loss's link, after sklearn's clip to `[eps, 1 − eps]`.
fn link_probabilities(p: &[f64], link: Link, rule: InitRule, k: usize) -> Option<Vec<f64>> {
    let clip = |v: f64| v.clamp(rule.eps, 1.0 - rule.eps);
    match link {
        Link::Identity => None,
        Link::Logit | Link::HalfLogit => {
            let p1 = clip(*p.get(1)?);
            let z = flat_tree::logit(p1);
            Some(vec![if link == Link::HalfLogit { 0.5 * z } else { z }])
        }
        Link::Multinomial => {
            if p.len() != k {
                return None;
            }
            let c: Vec<f64> = p.iter().map(|&v| clip(v)).collect();
            if !rule.centred {
                return Some(c.iter().map(|v| v.ln()).collect());
            }
            // log(p / gmean(p)), gmean = exp(mean(log p)), as sklearn's MultinomialLogit.link.
            let gmean = (c.iter().map(|v| v.ln()).sum::<f64>() / k as f64).exp();
            Some(c.iter().map(|v| (v / gmean).ln()).collect())
        }
    }
}

impl Estimator for GradientBoosting {
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
        let raw = self.raw(x)?;
        let n = x.rows();
        let Some(classes) = &self.classes else {
            return Ok(Output::Column(raw));
        };
        let binary = self.k == 1;
        match method {
            Method::DecisionFunction if binary => Ok(Output::Column(raw)),
            Method::DecisionFunction => Ok(Output::Matrix(Matrix::new(n, self.k, raw)?)),
            Method::Predict if binary => {
                let idx: Vec<usize> = raw.iter().map(|&d| usize::from(d >= 0.0)).collect();
                Ok(Output::Labels(classes.take(&idx)))
            }
            Method::Predict => Ok(Output::Labels(crate::math::argmax_labels_flat(
                &raw, self.k, classes,
            ))),
            _ if binary => {
                let scale = if self.link == Link::HalfLogit {
                    2.0
                } else {
                    1.0
                };
                let mut out = Vec::with_capacity(2 * n);
                for &d in &raw {
                    let p = flat_tree::expit(scale * d);
                    out.extend([1.0 - p, p]);
                }
                Ok(Output::Matrix(Matrix::new(n, 2, out)?))
            }
            _ => {
                let mut m = Matrix::new(n, self.k, raw)?;
                for i in 0..n {
                    flat_tree::softmax_in_place(m.row_mut(i));
                }
                Ok(Output::Matrix(m))
            }
        }
    }

    fn classes(&self) -> Option<&Labels> {
        self.classes.as_ref()
    }
}
