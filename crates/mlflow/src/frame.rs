//! A table as pandas would hold it after MLflow's scoring server parsed a request: named (or positional)
//! columns of JSON scalars. Built from `/invocations` bodies and from the tensors of Seldon / V2 requests.

use oxserve_core::{DataType, NamedTensor, Tensor, TensorData};

use crate::MlflowError;

/// One value of a column.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    /// JSON `null`, an empty CSV field, NaN.
    Null,
    /// A boolean.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A float.
    Float(f64),
    /// A string.
    Str(String),
}

impl Cell {
    /// The numpy kind pandas infers for this value alone (MLflow's messages name it).
    pub fn numpy_kind(&self) -> &'static str {
        match self {
            Cell::Null | Cell::Float(_) => "float64",
            Cell::Bool(_) => "bool",
            Cell::Int(_) => "int64",
            Cell::Str(_) => "object",
        }
    }

    /// The cell as JSON (null for NaN and infinities, which JSON cannot write).
    pub fn into_json(self) -> serde_json::Value {
        use serde_json::Value;
        match self {
            Cell::Null => Value::Null,
            Cell::Bool(b) => Value::Bool(b),
            Cell::Int(i) => Value::from(i),
            Cell::Float(f) => serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number),
            Cell::Str(s) => Value::String(s),
        }
    }

    /// A JSON scalar as a cell; arrays and objects are not cells.
    pub fn from_json(v: &serde_json::Value) -> Option<Cell> {
        Some(match v {
            serde_json::Value::Null => Cell::Null,
            serde_json::Value::Bool(b) => Cell::Bool(*b),
            serde_json::Value::Number(n) => match n.as_i64() {
                Some(i) => Cell::Int(i),
                None => Cell::Float(n.as_f64()?),
            },
            serde_json::Value::String(s) => Cell::Str(s.clone()),
            _ => return None,
        })
    }
}

/// One column.
#[derive(Debug, Clone, PartialEq)]
pub struct Column {
    /// Its name (`0`, `1`, ... when the table has none).
    pub name: String,
    /// Its values, one per row.
    pub cells: Vec<Cell>,
}

/// A table of columns of equal length.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Frame {
    /// The columns carry the client's names (a DataFrame); `false`: positional (a matrix).
    pub named: bool,
    /// Rows.
    pub rows: usize,
    /// The columns.
    pub columns: Vec<Column>,
}

impl Frame {
    /// A positional table from rows of cells (all of one length).
    pub fn from_rows(
        named: Option<Vec<String>>,
        rows: Vec<Vec<Cell>>,
    ) -> Result<Frame, MlflowError> {
        let width = named
            .as_ref()
            .map_or_else(|| rows.first().map_or(0, Vec::len), Vec::len);
        if let Some((i, row)) = rows.iter().enumerate().find(|(_, r)| r.len() != width) {
            return Err(MlflowError::Body(format!(
                "row {i} has {} values where the table has {width} columns",
                row.len()
            )));
        }
        let n = rows.len();
        let is_named = named.is_some();
        let names = named.unwrap_or_else(|| (0..width).map(|j| j.to_string()).collect());
        let mut columns: Vec<Column> = names
            .into_iter()
            .map(|name| Column {
                name,
                cells: Vec::with_capacity(n),
            })
            .collect();
        for row in rows {
            for (col, cell) in columns.iter_mut().zip(row) {
                col.cells.push(cell);
            }
        }
        Ok(Frame {
            named: is_named,
            rows: n,
            columns,
        })
    }

    /// The table a request's tensors hold: one 2-D tensor is a positional matrix (Seldon's `ndarray`, a V2
    /// tensor); several 1-D tensors (or `[rows, 1]`) are named columns (MLServer's pandas codec).
    pub fn from_inputs(inputs: &[NamedTensor]) -> Result<Frame, MlflowError> {
        match inputs {
            [] => Err(MlflowError::Body("the request has no inputs".into())),
            [one] if one.tensor.shape().len() != 1 => {
                let (rows, cols) = match one.tensor.shape() {
                    [r, c] => (*r, *c),
                    shape => {
                        return Err(MlflowError::Body(format!(
                            "input `{}` has shape {shape:?}; this model takes a table (rows × columns) or one \
                             1-D input per column",
                            one.name
                        )));
                    }
                };
                let cells = cells(&one.tensor);
                let mut columns: Vec<Column> = (0..cols)
                    .map(|j| Column {
                        name: j.to_string(),
                        cells: Vec::with_capacity(rows),
                    })
                    .collect();
                for (k, cell) in cells.into_iter().enumerate() {
                    if let Some(col) = columns.get_mut(k % cols.max(1)) {
                        col.cells.push(cell);
                    }
                }
                Ok(Frame {
                    named: false,
                    rows,
                    columns,
                })
            }
            many => {
                let rows = many[0].tensor.shape().first().copied().unwrap_or(0);
                // A table without names (Seldon's mixed rows with no `names`) has columns `0`, `1`, ...: by
                // position, as a numpy array is.
                let positional = many
                    .iter()
                    .enumerate()
                    .all(|(j, t)| t.name == j.to_string());
                let mut columns = Vec::with_capacity(many.len());
                for t in many {
                    let shape = t.tensor.shape();
                    if !(shape == [rows] || shape == [rows, 1]) {
                        return Err(MlflowError::Body(format!(
                            "input `{}` has shape {shape:?}; each column must have {rows} rows",
                            t.name
                        )));
                    }
                    columns.push(Column {
                        name: t.name.clone(),
                        cells: cells(&t.tensor),
                    });
                }
                Ok(Frame {
                    named: !positional,
                    rows,
                    columns,
                })
            }
        }
    }

