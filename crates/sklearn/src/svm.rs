//! libsvm models as scikit-learn fits them: `SVC`, `NuSVC`, `SVR`, `NuSVR` and `OneClassSVM` with the linear,
//! polynomial, RBF and sigmoid kernels, one-vs-one voting, the `ovr` decision shape, and Platt-scaled pairwise
//! coupling for `predict_proba`.
//!
//! Everything is computed from the *private* fitted arrays (`_dual_coef_`, `_intercept_`, `_probA`, `_probB`),
//! which keep libsvm's own sign conventions; the public `dual_coef_`/`intercept_` are negated for two classes.

use oxserve_pickle::Object;

use crate::attrs;
use crate::math::{argmax, argmax_labels, check_input, dot};
use crate::{Estimator, Labels, Matrix, Method, Output, SklearnError};

/// The classes this family builds.
pub(crate) const CLASSES: &[&str] = &["SVC", "NuSVC", "SVR", "NuSVR", "OneClassSVM"];

/// Builds `obj` when it is one of [`CLASSES`].
pub(crate) fn build(obj: &Object) -> Option<Result<Box<dyn Estimator>, SklearnError>> {
    if !CLASSES.contains(&obj.class_name()) {
        return None;
    }
    Some(Svm::from_object(obj).map(|e| Box::new(e) as Box<dyn Estimator>))
}

/// scikit-learn's `_ovr_decision_function`: turns `K(K−1)/2` pairwise (prediction, confidence) results into `K`
/// scores, `votes + conf / (3(|conf| + 1))`. Pair `p` is `(i, j)` in the order (0,1), (0,2), …, (1,2), …; a
/// prediction of 0 votes for `i`, 1 for `j`; the confidence counts against `i` and for `j`.
pub(crate) fn ovr_decision(
    rows: usize,
    k: usize,
    pair: impl Fn(usize, usize) -> (f64, f64),
) -> Matrix {
    let mut out = Matrix::zeros(rows, k);
    let mut conf = vec![0.0; k];
    for r in 0..rows {
        conf.iter_mut().for_each(|c| *c = 0.0);
        let votes = out.row_mut(r);
        let mut p = 0;
        for i in 0..k {
            for j in i + 1..k {
                let (pred, c) = pair(r, p);
                conf[i] -= c;
                conf[j] += c;
                if pred == 0.0 {
                    votes[i] += 1.0;
                } else if pred == 1.0 {
                    votes[j] += 1.0;
                }
                p += 1;
            }
        }
        for (v, c) in votes.iter_mut().zip(&conf) {
            *v += c / (3.0 * (c.abs() + 1.0));
        }
    }
    out
}

/// A libsvm kernel with the fitted `_gamma`.
#[derive(Debug, Clone, Copy)]
enum Kernel {
    Linear,
    Poly { gamma: f64, coef0: f64, degree: i32 },
    Rbf { gamma: f64 },
    Sigmoid { gamma: f64, coef0: f64 },
}

/// libsvm's `powi`: exponentiation by squaring, reproduced for bit-equal polynomial kernels.
fn powi(base: f64, times: i32) -> f64 {
    let (mut tmp, mut ret) = (base, 1.0);
    let mut t = times;
    while t > 0 {
        if t % 2 == 1 {
            ret *= tmp;
        }
        tmp *= tmp;
        t /= 2;
    }
    ret
}

