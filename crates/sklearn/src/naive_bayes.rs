//! Naive Bayes classifiers: `GaussianNB`, `MultinomialNB`, `ComplementNB`, `BernoulliNB` and `CategoricalNB`.
//! Each computes a joint log-likelihood per class; `predict` is its argmax and `predict_proba` is
//! `exp(jll − logsumexp(jll))`.

use oxserve_pickle::Object;

use crate::attrs;
use crate::math::{argmax_labels, check_input, exp_normalize_rows};
use crate::{Estimator, Labels, Matrix, Method, Output, SklearnError, SparseMatrix};

/// The classes this family builds.
pub(crate) const CLASSES: &[&str] = &[
    "BernoulliNB",
    "CategoricalNB",
    "ComplementNB",
    "GaussianNB",
    "MultinomialNB",
];

/// Builds `obj` when it is one of [`CLASSES`].
pub(crate) fn build(obj: &Object) -> Option<Result<Box<dyn Estimator>, SklearnError>> {
    if !CLASSES.contains(&obj.class_name()) {
        return None;
    }
    Some(NaiveBayes::from_object(obj).map(|e| Box::new(e) as Box<dyn Estimator>))
}

#[derive(Debug)]
enum Model {
    /// Per class: `log prior − ½ Σ log(2π var)` and the means and variances.
    Gaussian {
        constant: Vec<f64>,
        theta: Matrix,
        var: Matrix,
    },
    /// `X · weightsᵀ + bias` (multinomial, complement and — after binarising — Bernoulli).
    Linear {
        weights: Matrix,
        bias: Vec<f64>,
        binarize: Option<f64>,
    },
    /// Per feature, a (classes × categories) log-probability table, plus the class log priors.
    Categorical {
        tables: Vec<Matrix>,
        prior: Vec<f64>,
    },
}

/// A fitted naive Bayes classifier.
#[derive(Debug)]
struct NaiveBayes {
    class: String,
    classes: Labels,
    n_features: usize,
    model: Model,
}

impl NaiveBayes {
    fn from_object(obj: &Object) -> Result<Self, SklearnError> {
        let class = obj.class_name();
        let classes = attrs::classes(obj, &[])?;
        let k = classes.len();
        let bad = |reason: String| SklearnError::bad_model(class, reason);
        let (model, n_features) = match class {
            "GaussianNB" => {
                let theta = attrs::matrix(obj, "theta_")?;
                let var = attrs::matrix(obj, "var_")?;
                let prior = attrs::f64_vec(obj, "class_prior_")?;
                if theta.rows() != k
                    || var.rows() != k
                    || prior.len() != k
                    || var.cols() != theta.cols()
                {
                    return Err(bad(
                        "`theta_`, `var_` and `class_prior_` do not match `classes_`".into(),
                    ));
                }
                // scikit-learn: log(prior) + (−½ Σ_j log(2π var_j)) − ½ Σ_j (x_j − θ_j)² / var_j.
                let constant = (0..k)
                    .map(|i| {
                        let n_ij = -0.5
                            * var
                                .row(i)
                                .iter()
                                .map(|v| (2.0 * std::f64::consts::PI * v).ln())
                                .sum::<f64>();
                        (prior[i].ln(), n_ij)
                    })
                    .map(|(lp, n)| lp + n)
                    .collect();
                let f = theta.cols();
                (
                    Model::Gaussian {
                        constant,
                        theta,
                        var,
                    },
                    f,
                )
            }
            "MultinomialNB" | "ComplementNB" => {
                let weights = attrs::matrix(obj, "feature_log_prob_")?;
                let prior = attrs::f64_vec(obj, "class_log_prior_")?;
                // ComplementNB adds the prior only when there is a single class.
                let bias = if class == "MultinomialNB" || k == 1 {
                    prior
                } else {
                    vec![0.0; k]
                };
                if weights.rows() != k || bias.len() != k {
                    return Err(bad("`feature_log_prob_` does not match `classes_`".into()));
                }
                let f = weights.cols();
                (
                    Model::Linear {
                        weights,
                        bias,
                        binarize: None,
                    },
                    f,
                )
            }
            "BernoulliNB" => {
                let flp = attrs::matrix(obj, "feature_log_prob_")?;
                let prior = attrs::f64_vec(obj, "class_log_prior_")?;
                if flp.rows() != k || prior.len() != k {
                    return Err(bad("`feature_log_prob_` does not match `classes_`".into()));
                }
                let f = flp.cols();
                let mut weights = Matrix::zeros(k, f);
                let mut bias = prior;
                for (i, b) in bias.iter_mut().enumerate() {
                    let mut neg_sum = 0.0;
                    for (w, &lp) in weights.row_mut(i).iter_mut().zip(flp.row(i)) {
                        let neg = (1.0 - lp.exp()).ln();
                        *w = lp - neg;
                        neg_sum += neg;
                    }
                    *b += neg_sum;
                }
                let binarize = attrs::opt(obj, "binarize").and_then(|v| v.as_f64());
                (
                    Model::Linear {
                        weights,
                        bias,
                        binarize,
                    },
                    f,
                )
            }
            _ => {
                let items = attrs::seq(obj, "feature_log_prob_")?;
                let tables = items
                    .iter()
                    .map(|t| attrs::matrix_of(t, class, "feature_log_prob_"))
                    .collect::<Result<Vec<_>, _>>()?;
                if tables.iter().any(|t| t.rows() != k) {
                    return Err(bad("`feature_log_prob_` does not match `classes_`".into()));
                }
                let prior = attrs::f64_vec(obj, "class_log_prior_")?;
                let f = tables.len();
                (Model::Categorical { tables, prior }, f)
            }
        };
        Ok(NaiveBayes {
            class: class.to_string(),
            classes,
            n_features,
            model,
        })
    }

