//! Load-time limits every estimator obeys, and the batch checks the top-level estimator makes before any family
//! code allocates.
//!
//! A model file is untrusted input: a few hundred bytes can declare a zero-size array of shape (2^59, 0), or set
//! `n_features_in_` to 2^40, and a family that sizes a buffer or a loop from such a number aborts or spins. So
//! before any family reads a value tree, [`check_value_tree`] walks it once and refuses arrays whose dimensions are
//! not backed by their elements, and counts (`n_features_in_`, ...) outside what a request could ever carry. The
//! families then only size things from arrays that hold real data, with checked arithmetic.

use oxserve_pickle::{NdArray, Object, Value};

use crate::{Estimator, Labels, Matrix, Method, Output, SklearnError, SparseMatrix};

/// The most features (columns) a model may declare: a single request row of 2^24 float64 values is already 128 MiB,
/// past any body limit a server is run with.
pub(crate) const MAX_FEATURES: usize = 1 << 24;

/// The largest dimension a zero-size array may declare. A zero-size array holds no data, so its dimensions prove
/// nothing; fitted models only have small ones (`(0,)`, `(k, 0)`), while a huge one exists only to make a family
/// size a buffer or a loop from it.
pub(crate) const MAX_EMPTY_DIM: usize = 1 << 16;

/// The attributes holding a count of input features, checked against [`MAX_FEATURES`] wherever they appear.
const FEATURE_COUNTS: [&str; 2] = ["n_features_in_", "_n_features"];