    /// The table as request tensors: one 1-D tensor per column named after it, typed as pandas would infer
    /// the column (`INT64`, `FP64` with NaN for nulls, `BOOL`, else `BYTES`); a positional table of one kind of
    /// values is one 2-D tensor (mixed rows: one tensor per column, named `0`, `1`, ...).
    pub fn into_inputs(self, input_name: &str) -> Result<Vec<NamedTensor>, MlflowError> {
        let tensor_err = |e: oxserve_core::TensorError| MlflowError::Body(e.to_string());
        let one_kind = |f: fn(&Cell) -> bool| self.columns.iter().all(|c| c.cells.iter().all(f));
        let mixed = !one_kind(|c| matches!(c, Cell::Int(_) | Cell::Float(_) | Cell::Null))
            && !one_kind(|c| matches!(c, Cell::Str(_) | Cell::Null))
            && !one_kind(|c| matches!(c, Cell::Bool(_)));
        if !self.named && !mixed {
            let cols = self.columns.len();
            let mut all = Vec::with_capacity(self.rows * cols);
            for i in 0..self.rows {
                for c in &self.columns {
                    all.push(c.cells.get(i).cloned().unwrap_or(Cell::Null));
                }
            }
            let data = typed(all).0;
            return Ok(vec![NamedTensor::new(
                input_name,
                Tensor::new(vec![self.rows, cols], data).map_err(tensor_err)?,
            )]);
        }
        Ok(self
            .columns
            .into_iter()
            .map(|c| {
                let (data, missing) = typed(c.cells);
                NamedTensor::new(c.name, Tensor::from_column(data, missing))
            })
            .collect())
    }
}

/// Cells as the narrowest tensor that holds them all, with the nulls of a boolean or string column marked
/// missing (a float column holds them as NaN).
fn typed(cells: Vec<Cell>) -> (TensorData, Option<Vec<bool>>) {
    let nulls: Vec<bool> = cells.iter().map(|c| matches!(c, Cell::Null)).collect();
    let some_null = nulls.iter().any(|&n| n);
    if cells.iter().any(|c| matches!(c, Cell::Bool(_)))
        && cells
            .iter()
            .all(|c| matches!(c, Cell::Bool(_) | Cell::Null))
    {
        return (
            TensorData::Bool(
                cells
                    .iter()
                    .map(|c| matches!(c, Cell::Bool(true)))
                    .collect(),
            ),
            some_null.then_some(nulls),
        );
    }
    if cells.iter().any(|c| matches!(c, Cell::Str(_))) {
        return (strings(cells), some_null.then_some(nulls));
    }
    (numbers(cells), None)
}

/// Cells as numbers where they all are (a null as NaN), else as strings.
fn numbers(cells: Vec<Cell>) -> TensorData {
    if cells.iter().all(|c| matches!(c, Cell::Int(_))) {
        return TensorData::I64(
            cells
                .iter()
                .map(|c| if let Cell::Int(i) = c { *i } else { 0 })
                .collect(),
        );
    }
    if !cells.is_empty() && cells.iter().all(|c| matches!(c, Cell::Bool(_))) {
        return TensorData::Bool(
            cells
                .iter()
                .map(|c| matches!(c, Cell::Bool(true)))
                .collect(),
        );
    }
    if cells
        .iter()
        .all(|c| matches!(c, Cell::Int(_) | Cell::Float(_) | Cell::Null))
    {
        return TensorData::F64(
            cells
                .iter()
                .map(|c| match c {
                    Cell::Int(i) => *i as f64,
                    Cell::Float(f) => *f,
                    _ => f64::NAN,
                })
                .collect(),
        );
    }
    strings(cells)
}

fn strings(cells: Vec<Cell>) -> TensorData {
    TensorData::Bytes(
        cells
            .into_iter()
            .map(|c| match c {
                Cell::Null => Vec::new(),
                Cell::Bool(b) => {
                    if b {
                        b"True".to_vec()
                    } else {
                        b"False".to_vec()
                    }
                }
                Cell::Int(i) => i.to_string().into_bytes(),
                Cell::Float(f) => f.to_string().into_bytes(),
                Cell::Str(s) => s.into_bytes(),
            })
            .collect(),
    )
}

/// A tensor's values as cells (NaN, and elements its missing mask marks, as null).
pub(crate) fn cells(t: &Tensor) -> Vec<Cell> {
    let mut cells = present_cells(t);
    if let Some(mask) = t.missing() {
        for (cell, &missing) in cells.iter_mut().zip(mask) {
            if missing {
                *cell = Cell::Null;
            }
        }
    }
    cells
}

fn present_cells(t: &Tensor) -> Vec<Cell> {
    match t.data() {
        TensorData::Bool(v) => v.iter().map(|&b| Cell::Bool(b)).collect(),
        TensorData::U8(v) => v.iter().map(|&x| Cell::Int(i64::from(x))).collect(),
        TensorData::I32(v) => v.iter().map(|&x| Cell::Int(i64::from(x))).collect(),
        TensorData::I64(v) => v.iter().map(|&x| Cell::Int(x)).collect(),
        TensorData::F32(v) => v.iter().map(|&x| float(f64::from(x))).collect(),
        TensorData::F64(v) => v.iter().map(|&x| float(x)).collect(),
        TensorData::Bytes(v) => v
            .iter()
            .map(|b| Cell::Str(String::from_utf8_lossy(b).into_owned()))
            .collect(),
    }
}

fn float(x: f64) -> Cell {
    if x.is_nan() {
        Cell::Null
    } else {
        Cell::Float(x)
    }
}

/// Whether a tensor type is numeric (a column of it needs no parsing).
pub fn is_numeric(dtype: DataType) -> bool {
    dtype != DataType::Bytes
}
