//! `CalibratedClassifierCV` with `method="sigmoid"` (`_SigmoidCalibration`) or `"isotonic"`
//! (`IsotonicRegression`), `ensemble=True` (one calibrated classifier per fold) or `False` (one), in every layout
//! scikit-learn wrote: 0.20–0.23's `_CalibratedClassifier` with `base_estimator`, `calibrators_` and
//! `label_encoder_`; 0.24–1.1's `base_estimator`, `calibrators`, `classes`; 1.2+'s `estimator`.
//!
//! Each calibrated classifier takes its estimator's `decision_function` when it has one, else `predict_proba`
//! (binary: the positive column), feeds column `j` to calibrator `j`, and writes it in the column of the estimator's
//! class `j` among the calibrated classes (binary: the positive one). Binary: `p₀ = 1 − p₁`. Multiclass: each row
//! divided by its sum; a row summing to zero is uniform (≥ 0.24: where the sum is 0; ≤ 0.23: where the division
//! gave NaN). Values in `(1, 1 + 1e-5]` become 1. `CalibratedClassifierCV.predict_proba` is the mean over the
//! calibrated classifiers (summed in order, then divided by their count) and `predict` its argmax.

use oxserve_pickle::{Object, Value};

use crate::attrs;
use crate::math::{argmax_labels, expit, output_matrix};
use crate::{Estimator, Labels, Matrix, Method, Output, SklearnError};

/// The classes this family builds.
pub(crate) const CLASSES: &[&str] = &["CalibratedClassifierCV"];

/// Builds `obj` when it is one of [`CLASSES`].
pub(crate) fn build(obj: &Object) -> Option<Result<Box<dyn Estimator>, SklearnError>> {
    if !CLASSES.contains(&obj.class_name()) {
        return None;
    }
    Some(Calibrated::from_object(obj).map(|e| Box::new(e) as Box<dyn Estimator>))
}

/// A fitted `CalibratedClassifierCV`.
#[derive(Debug)]
pub(crate) struct Calibrated {
    classes: Labels,
    members: Vec<Member>,
    n_features: Option<usize>,
}

/// One `_CalibratedClassifier`: a fitted classifier and one calibrator per column of its response.
#[derive(Debug)]
struct Member {
    estimator: Box<dyn Estimator>,
    calibrators: Vec<Calibrator>,
    /// For each column of the estimator's response, the calibrated class it scores.
    columns: Vec<usize>,
    /// 0.20–0.23's normalisation (NaN → uniform) rather than ≥ 0.24's (zero sum → uniform).
    legacy: bool,
}

/// A fitted calibrator.
#[derive(Debug)]
enum Calibrator {
    /// `_SigmoidCalibration`: `expit(−(a·t + b))`.
    Sigmoid { a: f64, b: f64 },
    /// `IsotonicRegression`: linear interpolation between thresholds (numpy's `interp`, as scipy's `interp1d`
    /// calls it for float64 data), after clipping to `[X_min_, X_max_]` (`out_of_bounds="clip"`), else NaN
    /// outside it (`"nan"`) or an error (`"raise"`).
    Isotonic {
        x: Vec<f64>,
        y: Vec<f64>,
        bounds: OutOfBounds,
        min: f64,
        max: f64,
    },
}

/// `IsotonicRegression.out_of_bounds`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OutOfBounds {
    Clip,
    Nan,
    Raise,
}

impl Calibrator {
    fn from_value(value: &Value, owner: &str) -> Result<Calibrator, SklearnError> {
        let Value::Object(obj) = value else {
            return Err(SklearnError::bad_model(
                owner,
                format!("a calibrator is a {}, not an object", value.kind()),
            ));
        };
        let class = obj.class_name();
        match class {
            "_SigmoidCalibration" => Ok(Calibrator::Sigmoid {
                a: attrs::float(obj, "a_")?,
                b: attrs::float(obj, "b_")?,
            }),
            "IsotonicRegression" => {
                // 0.24 renamed `_necessary_X_` / `_necessary_y_` to `X_thresholds_` / `y_thresholds_`.
                let pick = |new: &str, old: &str| {
                    attrs::f64_vec(obj, if obj.get(new).is_some() { new } else { old })
                };
                let x = pick("X_thresholds_", "_necessary_X_")?;
                let y = pick("y_thresholds_", "_necessary_y_")?;
                if x.len() != y.len() || x.is_empty() {
                    return Err(SklearnError::bad_model(
                        class,
                        format!("{} thresholds for {} values", x.len(), y.len()),
                    ));
                }
                if x.windows(2)
                    .any(|w| w[0].partial_cmp(&w[1]).is_none_or(|o| o.is_gt()))
                {
                    return Err(SklearnError::bad_model(
                        class,
                        "`X_thresholds_` is not sorted",
                    ));
                }
                let bounds = match attrs::opt_str(obj, "out_of_bounds").unwrap_or("nan") {
                    "clip" => OutOfBounds::Clip,
                    "nan" => OutOfBounds::Nan,
                    "raise" => OutOfBounds::Raise,
                    other => {
                        return Err(SklearnError::bad_model(
                            class,
                            format!("out_of_bounds {other:?} is not one of clip, nan, raise"),
                        ));
                    }
                };
                let (min, max) = match (obj.get("X_min_"), obj.get("X_max_")) {
                    (Some(_), Some(_)) => {
                        (attrs::float(obj, "X_min_")?, attrs::float(obj, "X_max_")?)
                    }
                    _ => (x[0], x[x.len() - 1]),
                };
                Ok(Calibrator::Isotonic {
                    x,
                    y,
                    bounds,
                    min,
                    max,
                })
            }
            other => Err(SklearnError::bad_model(
                owner,
                format!(
                    "calibrator {other} is not supported (_SigmoidCalibration, IsotonicRegression)"
                ),
            )),
        }
    }

