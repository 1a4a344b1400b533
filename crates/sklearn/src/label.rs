//! Label transformers served standalone: `LabelEncoder` (labels → their index in `classes_`) and `LabelBinarizer`
//! (labels → one-hot rows of `neg_label` / `pos_label`). Labels fitted as strings arrive as strings
//! ([`Estimator::call_strings`]); numeric labels as a numeric batch, every value one label in row-major order.

use oxserve_pickle::Object;

use crate::attrs;
use crate::{Estimator, Labels, Matrix, Method, Output, SklearnError};

/// The classes this family builds.
pub(crate) const CLASSES: &[&str] = &["LabelBinarizer", "LabelEncoder"];

/// Builds `obj` when it is one of [`CLASSES`].
pub(crate) fn build(obj: &Object) -> Option<Result<Box<dyn Estimator>, SklearnError>> {
    if !CLASSES.contains(&obj.class_name()) {
        return None;
    }
    Some(LabelTransformer::from_object(obj).map(|e| Box::new(e) as Box<dyn Estimator>))
}

/// One request label, numeric or string.
#[derive(Debug, Clone, Copy)]
enum Label<'a> {
    Num(f64),
    Str(&'a str),
}

impl std::fmt::Display for Label<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Label::Num(v) => write!(f, "{v}"),
            Label::Str(s) => write!(f, "{s:?}"),
        }
    }
}

#[derive(Debug)]
enum Kind {
    Encoder,
    /// `LabelBinarizer` with its `neg_label` and `pos_label`.
    Binarizer {
        neg: f64,
        pos: f64,
    },
}

#[derive(Debug)]
struct LabelTransformer {
    class: String,
    classes: Labels,
    kind: Kind,
}

impl LabelTransformer {
    fn from_object(obj: &Object) -> Result<Self, SklearnError> {
        let class = obj.class_name();
        let classes = attrs::labels(obj, "classes_")?;
        let kind = if class == "LabelBinarizer" {
            let y_type = attrs::opt_str(obj, "y_type_").unwrap_or("multiclass");
            if y_type.starts_with("multilabel") {
                return Err(SklearnError::bad_model(
                    class,
                    "a multilabel-indicator LabelBinarizer is not supported",
                ));
            }
            let num = |key: &str, default: f64| {
                attrs::opt(obj, key)
                    .and_then(|v| v.as_f64())
                    .unwrap_or(default)
            };
            Kind::Binarizer {
                neg: num("neg_label", 0.0),
                pos: num("pos_label", 1.0),
            }
        } else {
            Kind::Encoder
        };
        Ok(LabelTransformer {
            class: class.to_string(),
            classes,
            kind,
        })
    }

    fn position(&self, label: Label<'_>) -> Option<usize> {
        match (&self.classes, label) {
            (Labels::Str(c), Label::Str(s)) => c.iter().position(|x| x == s),
            (Labels::Int(c), Label::Num(v)) => c.iter().position(|&x| x as f64 == v),
            (Labels::Float(c), Label::Num(v)) => c.iter().position(|&x| x == v),
            _ => None,
        }
    }

    fn transform(&self, labels: &[Label<'_>]) -> Result<Output, SklearnError> {
        let positions: Vec<Option<usize>> = labels.iter().map(|&l| self.position(l)).collect();
        match self.kind {
            Kind::Encoder => {
                let unseen: Vec<String> = labels
                    .iter()
                    .zip(&positions)
                    .filter(|(_, p)| p.is_none())
                    .map(|(l, _)| l.to_string())
                    .collect();
                if !unseen.is_empty() {
                    return Err(SklearnError::BadInput(format!(
                        "y contains previously unseen labels: [{}]",
                        unseen.join(", ")
                    )));
                }
                Ok(Output::Labels(Labels::Int(
                    positions.iter().map(|p| p.unwrap_or(0) as i64).collect(),
                )))
            }
            Kind::Binarizer { neg, pos } => {
                let k = self.classes.len();
                // scikit-learn's label_binarize: two classes give one column (the second class's), one class a
                // column of `neg_label`; labels outside `classes_` get `neg_label` everywhere.
                let cols = if k == 2 { 1 } else { k };
                let mut out = Matrix::new(labels.len(), cols, vec![neg; labels.len() * cols])?;
                for (i, p) in positions.iter().enumerate() {
                    match (p, k) {
                        (Some(1), 2) => out.row_mut(i)[0] = pos,
                        // One fitted class: scikit-learn answers `neg_label` for every label.
                        (Some(j), k) if k > 2 => out.row_mut(i)[*j] = pos,
                        _ => {}
                    }
                }
                Ok(Output::Matrix(out))
            }
        }
    }
}

impl Estimator for LabelTransformer {
    fn class_name(&self) -> &str {
        &self.class
    }

    fn n_features_in(&self) -> Option<usize> {
        None
    }

    fn supports(&self, method: Method) -> bool {
        method == Method::Transform
    }

    fn call(&self, method: Method, x: &Matrix) -> Result<Output, SklearnError> {
        if method != Method::Transform {
            return Err(self.no_method(method));
        }
        if matches!(self.classes, Labels::Str(_)) {
            return Err(SklearnError::BadInput(format!(
                "{} was fitted on string labels; send strings, not numbers",
                self.class
            )));
        }
        let labels: Vec<Label<'_>> = x.data().iter().map(|&v| Label::Num(v)).collect();
        self.transform(&labels)
    }

    fn takes_strings(&self) -> bool {
        matches!(self.classes, Labels::Str(_))
    }

    fn call_strings(&self, method: Method, docs: &[&str]) -> Result<Output, SklearnError> {
        if method != Method::Transform {
            return Err(self.no_method(method));
        }
        if !self.takes_strings() {
            return Err(SklearnError::BadInput(format!(
                "{} was fitted on numeric labels; send numbers, not strings",
                self.class
            )));
        }
        let labels: Vec<Label<'_>> = docs.iter().map(|&s| Label::Str(s)).collect();
        self.transform(&labels)
    }
}
