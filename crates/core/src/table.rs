//! Tables: named columns, each with its own element type and missing values, for tabular models whose inputs are
//! not all numbers (a pandas DataFrame, a numpy `dtype=object` array of strings and floats).
//!
//! A table travels to a model as a [`PredictRequest`](crate::PredictRequest) whose inputs are its columns, one
//! 1-D tensor each (the shape MLServer's pandas codec gives a DataFrame on the wire): [`Table::into_inputs`] and
//! [`Table::from_inputs`] convert both ways, missing strings and booleans carried by the tensor's missing mask
//! ([`Tensor::missing`]). An all-numeric request keeps its single 2-D tensor and never becomes a table.

use crate::NamedTensor;
use crate::tensor::{Tensor, TensorData};

/// One column's values, typed. A missing value is NaN in a float column and `None` elsewhere.
#[derive(Debug, Clone, PartialEq)]
pub enum ColumnData {
    /// float64 (`NaN` = missing).
    F64(Vec<f64>),
    /// int64.
    I64(Vec<Option<i64>>),
    /// Booleans.
    Bool(Vec<Option<bool>>),
    /// Strings (numpy `object` arrays of `str`, pandas `object` / `string` columns).
    Str(Vec<Option<String>>),
}

impl ColumnData {
    /// Number of values.
    pub fn len(&self) -> usize {
        match self {
            ColumnData::F64(v) => v.len(),
            ColumnData::I64(v) => v.len(),
            ColumnData::Bool(v) => v.len(),
            ColumnData::Str(v) => v.len(),
        }
    }

    /// Whether the column has no values.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether the column holds numbers (float, int or bool), which a numeric matrix can take.
    pub fn is_numeric(&self) -> bool {
        !matches!(self, ColumnData::Str(_))
    }

    /// The type's name as pandas prints it (`float64`, `int64`, `bool`, `object`), for messages and for
    /// `make_column_selector`'s dtype rules.
    pub fn dtype_name(&self) -> &'static str {
        match self {
            ColumnData::F64(_) => "float64",
            ColumnData::I64(_) => "int64",
            ColumnData::Bool(_) => "bool",
            ColumnData::Str(_) => "object",
        }
    }

    /// Value `i` as float64 (`NaN` when missing, `None` for a string column).
    pub fn f64_at(&self, i: usize) -> Option<f64> {
        Some(match self {
            ColumnData::F64(v) => v.get(i).copied().unwrap_or(f64::NAN),
            ColumnData::I64(v) => v.get(i).copied().flatten().map_or(f64::NAN, |x| x as f64),
            ColumnData::Bool(v) => v
                .get(i)
                .copied()
                .flatten()
                .map_or(f64::NAN, |b| f64::from(u8::from(b))),
            ColumnData::Str(_) => return None,
        })
    }
}

/// A named column.
#[derive(Debug, Clone, PartialEq)]
pub struct Column {
    /// The column's name (`feature_names_in_` entries; positional columns are named `0`, `1`, ...).
    pub name: String,
    /// Its values.
    pub data: ColumnData,
}

impl Column {
    /// Pairs a name with values.
    pub fn new(name: impl Into<String>, data: ColumnData) -> Self {
        Column {
            name: name.into(),
            data,
        }
    }
}

/// Why a table could not be built or converted; each names the column at fault.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TableError {
    /// Columns of different lengths.
    #[error("column `{name}` has {got} values but the table has {rows} rows")]
    Ragged {
        /// The column.
        name: String,
        /// Its length.
        got: usize,
        /// The first column's length.
        rows: usize,
    },
    /// A numeric matrix was asked of a table with a string column.
    #[error("column `{0}` holds strings where a number is expected")]
    NotNumeric(String),
    /// A column tensor that is not 1-D (or rows × 1).
    #[error("input `{name}` of shape {shape:?} is not one column")]
    NotAColumn {
        /// The input.
        name: String,
        /// Its shape.
        shape: Vec<usize>,
    },
    /// Two columns share a name.
    #[error("column `{0}` appears twice")]
    Duplicate(String),
    /// A string that is not UTF-8.
    #[error("column `{0}` holds bytes that are not UTF-8 text")]
    NotUtf8(String),
    /// The table's columns are not the ones the model was fitted with (scikit-learn's wording).
    #[error(
        "The feature names should match those that were passed during fit; {} (fitted on {})",
        names_mismatch(missing, unexpected),
        quoted(fitted)
    )]
    Names {
        /// Fitted columns the table lacks.
        missing: Vec<String>,
        /// Columns of the table the model was not fitted with.
        unexpected: Vec<String>,
        /// The fitted columns, in order.
        fitted: Vec<String>,
    },
    /// A positional table with the wrong number of columns.
    #[error("X has {got} features, but the model is expecting {want} features as input")]
    ColumnCount {
        /// The table's columns.
        got: usize,
        /// The model's features.
        want: usize,
    },
    /// A category the model was not trained on, where the library refuses one (XGBoost's wording).
    #[error("Found a category not in the training set for column `{column}`: `{value}`")]
    UnknownCategory {
        /// The column.
        column: String,
        /// The value.
        value: String,
    },
    /// Strings in a categorical column whose categories the model file does not record.
    #[error(
        "column `{0}` holds strings, but the model file records no categories for it (XGBoost before 3.1, or \
         LightGBM without `pandas_categorical`); send the integer category codes the model was trained on"
    )]
    NoCategories(String),
}

