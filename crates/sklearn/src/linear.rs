//! Linear models: `X · coef_ᵀ + intercept_`, read as regression outputs, as class scores (argmax / sign), or as
//! probabilities (logistic, softmax, SGD's modified Huber).

use oxserve_pickle::Object;

use crate::attrs;
use crate::math::{self, affine, argmax_labels, check_input, expit, threshold_labels, two_columns};
use crate::{Estimator, Labels, Matrix, Method, Output, SklearnError, SparseMatrix};

/// The classes this family builds.
pub(crate) const CLASSES: &[&str] = &[
    "ARDRegression",
    "BayesianRidge",
    "ElasticNet",
    "ElasticNetCV",
    "GammaRegressor",
    "HuberRegressor",
    "Lars",
    "LarsCV",
    "Lasso",
    "LassoCV",
    "LassoLars",
    "LassoLarsCV",
    "LassoLarsIC",
    "LinearRegression",
    "LinearSVC",
    "LinearSVR",
    "LogisticRegression",
    "LogisticRegressionCV",
    "OrthogonalMatchingPursuit",
    "PassiveAggressiveClassifier",
    "PassiveAggressiveRegressor",
    "Perceptron",
    "PoissonRegressor",
    "QuantileRegressor",
    "Ridge",
    "RidgeCV",
    "RidgeClassifier",
    "RidgeClassifierCV",
    "SGDClassifier",
    "SGDRegressor",
    "TheilSenRegressor",
    "TweedieRegressor",
];

/// Builds `obj` when it is one of [`CLASSES`].
pub(crate) fn build(obj: &Object) -> Option<Result<Box<dyn Estimator>, SklearnError>> {
    let name = obj.class_name();
    if !CLASSES.contains(&name) {
        return None;
    }
    Some(match name {
        "LogisticRegression"
        | "LogisticRegressionCV"
        | "RidgeClassifier"
        | "RidgeClassifierCV"
        | "SGDClassifier"
        | "Perceptron"
        | "LinearSVC"
        | "PassiveAggressiveClassifier" => {
            LinearClassifier::from_object(obj).map(|e| Box::new(e) as Box<dyn Estimator>)
        }
        _ => LinearRegressor::from_object(obj).map(|e| Box::new(e) as Box<dyn Estimator>),
    })
}

/// Reads `coef_` as a (k × f) matrix and `intercept_` broadcast to k values; also reports whether `coef_` is 2-D.
pub(crate) fn coef_intercept(obj: &Object) -> Result<(Matrix, Vec<f64>, bool), SklearnError> {
    let coef = attrs::matrix(obj, "coef_")?;
    let two_d = attrs::ndim(obj, "coef_") == 2;
    let intercept = match attrs::opt(obj, "intercept_") {
        Some(_) => attrs::f64_vec(obj, "intercept_")?,
        None => vec![0.0],
    };
    let intercept = match intercept.len() {
        1 => vec![intercept[0]; coef.rows()],
        n if n == coef.rows() => intercept,
        n => {
            return Err(SklearnError::bad_model(
                obj.class_name(),
                format!(
                    "`intercept_` has {n} values for {} rows of `coef_`",
                    coef.rows()
                ),
            ));
        }
    };
    Ok((coef, intercept, two_d))
}

/// The inverse link a generalised linear model applies to `X · coef_ᵀ + intercept_`.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Link {
    Identity,
    /// `exp`, the log link of Poisson/Gamma/Tweedie (power > 0) regressors.
    Log,
}

/// A linear regressor (`LinearRegression`, `Ridge`, `Lasso`, `ElasticNet`, `SGDRegressor`, `LinearSVR`, GLMs, ...).
#[derive(Debug)]
struct LinearRegressor {
    class: String,
    coef: Matrix,
    intercept: Vec<f64>,
    /// `coef_` is 2-D: `predict` returns one column per target (even for a single target).
    multi_output: bool,
    link: Link,
}

