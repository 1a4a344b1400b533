//! Composites: `Pipeline` (transform chains ending in any estimator), `ColumnTransformer` (transformers over column
//! selections, concatenated) and `FeatureUnion` (transformers over all columns, concatenated).
//!
//! Results are always dense: a `ColumnTransformer` or `OneHotEncoder` that scikit-learn would return as a sparse
//! matrix gives the same numbers densely (`toarray()`), which is what a following estimator computes on anyway.

use std::borrow::Cow;

use oxserve_pickle::{ArrayData, Object, Value};

use crate::attrs;
use crate::math::{hstack, output_matrix};
use crate::{
    ColumnData, Estimator, Labels, Matrix, Method, Output, SklearnError, SparseMatrix, Table,
};

/// The classes this family builds.
pub(crate) const CLASSES: &[&str] = &["Pipeline", "ColumnTransformer", "FeatureUnion"];

/// Builds `obj` when it is one of [`CLASSES`].
pub(crate) fn build(obj: &Object) -> Option<Result<Box<dyn Estimator>, SklearnError>> {
    Some(match obj.class_name() {
        "Pipeline" => Pipeline::from_object(obj).map(|e| Box::new(e) as Box<dyn Estimator>),
        "ColumnTransformer" => {
            ColumnTransformer::from_object(obj).map(|e| Box::new(e) as Box<dyn Estimator>)
        }
        "FeatureUnion" => FeatureUnion::from_object(obj).map(|e| Box::new(e) as Box<dyn Estimator>),
        _ => return None,
    })
}

/// A step or transformer slot: `'passthrough'` / `None` (identity), `'drop'`, or a fitted estimator.
enum Slot {
    Identity,
    Drop,
    Fitted(Box<dyn Estimator>),
}

fn slot(value: &Value) -> Result<Slot, SklearnError> {
    match value {
        Value::None => Ok(Slot::Identity),
        Value::Str(s) if s == "passthrough" => Ok(Slot::Identity),
        Value::Str(s) if s == "drop" => Ok(Slot::Drop),
        other => crate::registry::build_nested(other).map(Slot::Fitted),
    }
}

/// Runs `transform` and returns the result as a matrix.
pub(crate) fn transform(est: &dyn Estimator, x: &Matrix) -> Result<Matrix, SklearnError> {
    output_matrix(est.call(Method::Transform, x)?, x.rows(), est.class_name())
}

/// `Pipeline`: every step but the last transforms; the last computes the asked method.
#[derive(Debug)]
struct Pipeline {
    /// `None` is a `'passthrough'` step.
    steps: Vec<Option<Box<dyn Estimator>>>,
}

impl Pipeline {
    fn from_object(obj: &Object) -> Result<Self, SklearnError> {
        let items = attrs::seq(obj, "steps")?;
        let mut steps = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            let est = match item.as_seq() {
                Some([_, est]) => est,
                _ => {
                    return Err(SklearnError::bad_model(
                        "Pipeline",
                        format!("step {i} is not a (name, estimator) pair"),
                    ));
                }
            };
            steps.push(match slot(est)? {
                Slot::Identity | Slot::Drop => None,
                Slot::Fitted(e) => Some(e),
            });
        }
        if steps.is_empty() {
            return Err(SklearnError::bad_model("Pipeline", "no steps"));
        }
        let last = steps.len() - 1;
        for step in steps[..last].iter().flatten() {
            if !step.supports(Method::Transform) {
                return Err(SklearnError::bad_model(
                    "Pipeline",
                    format!(
                        "intermediate step `{}` has no `transform`",
                        step.class_name()
                    ),
                ));
            }
        }
        Ok(Pipeline { steps })
    }

    fn last(&self) -> Option<&dyn Estimator> {
        self.steps.last().and_then(|s| s.as_deref())
    }
}

impl Estimator for Pipeline {
    fn class_name(&self) -> &str {
        "Pipeline"
    }

    fn n_features_in(&self) -> Option<usize> {
        self.steps
            .iter()
            .flatten()
            .next()
            .and_then(|s| s.n_features_in())
    }

    fn row_cost(&self) -> Option<u64> {
        self.steps
            .iter()
            .flatten()
            .filter_map(|s| s.row_cost())
            .reduce(u64::saturating_add)
    }

    fn supports(&self, method: Method) -> bool {
        match self.last() {
            Some(e) => e.supports(method),
            None => method == Method::Transform,
        }
    }