    fn predict(&self, t: f64) -> Result<f64, SklearnError> {
        match self {
            Calibrator::Sigmoid { a, b } => Ok(expit(-(a * t + b))),
            Calibrator::Isotonic {
                x,
                y,
                bounds,
                min,
                max,
            } => {
                let t = match bounds {
                    OutOfBounds::Clip => t.max(*min).min(*max),
                    _ => t,
                };
                if y.len() == 1 {
                    return Ok(y[0]);
                }
                let (lo, hi) = (x[0], x[x.len() - 1]);
                if t < lo || t > hi {
                    return match bounds {
                        OutOfBounds::Raise => Err(SklearnError::BadInput(format!(
                            "IsotonicRegression: a value {t} is outside the fitted range [{lo}, {hi}]"
                        ))),
                        _ => Ok(f64::NAN),
                    };
                }
                Ok(interp(t, x, y))
            }
        }
    }
}

/// numpy's `interp(t, x, y)` for `x[0] ≤ t ≤ x[last]` (or NaN), with its exact arithmetic: the segment's slope
/// `(y[j+1] − y[j]) / (x[j+1] − x[j])` times `t − x[j]`, plus `y[j]`; a knot returns its value.
fn interp(t: f64, x: &[f64], y: &[f64]) -> f64 {
    if t.is_nan() {
        return t;
    }
    let j = x.partition_point(|&v| v <= t).saturating_sub(1);
    if j + 1 >= x.len() || x[j] == t {
        return y[j];
    }
    let slope = (y[j + 1] - y[j]) / (x[j + 1] - x[j]);
    let v = slope * (t - x[j]) + y[j];
    if v.is_nan() {
        let w = slope * (t - x[j + 1]) + y[j + 1];
        if w.is_nan() && y[j] == y[j + 1] {
            return y[j];
        }
        return w;
    }
    v
}

impl Member {
    fn from_value(value: &Value, classes: &Labels, owner: &str) -> Result<Member, SklearnError> {
        let Value::Object(obj) = value else {
            return Err(SklearnError::bad_model(
                owner,
                format!("`calibrated_classifiers_` holds a {}", value.kind()),
            ));
        };
        let class = obj.class_name();
        let est_key = ["estimator", "base_estimator"]
            .into_iter()
            .find(|k| matches!(obj.get(k), Some(Value::Object(_))))
            .ok_or_else(|| SklearnError::bad_model(class, "missing attribute `estimator`"))?;
        let estimator = crate::registry::build_nested(attrs::req(obj, est_key)?)?;
        let legacy = obj.get("calibrators_").is_some();
        let cal_key = if legacy {
            "calibrators_"
        } else {
            "calibrators"
        };
        if let Some(method) = attrs::opt_str(obj, "method")
            && !matches!(method, "sigmoid" | "isotonic")
        {
            return Err(SklearnError::bad_model(
                class,
                format!("method {method:?} is not supported (sigmoid, isotonic)"),
            ));
        }
        let calibrators = attrs::seq(obj, cal_key)?
            .iter()
            .map(|c| Calibrator::from_value(c, class))
            .collect::<Result<Vec<_>, _>>()?;
        let k = classes.len();
        // `label_encoder.transform(estimator.classes_)`: where each of the estimator's classes sits among the
        // calibrated ones.
        let columns: Vec<usize> = match estimator.classes() {
            Some(est_classes) => {
                let idx = crate::math::label_positions(est_classes, classes);
                idx.into_iter().collect::<Option<Vec<_>>>().ok_or_else(|| {
                    SklearnError::bad_model(
                        class,
                        "the estimator's classes are not among the calibrated classes",
                    )
                })?
            }
            None => (0..k).collect(),
        };
        let expected = if k == 2 { 1 } else { k };
        if k < 2 || calibrators.len() != expected || columns.len() < calibrators.len() {
            return Err(SklearnError::bad_model(
                class,
                format!(
                    "{} calibrators for {k} classes and an estimator with {} classes",
                    calibrators.len(),
                    columns.len()
                ),
            ));
        }
        Ok(Member {
            estimator,
            calibrators,
            columns,
            legacy,
        })
    }

