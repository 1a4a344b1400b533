//! MLflow's scoring protocol (`mlflow models serve`'s `/invocations`): the request bodies it takes and the
//! `{"predictions": …}` it answers. Transport-free: the server's route reads the body and writes the reply.

use oxserve_core::NamedTensor;
use serde_json::Value;

use crate::MlflowError;
use crate::frame::{Cell, Frame};

/// The keys of a JSON body, one of which it must hold (MLflow 2's protocol).
pub const INPUT_KEYS: [&str; 4] = [
    "dataframe_split",
    "dataframe_records",
    "instances",
    "inputs",
];

/// How the client sent its data, which decides the reply's shape for a model answering several columns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Form {
    /// A DataFrame (`dataframe_split`, `dataframe_records`, CSV, records under `instances` / `inputs`).
    DataFrame,
    /// A tensor (a list of lists, or a dict of lists, under `instances` / `inputs`).
    Tensor,
}

/// A parsed `/invocations` request.
#[derive(Debug, Clone, PartialEq)]
pub struct Invocation {
    /// The table.
    pub frame: Frame,
    /// How it was sent.
    pub form: Form,
    /// `params`, when given.
    pub params: Option<serde_json::Map<String, Value>>,
}

/// Parses a body by its content type (`application/json`, `text/csv`; parameters such as `; charset=utf-8`
/// ignored). Other content types are refused, as MLflow refuses them.
pub fn parse(content_type: Option<&str>, body: &[u8]) -> Result<Invocation, MlflowError> {
    let mime = content_type
        .and_then(|c| c.split(';').next())
        .map(|c| c.trim().to_ascii_lowercase())
        .unwrap_or_default();
    match mime.as_str() {
        "text/csv" => Ok(Invocation {
            frame: parse_csv(body)?,
            form: Form::DataFrame,
            params: None,
        }),
        "application/json" | "" => parse_json(body),
        other => Err(MlflowError::Body(format!(
            "This predictor only supports the following content types: Types: ['text/csv'], JSON: \
             ['application/json']. Got '{other}'."
        ))),
    }
}

/// Parses a JSON body: exactly one of [`INPUT_KEYS`], and optionally `params`.
pub fn parse_json(body: &[u8]) -> Result<Invocation, MlflowError> {
    let value: Value = serde_json::from_slice(body).map_err(|e| {
        MlflowError::Body(format!(
            "Invalid input. Ensure that input is a valid JSON formatted string. Error: '{e}'"
        ))
    })?;
    let Value::Object(mut map) = value else {
        return Err(key_error(&[]));
    };
    let present: Vec<&str> = INPUT_KEYS
        .iter()
        .copied()
        .filter(|k| map.contains_key(*k))
        .collect();
    let [key] = present.as_slice() else {
        let keys: Vec<String> = map.keys().cloned().collect();
        return Err(key_error(&keys));
    };
    let key = *key;
    let params = match map.remove("params") {
        None | Some(Value::Null) => None,
        Some(Value::Object(p)) => Some(p),
        Some(other) => {
            return Err(MlflowError::Body(format!(
                "Invalid input. `params` must be a JSON object, got {other}"
            )));
        }
    };
    let data = map.remove(key).unwrap_or(Value::Null);
    let (frame, form) = match key {
        "dataframe_split" => (split(&data)?, Form::DataFrame),
        "dataframe_records" => (records(&data)?, Form::DataFrame),
        _ => tensor_input(&data)?,
    };
    Ok(Invocation {
        frame,
        form,
        params,
    })
}

fn key_error(keys: &[String]) -> MlflowError {
    MlflowError::Body(format!(
        "The input must be a JSON dictionary with exactly one of the input fields {{'instances', 'inputs', \
         'dataframe_records', 'dataframe_split'}}. Received dictionary with input fields: [{}]. IMPORTANT: The \
         MLflow Model scoring protocol has changed in MLflow version 2. If you are seeing this error, you are \
         likely using an outdated scoring request format. To resolve the error, either update your request \
         format or adjust your MLflow Model's requirements file to specify an older version of MLflow (for \
         example, change the 'mlflow' requirement specifier to 'mlflow==1.30.0').",
        keys.iter()
            .map(|k| format!("'{k}'"))
            .collect::<Vec<_>>()
            .join(", ")
    ))
}

