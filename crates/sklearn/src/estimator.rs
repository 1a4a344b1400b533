//! The `Estimator` trait and the batch types it computes on.

use oxserve_core::Table;

use crate::SklearnError;

/// A row-major float64 matrix: the batch an estimator reads (rows × features) or a 2-D result.
#[derive(Debug, Clone, PartialEq)]
pub struct Matrix {
    rows: usize,
    cols: usize,
    data: Vec<f64>,
}

impl Matrix {
    /// Builds a matrix; `data.len()` must be `rows * cols`.
    pub fn new(rows: usize, cols: usize, data: Vec<f64>) -> Result<Self, SklearnError> {
        if rows.checked_mul(cols) != Some(data.len()) {
            return Err(SklearnError::BadInput(format!(
                "a {rows}x{cols} matrix needs {} values, got {}",
                rows.saturating_mul(cols),
                data.len()
            )));
        }
        Ok(Matrix { rows, cols, data })
    }

    /// A matrix of zeros.
    pub fn zeros(rows: usize, cols: usize) -> Self {
        Matrix {
            rows,
            cols,
            data: vec![0.0; rows * cols],
        }
    }

    /// Number of rows.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Number of columns.
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// The row-major buffer.
    pub fn data(&self) -> &[f64] {
        &self.data
    }

    /// The row-major buffer, mutable.
    pub fn data_mut(&mut self) -> &mut [f64] {
        &mut self.data
    }

    /// Row `i`.
    ///
    /// # Panics
    /// When `i >= rows` (callers iterate `0..rows()`).
    pub fn row(&self, i: usize) -> &[f64] {
        &self.data[i * self.cols..(i + 1) * self.cols]
    }

    /// Row `i`, mutable.
    ///
    /// # Panics
    /// When `i >= rows`.
    pub fn row_mut(&mut self, i: usize) -> &mut [f64] {
        &mut self.data[i * self.cols..(i + 1) * self.cols]
    }

    /// Iterates over the rows.
    pub fn iter_rows(&self) -> impl Iterator<Item = &[f64]> {
        // `max(1)` keeps `chunks_exact` valid for a 0-column matrix, which then yields no rows.
        self.data.chunks_exact(self.cols.max(1)).take(self.rows)
    }

    /// Takes the buffer.
    pub fn into_data(self) -> Vec<f64> {
        self.data
    }

    /// Checks that the batch has `n` features, with scikit-learn's wording.
    pub fn expect_features(&self, n: usize, class: &str) -> Result<(), SklearnError> {
        if self.cols != n {
            return Err(SklearnError::BadInput(format!(
                "X has {} features, but {class} is expecting {n} features as input",
                self.cols
            )));
        }
        Ok(())
    }
}

/// Class labels as scikit-learn keeps them in `classes_`.
#[derive(Debug, Clone, PartialEq)]
pub enum Labels {
    /// Integer labels.
    Int(Vec<i64>),
    /// Float labels.
    Float(Vec<f64>),
    /// String labels.
    Str(Vec<String>),
}

impl Labels {
    /// Number of labels.
    pub fn len(&self) -> usize {
        match self {
            Labels::Int(v) => v.len(),
            Labels::Float(v) => v.len(),
            Labels::Str(v) => v.len(),
        }
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The labels at the given indices (e.g. each row's argmax), in order.
    ///
    /// Indices must be `< len()`; estimators only pass argmax indices over `classes_`.
    pub fn take(&self, indices: &[usize]) -> Labels {
        match self {
            Labels::Int(v) => Labels::Int(indices.iter().map(|&i| v[i]).collect()),
            Labels::Float(v) => Labels::Float(indices.iter().map(|&i| v[i]).collect()),
            Labels::Str(v) => Labels::Str(indices.iter().map(|&i| v[i].clone()).collect()),
        }
    }
}

/// What a method returns for a batch.
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    /// One class label per row (classifier `predict`).
    Labels(Labels),
    /// One float per row (regressor `predict`, binary `decision_function`, `score_samples`, cluster ids as floats).
    Column(Vec<f64>),
    /// One row of floats per input row (`predict_proba`, multiclass `decision_function`, `transform`).
    Matrix(Matrix),
}

/// The inference methods scikit-learn estimators offer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Method {
    /// `predict`.
    Predict,
    /// `predict_proba`.
    PredictProba,
    /// `decision_function`.
    DecisionFunction,
    /// `transform`.
    Transform,
    /// `score_samples`.
    ScoreSamples,
}