impl Kernel {
    fn eval(self, x: &[f64], s: &[f64]) -> f64 {
        match self {
            Kernel::Linear => dot(x, s),
            Kernel::Poly {
                gamma,
                coef0,
                degree,
            } => powi(gamma * dot(x, s) + coef0, degree),
            Kernel::Rbf { gamma } => {
                let sum: f64 = x.iter().zip(s).map(|(a, b)| (a - b) * (a - b)).sum();
                (-gamma * sum).exp()
            }
            Kernel::Sigmoid { gamma, coef0 } => (gamma * dot(x, s) + coef0).tanh(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Classifier,
    Regressor,
    OneClass,
}

/// A fitted libsvm model.
#[derive(Debug)]
struct Svm {
    class: String,
    kind: Kind,
    kernel: Kernel,
    support_vectors: Matrix,
    /// Start of each class's support vectors in `support_vectors` (classifiers), plus the end.
    starts: Vec<usize>,
    /// `_dual_coef_`: (K−1) × n_SV for classifiers, 1 × n_SV otherwise.
    dual: Matrix,
    /// `_intercept_`: one per pair (classifiers) or a single value.
    intercept: Vec<f64>,
    prob_a: Vec<f64>,
    prob_b: Vec<f64>,
    classes: Option<Labels>,
    ovr_shape: bool,
    break_ties: bool,
    /// `offset_` of a `OneClassSVM` (`score_samples = decision_function + offset_`).
    offset: f64,
}

impl Svm {
    fn from_object(obj: &Object) -> Result<Self, SklearnError> {
        let class = obj.class_name();
        let kind = match class {
            "SVC" | "NuSVC" => Kind::Classifier,
            "SVR" | "NuSVR" => Kind::Regressor,
            _ => Kind::OneClass,
        };
        let bad = |reason: String| SklearnError::bad_model(class, reason);
        let gamma = attrs::opt(obj, "_gamma")
            .and_then(|v| v.as_f64())
            .unwrap_or(0.0);
        let coef0 = attrs::opt(obj, "coef0")
            .and_then(|v| v.as_f64())
            .unwrap_or(0.0);
        let kernel = match attrs::string(obj, "kernel")? {
            "linear" => Kernel::Linear,
            "poly" => {
                let degree = attrs::opt(obj, "degree")
                    .and_then(|v| v.as_i64())
                    .unwrap_or(3);
                let degree = i32::try_from(degree)
                    .map_err(|_| bad(format!("degree {degree} out of range")))?;
                Kernel::Poly {
                    gamma,
                    coef0,
                    degree,
                }
            }
            "rbf" => Kernel::Rbf { gamma },
            "sigmoid" => Kernel::Sigmoid { gamma, coef0 },
            other => {
                return Err(bad(format!(
                    "kernel `{other}` is not supported (linear, poly, rbf, sigmoid are)"
                )));
            }
        };
        if obj
            .get("support_vectors_")
            .and_then(|v| v.as_array())
            .is_none()
        {
            return Err(bad(
                "`support_vectors_` is not a dense array (sparse-fitted models are not supported)"
                    .into(),
            ));
        }
        let support_vectors = attrs::matrix(obj, "support_vectors_")?;
        let dual = attrs::matrix(obj, "_dual_coef_")?;
        let intercept = attrs::f64_vec(obj, "_intercept_")?;
        let n_sv = support_vectors.rows();
        if dual.cols() != n_sv {
            return Err(bad(format!(
                "`_dual_coef_` has {} columns for {n_sv} support vectors",
                dual.cols()
            )));
        }
        let (classes, starts) = if kind == Kind::Classifier {
            let classes = attrs::classes(obj, &[])?;
            let k = classes.len();
            let counts = attrs::f64_vec(obj, "_n_support")?;
            // Each class's support vectors are a slice of `support_vectors_`: every count a whole number, the
            // running sum checked (a sum that wraps modulo 2^64 would pass a final-total check and then slice
            // out of range on every request).
            let mut starts = Vec::with_capacity(counts.len() + 1);
            starts.push(0usize);
            for &c in &counts {
                let end = (c.is_finite() && c >= 0.0 && c.fract() == 0.0 && c <= n_sv as f64)
                    .then(|| starts.last().copied().unwrap_or(0).checked_add(c as usize))
                    .flatten()
                    .filter(|&end| end <= n_sv)
                    .ok_or_else(|| {
                        bad(format!(
                            "`_n_support` {counts:?} does not split {n_sv} support vectors"
                        ))
                    })?;
                starts.push(end);
            }
            if k < 2 || counts.len() != k || starts.last() != Some(&n_sv) || dual.rows() != k - 1 {
                return Err(bad(format!(
                    "inconsistent support vector counts for {k} classes"
                )));
            }
            if intercept.len() != k * (k - 1) / 2 {
                return Err(bad(format!(
                    "`_intercept_` has {} values for {k} classes",
                    intercept.len()
                )));
            }
            (Some(classes), starts)
        } else {
            if dual.rows() != 1 || intercept.is_empty() {
                return Err(bad(
                    "expected one row of `_dual_coef_` and an intercept".into()
                ));
            }
            (None, vec![0, n_sv])
        };
        let probability = matches!(
            obj.get("probability"),
            Some(oxserve_pickle::Value::Bool(true))
        );
        let (prob_a, prob_b) = match (kind, probability) {
            (Kind::Classifier, true) => {
                let a = attrs::opt(obj, "_probA")
                    .map_or(Ok(Vec::new()), |_| attrs::f64_vec(obj, "_probA"))?;
                let b = attrs::opt(obj, "_probB")
                    .map_or(Ok(Vec::new()), |_| attrs::f64_vec(obj, "_probB"))?;
                if a.len() != intercept.len() || b.len() != intercept.len() {
                    (Vec::new(), Vec::new())
                } else {
                    (a, b)
                }
            }
            _ => (Vec::new(), Vec::new()),
        };
        Ok(Svm {
            class: class.to_string(),
            kind,
            kernel,
            support_vectors,
            starts,
            dual,
            intercept,
            prob_a,
            prob_b,
            classes,
            ovr_shape: attrs::opt_str(obj, "decision_function_shape") != Some("ovo"),
            break_ties: attrs::flag(obj, "break_ties", false),
            offset: attrs::opt(obj, "offset_")
                .and_then(|v| v.as_f64())
                .unwrap_or(0.0),
        })
    }

    fn n_classes(&self) -> usize {
        self.classes.as_ref().map_or(0, Labels::len)
    }

    /// libsvm's decision values: one per class pair for classifiers, one per row otherwise (n × pairs or n × 1).
    fn raw(&self, x: &Matrix) -> Result<Matrix, SklearnError> {
        check_input(x, Some(self.support_vectors.cols()), &self.class, false)?;
        let n_sv = self.support_vectors.rows();
        let mut kvals = vec![0.0; n_sv];
        let width = self.intercept.len().max(1);
        let width = if self.kind == Kind::Classifier {
            width
        } else {
            1
        };
        let mut out = Matrix::zeros(x.rows(), width);
        for (r, xr) in x.iter_rows().enumerate() {
            for (kv, s) in kvals.iter_mut().zip(self.support_vectors.iter_rows()) {
                *kv = self.kernel.eval(xr, s);
            }
            let orow = out.row_mut(r);
            if self.kind != Kind::Classifier {
                let coef = self.dual.row(0);
                let sum: f64 = coef.iter().zip(&kvals).map(|(c, k)| c * k).sum();
                orow[0] = sum + self.intercept[0];
                continue;
            }
            let k = self.n_classes();
            let mut p = 0;
            for i in 0..k {
                for j in i + 1..k {
                    let (si, ei) = (self.starts[i], self.starts[i + 1]);
                    let (sj, ej) = (self.starts[j], self.starts[j + 1]);
                    let coef_i = &self.dual.row(j - 1)[si..ei];
                    let coef_j = &self.dual.row(i)[sj..ej];
                    let mut sum = 0.0;
                    for (c, kv) in coef_i.iter().zip(&kvals[si..ei]) {
                        sum += c * kv;
                    }
                    for (c, kv) in coef_j.iter().zip(&kvals[sj..ej]) {
                        sum += c * kv;
                    }
                    orow[p] = sum + self.intercept[p];
                    p += 1;
                }
            }
        }
        Ok(out)
    }

    /// The public `decision_function` of a classifier from the raw pairwise values.
    fn classifier_decision(&self, raw: &Matrix) -> Output {
        let k = self.n_classes();
        if k == 2 {
            // scikit-learn flips the sign for two classes so that positive means `classes_[1]`.
            return Output::Column(raw.data().iter().map(|v| -v).collect());
        }
        if !self.ovr_shape {
            return Output::Matrix(raw.clone());
        }
        // scikit-learn calls `_ovr_decision_function(dec < 0, -dec, K)`: a pair votes for `i` when dec ≥ 0.
        Output::Matrix(ovr_decision(raw.rows(), k, |r, p| {
            let d = raw.row(r)[p];
            (if d < 0.0 { 1.0 } else { 0.0 }, -d)
        }))
    }

    /// libsvm's `svm_predict`: one-vs-one votes (`dec > 0` votes for the first class of the pair), first maximum.
    fn vote(&self, raw: &Matrix) -> Vec<usize> {
        let k = self.n_classes();
        let mut votes = vec![0.0; k];
        raw.iter_rows()
            .map(|row| {
                votes.iter_mut().for_each(|v| *v = 0.0);
                let mut p = 0;
                for i in 0..k {
                    for j in i + 1..k {
                        if row[p] > 0.0 {
                            votes[i] += 1.0;
                        } else {
                            votes[j] += 1.0;
                        }
                        p += 1;
                    }
                }
                argmax(&votes)
            })
            .collect()
    }

    /// libsvm's `svm_predict_probability`: Platt-scaled pairwise probabilities, then pairwise coupling.
    fn probabilities(&self, raw: &Matrix) -> Matrix {
        let k = self.n_classes();
        let mut out = Matrix::zeros(raw.rows(), k);
        let mut r = vec![0.0; k * k];
        let mut ws = Coupling::new(k);
        for (row, orow) in raw.iter_rows().zip(out.data_mut().chunks_exact_mut(k)) {
            let mut p = 0;
            for i in 0..k {
                for j in i + 1..k {
                    let f = row[p] * self.prob_a[p] + self.prob_b[p];
                    let s = if f >= 0.0 {
                        (-f).exp() / (1.0 + (-f).exp())
                    } else {
                        1.0 / (1.0 + f.exp())
                    };
                    let s = s.clamp(1e-7, 1.0 - 1e-7);
                    r[i * k + j] = s;
                    r[j * k + i] = 1.0 - s;
                    p += 1;
                }
            }
            // scikit-learn's bundled libsvm couples even two classes (newer upstream libsvm short-cuts them).
            ws.solve(&r, orow);
        }
        out
    }
}

/// Wu, Lin & Weng's second pairwise-coupling method as libsvm implements it (`multiclass_probability`):
/// minimise `pᵀQp` on the simplex by coordinate updates, at most `max(100, K)` sweeps, stopping when
/// `max_t |(Qp)_t − pᵀQp| < 0.005 / K`.
struct Coupling {
    k: usize,
    q: Vec<f64>,
    qp: Vec<f64>,
}

impl Coupling {
    fn new(k: usize) -> Self {
        Coupling {
            k,
            q: vec![0.0; k * k],
            qp: vec![0.0; k],
        }
    }

    fn solve(&mut self, r: &[f64], p: &mut [f64]) {
        let k = self.k;
        let (q, qp) = (&mut self.q, &mut self.qp);
        for t in 0..k {
            p[t] = 1.0 / k as f64;
            q[t * k + t] = 0.0;
            for j in 0..t {
                q[t * k + t] += r[j * k + t] * r[j * k + t];
                q[t * k + j] = q[j * k + t];
            }
            for j in t + 1..k {
                q[t * k + t] += r[j * k + t] * r[j * k + t];
                q[t * k + j] = -r[j * k + t] * r[t * k + j];
            }
        }
        let eps = 0.005 / k as f64;
        for _ in 0..k.max(100) {
            let mut pqp = 0.0;
            for t in 0..k {
                qp[t] = 0.0;
                for j in 0..k {
                    qp[t] += q[t * k + j] * p[j];
                }
                pqp += p[t] * qp[t];
            }
            let max_error = (0..k).map(|t| (qp[t] - pqp).abs()).fold(0.0, f64::max);
            if max_error < eps {
                break;
            }
            for t in 0..k {
                let diff = (-qp[t] + pqp) / q[t * k + t];
                p[t] += diff;
                pqp = (pqp + diff * (diff * q[t * k + t] + 2.0 * qp[t]))
                    / (1.0 + diff)
                    / (1.0 + diff);
                for j in 0..k {
                    qp[j] = (qp[j] + diff * q[t * k + j]) / (1.0 + diff);
                    p[j] /= 1.0 + diff;
                }
            }
        }
    }
}

impl Estimator for Svm {
    fn class_name(&self) -> &str {
        &self.class
    }

    fn n_features_in(&self) -> Option<usize> {
        Some(self.support_vectors.cols())
    }

    fn row_cost(&self) -> Option<u64> {
        // One kernel evaluation per support vector per row.
        Some(
            (self.support_vectors.rows() as u64)
                .saturating_mul(self.support_vectors.cols().max(1) as u64),
        )
    }

    fn supports(&self, method: Method) -> bool {
        match (self.kind, method) {
            (_, Method::Predict) => true,
            (Kind::Classifier, Method::DecisionFunction) => true,
            (Kind::Classifier, Method::PredictProba) => !self.prob_a.is_empty(),
            (Kind::OneClass, Method::DecisionFunction | Method::ScoreSamples) => true,
            _ => false,
        }
    }

    fn call(&self, method: Method, x: &Matrix) -> Result<Output, SklearnError> {
        if !self.supports(method) {
            return Err(self.no_method(method));
        }
        let raw = self.raw(x)?;
        match (self.kind, method) {
            (Kind::Regressor, _) => Ok(Output::Column(raw.into_data())),
            (Kind::OneClass, Method::Predict) => Ok(Output::Labels(Labels::Int(
                raw.data()
                    .iter()
                    .map(|&d| if d > 0.0 { 1 } else { -1 })
                    .collect(),
            ))),
            (Kind::OneClass, Method::DecisionFunction) => Ok(Output::Column(raw.into_data())),
            (Kind::OneClass, _) => Ok(Output::Column(
                raw.data().iter().map(|d| d + self.offset).collect(),
            )),
            (Kind::Classifier, Method::DecisionFunction) => Ok(self.classifier_decision(&raw)),
            (Kind::Classifier, Method::PredictProba) => {
                Ok(Output::Matrix(self.probabilities(&raw)))
            }
            (Kind::Classifier, _) => {
                let classes = self
                    .classes
                    .as_ref()
                    .ok_or_else(|| self.no_method(method))?;
                if self.break_ties && !self.ovr_shape {
                    // scikit-learn fits such a model but refuses to predict with it.
                    return Err(SklearnError::BadInput(
                        "break_ties must be False when decision_function_shape is 'ovo'".into(),
                    ));
                }
                if self.break_ties
                    && self.ovr_shape
                    && classes.len() > 2
                    && let Output::Matrix(d) = self.classifier_decision(&raw)
                {
                    return Ok(Output::Labels(argmax_labels(&d, classes)));
                }
                Ok(Output::Labels(classes.take(&self.vote(&raw))))
            }
        }
    }

    fn classes(&self) -> Option<&Labels> {
        self.classes.as_ref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coupling_of_two_classes_is_close_to_the_pair_probability() {
        let mut c = Coupling::new(2);
        let r = [0.0, 0.8, 0.2, 0.0];
        let mut p = [0.0; 2];
        c.solve(&r, &mut p);
        assert!((p[0] - 0.8).abs() < 0.01 && (p[0] + p[1] - 1.0).abs() < 1e-12);
        assert_eq!(powi(1.5, 3), 1.5 * 1.5 * 1.5);
    }
}
