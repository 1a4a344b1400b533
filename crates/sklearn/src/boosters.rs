//! The scikit-learn wrappers of XGBoost (`xgboost.sklearn.XGBClassifier`, `XGBRegressor`, `XGBRFClassifier`,
//! `XGBRFRegressor`, `XGBRanker`) and LightGBM (`lightgbm.sklearn.LGBMClassifier`, `LGBMRegressor`, `LGBMRanker`)
//! inside a pickle, alone or as a step of a `Pipeline` / `ColumnTransformer`.
//!
//! The wrapper's state holds its booster (`_Booster`), whose own pickled state is the model itself: XGBoost keeps
//! the bytes of `XGBoosterSerializeToBuffer` under `handle` (a `{"Config", "Model"}` document: UBJSON since 1.6,
//! JSON text in 1.5), LightGBM its text model under
//! `_handle` (4.x) or `handle` (3.x). Those bytes go through `oxserve-xgboost` and `oxserve-lightgbm`, the same
//! engines `xgboost-server` and `lightgbm-server` use; nothing of the libraries runs.
//!
//! Methods follow the wrappers: `predict` of a regressor or ranker is `Booster.predict`; a classifier's
//! `predict_proba` is the booster's probabilities (two columns `[1 − p, p]` for a binary model) and its `predict`
//! the class at the largest probability (XGBoost: `p > 0.5` for a binary model), mapped through `classes_`.
//! XGBoost's wrappers predict with `iteration_range = (0, best_iteration + 1)` after early stopping and treat the
//! wrapper's `missing` value as missing; LightGBM's with the booster's `best_iteration`.

use oxserve_lightgbm as lgb;
use oxserve_pickle::{Object, Value};
use oxserve_xgboost as xgb;

use crate::attrs;
use crate::math::argmax;
use crate::{Estimator, Labels, Matrix, Method, Output, SklearnError};

/// The classes this family builds (in the `xgboost.sklearn` and `lightgbm.sklearn` modules only).
pub(crate) const CLASSES: &[&str] = &[
    "XGBClassifier",
    "XGBRegressor",
    "XGBRFClassifier",
    "XGBRFRegressor",
    "XGBRanker",
    "LGBMClassifier",
    "LGBMRegressor",
    "LGBMRanker",
];

/// Builds `obj` when it is one of [`CLASSES`] from its library's module.
pub(crate) fn build(obj: &Object) -> Option<Result<Box<dyn Estimator>, SklearnError>> {
    let name = obj.class_name();
    if !CLASSES.contains(&name) {
        return None;
    }
    Some(match obj.class.module.as_str() {
        "xgboost.sklearn" if name.starts_with("XGB") => {
            XgbEngine::wrapper(obj).map(|e| Box::new(e) as Box<dyn Estimator>)
        }
        "lightgbm.sklearn" if name.starts_with("LGBM") => {
            LgbEngine::wrapper(obj).map(|e| Box::new(e) as Box<dyn Estimator>)
        }
        _ => return None,
    })
}

/// The wrapper's fitted booster object (`_Booster`), checked to be of `class`.
fn booster_object<'a>(obj: &'a Object, class: &str) -> Result<&'a Object, SklearnError> {
    let bad = |reason: String| SklearnError::bad_model(obj.class_name(), reason);
    match obj.get("_Booster") {
        None | Some(Value::None) => Err(bad(
            "no `_Booster`: the estimator was pickled before `fit`".into(),
        )),
        Some(Value::Object(b)) if b.class.dotted() == class => Ok(b),
        Some(other) => Err(bad(format!(
            "`_Booster` is a {}, expected a {class}",
            other.kind()
        ))),
    }
}

/// An integer attribute that must be at least `min` (`n_classes_`, `_n_classes`).
fn count_at_least(obj: &Object, key: &str, min: i64) -> Result<usize, SklearnError> {
    let n = attrs::int(obj, key)?;
    if n < min {
        return Err(SklearnError::bad_model(
            obj.class_name(),
            format!("`{key}` is {n}, expected at least {min}"),
        ));
    }
    usize::try_from(n).map_err(|_| {
        SklearnError::bad_model(obj.class_name(), format!("`{key}` {n} is out of range"))
    })
}

