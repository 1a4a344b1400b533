//! Tables into tree libraries' feature matrices: numeric columns as they are, categorical columns as the codes
//! the library was trained on (XGBoost's and LightGBM's pandas `category` columns).
//!
//! Both libraries see a categorical feature as an integer code: the position of the value in the column's
//! categories at fit time (pandas' `cat.categories`, sorted unique values for `astype("category")`). A model file
//! may record those categories (XGBoost ≥ 3.1's `cats`, LightGBM's `pandas_categorical`); then a request's
//! strings map to their codes here. Numbers in a categorical column are category values when the recorded
//! categories are numbers (pandas integer categories), else codes, passed through as a numeric array is to
//! `Booster.predict`.

use std::collections::HashMap;

use crate::table::{ColumnData, Table, TableError};
use crate::{PredictRequest, TensorData};

/// The categories of one categorical feature as a model file records them, in code order (code = position).
#[derive(Debug, Clone, PartialEq)]
pub enum Categories {
    /// String categories (pandas `object` / `str` categories).
    Str(Vec<String>),
    /// Numeric categories (pandas integer categories), as float64.
    Num(Vec<f64>),
}

/// How a tree library reads one input feature.
#[derive(Debug, Clone, PartialEq)]
pub enum FeatureKind {
    /// A number (float, int or bool; missing as NaN).
    Numeric,
    /// A categorical feature, with its categories when the model file records them (`None`: codes only).
    Categorical(Option<Categories>),
}

/// What a category the model was not trained on becomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnseenCategory {
    /// Missing (NaN): LightGBM sets the training categories on the column, which turns an unknown value into
    /// NaN.
    Missing,
    /// A 400 naming the column and the value: XGBoost's re-coder ("Found a category not in the training set").
    Refuse,
}

/// One feature's lookup from category value to code.
#[derive(Debug, Clone)]
enum Lookup {
    Numeric,
    /// No recorded categories: numbers are codes, strings are refused.
    Codes,
    Str(HashMap<String, usize>),
    Num(Vec<f64>),
}

/// Encodes a request's table into a tree model's rows × features float64 matrix: columns checked against the
/// model's feature names (missing or unexpected ones named; a positional table is taken in order) and put in
/// the model's order, categorical values turned into the library's codes.
#[derive(Debug, Clone)]
pub struct FeatureEncoder {
    names: Vec<String>,
    lookups: Vec<Lookup>,
    unseen: UnseenCategory,
}

impl FeatureEncoder {
    /// An encoder for `n_features` features named `names` (empty: the model names none) of kinds `kinds`
    /// (shorter than `n_features`: the rest are numeric).
    pub fn new(
        n_features: usize,
        names: &[String],
        kinds: &[FeatureKind],
        unseen: UnseenCategory,
    ) -> Self {
        let lookups = (0..n_features)
            .map(|f| match kinds.get(f) {
                None | Some(FeatureKind::Numeric) => Lookup::Numeric,
                Some(FeatureKind::Categorical(None)) => Lookup::Codes,
                Some(FeatureKind::Categorical(Some(Categories::Str(c)))) => Lookup::Str(
                    c.iter()
                        .enumerate()
                        .rev()
                        .map(|(i, s)| (s.clone(), i))
                        .collect(),
                ),
                Some(FeatureKind::Categorical(Some(Categories::Num(c)))) => Lookup::Num(c.clone()),
            })
            .collect();
        let names = if names.len() == n_features {
            names.to_vec()
        } else {
            Vec::new()
        };
        FeatureEncoder {
            names,
            lookups,
            unseen,
        }
    }

    /// Whether any feature is categorical: only such models read tables (a numeric model keeps taking its
    /// one matrix, whatever names a request carries).
    pub fn has_categorical(&self) -> bool {
        self.lookups.iter().any(|l| !matches!(l, Lookup::Numeric))
    }

    /// The request as a table when it is one, encoded ([`FeatureEncoder::encode`]); `None` when it is one
    /// numeric matrix (a single input that is not `BYTES` and not named after a feature), which the caller reads
    /// as before.
    pub fn encode_request(&self, request: &PredictRequest) -> Option<Result<Vec<f64>, TableError>> {
        if let [input] = request.inputs.as_slice()
            && !matches!(input.tensor.data(), TensorData::Bytes(_))
            && !self.names.contains(&input.name)
        {
            return None;
        }
        Some(request.table().and_then(|t| self.encode(&t)))
    }

