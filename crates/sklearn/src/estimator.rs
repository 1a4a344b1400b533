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
        expect_features(self.cols, n, class)
    }
}

/// The most values a sparse batch may be densified to (rows × features): 16 Mi float64s, 128 MiB. A text
/// vectorizer's output is sparse; an estimator without a sparse path densifies it, and a batch over this budget is
/// refused as bad input (naming the shape) instead of allocating rows × vocabulary.
pub const MAX_DENSE_VALUES: usize = 1 << 24;

/// A compressed-sparse-row float64 matrix (scipy's `csr_matrix`): what text vectorizers produce. Row `i`'s entries
/// are `indices[indptr[i]..indptr[i + 1]]` (column indices, sorted, no duplicates) with the same range of `data`.
#[derive(Debug, Clone, PartialEq)]
pub struct SparseMatrix {
    rows: usize,
    cols: usize,
    indptr: Vec<usize>,
    indices: Vec<usize>,
    data: Vec<f64>,
}

impl SparseMatrix {
    /// Builds a CSR matrix from per-row `(column, value)` lists; columns must be `< cols` (an entry outside is
    /// bad input). Each row's entries are sorted by column and duplicates are summed, as scipy's
    /// `sum_duplicates` does.
    pub fn from_rows(cols: usize, rows: Vec<Vec<(usize, f64)>>) -> Result<Self, SklearnError> {
        let n = rows.len();
        let mut indptr = Vec::with_capacity(n + 1);
        indptr.push(0);
        let total: usize = rows.iter().map(Vec::len).sum();
        let mut indices = Vec::with_capacity(total);
        let mut data = Vec::with_capacity(total);
        for mut row in rows {
            row.sort_unstable_by_key(|&(j, _)| j);
            let start = indices.len();
            for (j, v) in row {
                if j >= cols {
                    return Err(SklearnError::BadInput(format!(
                        "column {j} out of range for a sparse matrix of {cols} columns"
                    )));
                }
                if indices.len() > start && indices.last() == Some(&j) {
                    if let Some(last) = data.last_mut() {
                        *last += v;
                    }
                } else {
                    indices.push(j);
                    data.push(v);
                }
            }
            indptr.push(indices.len());
        }
        Ok(SparseMatrix {
            rows: n,
            cols,
            indptr,
            indices,
            data,
        })
    }