    fn call(&self, method: Method, x: &Matrix) -> Result<Output, SklearnError> {
        if !self.supports(method) {
            return Err(self.no_method(method));
        }
        let mut cur: Cow<'_, Matrix> = Cow::Borrowed(x);
        let last = self.steps.len() - 1;
        for step in self.steps[..last].iter().flatten() {
            cur = Cow::Owned(transform(step.as_ref(), &cur)?);
        }
        match self.last() {
            Some(e) => e.call(method, &cur),
            None => Ok(Output::Matrix(cur.into_owned())),
        }
    }

    fn classes(&self) -> Option<&Labels> {
        self.last().and_then(|e| e.classes())
    }

    fn takes_strings(&self) -> bool {
        self.steps
            .iter()
            .flatten()
            .next()
            .is_some_and(|s| s.takes_strings())
    }

    fn call_strings(&self, method: Method, docs: &[&str]) -> Result<Output, SklearnError> {
        if !self.supports(method) {
            return Err(self.no_method(method));
        }
        let fitted: Vec<&dyn Estimator> = self.steps.iter().flatten().map(|s| s.as_ref()).collect();
        let (first, rest) = match fitted.split_first() {
            Some(split) => split,
            None => {
                return Err(SklearnError::BadInput(
                    "Pipeline: every step is 'passthrough'; it takes numbers, not strings".into(),
                ));
            }
        };
        let last_is_fitted = self.last().is_some();
        if rest.is_empty() && last_is_fitted {
            return first.call_strings(method, docs);
        }
        let mut x = first.vectorize(docs)?;
        let (middle, last) = match rest.split_last() {
            Some((last, middle)) if last_is_fitted => (middle, Some(*last)),
            _ => (rest, None),
        };
        for step in middle {
            x = step.transform_sparse(&x)?;
        }
        match last {
            Some(e) => e.call_sparse(method, &x),
            None => Ok(Output::Matrix(x.to_dense()?)),
        }
    }

    /// The sparse features the final estimator reads (scikit-learn's `pipeline[:-1].transform(docs)`) when the
    /// last step has no `transform`; else the whole pipeline's `transform`, kept sparse.
    fn vectorize(&self, docs: &[&str]) -> Result<SparseMatrix, SklearnError> {
        let last_predicts = self.last().is_some_and(|e| !e.supports(Method::Transform));
        let n = if last_predicts {
            self.steps.len() - 1
        } else {
            self.steps.len()
        };
        let mut fitted = self.steps[..n].iter().flatten();
        let Some(first) = fitted.next() else {
            return Err(SklearnError::BadInput(
                "Pipeline: every step is 'passthrough'; it takes numbers, not strings".into(),
            ));
        };
        let mut x = first.vectorize(docs)?;
        for step in fitted {
            x = step.transform_sparse(&x)?;
        }
        Ok(x)
    }

    fn call_sparse(&self, method: Method, x: &SparseMatrix) -> Result<Output, SklearnError> {
        if !self.supports(method) {
            return Err(self.no_method(method));
        }
        let last = self.steps.len() - 1;
        let mut cur = Cow::Borrowed(x);
        for step in self.steps[..last].iter().flatten() {
            cur = Cow::Owned(step.transform_sparse(&cur)?);
        }
        match self.last() {
            Some(e) => e.call_sparse(method, &cur),
            None => Ok(Output::Matrix(cur.to_dense()?)),
        }
    }

    fn transform_sparse(&self, x: &SparseMatrix) -> Result<SparseMatrix, SklearnError> {
        let mut cur = Cow::Borrowed(x);
        for step in self.steps.iter().flatten() {
            cur = Cow::Owned(step.transform_sparse(&cur)?);
        }
        Ok(cur.into_owned())
    }

    fn feature_names_in(&self) -> Option<&[String]> {
        self.steps.iter().flatten().next()?.feature_names_in()
    }

    fn takes_table(&self) -> bool {
        self.steps
            .iter()
            .flatten()
            .next()
            .is_some_and(|s| s.takes_table())
    }

    fn string_columns(&self) -> Option<Vec<bool>> {
        self.steps.iter().flatten().next()?.string_columns()
    }