    fn joint_log_likelihood(&self, x: &Matrix) -> Result<Matrix, SklearnError> {
        check_input(x, Some(self.n_features), &self.class, false)?;
        let k = self.classes.len();
        let mut out = Matrix::zeros(x.rows(), k);
        if k == 0 {
            return Ok(out);
        }
        match &self.model {
            Model::Gaussian {
                constant,
                theta,
                var,
            } => {
                for (xr, orow) in x.iter_rows().zip(out.data_mut().chunks_exact_mut(k)) {
                    for (i, o) in orow.iter_mut().enumerate() {
                        let s: f64 = xr
                            .iter()
                            .zip(theta.row(i))
                            .zip(var.row(i))
                            .map(|((x, t), v)| (x - t) * (x - t) / v)
                            .sum();
                        *o = constant[i] - 0.5 * s;
                    }
                }
            }
            Model::Linear {
                weights,
                bias,
                binarize,
            } => {
                let f = x.cols();
                let mut xb = vec![0.0; f];
                for (xr, orow) in x.iter_rows().zip(out.data_mut().chunks_exact_mut(k)) {
                    let row: &[f64] = match binarize {
                        Some(t) => {
                            for (b, v) in xb.iter_mut().zip(xr) {
                                *b = if v > t { 1.0 } else { 0.0 };
                            }
                            &xb
                        }
                        None => xr,
                    };
                    for (i, o) in orow.iter_mut().enumerate() {
                        *o = crate::math::dot(row, weights.row(i)) + bias[i];
                    }
                }
            }
            Model::Categorical { tables, prior } => {
                for (xr, orow) in x.iter_rows().zip(out.data_mut().chunks_exact_mut(k)) {
                    for (j, (&v, table)) in xr.iter().zip(tables).enumerate() {
                        // scikit-learn casts X to int (truncating) and indexes the table with it.
                        let c = v.trunc();
                        if c < 0.0 || c >= table.cols() as f64 {
                            return Err(SklearnError::BadInput(format!(
                                "category {v} of feature {j} was not seen in training (expected 0..{})",
                                table.cols()
                            )));
                        }
                        let c = c as usize;
                        for (i, o) in orow.iter_mut().enumerate() {
                            *o += table.row(i)[c];
                        }
                    }
                    for (o, p) in orow.iter_mut().zip(prior) {
                        *o += p;
                    }
                }
            }
        }
        Ok(out)
    }
}

impl Estimator for NaiveBayes {
    fn class_name(&self) -> &str {
        &self.class
    }

    fn n_features_in(&self) -> Option<usize> {
        Some(self.n_features)
    }

    fn supports(&self, method: Method) -> bool {
        matches!(method, Method::Predict | Method::PredictProba)
    }

    fn call(&self, method: Method, x: &Matrix) -> Result<Output, SklearnError> {
        let jll = self.joint_log_likelihood(x)?;
        self.finish(method, jll)
    }

    fn call_sparse(&self, method: Method, x: &SparseMatrix) -> Result<Output, SklearnError> {
        // Multinomial and complement models are linear in the counts: compute on the stored entries (a
        // vectorizer's output). The others densify, within the budget.
        let Model::Linear {
            weights,
            bias,
            binarize: None,
        } = &self.model
        else {
            return self.call(method, &x.to_dense()?);
        };
        x.expect_features(self.n_features, &self.class)?;
        if (0..x.rows()).any(|i| x.row(i).1.iter().any(|v| !v.is_finite())) {
            return Err(SklearnError::BadInput(format!(
                "Input X contains infinity or NaN ({} does not accept them)",
                self.class
            )));
        }
        let jll = x.affine(weights, bias);
        self.finish(method, jll)
    }

    fn classes(&self) -> Option<&Labels> {
        Some(&self.classes)
    }
}

impl NaiveBayes {
    /// `predict` / `predict_proba` from the joint log-likelihood.
    fn finish(&self, method: Method, mut jll: Matrix) -> Result<Output, SklearnError> {
        match method {
            Method::Predict => Ok(Output::Labels(argmax_labels(&jll, &self.classes))),
            Method::PredictProba => {
                exp_normalize_rows(&mut jll);
                Ok(Output::Matrix(jll))
            }
            _ => Err(self.no_method(method)),
        }
    }
}