fn scalar(v: &Value) -> Result<Cell, MlflowError> {
    Cell::from_json(v).ok_or_else(|| {
        MlflowError::Body(format!(
            "a table cell must be a number, string, boolean or null, got {v}"
        ))
    })
}

fn row(v: &Value) -> Result<Vec<Cell>, MlflowError> {
    match v {
        Value::Array(items) => items.iter().map(scalar).collect(),
        other => Ok(vec![scalar(other)?]),
    }
}

/// `{"columns": [...], "data": [[...], ...]}` (pandas' `split` orient; `index` ignored).
fn split(data: &Value) -> Result<Frame, MlflowError> {
    let Value::Object(obj) = data else {
        return Err(MlflowError::Body(
            "`dataframe_split` must be an object with `columns` and `data`".into(),
        ));
    };
    let columns = match obj.get("columns") {
        None | Some(Value::Null) => None,
        Some(Value::Array(c)) => Some(
            c.iter()
                .map(|n| match n {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                })
                .collect(),
        ),
        Some(_) => {
            return Err(MlflowError::Body(
                "`dataframe_split.columns` must be a list".into(),
            ));
        }
    };
    let rows = match obj.get("data") {
        Some(Value::Array(rows)) => rows.iter().map(row).collect::<Result<Vec<_>, _>>()?,
        None | Some(Value::Null) => Vec::new(),
        Some(_) => {
            return Err(MlflowError::Body(
                "`dataframe_split.data` must be a list of rows".into(),
            ));
        }
    };
    Frame::from_rows(columns, rows)
}

/// `[{"a": 1, "b": 2}, ...]` (pandas' `records` orient): the columns in the order keys first appear, a
/// missing key null.
fn records(data: &Value) -> Result<Frame, MlflowError> {
    let Value::Array(items) = data else {
        return Err(MlflowError::Body(
            "`dataframe_records` must be a list of objects".into(),
        ));
    };
    let mut names: Vec<String> = Vec::new();
    for item in items {
        let Value::Object(rec) = item else {
            return Err(MlflowError::Body(format!(
                "a record must be an object, got {item}"
            )));
        };
        for k in rec.keys() {
            if !names.contains(k) {
                names.push(k.clone());
            }
        }
    }
    let mut rows = Vec::with_capacity(items.len());
    for item in items {
        let rec = item.as_object();
        rows.push(
            names
                .iter()
                .map(|n| rec.and_then(|r| r.get(n)).map_or(Ok(Cell::Null), scalar))
                .collect::<Result<Vec<_>, _>>()?,
        );
    }
    Frame::from_rows(Some(names), rows)
}

/// `instances` / `inputs`: records, a list of rows, a list of scalars (one column), or a dict of columns.
fn tensor_input(data: &Value) -> Result<(Frame, Form), MlflowError> {
    match data {
        Value::Array(items) if items.first().is_some_and(Value::is_object) => {
            Ok((records(data)?, Form::DataFrame))
        }
        Value::Array(items) if items.iter().all(|v| !v.is_array()) => {
            let rows = items
                .iter()
                .map(|v| Ok(vec![scalar(v)?]))
                .collect::<Result<Vec<_>, MlflowError>>()?;
            Ok((Frame::from_rows(None, rows)?, Form::Tensor))
        }
        Value::Array(items) => {
            let rows = items.iter().map(row).collect::<Result<Vec<_>, _>>()?;
            Ok((Frame::from_rows(None, rows)?, Form::Tensor))
        }
        Value::Object(cols) => {
            let names: Vec<String> = cols.keys().cloned().collect();
            let columns: Vec<Vec<Cell>> = cols.values().map(row).collect::<Result<_, _>>()?;
            let n = columns.first().map_or(0, Vec::len);
            if let Some((name, c)) = names.iter().zip(&columns).find(|(_, c)| c.len() != n) {
                return Err(MlflowError::Body(format!(
                    "column `{name}` has {} values where the first has {n}",
                    c.len()
                )));
            }
            let rows = (0..n)
                .map(|i| columns.iter().map(|c| c[i].clone()).collect())
                .collect();
            Ok((Frame::from_rows(Some(names), rows)?, Form::Tensor))
        }
        other => Ok((
            Frame::from_rows(None, vec![vec![scalar(other)?]])?,
            Form::Tensor,
        )),
    }
}

