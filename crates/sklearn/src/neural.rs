//! Multi-layer perceptrons: `MLPClassifier` and `MLPRegressor` (`a ← act(a · W + b)` per layer).

use oxserve_pickle::Object;

use crate::attrs;
use crate::math::{
    argmax_labels, check_input, expit, matmul, softmax_rows, threshold_labels, two_columns,
};
use crate::{Estimator, Labels, Matrix, Method, Output, SklearnError};

/// The classes this family builds.
pub(crate) const CLASSES: &[&str] = &["MLPClassifier", "MLPRegressor"];

/// Builds `obj` when it is one of [`CLASSES`].
pub(crate) fn build(obj: &Object) -> Option<Result<Box<dyn Estimator>, SklearnError>> {
    if !CLASSES.contains(&obj.class_name()) {
        return None;
    }
    Some(Mlp::from_object(obj).map(|e| Box::new(e) as Box<dyn Estimator>))
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Activation {
    Identity,
    Logistic,
    Tanh,
    Relu,
    Softmax,
}

impl Activation {
    fn parse(name: &str, class: &str) -> Result<Self, SklearnError> {
        Ok(match name {
            "identity" => Activation::Identity,
            "logistic" => Activation::Logistic,
            "tanh" => Activation::Tanh,
            "relu" => Activation::Relu,
            "softmax" => Activation::Softmax,
            other => {
                return Err(SklearnError::bad_model(
                    class,
                    format!("unknown activation `{other}`"),
                ));
            }
        })
    }

    fn apply(self, m: &mut Matrix) {
        match self {
            Activation::Identity => {}
            Activation::Logistic => m.data_mut().iter_mut().for_each(|v| *v = expit(*v)),
            Activation::Tanh => m.data_mut().iter_mut().for_each(|v| *v = v.tanh()),
            Activation::Relu => m.data_mut().iter_mut().for_each(|v| *v = v.max(0.0)),
            Activation::Softmax => softmax_rows(m),
        }
    }
}

/// A fitted MLP.
#[derive(Debug)]
struct Mlp {
    class: String,
    /// (weights in × out, bias) per layer.
    layers: Vec<(Matrix, Vec<f64>)>,
    hidden: Activation,
    output: Activation,
    classes: Option<Labels>,
}

impl Mlp {
    fn from_object(obj: &Object) -> Result<Self, SklearnError> {
        let class = obj.class_name();
        let bad = |reason: String| SklearnError::bad_model(class, reason);
        let coefs = attrs::seq(obj, "coefs_")?;
        let intercepts = attrs::seq(obj, "intercepts_")?;
        if coefs.is_empty() || coefs.len() != intercepts.len() {
            return Err(bad("`coefs_` and `intercepts_` do not match".into()));
        }
        let mut layers = Vec::with_capacity(coefs.len());
        for (w, b) in coefs.iter().zip(intercepts) {
            let w = attrs::matrix_of(w, class, "coefs_")?;
            let b = attrs::f64_of(b, class, "intercepts_")?;
            if b.len() != w.cols()
                || layers
                    .last()
                    .is_some_and(|(p, _): &(Matrix, Vec<f64>)| p.cols() != w.rows())
            {
                return Err(bad("layer shapes do not chain".into()));
            }
            layers.push((w, b));
        }
        let hidden = Activation::parse(attrs::opt_str(obj, "activation").unwrap_or("relu"), class)?;
        let output = Activation::parse(
            attrs::opt_str(obj, "out_activation_").unwrap_or("identity"),
            class,
        )?;
        let n_out = layers.last().map_or(0, |(w, _)| w.cols());
        let classes = if class == "MLPClassifier" {
            let classes = attrs::classes(obj, &["_label_binarizer"])?;
            let ok = match output {
                Activation::Softmax => n_out == classes.len(),
                Activation::Logistic => n_out == 1 && classes.len() == 2,
                _ => false,
            };
            if !ok {
                return Err(bad("multilabel networks are not supported".into()));
            }
            Some(classes)
        } else {
            None
        };
        Ok(Mlp {
            class: class.to_string(),
            layers,
            hidden,
            output,
            classes,
        })
    }

    fn forward(&self, x: &Matrix) -> Result<Matrix, SklearnError> {
        let n_in = self.layers.first().map_or(0, |(w, _)| w.rows());
        check_input(x, Some(n_in), &self.class, false)?;
        let last = self.layers.len() - 1;
        let mut a: Option<Matrix> = None;
        for (i, (w, b)) in self.layers.iter().enumerate() {
            let mut z = matmul(a.as_ref().unwrap_or(x), w);
            let k = z.cols();
            if k > 0 {
                for row in z.data_mut().chunks_exact_mut(k) {
                    row.iter_mut().zip(b).for_each(|(v, bv)| *v += bv);
                }
            }
            (if i == last { self.output } else { self.hidden }).apply(&mut z);
            a = Some(z);
        }
        a.ok_or_else(|| SklearnError::bad_model(&self.class, "no layers"))
    }
}

impl Estimator for Mlp {
    fn class_name(&self) -> &str {
        &self.class
    }

    fn n_features_in(&self) -> Option<usize> {
        self.layers.first().map(|(w, _)| w.rows())
    }

    fn supports(&self, method: Method) -> bool {
        match method {
            Method::Predict => true,
            Method::PredictProba => self.classes.is_some(),
            _ => false,
        }
    }

    fn call(&self, method: Method, x: &Matrix) -> Result<Output, SklearnError> {
        if !self.supports(method) {
            return Err(self.no_method(method));
        }
        let out = self.forward(x)?;
        let Some(classes) = &self.classes else {
            return Ok(if out.cols() == 1 {
                Output::Column(out.into_data())
            } else {
                Output::Matrix(out)
            });
        };
        let binary = out.cols() == 1;
        Ok(match method {
            // LabelBinarizer.inverse_transform thresholds the single logistic output at 0.5.
            Method::Predict if binary => Output::Labels(threshold_labels(out.data(), classes, 0.5)),
            Method::Predict => Output::Labels(argmax_labels(&out, classes)),
            _ if binary => Output::Matrix(two_columns(out.data())),
            _ => Output::Matrix(out),
        })
    }

    fn classes(&self) -> Option<&Labels> {
        self.classes.as_ref()
    }
}
