//! `TargetEncoder` (scikit-learn ≥ 1.3): each category becomes its fitted target encoding (one column per feature,
//! or per feature × class for a multiclass target); a category not seen in training gets `target_mean_`.
//! Numeric categories come as a numeric batch; a one-feature encoder fitted on strings takes N strings as N rows
//! ([`Estimator::call_strings`]); string and numeric columns of a wider table come as a table
//! ([`Estimator::call_table`], inside a `ColumnTransformer`).

use oxserve_pickle::{ArrayData, Object, Value};

use crate::attrs;
use crate::math::check_input;
use crate::{ColumnData, Estimator, Matrix, Method, Output, SklearnError, Table};

/// The classes this family builds.
pub(crate) const CLASSES: &[&str] = &["TargetEncoder"];

/// Builds `obj` when it is one of [`CLASSES`].
pub(crate) fn build(obj: &Object) -> Option<Result<Box<dyn Estimator>, SklearnError>> {
    if obj.class_name() != "TargetEncoder" {
        return None;
    }
    Some(TargetEncoder::from_object(obj).map(|e| Box::new(e) as Box<dyn Estimator>))
}

/// One feature's fitted categories.
#[derive(Debug)]
enum Categories {
    Num(Vec<f64>),
    Str(Vec<String>),
}

#[derive(Debug)]
struct TargetEncoder {
    categories: Vec<Categories>,
    /// Per output column (feature-major, then class): the encoding of each category of that column's feature.
    encodings: Vec<Vec<f64>>,
    /// Per class (one value unless multiclass): the encoding of an unseen category.
    target_mean: Vec<f64>,
}

impl TargetEncoder {
    fn from_object(obj: &Object) -> Result<Self, SklearnError> {
        let class = obj.class_name();
        let bad = |reason: String| SklearnError::bad_model(class, reason);
        let categories = attrs::seq(obj, "categories_")?
            .iter()
            .enumerate()
            .map(|(j, v)| match v {
                Value::Array(a) => match &a.data {
                    ArrayData::Str(s) => Ok(Categories::Str(s.clone())),
                    ArrayData::Object(items) => items
                        .iter()
                        .map(|i| i.as_str().map(str::to_string))
                        .collect::<Option<Vec<_>>>()
                        .map(Categories::Str)
                        .ok_or_else(|| {
                            bad(format!("`categories_[{j}]` mixes strings and other values"))
                        }),
                    _ => a
                        .to_f64()
                        .map(Categories::Num)
                        .map_err(|e| bad(format!("`categories_[{j}]`: {e}"))),
                },
                other => Err(bad(format!("`categories_[{j}]` is a {}", other.kind()))),
            })
            .collect::<Result<Vec<_>, _>>()?;
        let encodings = attrs::seq(obj, "encodings_")?
            .iter()
            .map(|v| attrs::f64_of(v, class, "encodings_"))
            .collect::<Result<Vec<_>, _>>()?;
        let target_mean = attrs::f64_vec(obj, "target_mean_")?;
        let n_classes = if attrs::opt_str(obj, "target_type_") == Some("multiclass") {
            target_mean.len()
        } else {
            1
        };
        if n_classes == 0
            || target_mean.len() != n_classes
            || categories.len().checked_mul(n_classes) != Some(encodings.len())
        {
            return Err(bad(format!(
                "{} `encodings_` for {} features and {} target mean(s)",
                encodings.len(),
                categories.len(),
                target_mean.len()
            )));
        }
        for (e, enc) in encodings.iter().enumerate() {
            let n = match &categories[e / n_classes] {
                Categories::Num(c) => c.len(),
                Categories::Str(c) => c.len(),
            };
            if enc.len() != n {
                return Err(bad(format!(
                    "`encodings_[{e}]` has {} values for {n} categories",
                    enc.len()
                )));
            }
        }
        Ok(TargetEncoder {
            categories,
            encodings,
            target_mean,
        })
    }

    fn n_classes(&self) -> usize {
        self.target_mean.len()
    }

    /// Fills one output row from each feature's category position (`None`: unseen).
    fn fill(&self, out: &mut [f64], positions: impl Iterator<Item = Option<usize>>) {
        let k = self.n_classes();
        for (j, p) in positions.enumerate() {
            for c in 0..k {
                let e = j * k + c;
                out[e] = match p {
                    Some(i) => self.encodings[e][i],
                    None => self.target_mean[c],
                };
            }
        }
    }
}