/// Checks the classes a classifier wrapper keeps against the booster's outputs: one output for two classes, one
/// output per class for more.
fn check_classes(
    class: &str,
    classes: &Labels,
    n_classes: usize,
    booster_outputs: usize,
) -> Result<(), SklearnError> {
    if classes.len() != n_classes {
        return Err(SklearnError::bad_model(
            class,
            format!(
                "{} classes in `classes_` but the class count is {n_classes}",
                classes.len()
            ),
        ));
    }
    check_outputs(class, n_classes, booster_outputs)
}

/// Checks a classifier wrapper's class count against the booster's outputs: one output for two classes, one
/// output per class for more.
fn check_outputs(
    class: &str,
    n_classes: usize,
    booster_outputs: usize,
) -> Result<(), SklearnError> {
    let want = if n_classes == 2 { 1 } else { n_classes };
    if booster_outputs != want {
        return Err(SklearnError::bad_model(
            class,
            format!(
                "{n_classes} classes need a booster with {want} output(s), the pickled booster has {booster_outputs}"
            ),
        ));
    }
    Ok(())
}

/// What the XGBoost and LightGBM wrappers compute differently; [`Wrapper`] does the rest.
trait Engine: Send + Sync + std::fmt::Debug {
    /// The booster's input columns.
    fn n_features(&self) -> usize;
    /// The wrapper's `predict` for a regressor or ranker: `Booster.predict` with the wrapper's options.
    fn values(&self, x: &Matrix) -> Result<xgb::Output, SklearnError>;
    /// A classifier's `predict_proba`.
    fn proba(&self, x: &Matrix) -> Result<Matrix, SklearnError>;
    /// A classifier's `predict`.
    fn labels(&self, x: &Matrix, classes: &Labels) -> Result<Labels, SklearnError>;
}

/// A scikit-learn wrapper of either library.
#[derive(Debug)]
struct Wrapper<E> {
    class: String,
    engine: E,
    /// Classifiers: `classes_`.
    classes: Option<Labels>,
}

impl<E: Engine> Estimator for Wrapper<E> {
    fn class_name(&self) -> &str {
        &self.class
    }

    fn n_features_in(&self) -> Option<usize> {
        Some(self.engine.n_features())
    }

    fn supports(&self, method: Method) -> bool {
        match method {
            Method::Predict => true,
            Method::PredictProba => self.classes.is_some(),
            _ => false,
        }
    }

    fn call(&self, method: Method, x: &Matrix) -> Result<Output, SklearnError> {
        x.expect_features(self.engine.n_features(), &self.class)?;
        match (method, &self.classes) {
            (Method::Predict, Some(classes)) => Ok(Output::Labels(self.engine.labels(x, classes)?)),
            (Method::Predict, None) => {
                let out = self.engine.values(x)?;
                if out.n_cols == 1 {
                    Ok(Output::Column(out.values))
                } else {
                    Ok(Output::Matrix(Matrix::new(
                        out.n_rows, out.n_cols, out.values,
                    )?))
                }
            }
            (Method::PredictProba, Some(_)) => Ok(Output::Matrix(self.engine.proba(x)?)),
            _ => Err(self.no_method(method)),
        }
    }

    fn classes(&self) -> Option<&Labels> {
        self.classes.as_ref()
    }
}

/// An XGBoost wrapper's booster and prediction options.
#[derive(Debug)]
struct XgbEngine {
    booster: xgb::Booster,
    opts: xgb::Predict,
    /// The wrapper's `missing` when it is not NaN: inputs equal to it are missing.
    missing: Option<f64>,
}