fn names_mismatch(missing: &[String], unexpected: &[String]) -> String {
    let mut parts = Vec::new();
    if !missing.is_empty() {
        parts.push(format!("missing columns: {}", quoted(missing)));
    }
    if !unexpected.is_empty() {
        parts.push(format!(
            "columns the model was not fitted with: {}",
            quoted(unexpected)
        ));
    }
    parts.join("; ")
}

fn quoted(names: &[String]) -> String {
    let list: Vec<String> = names.iter().map(|n| format!("'{n}'")).collect();
    format!("[{}]", list.join(", "))
}

/// A table: named, typed columns of equal length.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Table {
    rows: usize,
    columns: Vec<Column>,
}

impl Table {
    /// Builds a table, checking that every column has the same number of rows and no two share a name.
    pub fn new(columns: Vec<Column>) -> Result<Self, TableError> {
        let rows = columns.first().map_or(0, |c| c.data.len());
        for (i, c) in columns.iter().enumerate() {
            if c.data.len() != rows {
                return Err(TableError::Ragged {
                    name: c.name.clone(),
                    got: c.data.len(),
                    rows,
                });
            }
            if columns[..i].iter().any(|o| o.name == c.name) {
                return Err(TableError::Duplicate(c.name.clone()));
            }
        }
        Ok(Table { rows, columns })
    }

    /// Number of rows.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// The columns, in order.
    pub fn columns(&self) -> &[Column] {
        &self.columns
    }

    /// Takes the columns.
    pub fn into_columns(self) -> Vec<Column> {
        self.columns
    }

