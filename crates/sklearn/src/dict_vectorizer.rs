//! `DictVectorizer`: records (dicts of feature → value) to a matrix over the fitted `vocabulary_`.
//!
//! A request's table is its records, one row each, a column per key (Seldon `jsonData` records, named columns,
//! V2 inputs). As scikit-learn's `transform` reads a dict: a string value `v` of key `f` sets feature
//! `f{separator}v` to 1, a number (booleans as 0/1) sets feature `f` to the value, and a feature outside
//! `vocabulary_` is ignored. A missing cell (a key a record lacks, which the table cannot tell from `null`) is an
//! absent key: it sets nothing, where scikit-learn would store NaN for an explicit `None`.

use std::collections::HashMap;

use oxserve_core::{ColumnData, Table};
use oxserve_pickle::Object;

use crate::estimator::MAX_DENSE_VALUES;
use crate::{Estimator, Matrix, Method, Output, SklearnError};

/// The classes this family builds.
pub(crate) const CLASSES: &[&str] = &["DictVectorizer"];

/// Builds `obj` when it is one of [`CLASSES`].
pub(crate) fn build(obj: &Object) -> Option<Result<Box<dyn Estimator>, SklearnError>> {
    if !CLASSES.contains(&obj.class_name()) {
        return None;
    }
    Some(DictVectorizer::from_object(obj).map(|e| Box::new(e) as Box<dyn Estimator>))
}

#[derive(Debug)]
struct DictVectorizer {
    /// `vocabulary_`: feature name → output column.
    vocabulary: HashMap<String, usize>,
    /// `separator` between a key and a string value.
    separator: String,
}

impl DictVectorizer {
    fn from_object(obj: &Object) -> Result<Self, SklearnError> {
        let vocabulary = crate::attrs::vocabulary(obj, "DictVectorizer")?;
        let separator = crate::attrs::opt_str(obj, "separator")
            .unwrap_or("=")
            .to_owned();
        Ok(DictVectorizer {
            vocabulary,
            separator,
        })
    }

    fn transform(&self, table: &Table) -> Result<Matrix, SklearnError> {
        let cols = self.vocabulary.len();
        let rows = table.rows();
        if rows.saturating_mul(cols) > MAX_DENSE_VALUES {
            return Err(SklearnError::BadInput(format!(
                "DictVectorizer: {rows} rows × {cols} features exceed the {MAX_DENSE_VALUES} values a dense batch may hold"
            )));
        }
        let mut out = Matrix::zeros(rows, cols);
        let data = out.data_mut();
        let mut name = String::new();
        for column in table.columns() {
            let key = column.name.as_str();
            let numeric = self.vocabulary.get(key).copied();
            for i in 0..rows {
                let (j, value) = match &column.data {
                    ColumnData::Str(v) => {
                        let Some(Some(s)) = v.get(i) else { continue };
                        name.clear();
                        name.push_str(key);
                        name.push_str(&self.separator);
                        name.push_str(s);
                        match self.vocabulary.get(&name) {
                            Some(&j) => (j, 1.0),
                            None => continue,
                        }
                    }
                    ColumnData::F64(v) => match (numeric, v.get(i)) {
                        (Some(j), Some(&x)) if !x.is_nan() => (j, x),
                        _ => continue,
                    },
                    other => match (numeric, other.f64_at(i)) {
                        (Some(j), Some(x)) if !x.is_nan() => (j, x),
                        _ => continue,
                    },
                };
                if let Some(cell) = data.get_mut(i * cols + j) {
                    // scikit-learn sums a feature set twice in one record (its sparse matrix adds duplicates).
                    *cell += value;
                }
            }
        }
        Ok(out)
    }
}

impl Estimator for DictVectorizer {
    fn class_name(&self) -> &str {
        "DictVectorizer"
    }

    fn n_features_in(&self) -> Option<usize> {
        None
    }

    fn supports(&self, method: Method) -> bool {
        method == Method::Transform
    }

    fn call(&self, method: Method, _x: &Matrix) -> Result<Output, SklearnError> {
        if method != Method::Transform {
            return Err(self.no_method(method));
        }
        Err(SklearnError::BadInput(
            "DictVectorizer reads records (dicts of feature → value): send `jsonData` records or named columns"
                .into(),
        ))
    }

    fn takes_table(&self) -> bool {
        true
    }

    fn call_table(&self, method: Method, table: &Table) -> Result<Output, SklearnError> {
        if method != Method::Transform {
            return Err(self.no_method(method));
        }
        self.transform(table).map(Output::Matrix)
    }
}
