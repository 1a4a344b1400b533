//! Tables (named, typed columns: a pandas DataFrame or a numpy `object` array on the wire) into estimators:
//! the request's columns checked against `feature_names_in_` and put in the fitted order, and the numeric
//! matrix of a table for estimators that read numbers only.

use oxserve_core::{ColumnData, Table, TableError};

use crate::{Matrix, SklearnError};

/// A table as a rows × columns float64 matrix (booleans as 0/1, missing numbers as NaN); a string column is
/// refused naming it, as scikit-learn's `could not convert string to float`.
pub(crate) fn matrix_of(table: &Table) -> Result<Matrix, SklearnError> {
    let data = table.to_matrix().map_err(|e| match e {
        TableError::NotNumeric(name) => {
            let example = table
                .column(&name)
                .and_then(|c| match &c.data {
                    ColumnData::Str(v) => v.iter().flatten().next().cloned(),
                    _ => None,
                })
                .unwrap_or_default();
            SklearnError::BadInput(format!(
                "could not convert string to float: '{example}' (column `{name}` holds strings where a number is expected)"
            ))
        }
        other => SklearnError::BadInput(other.to_string()),
    })?;
    Matrix::new(table.rows(), table.columns().len(), data)
}

/// The request's table in the order `names` (the estimator's `feature_names_in_`) gives, as scikit-learn
/// checks a DataFrame: a missing column or one it was not fitted on is [`SklearnError::BadInput`] naming them.
/// A positional table (from an array without names: columns `0`, `1`, ...) is taken in order, as scikit-learn
/// takes a numpy array, when it has the right number of columns.
pub(crate) fn align(table: &Table, names: &[String]) -> Result<Table, SklearnError> {
    table
        .align(names)
        .map_err(|e| SklearnError::BadInput(e.to_string()))
}

/// Columns `indices` of a table (already checked in range by the caller's fitted selection).
pub(crate) fn select(table: &Table, indices: &[usize]) -> Result<Table, SklearnError> {
    let columns = indices
        .iter()
        .map(|&i| {
            table.column_at(i).cloned().ok_or_else(|| {
                SklearnError::BadInput(format!(
                    "column {i} is out of range for a table of {} columns",
                    table.columns().len()
                ))
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    Table::new(columns).map_err(|e| SklearnError::BadInput(e.to_string()))
}