    /// Steps that keep a table (a string imputer) transform it; the first that makes numbers reads it; the rest
    /// compute on numbers.
    fn call_table(&self, method: Method, table: &Table) -> Result<Output, SklearnError> {
        if !self.supports(method) {
            return Err(self.no_method(method));
        }
        let last = self.steps.len() - 1;
        let mut cur: Cow<'_, Table> = Cow::Borrowed(table);
        for (i, step) in self.steps.iter().enumerate() {
            let Some(step) = step.as_deref() else {
                continue;
            };
            if i == last {
                return step.call_table(method, &cur);
            }
            if let Some(next) = step.table_transform(&cur) {
                cur = Cow::Owned(next?);
                continue;
            }
            let mut x = output_matrix(
                step.call_table(Method::Transform, &cur)?,
                cur.rows(),
                step.class_name(),
            )?;
            for step in self.steps[i + 1..last].iter().flatten() {
                x = transform(step.as_ref(), &x)?;
            }
            return match self.last() {
                Some(e) => e.call(method, &x),
                None => Ok(Output::Matrix(x)),
            };
        }
        // Every step was a passthrough or kept a table.
        Ok(Output::Matrix(crate::table::matrix_of(&cur)?))
    }

    fn table_transform(&self, table: &Table) -> Option<Result<Table, SklearnError>> {
        // A pipeline keeps a table only when every step does.
        let mut cur: Cow<'_, Table> = Cow::Borrowed(table);
        for step in self.steps.iter().flatten() {
            match step.table_transform(&cur)? {
                Ok(t) => cur = Cow::Owned(t),
                Err(e) => return Some(Err(e)),
            }
        }
        Some(Ok(cur.into_owned()))
    }
}

/// One `ColumnTransformer` entry: the transformer (None = passthrough) and the columns it reads.
#[derive(Debug)]
struct Part {
    est: Option<Box<dyn Estimator>>,
    columns: Vec<usize>,
}

/// `ColumnTransformer`: each fitted transformer reads its columns; the outputs are concatenated in order.
#[derive(Debug)]
struct ColumnTransformer {
    parts: Vec<Part>,
    n_features: usize,
    /// `feature_names_in_`, when fitted on a DataFrame: the names its selections resolve against.
    names: Option<Vec<String>>,
}

/// Resolves a column selection (ints, a bool mask, a slice, one int, or column names resolved against
/// `feature_names_in_`) against `n` input columns. A fitted `make_column_selector` is already its list of names in
/// `transformers_`.
fn columns(spec: &Value, n: usize, names: Option<&[String]>) -> Result<Vec<usize>, String> {
    let by_name = |s: &str| -> Result<usize, String> {
        match names {
            Some(names) => names
                .iter()
                .position(|n| n == s)
                .ok_or_else(|| format!("column `{s}` is not among feature_names_in_ {names:?}")),
            None => Err(format!(
                "column `{s}` is selected by name, but the transformer has no feature_names_in_ (it was not fitted on a DataFrame)"
            )),
        }
    };
    let index = |i: i64| -> Result<usize, String> {
        let j = if i < 0 { i + n as i64 } else { i };
        usize::try_from(j)
            .ok()
            .filter(|&j| j < n)
            .ok_or_else(|| format!("column {i} out of range for {n} columns"))
    };
    let from_ints = |v: &[i64]| v.iter().map(|&i| index(i)).collect::<Result<Vec<_>, _>>();
    let from_mask = |m: &[bool]| -> Result<Vec<usize>, String> {
        if m.len() != n {
            return Err(format!("boolean mask of {} for {n} columns", m.len()));
        }
        Ok(m.iter()
            .enumerate()
            .filter(|(_, b)| **b)
            .map(|(i, _)| i)
            .collect())
    };
    match spec {
        Value::Int(i) => Ok(vec![index(*i)?]),
        Value::Array(a) => match &a.data {
            ArrayData::Bool(m) => from_mask(m),
            ArrayData::Int(_) | ArrayData::UInt(_) => {
                from_ints(&a.to_i64().map_err(|e| e.to_string())?)
            }
            ArrayData::Str(v) => v.iter().map(|s| by_name(s)).collect(),
            ArrayData::Object(items) => items
                .iter()
                .map(|v| match v {
                    Value::Str(s) => by_name(s),
                    other => other
                        .as_i64()
                        .ok_or_else(|| format!("unsupported column selector {}", other.kind()))
                        .and_then(index),
                })
                .collect(),
            _ => Err(format!(
                "unsupported column selection of dtype {}",
                a.dtype.descr()
            )),
        },
        Value::List(items) | Value::Tuple(items) => {
            if items.iter().all(|v| matches!(v, Value::Bool(_))) && !items.is_empty() {
                let mask: Vec<bool> = items
                    .iter()
                    .map(|v| matches!(v, Value::Bool(true)))
                    .collect();
                return from_mask(&mask);
            }
            let ints = items
                .iter()
                .map(|v| match v {
                    Value::Int(i) => index(*i),
                    Value::Str(s) => by_name(s),
                    other => other
                        .as_i64()
                        .ok_or_else(|| format!("unsupported column selector {}", other.kind()))
                        .and_then(index),
                })
                .collect::<Result<Vec<_>, _>>()?;
            Ok(ints)
        }
        Value::Object(o) if o.class_name() == "slice" => {
            let arg = |i: usize| o.args.get(i).and_then(Value::as_i64);
            let step = arg(2).unwrap_or(1);
            if step <= 0 {
                return Err("slices with a non-positive step are not supported".into());
            }
            let clamp = |v: i64| -> usize {
                let v = if v < 0 { v + n as i64 } else { v };
                usize::try_from(v.max(0)).unwrap_or(0).min(n)
            };
            let start = arg(0).map_or(0, clamp);
            let stop = arg(1).map_or(n, clamp);
            Ok((start..stop)
                .step_by(usize::try_from(step).unwrap_or(1))
                .collect())
        }
        Value::Str(s) => Ok(vec![by_name(s)?]),
        other => Err(format!("unsupported column selection {}", other.kind())),
    }
}