/// A CSV body with a header line (pandas' `read_csv` defaults: `,`, `"` quotes, empty fields null). A row whose
/// field count differs from the header's is refused (pandas pads short rows with NaN; a short row here is
/// almost always a truncated body).
pub fn parse_csv(body: &[u8]) -> Result<Frame, MlflowError> {
    let text = std::str::from_utf8(body)
        .map_err(|e| MlflowError::Body(format!("the CSV body is not UTF-8: {e}")))?;
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    let header = lines
        .next()
        .ok_or_else(|| MlflowError::Body("No columns to parse from file".into()))?;
    let names: Vec<String> = fields(header)
        .into_iter()
        .map(|f| f.trim().to_owned())
        .collect();
    let mut rows = Vec::new();
    for (i, line) in lines.enumerate() {
        let f = fields(line);
        if f.len() != names.len() {
            return Err(MlflowError::Body(format!(
                "Error tokenizing data. Expected {} fields in line {}, saw {}",
                names.len(),
                i + 2,
                f.len()
            )));
        }
        rows.push(f.into_iter().map(|s| csv_cell(&s)).collect());
    }
    Frame::from_rows(Some(names), rows)
}

fn fields(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut chars = line.trim_end_matches('\r').chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                cur.push('"');
                chars.next();
            }
            '"' => quoted = !quoted,
            ',' if !quoted => out.push(std::mem::take(&mut cur)),
            c => cur.push(c),
        }
    }
    out.push(cur);
    out
}

fn csv_cell(s: &str) -> Cell {
    let t = s.trim();
    if t.is_empty() || t == "NaN" || t == "nan" || t == "NA" {
        return Cell::Null;
    }
    if let Ok(i) = t.parse::<i64>() {
        return Cell::Int(i);
    }
    if let Ok(f) = t.parse::<f64>() {
        return Cell::Float(f);
    }
    match t {
        "True" | "TRUE" | "true" => Cell::Bool(true),
        "False" | "FALSE" | "false" => Cell::Bool(false),
        _ => Cell::Str(t.to_owned()),
    }
}

/// The output name of a model whose pyfunc `predict` returns an array: the reply is `{"predictions": [...]}`.
pub const PREDICTIONS: &str = "predictions";

/// The reply: one output named [`PREDICTIONS`] is the array (nested lists by shape); otherwise the outputs are
/// a DataFrame's columns (ONNX): records for a DataFrame request, a dict of arrays for a tensor request.
pub fn predictions(outputs: &[NamedTensor], form: Form) -> Value {
    let array = match outputs {
        [one] if one.name == PREDICTIONS => nested(one),
        many if form == Form::DataFrame => {
            let rows = many
                .first()
                .map_or(0, |o| o.tensor.shape().first().copied().unwrap_or(0));
            let flat: Vec<Vec<Value>> = many.iter().map(flat).collect();
            Value::Array(
                (0..rows)
                    .map(|i| {
                        Value::Object(
                            many.iter()
                                .zip(&flat)
                                .map(|(o, v)| {
                                    (o.name.clone(), v.get(i).cloned().unwrap_or(Value::Null))
                                })
                                .collect(),
                        )
                    })
                    .collect(),
            )
        }
        many => Value::Object(many.iter().map(|o| (o.name.clone(), nested(o))).collect()),
    };
    serde_json::json!({ PREDICTIONS: array })
}

fn flat(t: &NamedTensor) -> Vec<Value> {
    crate::frame::cells(&t.tensor)
        .into_iter()
        .map(Cell::into_json)
        .collect()
}

fn nested(t: &NamedTensor) -> Value {
    let values = flat(t);
    let shape = t.tensor.shape();
    fn build(values: &[Value], shape: &[usize]) -> Value {
        match shape {
            [] | [_] => Value::Array(values.to_vec()),
            [_, rest @ ..] => {
                let step: usize = rest.iter().product::<usize>().max(1);
                Value::Array(values.chunks(step).map(|c| build(c, rest)).collect())
            }
        }
    }
    if shape.is_empty() {
        return values.into_iter().next().unwrap_or(Value::Null);
    }
    build(&values, shape)
}