impl Estimator for TargetEncoder {
    fn class_name(&self) -> &str {
        "TargetEncoder"
    }

    fn n_features_in(&self) -> Option<usize> {
        Some(self.categories.len())
    }

    fn supports(&self, method: Method) -> bool {
        method == Method::Transform
    }

    fn call(&self, method: Method, x: &Matrix) -> Result<Output, SklearnError> {
        if method != Method::Transform {
            return Err(self.no_method(method));
        }
        check_input(x, Some(self.categories.len()), "TargetEncoder", true)?;
        if let Some(j) = self
            .categories
            .iter()
            .position(|c| matches!(c, Categories::Str(_)))
        {
            return Err(SklearnError::BadInput(format!(
                "TargetEncoder: feature {j} was fitted on string categories; it takes strings, not numbers"
            )));
        }
        let mut out = Matrix::zeros(x.rows(), self.encodings.len());
        for (i, row) in x.iter_rows().enumerate() {
            let positions = row.iter().zip(&self.categories).map(|(&v, c)| match c {
                Categories::Num(c) => c
                    .iter()
                    .position(|&cat| cat == v || (cat.is_nan() && v.is_nan())),
                Categories::Str(_) => None,
            });
            self.fill(out.row_mut(i), positions);
        }
        Ok(Output::Matrix(out))
    }

    fn takes_strings(&self) -> bool {
        matches!(self.categories.as_slice(), [Categories::Str(_)])
    }

    fn takes_table(&self) -> bool {
        self.categories
            .iter()
            .any(|c| matches!(c, Categories::Str(_)))
    }

    fn string_columns(&self) -> Option<Vec<bool>> {
        Some(
            self.categories
                .iter()
                .map(|c| matches!(c, Categories::Str(_)))
                .collect(),
        )
    }

    /// Columns of a table, each against its feature's categories: strings against string categories (a missing
    /// string is unseen unless `None` was fitted), numbers against numeric ones; an unseen category gets
    /// `target_mean_`, as scikit-learn's `transform` does.
    fn call_table(&self, method: Method, table: &Table) -> Result<Output, SklearnError> {
        if method != Method::Transform {
            return Err(self.no_method(method));
        }
        if table.columns().len() != self.categories.len() {
            return Err(SklearnError::BadInput(format!(
                "X has {} features, but TargetEncoder is expecting {} features as input",
                table.columns().len(),
                self.categories.len()
            )));
        }
        for (column, cats) in table.columns().iter().zip(&self.categories) {
            if let (Categories::Num(_), ColumnData::Str(v)) = (cats, &column.data) {
                let example = v.iter().flatten().next().cloned().unwrap_or_default();
                return Err(SklearnError::BadInput(format!(
                    "could not convert string to float: '{example}' (column `{}` holds strings where a number is expected)",
                    column.name
                )));
            }
        }
        let mut out = Matrix::zeros(table.rows(), self.encodings.len());
        for i in 0..table.rows() {
            let positions =
                table
                    .columns()
                    .iter()
                    .zip(&self.categories)
                    .map(|(column, cats)| match (cats, &column.data) {
                        (Categories::Str(cats), ColumnData::Str(v)) => {
                            let value = v.get(i).and_then(Option::as_deref)?;
                            cats.iter().position(|c| c == value)
                        }
                        (Categories::Num(cats), data) => {
                            let v = data.f64_at(i)?;
                            cats.iter()
                                .position(|&c| c == v || (c.is_nan() && v.is_nan()))
                        }
                        (Categories::Str(_), _) => None,
                    });
            self.fill(out.row_mut(i), positions);
        }
        Ok(Output::Matrix(out))
    }

    fn call_strings(&self, method: Method, docs: &[&str]) -> Result<Output, SklearnError> {
        if method != Method::Transform {
            return Err(self.no_method(method));
        }
        let [Categories::Str(cats)] = self.categories.as_slice() else {
            return Err(SklearnError::BadInput(format!(
                "TargetEncoder of {} feature(s) takes N strings as N rows only when fitted on one string feature",
                self.categories.len()
            )));
        };
        let mut out = Matrix::zeros(docs.len(), self.encodings.len());
        for (i, s) in docs.iter().enumerate() {
            let p = cats.iter().position(|c| c == s);
            self.fill(out.row_mut(i), std::iter::once(p));
        }
        Ok(Output::Matrix(out))
    }
}