impl Method {
    /// Every method, in the order metadata lists them.
    pub const ALL: [Method; 5] = [
        Method::Predict,
        Method::PredictProba,
        Method::DecisionFunction,
        Method::Transform,
        Method::ScoreSamples,
    ];

    /// The method's Python name.
    pub fn name(self) -> &'static str {
        match self {
            Method::Predict => "predict",
            Method::PredictProba => "predict_proba",
            Method::DecisionFunction => "decision_function",
            Method::Transform => "transform",
            Method::ScoreSamples => "score_samples",
        }
    }

    /// Parses a Python method name.
    pub fn from_name(name: &str) -> Option<Method> {
        Method::ALL.into_iter().find(|m| m.name() == name)
    }
}

/// A fitted scikit-learn estimator, rebuilt in Rust.
///
/// Implementations compute in float64 with one allocation per batch where they can, and never panic on a batch:
/// a wrong feature count is [`SklearnError::BadInput`].
pub trait Estimator: Send + Sync + std::fmt::Debug {
    /// The scikit-learn class name (`LogisticRegression`).
    fn class_name(&self) -> &str;

    /// `n_features_in_`, when known.
    fn n_features_in(&self) -> Option<usize>;

    /// Whether `method` is available (scikit-learn's `hasattr(est, method)`).
    fn supports(&self, method: Method) -> bool;

    /// Computes `method` on the batch `x` (rows × features).
    fn call(&self, method: Method, x: &Matrix) -> Result<Output, SklearnError>;

    /// `classes_`, for classifiers.
    fn classes(&self) -> Option<&Labels> {
        None
    }

    /// Roughly the arithmetic one input row costs when it grows with the fitted model's size (k-NN: training
    /// rows × features; SVC: support vectors × features), so a server can refuse batches over its budget before
    /// computing them. `None` (the default): a row is cheap, or bounded by the model's own small size.
    fn row_cost(&self) -> Option<u64> {
        None
    }

    /// `feature_names_in_`: the column names the estimator was fitted on (a pandas DataFrame with string column
    /// names), for the request's names to be checked against. `None` when fitted on an array.
    fn feature_names_in(&self) -> Option<&[String]> {
        None
    }

    /// Whether the estimator reads more from a table than its numbers: string categories (an encoder fitted on
    /// strings), columns selected by name. A server hands such an estimator tables ([`Estimator::call_table`]).
    fn takes_table(&self) -> bool {
        false
    }

    /// Computes `method` on a table whose columns are already in the order the estimator was fitted on
    /// (`crate::align` puts them so). The default reads the table as a numeric matrix, positionally; a string
    /// column is [`SklearnError::BadInput`] naming it.
    fn call_table(&self, method: Method, table: &Table) -> Result<Output, SklearnError> {
        self.call(method, &crate::table::matrix_of(table)?)
    }

    /// A transformer whose output is still a table (a `SimpleImputer` fitted on strings) transforms it here;
    /// `None` (the default) when its output is numbers, computed by [`Estimator::call_table`].
    fn table_transform(&self, _table: &Table) -> Option<Result<Table, SklearnError>> {
        None
    }

    /// The error for an unsupported method, for implementations' `call`.
    fn no_method(&self, method: Method) -> SklearnError {
        SklearnError::NoMethod {
            class: self.class_name().to_string(),
            method: method.name(),
        }
    }
}
