//! `LinearDiscriminantAnalysis` (a linear classifier plus its projection `transform`) and
//! `QuadraticDiscriminantAnalysis` (per-class Gaussian log-posteriors).

use oxserve_pickle::Object;

use crate::attrs;
use crate::linear::coef_intercept;
use crate::math::{
    affine, argmax_labels, check_input, expit, matmul, softmax_rows, threshold_labels, two_columns,
};
use crate::{Estimator, Labels, Matrix, Method, Output, SklearnError};

/// The classes this family builds.
pub(crate) const CLASSES: &[&str] = &[
    "LinearDiscriminantAnalysis",
    "QuadraticDiscriminantAnalysis",
];

/// Builds `obj` when it is one of [`CLASSES`].
pub(crate) fn build(obj: &Object) -> Option<Result<Box<dyn Estimator>, SklearnError>> {
    match obj.class_name() {
        "LinearDiscriminantAnalysis" => {
            Some(Lda::from_object(obj).map(|e| Box::new(e) as Box<dyn Estimator>))
        }
        "QuadraticDiscriminantAnalysis" => {
            Some(Qda::from_object(obj).map(|e| Box::new(e) as Box<dyn Estimator>))
        }
        _ => None,
    }
}

/// `LinearDiscriminantAnalysis`.
#[derive(Debug)]
struct Lda {
    coef: Matrix,
    intercept: Vec<f64>,
    classes: Labels,
    /// `transform`: subtract `xbar_` (svd solver only), multiply by the first `_max_components` columns of
    /// `scalings_`. `None` for the lsqr solver, which has no `transform`.
    projection: Option<(Option<Vec<f64>>, Matrix)>,
}

impl Lda {
    fn from_object(obj: &Object) -> Result<Self, SklearnError> {
        let class = obj.class_name();
        let (coef, intercept, _) = coef_intercept(obj)?;
        let classes = attrs::classes(obj, &[])?;
        if !((coef.rows() == 1 && classes.len() == 2) || coef.rows() == classes.len()) {
            return Err(SklearnError::bad_model(
                class,
                "`coef_` does not match `classes_`",
            ));
        }
        let solver = attrs::opt_str(obj, "solver").unwrap_or("svd");
        let projection = match solver {
            "svd" | "eigen" => {
                let scalings = attrs::matrix(obj, "scalings_")?;
                let max_c = attrs::opt(obj, "_max_components")
                    .and_then(|v| v.as_i64())
                    .and_then(|m| usize::try_from(m).ok())
                    .unwrap_or(scalings.cols())
                    .min(scalings.cols());
                let mut cut = Matrix::zeros(scalings.rows(), max_c);
                for r in 0..scalings.rows() {
                    cut.row_mut(r).copy_from_slice(&scalings.row(r)[..max_c]);
                }
                let xbar = if solver == "svd" {
                    Some(attrs::f64_vec(obj, "xbar_")?)
                } else {
                    None
                };
                if cut.rows() != coef.cols()
                    || xbar.as_ref().is_some_and(|x| x.len() != coef.cols())
                {
                    return Err(SklearnError::bad_model(
                        class,
                        "`scalings_`/`xbar_` do not match `coef_`",
                    ));
                }
                Some((xbar, cut))
            }
            _ => None,
        };
        Ok(Lda {
            coef,
            intercept,
            classes,
            projection,
        })
    }
}

impl Estimator for Lda {
    fn class_name(&self) -> &str {
        "LinearDiscriminantAnalysis"
    }

    fn n_features_in(&self) -> Option<usize> {
        Some(self.coef.cols())
    }

    fn supports(&self, method: Method) -> bool {
        match method {
            Method::Predict | Method::PredictProba | Method::DecisionFunction => true,
            Method::Transform => self.projection.is_some(),
            Method::ScoreSamples => false,
        }
    }

    fn call(&self, method: Method, x: &Matrix) -> Result<Output, SklearnError> {
        if !self.supports(method) {
            return Err(self.no_method(method));
        }
        check_input(
            x,
            Some(self.coef.cols()),
            "LinearDiscriminantAnalysis",
            false,
        )?;
        if method == Method::Transform {
            let Some((xbar, scalings)) = &self.projection else {
                return Err(self.no_method(method));
            };
            let out = match xbar {
                Some(mean) => {
                    let mut centred = x.clone();
                    let f = centred.cols();
                    if f > 0 {
                        for row in centred.data_mut().chunks_exact_mut(f) {
                            row.iter_mut().zip(mean).for_each(|(v, m)| *v -= m);
                        }
                    }
                    matmul(&centred, scalings)
                }
                None => matmul(x, scalings),
            };
            return Ok(Output::Matrix(out));
        }
        let d = affine(x, &self.coef, &self.intercept);
        let binary = d.cols() == 1;
        Ok(match method {
            Method::Predict if binary => {
                Output::Labels(threshold_labels(d.data(), &self.classes, 0.0))
            }
            Method::Predict => Output::Labels(argmax_labels(&d, &self.classes)),
            Method::DecisionFunction if binary => Output::Column(d.into_data()),
            Method::DecisionFunction => Output::Matrix(d),
            _ if binary => {
                let p: Vec<f64> = d.data().iter().map(|&v| expit(v)).collect();
                Output::Matrix(two_columns(&p))
            }
            _ => {
                let mut d = d;
                softmax_rows(&mut d);
                Output::Matrix(d)
            }
        })
    }