/// Walks the whole value tree (iteratively: a deep tree cannot overflow the stack) and refuses, naming the class
/// and attribute:
/// - an array whose shape's product (checked) differs from its element count;
/// - a zero-size array with a dimension over [`MAX_EMPTY_DIM`];
/// - an integer feature count (`n_features_in_`) that is not in `1..=MAX_FEATURES`.
pub(crate) fn check_value_tree(root: &Value) -> Result<(), SklearnError> {
    // (value, innermost object class, attribute path) — the path is built only for objects' attributes.
    let mut stack: Vec<(&Value, &str, String)> = vec![(root, "model", String::new())];
    while let Some((value, class, path)) = stack.pop() {
        if !holds_more(value) {
            continue;
        }
        match value {
            Value::Array(a) => {
                check_array(a).map_err(|r| SklearnError::bad_model(class, at(&path, r)))?;
                if let oxserve_pickle::ArrayData::Object(items) = &a.data {
                    stack.extend(items.iter().map(|v| (v, class, path.clone())));
                }
            }
            Value::List(items) | Value::Tuple(items) | Value::Set(items) => {
                stack.extend(items.iter().map(|v| (v, class, path.clone())));
            }
            Value::Dict(items) => {
                for (k, v) in items {
                    stack.push((k, class, path.clone()));
                    stack.push((v, class, path.clone()));
                }
            }
            Value::Object(obj) => {
                check_object(obj)?;
                let name = obj.class_name();
                for (i, arg) in obj.args.iter().enumerate() {
                    stack.push((arg, name, format!("argument {i}")));
                }
                match &obj.state {
                    Value::Dict(items) => {
                        for (k, v) in items {
                            let key = k.as_str().map_or_else(|| k.kind(), str::to_string);
                            stack.push((v, name, key));
                        }
                    }
                    other => stack.push((other, name, "state".into())),
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// Whether [`check_value_tree`] has anything to check in `value` (plain numbers and strings need no look).
fn holds_more(value: &Value) -> bool {
    matches!(
        value,
        Value::Array(_)
            | Value::List(_)
            | Value::Tuple(_)
            | Value::Set(_)
            | Value::Dict(_)
            | Value::Object(_)
    )
}

fn at(path: &str, reason: String) -> String {
    if path.is_empty() {
        reason
    } else {
        format!("`{path}` {reason}")
    }
}

/// The shape checks of [`check_value_tree`] for one array.
fn check_array(a: &NdArray) -> Result<(), String> {
    let product = a
        .shape
        .iter()
        .try_fold(1usize, |p, &d| p.checked_mul(d))
        .ok_or_else(|| format!("has shape {:?}, whose size overflows", a.shape))?;
    if product != a.len() {
        return Err(format!(
            "has shape {:?} ({product} elements) but holds {}",
            a.shape,
            a.len()
        ));
    }
    if product == 0
        && let Some(&d) = a.shape.iter().find(|&&d| d > MAX_EMPTY_DIM)
    {
        return Err(format!(
            "has shape {:?}: a zero-size array with a dimension of {d} (at most {MAX_EMPTY_DIM})",
            a.shape
        ));
    }
    Ok(())
}

/// The count checks of [`check_value_tree`] for one object's own attributes.
fn check_object(obj: &Object) -> Result<(), SklearnError> {
    for key in FEATURE_COUNTS {
        let Some(n) = obj.get(key).and_then(Value::as_i64) else {
            continue;
        };
        if !(1..=MAX_FEATURES as i64).contains(&n) {
            return Err(SklearnError::bad_model(
                obj.class_name(),
                format!("`{key}` is {n}; it must be between 1 and {MAX_FEATURES}"),
            ));
        }
    }
    Ok(())
}

/// Checks what every built estimator (top-level or nested) reports about itself: a feature count of 0 or over
/// [`MAX_FEATURES`] cannot have come from `fit` (scikit-learn needs at least one feature) and would let a zero-width
/// batch through.
pub(crate) fn check_estimator(est: &dyn Estimator) -> Result<(), SklearnError> {
    match est.n_features_in() {
        Some(0) => Err(SklearnError::bad_model(
            est.class_name(),
            "the model expects 0 input features (its fitted arrays have no columns)",
        )),
        Some(n) if n > MAX_FEATURES => Err(SklearnError::bad_model(
            est.class_name(),
            format!("the model expects {n} input features, more than {MAX_FEATURES}"),
        )),
        _ => Ok(()),
    }
}

/// The top-level estimator a file is served as: refuses a batch with rows but no columns before the family code
/// sees it. Such a batch holds no data whatever its row count (`[10^12, 0]` is zero bytes on the wire), so a family
/// that allocates per row before checking widths would allocate for rows that do not exist. scikit-learn refuses
/// it too (`check_array`'s `ensure_min_features=1`), with the message used here.
#[derive(Debug)]
pub(crate) struct Checked(pub(crate) Box<dyn Estimator>);

impl Estimator for Checked {
    fn class_name(&self) -> &str {
        self.0.class_name()
    }

    fn n_features_in(&self) -> Option<usize> {
        self.0.n_features_in()
    }

    fn supports(&self, method: Method) -> bool {
        self.0.supports(method)
    }

    fn call(&self, method: Method, x: &Matrix) -> Result<Output, SklearnError> {
        if !self.0.supports(method) {
            return Err(self.0.no_method(method));
        }
        if x.cols() == 0 && x.rows() > 0 {
            return Err(SklearnError::BadInput(format!(
                "Found array with 0 feature(s) (shape=({}, 0)) while a minimum of 1 is required by {}.",
                x.rows(),
                self.0.class_name()
            )));
        }
        self.0.call(method, x)
    }

    fn classes(&self) -> Option<&Labels> {
        self.0.classes()
    }

    fn row_cost(&self) -> Option<u64> {
        self.0.row_cost()
    }

    fn takes_strings(&self) -> bool {
        self.0.takes_strings()
    }

    fn call_strings(&self, method: Method, docs: &[&str]) -> Result<Output, SklearnError> {
        if self.0.takes_strings() && !self.0.supports(method) {
            return Err(self.0.no_method(method));
        }
        self.0.call_strings(method, docs)
    }

    fn vectorize(&self, docs: &[&str]) -> Result<SparseMatrix, SklearnError> {
        self.0.vectorize(docs)
    }

    fn call_sparse(&self, method: Method, x: &SparseMatrix) -> Result<Output, SklearnError> {
        if !self.0.supports(method) {
            return Err(self.0.no_method(method));
        }
        self.0.call_sparse(method, x)
    }

    fn transform_sparse(&self, x: &SparseMatrix) -> Result<SparseMatrix, SklearnError> {
        self.0.transform_sparse(x)
    }

    fn feature_names_in(&self) -> Option<&[String]> {
        self.0.feature_names_in()
    }

    fn takes_table(&self) -> bool {
        self.0.takes_table() || self.0.feature_names_in().is_some()
    }

    fn string_columns(&self) -> Option<Vec<bool>> {
        self.0.string_columns()
    }

    fn table_transform(
        &self,
        table: &oxserve_core::Table,
    ) -> Option<Result<oxserve_core::Table, SklearnError>> {
        self.0.table_transform(table)
    }

    /// The request's columns are checked against `feature_names_in_` (missing or unexpected ones named) and put
    /// in the fitted order before any family code runs; an estimator fitted on an array takes them by position.
    fn call_table(
        &self,
        method: Method,
        table: &oxserve_core::Table,
    ) -> Result<Output, SklearnError> {
        if !self.0.supports(method) {
            return Err(self.0.no_method(method));
        }
        if table.columns().is_empty() && table.rows() > 0 {
            return Err(SklearnError::BadInput(format!(
                "Found array with 0 feature(s) (shape=({}, 0)) while a minimum of 1 is required by {}.",
                table.rows(),
                self.0.class_name()
            )));
        }
        match self.0.feature_names_in() {
            Some(names) => self
                .0
                .call_table(method, &crate::table::align(table, names)?),
            None => {
                if let Some(n) = self.0.n_features_in()
                    && n != table.columns().len()
                {
                    return Err(SklearnError::BadInput(format!(
                        "X has {} features, but {} is expecting {n} features as input",
                        table.columns().len(),
                        self.0.class_name()
                    )));
                }
                self.0.call_table(method, table)
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use oxserve_pickle::{ArrayData, Dtype, QualName};

    fn array(shape: Vec<usize>, data: Vec<f64>) -> Value {
        Value::Array(NdArray {
            dtype: Dtype::Float(8),
            shape,
            data: ArrayData::Float(data),
        })
    }

    fn object(state: Vec<(&str, Value)>) -> Value {
        Value::Object(Box::new(Object {
            class: QualName {
                module: "m".into(),
                name: "Est".into(),
            },
            args: Vec::new(),
            state: Value::Dict(
                state
                    .into_iter()
                    .map(|(k, v)| (Value::Str(k.into()), v))
                    .collect(),
            ),
        }))
    }

    #[test]
    fn refuses_unbacked_shapes_and_counts() {
        let ok = object(vec![
            ("coef_", array(vec![2, 2], vec![0.0; 4])),
            ("empty", array(vec![3, 0], vec![])),
            ("n_features_in_", Value::Int(2)),
        ]);
        check_value_tree(&ok).unwrap();
        for (bad, needle) in [
            (
                object(vec![("coef_", array(vec![1 << 59, 0], vec![]))]),
                "`coef_` has shape [576460752303423488, 0]",
            ),
            (
                object(vec![("coef_", array(vec![1 << 40, 1 << 40], vec![]))]),
                "overflows",
            ),
            (
                object(vec![("coef_", array(vec![3], vec![0.0; 2]))]),
                "holds 2",
            ),
            (
                object(vec![("n_features_in_", Value::Int(1 << 40))]),
                "`n_features_in_` is 1099511627776",
            ),
            (
                object(vec![("n_features_in_", Value::Int(0))]),
                "`n_features_in_` is 0",
            ),
            (
                Value::List(vec![object(vec![(
                    "inner",
                    Value::Tuple(vec![array(vec![0, 1 << 20], vec![])]),
                )])]),
                "`inner` has shape",
            ),
        ] {
            let err = check_value_tree(&bad).unwrap_err().to_string();
            assert!(err.contains(needle), "{err}");
        }
    }
}