impl XgbEngine {
    fn wrapper(obj: &Object) -> Result<Wrapper<XgbEngine>, SklearnError> {
        let class = obj.class_name();
        let bad = |reason: String| SklearnError::bad_model(class, reason);
        let inner = booster_object(obj, "xgboost.core.Booster")?;
        let handle = match inner.get("handle") {
            Some(Value::Bytes(b)) => b,
            Some(other) => {
                return Err(bad(format!(
                    "the booster's `handle` is a {}, expected the model's bytes",
                    other.kind()
                )));
            }
            None => return Err(bad("the booster has no `handle` (no model bytes)".into())),
        };
        let booster = xgb::Booster::load_serialized(handle)
            .map_err(|e| bad(format!("the pickled booster: {e}")))?;
        // `XGBModel._get_iteration_range`: rounds up to `best_iteration` when the booster has one; gblinear: all.
        // XGBoost 1.x pickles it as a Python attribute of the booster (set by `train` even without early
        // stopping); 2.x and 3.x read the model's `best_iteration` attribute, written by early stopping.
        let best = match inner.get("best_iteration") {
            None | Some(Value::None) => booster.best_iteration(),
            Some(v) => Some(
                v.as_i64()
                    .and_then(|b| usize::try_from(b).ok())
                    .ok_or_else(|| {
                        bad(format!(
                            "the booster's `best_iteration` is a {}, not a round",
                            v.kind()
                        ))
                    })?,
            ),
        };
        let mut opts = xgb::Predict::default();
        if booster.kind() != xgb::BoosterKind::GbLinear
            && let Some(best) = best
        {
            let end = best.saturating_add(1);
            if end > booster.n_rounds() {
                return Err(bad(format!(
                    "best_iteration {best} is beyond the booster's {} rounds",
                    booster.n_rounds()
                )));
            }
            opts.iteration_range = Some((0, end));
        }
        let missing = match obj.get("missing") {
            None | Some(Value::None) => None,
            Some(v) => match v.as_f64() {
                Some(m) if m.is_nan() => None,
                Some(m) => Some(m),
                None => return Err(bad(format!("`missing` is a {}, not a number", v.kind()))),
            },
        };
        let classes = if class.ends_with("Classifier") {
            let n_classes = count_at_least(obj, "n_classes_", 2)?;
            // Checked against the booster's outputs before `classes_` is derived from it.
            check_outputs(class, n_classes, booster.n_outputs())?;
            // XGBoost ≥ 2.0 derives `classes_` (`arange(n_classes_)`); 1.x pickles it.
            let classes = match attrs::opt(obj, "classes_") {
                Some(_) => attrs::labels(obj, "classes_")?,
                None => Labels::Int((0..n_classes as i64).collect()),
            };
            check_classes(class, &classes, n_classes, booster.n_outputs())?;
            Some(classes)
        } else {
            None
        };
        Ok(Wrapper {
            class: class.to_string(),
            engine: XgbEngine {
                booster,
                opts,
                missing,
            },
            classes,
        })
    }

    /// The batch as the booster reads it: values equal to `missing` made NaN (compared in float32, as XGBoost's
    /// `IsValidFunctor` compares the float32 input with the float32 `missing`; NaN is always missing).
    fn rows<'a>(&self, x: &'a Matrix) -> std::borrow::Cow<'a, [f64]> {
        match self.missing {
            None => std::borrow::Cow::Borrowed(x.data()),
            Some(m) => {
                let m = m as f32;
                std::borrow::Cow::Owned(
                    x.data()
                        .iter()
                        .map(|&v| if v as f32 == m { f64::NAN } else { v })
                        .collect(),
                )
            }
        }
    }
}

impl Engine for XgbEngine {
    fn n_features(&self) -> usize {
        self.booster.n_features()
    }

    fn values(&self, x: &Matrix) -> Result<xgb::Output, SklearnError> {
        let data = self.rows(x);
        self.booster
            .predict(xgb::Rows::F64(&data), &self.opts)
            .map_err(|e| SklearnError::BadInput(e.to_string()))
    }

    /// `XGBClassifier.predict_proba`: probabilities per class (`[1 − p, p]` for one output, in float32 as numpy
    /// computes it on XGBoost's float32 output); `multi:softmax` models give the softmax of their margins.
    fn proba(&self, x: &Matrix) -> Result<Matrix, SklearnError> {
        let out = if self.booster.link() == xgb::Link::ArgMax {
            let data = self.rows(x);
            let mut m = self
                .booster
                .predict_margin(xgb::Rows::F64(&data), &self.opts)
                .map_err(|e| SklearnError::BadInput(e.to_string()))?;
            m.values
                .chunks_mut(m.n_cols.max(1))
                .for_each(crate::math::softmax_in_place);
            m
        } else {
            self.values(x)?
        };
        if out.n_cols == 1 {
            let mut m = Matrix::zeros(out.n_rows, 2);
            for (row, &p) in m.data_mut().chunks_exact_mut(2).zip(&out.values) {
                row[0] = f64::from(1.0f32 - p as f32);
                row[1] = p;
            }
            return Ok(m);
        }
        Matrix::new(out.n_rows, out.n_cols, out.values)
    }