impl ColumnTransformer {
    fn from_object(obj: &Object) -> Result<Self, SklearnError> {
        let class = obj.class_name();
        let n_features = attrs::usize_attr(obj, "n_features_in_")?;
        let names = attrs::feature_names(obj)?;
        if names.as_ref().is_some_and(|n| n.len() != n_features) {
            return Err(SklearnError::bad_model(
                class,
                "`feature_names_in_` does not hold `n_features_in_` names",
            ));
        }
        let mut parts = Vec::new();
        for (i, item) in attrs::seq(obj, "transformers_")?.iter().enumerate() {
            let (est, spec) = match item.as_seq() {
                Some([_, est, spec]) => (est, spec),
                _ => {
                    return Err(SklearnError::bad_model(
                        class,
                        format!("transformer {i} is not a (name, transformer, columns) triple"),
                    ));
                }
            };
            let cols = columns(spec, n_features, names.as_deref())
                .map_err(|e| SklearnError::bad_model(class, e))?;
            let est = match slot(est)? {
                Slot::Drop => continue,
                Slot::Identity => None,
                Slot::Fitted(e) => Some(e),
            };
            if cols.is_empty() {
                continue;
            }
            parts.push(Part { est, columns: cols });
        }
        Ok(ColumnTransformer {
            parts,
            n_features,
            names,
        })
    }
}

impl Estimator for ColumnTransformer {
    fn class_name(&self) -> &str {
        "ColumnTransformer"
    }

    fn n_features_in(&self) -> Option<usize> {
        Some(self.n_features)
    }

    fn supports(&self, method: Method) -> bool {
        method == Method::Transform
    }

    fn call(&self, method: Method, x: &Matrix) -> Result<Output, SklearnError> {
        if method != Method::Transform {
            return Err(self.no_method(method));
        }
        x.expect_features(self.n_features, "ColumnTransformer")?;
        let mut outs = Vec::with_capacity(self.parts.len());
        for part in &self.parts {
            let w = part.columns.len();
            let mut sub = Matrix::zeros(x.rows(), w);
            for (src, dst) in x.iter_rows().zip(sub.data_mut().chunks_exact_mut(w)) {
                for (d, &c) in dst.iter_mut().zip(&part.columns) {
                    *d = src[c];
                }
            }
            outs.push(match &part.est {
                None => sub,
                Some(e) => transform(e.as_ref(), &sub)?,
            });
        }
        Ok(Output::Matrix(hstack(x.rows(), &outs)))
    }

    fn feature_names_in(&self) -> Option<&[String]> {
        self.names.as_deref()
    }

    fn takes_table(&self) -> bool {
        self.names.is_some()
            || self
                .parts
                .iter()
                .any(|p| p.est.as_ref().is_some_and(|e| e.takes_table()))
    }