impl LinearRegressor {
    fn from_object(obj: &Object) -> Result<Self, SklearnError> {
        let (coef, intercept, multi_output) = coef_intercept(obj)?;
        let link = match obj.class_name() {
            "PoissonRegressor" | "GammaRegressor" => Link::Log,
            "TweedieRegressor" => {
                let power = attrs::opt(obj, "power")
                    .and_then(|v| v.as_f64())
                    .unwrap_or(0.0);
                match attrs::opt_str(obj, "link").unwrap_or("auto") {
                    "log" => Link::Log,
                    "identity" => Link::Identity,
                    _ if power > 0.0 => Link::Log,
                    _ => Link::Identity,
                }
            }
            _ => Link::Identity,
        };
        Ok(LinearRegressor {
            class: obj.class_name().to_string(),
            coef,
            intercept,
            multi_output,
            link,
        })
    }
}

impl Estimator for LinearRegressor {
    fn class_name(&self) -> &str {
        &self.class
    }

    fn n_features_in(&self) -> Option<usize> {
        Some(self.coef.cols())
    }

    fn supports(&self, method: Method) -> bool {
        method == Method::Predict
    }

    fn call(&self, method: Method, x: &Matrix) -> Result<Output, SklearnError> {
        if method != Method::Predict {
            return Err(self.no_method(method));
        }
        check_input(x, Some(self.coef.cols()), &self.class, false)?;
        let mut out = affine(x, &self.coef, &self.intercept);
        if self.link == Link::Log {
            out.data_mut().iter_mut().for_each(|v| *v = v.exp());
        }
        Ok(if self.multi_output {
            Output::Matrix(out)
        } else {
            Output::Column(out.into_data())
        })
    }
}

/// How a linear classifier turns its decision values into probabilities.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Proba {
    /// No `predict_proba` (hinge losses, `LinearSVC`, `RidgeClassifier`, `Perceptron`).
    None,
    /// Multinomial: softmax over the class scores; binary: `[1 − expit, expit]`.
    Softmax,
    /// One-vs-rest logistic: `expit` per class, rows normalised (an all-zero row becomes uniform); binary as above.
    /// scikit-learn's `_predict_proba_lr`, used by `SGDClassifier(loss='log_loss')` and by pre-1.7
    /// `LogisticRegression(multi_class='ovr')` pickles.
    OvrLogistic,
    /// `SGDClassifier(loss='modified_huber')`: `(clip(d, −1, 1) + 1) / 2`, normalised like [`Proba::OvrLogistic`].
    ModifiedHuber,
}

/// A linear classifier: `LogisticRegression`, `SGDClassifier`, `LinearSVC`, `RidgeClassifier`, `Perceptron`, ...
#[derive(Debug)]
pub(crate) struct LinearClassifier {
    class: String,
    coef: Matrix,
    intercept: Vec<f64>,
    classes: Labels,
    proba: Proba,
}

impl LinearClassifier {
    fn from_object(obj: &Object) -> Result<Self, SklearnError> {
        let name = obj.class_name();
        let (coef, intercept, _) = coef_intercept(obj)?;
        let classes = attrs::classes(obj, &["_label_binarizer"])?;
        let k = classes.len();
        let binary = coef.rows() == 1;
        if k < 2 || (binary && k != 2) || (!binary && coef.rows() != k) {
            return Err(SklearnError::bad_model(
                name,
                format!(
                    "`coef_` has {} rows for {k} classes (multilabel models are not supported)",
                    coef.rows()
                ),
            ));
        }
        let proba = match name {
            "LogisticRegression" | "LogisticRegressionCV" => {
                // Pickles from scikit-learn < 1.7 may hold a one-vs-rest multiclass model (`multi_class='ovr'`, or
                // `'auto'` with liblinear); 1.9 always fits a multinomial one.
                let multi_class = attrs::opt_str(obj, "multi_class").unwrap_or("auto");
                let solver = attrs::opt_str(obj, "solver").unwrap_or("lbfgs");
                if multi_class == "ovr" || (multi_class == "auto" && solver == "liblinear") {
                    Proba::OvrLogistic
                } else {
                    Proba::Softmax
                }
            }
            "SGDClassifier" => match attrs::opt_str(obj, "loss").unwrap_or("hinge") {
                "log_loss" | "log" => Proba::OvrLogistic,
                "modified_huber" => Proba::ModifiedHuber,
                _ => Proba::None,
            },
            _ => Proba::None,
        };
        Ok(LinearClassifier {
            class: name.to_string(),
            coef,
            intercept,
            classes,
            proba,
        })
    }