    /// The table as a row-major rows × features float64 matrix in the model's feature order.
    pub fn encode(&self, table: &Table) -> Result<Vec<f64>, TableError> {
        let n = self.lookups.len();
        let aligned;
        let table = if self.names.is_empty() || table.is_positional() {
            if table.columns().len() != n {
                return Err(TableError::ColumnCount {
                    got: table.columns().len(),
                    want: n,
                });
            }
            table
        } else {
            aligned = table.align(&self.names)?;
            &aligned
        };
        let rows = table.rows();
        let mut out = vec![f64::NAN; rows.saturating_mul(n)];
        for (f, (column, lookup)) in table.columns().iter().zip(&self.lookups).enumerate() {
            let name = &column.name;
            let mut put = |i: usize, v: f64| {
                if let Some(cell) = out.get_mut(i * n + f) {
                    *cell = v;
                }
            };
            match (&column.data, lookup) {
                (ColumnData::Str(_), Lookup::Numeric) => {
                    return Err(TableError::NotNumeric(name.clone()));
                }
                (ColumnData::Str(values), Lookup::Codes) => {
                    if values.iter().any(Option::is_some) {
                        return Err(TableError::NoCategories(name.clone()));
                    }
                }
                (ColumnData::Str(values), _) => {
                    for (i, v) in values.iter().enumerate() {
                        let Some(v) = v else { continue };
                        let code = match lookup {
                            Lookup::Str(map) => map.get(v).copied(),
                            _ => None,
                        };
                        put(i, self.code(name, code, || v.clone())?);
                    }
                }
                (data, Lookup::Num(categories)) => {
                    for i in 0..rows {
                        let v = data.f64_at(i).unwrap_or(f64::NAN);
                        if v.is_nan() {
                            continue;
                        }
                        let code = categories.iter().position(|&c| c == v);
                        put(i, self.code(name, code, || format!("{v}"))?);
                    }
                }
                (data, _) => {
                    for i in 0..rows {
                        put(i, data.f64_at(i).unwrap_or(f64::NAN));
                    }
                }
            }
        }
        Ok(out)
    }

    /// A found code, or what an unseen value becomes.
    fn code(
        &self,
        column: &str,
        code: Option<usize>,
        value: impl FnOnce() -> String,
    ) -> Result<f64, TableError> {
        match (code, self.unseen) {
            (Some(c), _) => Ok(c as f64),
            (None, UnseenCategory::Missing) => Ok(f64::NAN),
            (None, UnseenCategory::Refuse) => Err(TableError::UnknownCategory {
                column: column.to_owned(),
                value: value(),
            }),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::table::Column;

    fn kinds() -> Vec<FeatureKind> {
        vec![
            FeatureKind::Numeric,
            FeatureKind::Categorical(Some(Categories::Str(vec![
                "blue".into(),
                "green".into(),
                "red".into(),
            ]))),
            FeatureKind::Categorical(Some(Categories::Num(vec![10.0, 20.0]))),
            FeatureKind::Categorical(None),
        ]
    }

    fn names() -> Vec<String> {
        ["age", "color", "size", "code"].map(String::from).to_vec()
    }

    fn table(color: Vec<Option<&str>>) -> Table {
        let rows = color.len();
        Table::new(vec![
            Column::new("code", ColumnData::I64(vec![Some(2); rows])),
            Column::new(
                "color",
                ColumnData::Str(color.into_iter().map(|c| c.map(String::from)).collect()),
            ),
            Column::new("age", ColumnData::F64(vec![1.5; rows])),
            Column::new("size", ColumnData::F64(vec![20.0; rows])),
        ])
        .unwrap()
    }

    #[test]
    fn strings_become_codes_in_the_model_order() {
        let enc = FeatureEncoder::new(4, &names(), &kinds(), UnseenCategory::Refuse);
        assert!(enc.has_categorical());
        let got = enc
            .encode(&table(vec![Some("red"), None, Some("blue")]))
            .unwrap();
        let want = [
            1.5,
            2.0,
            1.0,
            2.0,
            1.5,
            f64::NAN,
            1.0,
            2.0,
            1.5,
            0.0,
            1.0,
            2.0,
        ];
        assert_eq!(got.len(), want.len());
        for (g, w) in got.iter().zip(want) {
            assert!(g == &w || (g.is_nan() && w.is_nan()), "{got:?}");
        }
    }

    #[test]
    fn unseen_categories_missing_or_refused() {
        let t = table(vec![Some("purple")]);
        let enc = FeatureEncoder::new(4, &names(), &kinds(), UnseenCategory::Missing);
        assert!(enc.encode(&t).unwrap()[1].is_nan());
        let enc = FeatureEncoder::new(4, &names(), &kinds(), UnseenCategory::Refuse);
        assert_eq!(
            enc.encode(&t).unwrap_err().to_string(),
            "Found a category not in the training set for column `color`: `purple`"
        );
    }

    #[test]
    fn names_and_types_are_checked() {
        let enc = FeatureEncoder::new(4, &names(), &kinds(), UnseenCategory::Refuse);
        let mut cols = table(vec![Some("red")]).into_columns();
        cols.pop();
        let err = enc.encode(&Table::new(cols).unwrap()).unwrap_err();
        assert!(
            err.to_string().contains("missing columns: ['size']"),
            "{err}"
        );
        let mut cols = table(vec![Some("red")]).into_columns();
        cols[2].data = ColumnData::Str(vec![Some("old".into())]);
        let err = enc.encode(&Table::new(cols).unwrap()).unwrap_err();
        assert_eq!(err, TableError::NotNumeric("age".into()));
        let mut cols = table(vec![Some("red")]).into_columns();
        cols[0].data = ColumnData::Str(vec![Some("x".into())]);
        let err = enc.encode(&Table::new(cols).unwrap()).unwrap_err();
        assert_eq!(err, TableError::NoCategories("code".into()));
    }
}