    /// A column holds strings when a transformer that reads it says so.
    fn string_columns(&self) -> Option<Vec<bool>> {
        let mut out = vec![false; self.n_features];
        for part in &self.parts {
            if let Some(e) = &part.est
                && e.takes_strings()
            {
                for &column in &part.columns {
                    if let Some(slot) = out.get_mut(column) {
                        *slot = true;
                    }
                }
                continue;
            }
            let Some(strings) = part.est.as_ref().and_then(|e| e.string_columns()) else {
                continue;
            };
            for (&column, &is_string) in part.columns.iter().zip(&strings) {
                if let Some(slot) = out.get_mut(column) {
                    *slot |= is_string;
                }
            }
        }
        Some(out)
    }

    /// Each transformer reads its columns of the table (strings included); a passthrough part (`remainder`
    /// included) passes numbers only: a string column there is refused naming it, as the numeric estimator
    /// after it would.
    fn call_table(&self, method: Method, table: &Table) -> Result<Output, SklearnError> {
        if method != Method::Transform {
            return Err(self.no_method(method));
        }
        if table.columns().len() != self.n_features {
            return Err(SklearnError::BadInput(format!(
                "X has {} features, but ColumnTransformer is expecting {} features as input",
                table.columns().len(),
                self.n_features
            )));
        }
        let mut outs = Vec::with_capacity(self.parts.len());
        for part in &self.parts {
            // A text vectorizer on one column (`("txt", TfidfVectorizer(), "review")`) reads its documents.
            if let (Some(e), [column]) = (&part.est, part.columns.as_slice())
                && e.takes_strings()
            {
                let docs = documents(table, *column, e.class_name())?;
                outs.push(output_matrix(
                    e.call_strings(Method::Transform, &docs)?,
                    table.rows(),
                    e.class_name(),
                )?);
                continue;
            }
            let sub = crate::table::select(table, &part.columns)?;
            outs.push(match &part.est {
                None => crate::table::matrix_of(&sub)?,
                Some(e) => output_matrix(
                    e.call_table(Method::Transform, &sub)?,
                    table.rows(),
                    e.class_name(),
                )?,
            });
        }
        Ok(Output::Matrix(hstack(table.rows(), &outs)))
    }
}

/// Column `index` of a table as documents, for a text vectorizer inside a `ColumnTransformer`. A missing value is
/// refused as scikit-learn refuses it (`np.nan is an invalid document`), and so is a numeric column.
fn documents<'t>(
    table: &'t Table,
    index: usize,
    class: &str,
) -> Result<Vec<&'t str>, SklearnError> {
    let Some(column) = table.column_at(index) else {
        return Err(SklearnError::BadInput(format!(
            "{class}: column {index} is not in the table"
        )));
    };
    let ColumnData::Str(values) = &column.data else {
        return Err(SklearnError::BadInput(format!(
            "{class}: column `{}` holds {} values where documents (strings) are expected",
            column.name,
            column.data.dtype_name()
        )));
    };
    values
        .iter()
        .map(|v| {
            v.as_deref().ok_or_else(|| {
                SklearnError::BadInput(format!(
                    "np.nan is an invalid document, expected byte or unicode string (column `{}`)",
                    column.name
                ))
            })
        })
        .collect()
}

/// A `FeatureUnion` member (`None` = passthrough) and its `transformer_weights` entry.
type Weighted = (Option<Box<dyn Estimator>>, Option<f64>);

/// `FeatureUnion`: every transformer reads all columns; outputs (times `transformer_weights`) are concatenated.
#[derive(Debug)]
struct FeatureUnion {
    /// `None` is `'passthrough'`; the weight multiplies the block.
    parts: Vec<Weighted>,
    n_features: Option<usize>,
}

impl FeatureUnion {
    fn from_object(obj: &Object) -> Result<Self, SklearnError> {
        let weights = attrs::opt(obj, "transformer_weights");
        let mut parts = Vec::new();
        for (i, item) in attrs::seq(obj, "transformer_list")?.iter().enumerate() {
            let (name, est) = match item.as_seq() {
                Some([name, est]) => (name.as_str().unwrap_or(""), est),
                _ => {
                    return Err(SklearnError::bad_model(
                        "FeatureUnion",
                        format!("transformer {i} is not a (name, transformer) pair"),
                    ));
                }
            };
            let weight = weights.and_then(|w| w.get(name)).and_then(Value::as_f64);
            match slot(est)? {
                Slot::Drop => {}
                Slot::Identity => parts.push((None, weight)),
                Slot::Fitted(e) => parts.push((Some(e), weight)),
            }
        }
        let n_features = attrs::n_features_in(obj).or_else(|| {
            parts
                .iter()
                .find_map(|(e, _)| e.as_ref().and_then(|e| e.n_features_in()))
        });
        Ok(FeatureUnion { parts, n_features })
    }
}