    fn scores(&self, x: &Matrix) -> Result<Matrix, SklearnError> {
        check_input(x, Some(self.coef.cols()), &self.class, false)?;
        Ok(affine(x, &self.coef, &self.intercept))
    }

    fn probabilities(&self, scores: Matrix) -> Matrix {
        let binary = self.coef.rows() == 1;
        match self.proba {
            Proba::None => scores,
            Proba::Softmax if !binary => {
                let mut s = scores;
                math::softmax_rows(&mut s);
                s
            }
            Proba::Softmax | Proba::OvrLogistic | Proba::ModifiedHuber => {
                let f = |d: f64| {
                    if self.proba == Proba::ModifiedHuber {
                        (d.clamp(-1.0, 1.0) + 1.0) / 2.0
                    } else {
                        expit(d)
                    }
                };
                let mut s = scores;
                if binary {
                    s.data_mut().iter_mut().for_each(|v| *v = f(*v));
                    return two_columns(s.data());
                }
                let k = s.cols();
                for row in s.data_mut().chunks_exact_mut(k) {
                    row.iter_mut().for_each(|v| *v = f(*v));
                    let sum: f64 = row.iter().sum();
                    if sum == 0.0 {
                        row.iter_mut().for_each(|v| *v = 1.0 / k as f64);
                    } else {
                        row.iter_mut().for_each(|v| *v /= sum);
                    }
                }
                s
            }
        }
    }
}

impl Estimator for LinearClassifier {
    fn class_name(&self) -> &str {
        &self.class
    }

    fn n_features_in(&self) -> Option<usize> {
        Some(self.coef.cols())
    }

    fn supports(&self, method: Method) -> bool {
        match method {
            Method::Predict | Method::DecisionFunction => true,
            Method::PredictProba => self.proba != Proba::None,
            Method::Transform | Method::ScoreSamples => false,
        }
    }

    fn call(&self, method: Method, x: &Matrix) -> Result<Output, SklearnError> {
        if !self.supports(method) {
            return Err(self.no_method(method));
        }
        let scores = self.scores(x)?;
        Ok(self.finish(method, scores))
    }

    fn call_sparse(&self, method: Method, x: &SparseMatrix) -> Result<Output, SklearnError> {
        if !self.supports(method) {
            return Err(self.no_method(method));
        }
        x.expect_features(self.coef.cols(), &self.class)?;
        let scores = x.affine(&self.coef, &self.intercept);
        Ok(self.finish(method, scores))
    }

    fn classes(&self) -> Option<&Labels> {
        Some(&self.classes)
    }
}

impl LinearClassifier {
    /// The method's output from the decision scores (`X · coef_ᵀ + intercept_`), dense or sparse input alike.
    fn finish(&self, method: Method, scores: Matrix) -> Output {
        let binary = scores.cols() == 1;
        match method {
            Method::Predict if binary => {
                Output::Labels(threshold_labels(scores.data(), &self.classes, 0.0))
            }
            Method::Predict => Output::Labels(argmax_labels(&scores, &self.classes)),
            Method::DecisionFunction if binary => Output::Column(scores.into_data()),
            Method::DecisionFunction => Output::Matrix(scores),
            _ => Output::Matrix(self.probabilities(scores)),
        }
    }
}