    /// `_CalibratedClassifier.predict_proba`, rows × `k`.
    fn predict_proba(&self, x: &Matrix, k: usize) -> Result<Vec<f64>, SklearnError> {
        let est = self.estimator.as_ref();
        let n = x.rows();
        let response = if est.supports(Method::DecisionFunction) {
            output_matrix(est.call(Method::DecisionFunction, x)?, n, est.class_name())?
        } else if est.supports(Method::PredictProba) {
            let p = output_matrix(est.call(Method::PredictProba, x)?, n, est.class_name())?;
            if k == 2 && p.cols() == 2 {
                Matrix::new(n, 1, crate::math::column(&p, 1))?
            } else {
                p
            }
        } else {
            return Err(SklearnError::BadInput(format!(
                "{} has neither decision_function nor predict_proba",
                est.class_name()
            )));
        };
        if response.rows() != n || response.cols() < self.calibrators.len() {
            return Err(SklearnError::BadInput(format!(
                "{} returned {} columns for {} calibrators",
                est.class_name(),
                response.cols(),
                self.calibrators.len()
            )));
        }
        let mut proba = vec![0.0; n * k];
        for (j, cal) in self.calibrators.iter().enumerate() {
            let col = if k == 2 { 1 } else { self.columns[j] };
            for r in 0..n {
                proba[r * k + col] = cal.predict(response.row(r)[j])?;
            }
        }
        for row in proba.chunks_exact_mut(k) {
            if k == 2 {
                row[0] = 1.0 - row[1];
            } else {
                let sum: f64 = row.iter().sum();
                if self.legacy {
                    row.iter_mut().for_each(|p| {
                        *p /= sum;
                        if p.is_nan() {
                            *p = 1.0 / k as f64;
                        }
                    });
                } else if sum != 0.0 {
                    row.iter_mut().for_each(|p| *p /= sum);
                } else {
                    row.iter_mut().for_each(|p| *p = 1.0 / k as f64);
                }
            }
            for p in row.iter_mut() {
                if *p > 1.0 && *p <= 1.0 + 1e-5 {
                    *p = 1.0;
                }
            }
        }
        Ok(proba)
    }
}

impl Calibrated {
    fn from_object(obj: &Object) -> Result<Calibrated, SklearnError> {
        let class = obj.class_name();
        let classes = attrs::labels(obj, "classes_")?;
        let members = attrs::seq(obj, "calibrated_classifiers_")?
            .iter()
            .map(|m| Member::from_value(m, &classes, class))
            .collect::<Result<Vec<_>, _>>()?;
        if members.is_empty() {
            return Err(SklearnError::bad_model(
                class,
                "`calibrated_classifiers_` is empty",
            ));
        }
        let n_features = attrs::n_features_in(obj).or_else(|| members[0].estimator.n_features_in());
        Ok(Calibrated {
            classes,
            members,
            n_features,
        })
    }

    fn predict_proba(&self, x: &Matrix) -> Result<Matrix, SklearnError> {
        let k = self.classes.len();
        let mut mean = vec![0.0; x.rows() * k];
        for m in &self.members {
            for (acc, p) in mean.iter_mut().zip(m.predict_proba(x, k)?) {
                *acc += p;
            }
        }
        let count = self.members.len() as f64;
        mean.iter_mut().for_each(|p| *p /= count);
        Matrix::new(x.rows(), k, mean)
    }
}

impl Estimator for Calibrated {
    fn class_name(&self) -> &str {
        "CalibratedClassifierCV"
    }

    fn n_features_in(&self) -> Option<usize> {
        self.n_features
    }

    fn supports(&self, method: Method) -> bool {
        matches!(method, Method::Predict | Method::PredictProba)
    }

    fn call(&self, method: Method, x: &Matrix) -> Result<Output, SklearnError> {
        if let Some(n) = self.n_features {
            x.expect_features(n, self.class_name())?;
        }
        match method {
            Method::PredictProba => Ok(Output::Matrix(self.predict_proba(x)?)),
            Method::Predict => {
                let p = self.predict_proba(x)?;
                Ok(Output::Labels(argmax_labels(&p, &self.classes)))
            }
            _ => Err(self.no_method(method)),
        }
    }

    fn classes(&self) -> Option<&Labels> {
        Some(&self.classes)
    }
}

#[cfg(test)]
mod tests {
    use super::interp;

    #[test]
    fn interp_matches_numpy() {
        let x = [0.0, 1.0, 3.0];
        let y = [0.0, 0.5, 1.0];
        assert_eq!(interp(0.0, &x, &y), 0.0);
        assert_eq!(interp(1.0, &x, &y), 0.5);
        assert_eq!(interp(2.0, &x, &y), 0.75);
        assert_eq!(interp(3.0, &x, &y), 1.0);
        assert!(interp(f64::NAN, &x, &y).is_nan());
    }
}