impl Estimator for FeatureUnion {
    fn class_name(&self) -> &str {
        "FeatureUnion"
    }

    fn n_features_in(&self) -> Option<usize> {
        self.n_features
    }

    fn supports(&self, method: Method) -> bool {
        method == Method::Transform
    }

    fn call(&self, method: Method, x: &Matrix) -> Result<Output, SklearnError> {
        if method != Method::Transform {
            return Err(self.no_method(method));
        }
        if let Some(n) = self.n_features {
            x.expect_features(n, "FeatureUnion")?;
        }
        let mut outs = Vec::with_capacity(self.parts.len());
        for (est, weight) in &self.parts {
            let mut m = match est {
                None => x.clone(),
                Some(e) => transform(e.as_ref(), x)?,
            };
            if let Some(w) = weight {
                m.data_mut().iter_mut().for_each(|v| *v *= w);
            }
            outs.push(m);
        }
        Ok(Output::Matrix(hstack(x.rows(), &outs)))
    }
}

#[cfg(test)]
mod tests {
    use std::panic::{AssertUnwindSafe, catch_unwind};
    use std::path::Path;

    use crate::{Matrix, Method, SklearnError};

    const TREE_PREFIXES: &[&str] = &["tree-", "forest-", "gb-", "hgb-", "ada-", "iforest-"];

    /// Every non-tree fixture model, hit with hostile batches: a wrong feature count must be `BadInput`; NaN,
    /// ±1e308 and empty batches may fail but must never panic.
    #[test]
    fn hostile_batches_never_panic() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/cases");
        let Ok(entries) = std::fs::read_dir(&root) else {
            return;
        };
        let mut problems = Vec::new();
        let mut checked = 0;
        for dir in entries.filter_map(Result::ok).map(|e| e.path()) {
            let name = dir
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            if TREE_PREFIXES.iter().any(|p| name.starts_with(p)) {
                continue;
            }
            let artifact = ["model.joblib", "model.pkl"]
                .into_iter()
                .map(|a| dir.join(a))
                .find(|p| p.is_file());
            let Some(Ok(est)) = artifact.map(|a| crate::load_file(&a)) else {
                continue;
            };
            let Some(n) = est.n_features_in() else {
                continue;
            };
            checked += 1;
            let batches = [
                ("wrong width", Matrix::zeros(2, n + 1)),
                ("nan", Matrix::new(1, n, vec![f64::NAN; n]).expect("1 x n")),
                (
                    "huge",
                    Matrix::new(2, n, [vec![1e308; n], vec![-1e308; n]].concat()).expect("2 x n"),
                ),
                ("empty", Matrix::zeros(0, n)),
            ];
            for method in Method::ALL.into_iter().filter(|m| est.supports(*m)) {
                for (what, x) in &batches {
                    match catch_unwind(AssertUnwindSafe(|| est.call(method, x))) {
                        Err(_) => {
                            problems.push(format!("{name} {}: panicked on {what}", method.name()))
                        }
                        Ok(Ok(_)) if *what == "wrong width" => problems.push(format!(
                            "{name} {}: accepted {} features",
                            method.name(),
                            n + 1
                        )),
                        Ok(Err(e)) if !matches!(e, SklearnError::BadInput(_)) => problems.push(
                            format!("{name} {}: {what}: not BadInput: {e}", method.name()),
                        ),
                        Ok(_) => {}
                    }
                }
            }
        }
        assert!(checked > 0 || !root.is_dir(), "no fixture models loaded");
        assert!(problems.is_empty(), "{}", problems.join("\n"));
    }

    #[test]
    fn nan_and_width_errors_use_scikit_learn_wording() {
        let path =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/cases/seldon-iris/model.joblib");
        let Ok(est) = crate::load_file(&path) else {
            return;
        };
        let err = est
            .call(Method::PredictProba, &Matrix::zeros(1, 3))
            .expect_err("3 features");
        assert_eq!(
            err.to_string(),
            "X has 3 features, but LogisticRegression is expecting 4 features as input"
        );
        let nan = Matrix::new(1, 4, vec![1.0, f64::NAN, 1.0, 1.0]).expect("1 x 4");
        let err = est.call(Method::Predict, &nan).expect_err("NaN");
        assert!(
            err.to_string().starts_with("Input X contains NaN."),
            "{err}"
        );
    }
}