    /// The sparse form of a dense matrix (zeros dropped).
    pub fn from_dense(x: &Matrix) -> Self {
        let mut indptr = Vec::with_capacity(x.rows() + 1);
        indptr.push(0);
        let mut indices = Vec::new();
        let mut data = Vec::new();
        for row in x.iter_rows() {
            for (j, &v) in row.iter().enumerate() {
                if v != 0.0 {
                    indices.push(j);
                    data.push(v);
                }
            }
            indptr.push(indices.len());
        }
        SparseMatrix {
            rows: x.rows(),
            cols: x.cols(),
            indptr,
            indices,
            data,
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

    /// Number of stored entries.
    pub fn nnz(&self) -> usize {
        self.data.len()
    }

    /// Row `i`'s column indices and values.
    ///
    /// # Panics
    /// When `i >= rows` (callers iterate `0..rows()`).
    pub fn row(&self, i: usize) -> (&[usize], &[f64]) {
        let (a, b) = (self.indptr[i], self.indptr[i + 1]);
        (&self.indices[a..b], &self.data[a..b])
    }

    /// Row `i`'s values, mutable (the column pattern stays).
    ///
    /// # Panics
    /// When `i >= rows`.
    pub fn row_values_mut(&mut self, i: usize) -> &mut [f64] {
        let (a, b) = (self.indptr[i], self.indptr[i + 1]);
        &mut self.data[a..b]
    }

    /// Every stored value, mutable.
    pub fn values_mut(&mut self) -> &mut [f64] {
        &mut self.data
    }

    /// The dense matrix (scipy's `toarray()`), refused as bad input when rows × columns exceeds
    /// [`MAX_DENSE_VALUES`].
    pub fn to_dense(&self) -> Result<Matrix, SklearnError> {
        let size = self
            .rows
            .checked_mul(self.cols)
            .filter(|&n| n <= MAX_DENSE_VALUES)
            .ok_or_else(|| {
                SklearnError::BadInput(format!(
                    "a sparse batch of {} rows x {} features is too large to densify (over {MAX_DENSE_VALUES} \
                     values); send fewer rows per request",
                    self.rows, self.cols
                ))
            })?;
        let mut out = Matrix::new(self.rows, self.cols, vec![0.0; size])?;
        for i in 0..self.rows {
            let (idx, val) = self.row(i);
            let row = out.row_mut(i);
            for (&j, &v) in idx.iter().zip(val) {
                row[j] = v;
            }
        }
        Ok(out)
    }

    /// Checks that the batch has `n` features, with scikit-learn's wording.
    pub fn expect_features(&self, n: usize, class: &str) -> Result<(), SklearnError> {
        expect_features(self.cols, n, class)
    }

    /// `x · wᵀ + b` for weights `w` (k × f) and an intercept of length k (or empty), computed on the stored
    /// entries only. Callers check that `cols() == w.cols()`.
    pub(crate) fn affine(&self, w: &Matrix, b: &[f64]) -> Matrix {
        let k = w.rows();
        let mut out = Matrix::zeros(self.rows, k);
        if k == 0 {
            return out;
        }
        for i in 0..self.rows {
            let (idx, val) = self.row(i);
            for (c, o) in out.row_mut(i).iter_mut().enumerate() {
                let wr = w.row(c);
                let dot: f64 = idx.iter().zip(val).map(|(&j, &v)| v * wr[j]).sum();
                *o = dot + b.get(c).copied().unwrap_or(0.0);
            }
        }
        out
    }
}

/// scikit-learn's wording for a batch of `got` features given to `class`, which expects `n`.
fn expect_features(got: usize, n: usize, class: &str) -> Result<(), SklearnError> {
    if got != n {
        return Err(SklearnError::BadInput(format!(
            "X has {got} features, but {class} is expecting {n} features as input"
        )));
    }
    Ok(())
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

    /// Whether the estimator (a text vectorizer, or a pipeline starting with one) takes raw documents: a server
    /// then hands a 1-D array of N strings to [`Estimator::call_strings`] as N documents.
    fn takes_strings(&self) -> bool {
        false
    }

    /// Computes `method` on raw documents, one output row per document. The default refuses: the estimator takes
    /// numeric features. Text vectorizers answer `transform` (densified within [`MAX_DENSE_VALUES`]); a pipeline
    /// vectorizes with its first step and continues on the sparse result.
    fn call_strings(&self, method: Method, docs: &[&str]) -> Result<Output, SklearnError> {
        if !self.takes_strings() {
            return Err(SklearnError::BadInput(format!(
                "{} takes numeric features, not strings (got {} string value(s)); only a model whose first step \
                 is a text vectorizer takes raw documents",
                self.class_name(),
                docs.len()
            )));
        }
        if method != Method::Transform {
            return Err(self.no_method(method));
        }
        Ok(Output::Matrix(self.vectorize(docs)?.to_dense()?))
    }

    /// The sparse document-term matrix of raw documents (a vectorizer's `transform`). The default refuses, as
    /// [`Estimator::call_strings`] does.
    fn vectorize(&self, docs: &[&str]) -> Result<SparseMatrix, SklearnError> {
        Err(SklearnError::BadInput(format!(
            "{} takes numeric features, not strings (got {} string value(s))",
            self.class_name(),
            docs.len()
        )))
    }

    /// Computes `method` on a sparse batch. The default densifies it (refused over [`MAX_DENSE_VALUES`]) and
    /// calls [`Estimator::call`]; linear models and naive Bayes compute on the stored entries only.
    fn call_sparse(&self, method: Method, x: &SparseMatrix) -> Result<Output, SklearnError> {
        self.call(method, &x.to_dense()?)
    }

    /// `transform` of a sparse batch, kept sparse. The default densifies, transforms and drops the zeros;
    /// `TfidfTransformer` works on the stored entries.
    fn transform_sparse(&self, x: &SparseMatrix) -> Result<SparseMatrix, SklearnError> {
        let dense = x.to_dense()?;
        let out = crate::math::output_matrix(
            self.call(Method::Transform, &dense)?,
            x.rows(),
            self.class_name(),
        )?;
        Ok(SparseMatrix::from_dense(&out))
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

    /// Per input column, whether it holds strings (an encoder fitted on string categories, a string imputer's
    /// column), so that metadata can declare it `BYTES`; `None` when the estimator reads numbers only.
    fn string_columns(&self) -> Option<Vec<bool>> {
        None
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