    fn classes(&self) -> Option<&Labels> {
        Some(&self.classes)
    }
}

/// `QuadraticDiscriminantAnalysis`.
#[derive(Debug)]
struct Qda {
    classes: Labels,
    means: Matrix,
    /// Per class, `rotations_[k] · diag(scalings_[k]^{−½})` (features × rank).
    whiten: Vec<Matrix>,
    /// Per class, `Σ log scalings_[k]`.
    log_det: Vec<f64>,
    log_prior: Vec<f64>,
}

impl Qda {
    fn from_object(obj: &Object) -> Result<Self, SklearnError> {
        let class = obj.class_name();
        let classes = attrs::classes(obj, &[])?;
        let means = attrs::matrix(obj, "means_")?;
        let priors = attrs::f64_vec(obj, "priors_")?;
        let rotations = attrs::seq(obj, "rotations_")?;
        let scalings = attrs::seq(obj, "scalings_")?;
        let k = classes.len();
        if means.rows() != k || priors.len() != k || rotations.len() != k || scalings.len() != k {
            return Err(SklearnError::bad_model(
                class,
                "per-class attributes do not match `classes_`",
            ));
        }
        let mut whiten = Vec::with_capacity(k);
        let mut log_det = Vec::with_capacity(k);
        for (r, s) in rotations.iter().zip(scalings) {
            let mut r = attrs::matrix_of(r, class, "rotations_")?;
            let s = attrs::f64_of(s, class, "scalings_")?;
            if r.cols() != s.len() || r.rows() != means.cols() {
                return Err(SklearnError::bad_model(
                    class,
                    "`rotations_` and `scalings_` do not match",
                ));
            }
            let c = r.cols();
            if c > 0 {
                for row in r.data_mut().chunks_exact_mut(c) {
                    row.iter_mut()
                        .zip(&s)
                        .for_each(|(v, sv)| *v *= sv.powf(-0.5));
                }
            }
            whiten.push(r);
            log_det.push(s.iter().map(|v| v.ln()).sum());
        }
        Ok(Qda {
            classes,
            means,
            whiten,
            log_det,
            log_prior: priors.iter().map(|p| p.ln()).collect(),
        })
    }

    fn scores(&self, x: &Matrix) -> Result<Matrix, SklearnError> {
        check_input(
            x,
            Some(self.means.cols()),
            "QuadraticDiscriminantAnalysis",
            false,
        )?;
        let k = self.classes.len();
        let f = x.cols();
        let mut out = Matrix::zeros(x.rows(), k);
        let mut centred = vec![0.0; f];
        for (r, xr) in x.iter_rows().enumerate() {
            for i in 0..k {
                for ((c, v), m) in centred.iter_mut().zip(xr).zip(self.means.row(i)) {
                    *c = v - m;
                }
                let w = &self.whiten[i];
                let mut norm2 = 0.0;
                for col in 0..w.cols() {
                    let mut z = 0.0;
                    for (j, c) in centred.iter().enumerate() {
                        z += c * w.row(j)[col];
                    }
                    norm2 += z * z;
                }
                out.row_mut(r)[i] = -0.5 * (norm2 + self.log_det[i]) + self.log_prior[i];
            }
        }
        Ok(out)
    }
}

impl Estimator for Qda {
    fn class_name(&self) -> &str {
        "QuadraticDiscriminantAnalysis"
    }

    fn n_features_in(&self) -> Option<usize> {
        Some(self.means.cols())
    }

    fn supports(&self, method: Method) -> bool {
        matches!(
            method,
            Method::Predict | Method::PredictProba | Method::DecisionFunction
        )
    }

    fn call(&self, method: Method, x: &Matrix) -> Result<Output, SklearnError> {
        let s = self.scores(x)?;
        match method {
            Method::Predict => Ok(Output::Labels(argmax_labels(&s, &self.classes))),
            Method::DecisionFunction if self.classes.len() == 2 => {
                Ok(Output::Column(s.iter_rows().map(|r| r[1] - r[0]).collect()))
            }
            Method::DecisionFunction => Ok(Output::Matrix(s)),
            Method::PredictProba => Ok(Output::Matrix(posterior(s))),
            _ => Err(self.no_method(method)),
        }
    }

    fn classes(&self) -> Option<&Labels> {
        Some(&self.classes)
    }
}

/// scikit-learn's `DiscriminantAnalysisPredictionMixin.predict_proba`: `ll = s − max s`, then
/// `exp(ll − log Σ exp(ll))`.
pub(crate) fn posterior(mut s: Matrix) -> Matrix {
    let k = s.cols();
    if k == 0 {
        return s;
    }
    for row in s.data_mut().chunks_exact_mut(k) {
        let max = row.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        row.iter_mut().for_each(|v| *v -= max);
        let lse = row.iter().map(|v| v.exp()).sum::<f64>().ln();
        row.iter_mut().for_each(|v| *v = (*v - lse).exp());
    }
    s
}