    /// The column names, in order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.columns.iter().map(|c| c.name.as_str())
    }

    /// The column called `name`.
    pub fn column(&self, name: &str) -> Option<&Column> {
        self.columns.iter().find(|c| c.name == name)
    }

    /// The position of the column called `name`.
    pub fn position(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c.name == name)
    }

    /// Column `i`.
    pub fn column_at(&self, i: usize) -> Option<&Column> {
        self.columns.get(i)
    }

    /// The table with the columns `names` (a model's fitted feature names), in that order, as scikit-learn
    /// checks a DataFrame: a missing column or one the model was not fitted with is [`TableError::Names`]; a
    /// positional table (columns `0`, `1`, ...: an array without names) is taken in order and renamed, when it
    /// has as many columns ([`TableError::ColumnCount`] otherwise).
    pub fn align(&self, names: &[String]) -> Result<Table, TableError> {
        if self.is_positional() {
            if self.columns.len() != names.len() {
                return Err(TableError::ColumnCount {
                    got: self.columns.len(),
                    want: names.len(),
                });
            }
            let renamed = self
                .columns
                .iter()
                .zip(names)
                .map(|(c, n)| Column::new(n.clone(), c.data.clone()))
                .collect();
            return Table::new(renamed);
        }
        let missing: Vec<String> = names
            .iter()
            .filter(|n| self.column(n).is_none())
            .cloned()
            .collect();
        let unexpected: Vec<String> = self
            .names()
            .filter(|n| !names.iter().any(|m| m == n))
            .map(String::from)
            .collect();
        if !missing.is_empty() || !unexpected.is_empty() {
            return Err(TableError::Names {
                missing,
                unexpected,
                fitted: names.to_vec(),
            });
        }
        let columns = names
            .iter()
            .filter_map(|n| self.column(n).cloned())
            .collect();
        Table::new(columns)
    }

    /// Whether the names are positional (`0`, `1`, ... in order): the table came from an array without names,
    /// as a DataFrame built from a numpy array has integer column names, which scikit-learn does not check.
    pub fn is_positional(&self) -> bool {
        self.columns
            .iter()
            .enumerate()
            .all(|(i, c)| c.name.parse::<usize>() == Ok(i))
    }

    /// The names `0`, `1`, ... `n - 1`, for a table built from an array without names.
    pub fn positional_names(n: usize) -> Vec<String> {
        (0..n).map(|i| i.to_string()).collect()
    }

    /// The table as a row-major float64 matrix (rows × columns) when every column is numeric (booleans as 0/1,
    /// missing as NaN); else the first string column's name.
    pub fn to_matrix(&self) -> Result<Vec<f64>, TableError> {
        let cols = self.columns.len();
        if let Some(c) = self.columns.iter().find(|c| !c.data.is_numeric()) {
            return Err(TableError::NotNumeric(c.name.clone()));
        }
        let mut out = vec![0.0; self.rows.saturating_mul(cols)];
        for (j, c) in self.columns.iter().enumerate() {
            for (i, row) in out.chunks_exact_mut(cols.max(1)).enumerate() {
                if let Some(cell) = row.get_mut(j) {
                    *cell = c.data.f64_at(i).unwrap_or(f64::NAN);
                }
            }
        }
        Ok(out)
    }

    /// The columns as a request's inputs, one 1-D tensor each, named after the column (the shape of MLServer's
    /// pandas codec): float64 as `FP64`, int64 as `INT64` (`FP64` with NaN when a value is missing, as pandas
    /// widens it), booleans as `BOOL` and strings as `BYTES`, missing values marked in the tensor's mask.
    pub fn into_inputs(self) -> Vec<NamedTensor> {
        let rows = self.rows;
        self.columns
            .into_iter()
            .map(|c| {
                let (data, missing) = match c.data {
                    ColumnData::F64(v) => (TensorData::F64(v), None),
                    ColumnData::I64(v) if v.iter().all(Option::is_some) => {
                        (TensorData::I64(v.into_iter().flatten().collect()), None)
                    }
                    ColumnData::I64(v) => (
                        TensorData::F64(
                            v.into_iter()
                                .map(|x| x.map_or(f64::NAN, |x| x as f64))
                                .collect(),
                        ),
                        None,
                    ),
                    ColumnData::Bool(v) => {
                        let missing = mask(v.iter().map(Option::is_none));
                        (
                            TensorData::Bool(v.into_iter().map(|b| b.unwrap_or(false)).collect()),
                            missing,
                        )
                    }
                    ColumnData::Str(v) => {
                        let missing = mask(v.iter().map(Option::is_none));
                        (
                            TensorData::Bytes(
                                v.into_iter()
                                    .map(|s| s.map(String::into_bytes).unwrap_or_default())
                                    .collect(),
                            ),
                            missing,
                        )
                    }
                };
                let tensor = Tensor::from_column(data, missing);
                debug_assert_eq!(tensor.len(), rows);
                NamedTensor::new(c.name, tensor)
            })
            .collect()
    }

    /// A table from a rows × columns tensor (a 1-D one is one row) whose columns take `names`: the numeric
    /// `ndarray` of a request that names its columns. `None` when the names do not match the columns.
    pub fn from_matrix(tensor: &Tensor, names: &[String]) -> Option<Self> {
        let (rows, cols) = match *tensor.shape() {
            [n] => (1, n),
            [r, c] => (r, c),
            _ => return None,
        };
        if names.len() != cols {
            return None;
        }
        let at = |i: usize, j: usize| i * cols + j;
        let columns = names
            .iter()
            .enumerate()
            .map(|(j, name)| {
                let data = match tensor.data() {
                    TensorData::Bytes(v) => ColumnData::Str(
                        (0..rows)
                            .map(|i| {
                                v.get(at(i, j))
                                    .map(|b| String::from_utf8_lossy(b).into_owned())
                            })
                            .collect(),
                    ),
                    TensorData::Bool(v) => {
                        ColumnData::Bool((0..rows).map(|i| v.get(at(i, j)).copied()).collect())
                    }
                    TensorData::I64(v) => {
                        ColumnData::I64((0..rows).map(|i| v.get(at(i, j)).copied()).collect())
                    }
                    TensorData::F64(v) => ColumnData::F64(
                        (0..rows)
                            .map(|i| v.get(at(i, j)).copied().unwrap_or(f64::NAN))
                            .collect(),
                    ),
                    other => {
                        let t = Tensor::new(vec![other.len()], other.clone()).ok()?;
                        let v = t.to_f64_vec().ok()?;
                        ColumnData::F64(
                            (0..rows)
                                .map(|i| v.get(at(i, j)).copied().unwrap_or(f64::NAN))
                                .collect(),
                        )
                    }
                };
                Some(Column::new(name.clone(), data))
            })
            .collect::<Option<Vec<_>>>()?;
        Table::new(columns).ok()
    }

    /// A table from a request's inputs, each one column (1-D, or rows × 1) named after the input. The inverse of
    /// [`Table::into_inputs`]; `UINT8`/`INT32` widen to int64 and `FP32` to float64.
    ///
    /// One rows × k input alone (an array of one type, strings for instance) is k positional columns, as a numpy
    /// array is to scikit-learn.
    pub fn from_inputs(inputs: &[NamedTensor]) -> Result<Self, TableError> {
        if let [input] = inputs
            && let [_, k] = *input.tensor.shape()
            && k != 1
            && let Some(table) = Table::from_matrix(&input.tensor, &Table::positional_names(k))
        {
            return Ok(table);
        }
        let columns = inputs
            .iter()
            .map(|input| {
                let t = &input.tensor;
                let name = &input.name;
                if !matches!(*t.shape(), [_] | [_, 1]) {
                    return Err(TableError::NotAColumn {
                        name: name.clone(),
                        shape: t.shape().to_vec(),
                    });
                }
                let missing = |i: usize| t.missing().is_some_and(|m| m.get(i) == Some(&true));
                let data = match t.data() {
                    TensorData::F64(v) => ColumnData::F64(v.clone()),
                    TensorData::F32(v) => {
                        ColumnData::F64(v.iter().map(|&x| f64::from(x)).collect())
                    }
                    TensorData::I64(v) => ColumnData::I64(v.iter().map(|&x| Some(x)).collect()),
                    TensorData::I32(v) => {
                        ColumnData::I64(v.iter().map(|&x| Some(i64::from(x))).collect())
                    }
                    TensorData::U8(v) => {
                        ColumnData::I64(v.iter().map(|&x| Some(i64::from(x))).collect())
                    }
                    TensorData::Bool(v) => ColumnData::Bool(
                        v.iter()
                            .enumerate()
                            .map(|(i, &b)| (!missing(i)).then_some(b))
                            .collect(),
                    ),
                    TensorData::Bytes(v) => ColumnData::Str(
                        v.iter()
                            .enumerate()
                            .map(|(i, b)| {
                                if missing(i) {
                                    Ok(None)
                                } else {
                                    String::from_utf8(b.clone())
                                        .map(Some)
                                        .map_err(|_| TableError::NotUtf8(name.clone()))
                                }
                            })
                            .collect::<Result<_, _>>()?,
                    ),
                };
                Ok(Column::new(name.clone(), data))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Table::new(columns)
    }
}

fn mask(missing: impl Iterator<Item = bool>) -> Option<Vec<bool>> {
    let m: Vec<bool> = missing.collect();
    m.iter().any(|&b| b).then_some(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Table {
        Table::new(vec![
            Column::new("age", ColumnData::F64(vec![70.0, f64::NAN])),
            Column::new("n", ColumnData::I64(vec![Some(1), None])),
            Column::new("ok", ColumnData::Bool(vec![Some(true), None])),
            Column::new("color", ColumnData::Str(vec![Some("red".into()), None])),
        ])
        .unwrap()
    }

    #[test]
    fn columns_by_name_and_index() {
        let t = sample();
        assert_eq!(t.rows(), 2);
        assert_eq!(t.position("color"), Some(3));
        assert_eq!(t.column_at(1).unwrap().name, "n");
        assert!(t.column("nope").is_none());
        assert!(!t.is_positional());
        assert_eq!(t.to_matrix(), Err(TableError::NotNumeric("color".into())));
    }

    #[test]
    fn ragged_and_duplicate_columns_are_refused() {
        let err = Table::new(vec![
            Column::new("a", ColumnData::F64(vec![1.0])),
            Column::new("b", ColumnData::F64(vec![1.0, 2.0])),
        ])
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "column `b` has 2 values but the table has 1 rows"
        );
        let err = Table::new(vec![
            Column::new("a", ColumnData::F64(vec![1.0])),
            Column::new("a", ColumnData::F64(vec![1.0])),
        ])
        .unwrap_err();
        assert_eq!(err, TableError::Duplicate("a".into()));
    }

    #[test]
    fn numeric_table_to_matrix() {
        let t = Table::new(vec![
            Column::new("0", ColumnData::F64(vec![1.0, 2.0])),
            Column::new("1", ColumnData::Bool(vec![Some(true), Some(false)])),
        ])
        .unwrap();
        assert!(t.is_positional());
        assert_eq!(t.to_matrix().unwrap(), vec![1.0, 1.0, 2.0, 0.0]);
    }

    #[test]
    fn inputs_round_trip_keeps_missing_values() {
        let t = sample();
        let inputs = t.clone().into_inputs();
        assert_eq!(inputs.len(), 4);
        assert_eq!(inputs[3].tensor.missing(), Some(&[false, true][..]));
        // An int column with a missing value widens to float64 with NaN, as pandas does.
        let back = Table::from_inputs(&inputs).unwrap();
        assert!(matches!(back.columns()[1].data, ColumnData::F64(_)));
        assert_eq!(back.columns()[3], t.columns()[3]);
        assert_eq!(back.columns()[2], t.columns()[2]);
    }
}