    /// `XGBClassifier.predict`: the argmax class, `p > 0.5` for one output, the class index of `multi:softmax`.
    fn labels(&self, x: &Matrix, classes: &Labels) -> Result<Labels, SklearnError> {
        let out = self.values(x)?;
        let last = classes.len().saturating_sub(1);
        let idx: Vec<usize> = if self.booster.link() == xgb::Link::ArgMax {
            out.values
                .iter()
                .map(|&c| (c.max(0.0) as usize).min(last))
                .collect()
        } else if out.n_cols > 1 {
            out.values
                .chunks(out.n_cols)
                .map(|r| argmax(r).min(last))
                .collect()
        } else {
            out.values
                .iter()
                .map(|&p| usize::from(p > 0.5).min(last))
                .collect()
        };
        Ok(classes.take(&idx))
    }
}

/// A LightGBM wrapper's booster and prediction options.
#[derive(Debug)]
struct LgbEngine {
    booster: lgb::Booster,
    opts: lgb::Predict,
}

impl LgbEngine {
    fn wrapper(obj: &Object) -> Result<Wrapper<LgbEngine>, SklearnError> {
        let class = obj.class_name();
        let bad = |reason: String| SklearnError::bad_model(class, reason);
        let inner = booster_object(obj, "lightgbm.basic.Booster")?;
        // LightGBM 4.x keeps the model text under `_handle`, 3.x under `handle`.
        let text = match inner.get("_handle").or_else(|| inner.get("handle")) {
            Some(Value::Str(s)) => s,
            Some(other) => {
                return Err(bad(format!(
                    "the booster's model is a {}, expected the model text",
                    other.kind()
                )));
            }
            None => return Err(bad("the booster has no model text (`_handle`)".into())),
        };
        let booster =
            lgb::Booster::from_text(text).map_err(|e| bad(format!("the pickled booster: {e}")))?;
        if let Some(n) = attrs::opt(obj, "_n_features").and_then(Value::as_i64)
            && n != booster.n_features() as i64
        {
            return Err(bad(format!(
                "`_n_features` is {n} but the booster reads {} features",
                booster.n_features()
            )));
        }
        // `Booster.predict(num_iteration=None)` uses the booster's `best_iteration` (≤ 0: every iteration).
        let best = match inner.get("best_iteration") {
            None | Some(Value::None) => 0,
            Some(v) => v.as_i64().ok_or_else(|| {
                bad(format!(
                    "the booster's `best_iteration` is a {}, not an integer",
                    v.kind()
                ))
            })?,
        };
        let opts = lgb::Predict {
            num_iteration: usize::try_from(best).ok().filter(|&b| b > 0),
            ..lgb::Predict::default()
        };
        let classes = if class == "LGBMClassifier" {
            let n_classes = count_at_least(obj, "_n_classes", 2)?;
            let classes = attrs::labels(obj, "_classes")?;
            check_classes(class, &classes, n_classes, booster.n_outputs())?;
            Some(classes)
        } else {
            if booster.n_outputs() != 1 {
                return Err(bad(format!(
                    "a {class} needs a booster with one output, the pickled booster has {}",
                    booster.n_outputs()
                )));
            }
            None
        };
        Ok(Wrapper {
            class: class.to_string(),
            engine: LgbEngine { booster, opts },
            classes,
        })
    }
}

impl Engine for LgbEngine {
    fn n_features(&self) -> usize {
        self.booster.n_features()
    }

    fn values(&self, x: &Matrix) -> Result<lgb::Output, SklearnError> {
        self.booster
            .predict(lgb::Rows::F64(x.data()), &self.opts)
            .map_err(|e| SklearnError::BadInput(e.to_string()))
    }

    /// `LGBMClassifier.predict_proba`: the booster's probabilities, `[1 − p, p]` for a binary model.
    fn proba(&self, x: &Matrix) -> Result<Matrix, SklearnError> {
        let out = self.values(x)?;
        if out.n_cols == 1 {
            return Ok(crate::math::two_columns(&out.values));
        }
        Matrix::new(out.n_rows, out.n_cols, out.values)
    }

    /// `LGBMClassifier.predict`: `argmax(predict_proba)` through the label encoder.
    fn labels(&self, x: &Matrix, classes: &Labels) -> Result<Labels, SklearnError> {
        Ok(crate::math::argmax_labels(&self.proba(x)?, classes))
    }
}
