//! A model's signature (`MLmodel`'s `signature`) and its enforcement, as pyfunc's `_enforce_schema` does it:
//! columns by name (by position when the signature has no names), MLflow's allowed conversions into typed
//! columns (double, float, long, integer, boolean, string), missing columns and wrong types refused in MLflow's
//! words; and the params schema, as `_enforce_params_schema` checks a request's `params`.

use oxserve_core::{Column as TableColumn, ColumnData, Table};

use crate::MlflowError;
use crate::frame::{Cell, Frame};

/// An MLflow column type (`ColSpec.type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColType {
    /// `double` (float64).
    Double,
    /// `float` (float32).
    Float,
    /// `long` (int64).
    Long,
    /// `integer` (int32).
    Integer,
    /// `boolean`.
    Boolean,
    /// `string` (a pandas `object` column of `str`).
    String,
}

impl ColType {
    fn parse(name: &str) -> Option<ColType> {
        Some(match name {
            "double" | "float64" => ColType::Double,
            "float" | "float32" => ColType::Float,
            "long" | "int64" => ColType::Long,
            "integer" | "int32" | "int16" | "int8" | "uint8" | "uint16" | "uint32" => {
                ColType::Integer
            }
            "boolean" | "bool" => ColType::Boolean,
            "string" | "str" => ColType::String,
            _ => return None,
        })
    }

    /// numpy's name of the type, as MLflow's messages print it.
    pub fn numpy(self) -> &'static str {
        match self {
            ColType::Double => "float64",
            ColType::Float => "float32",
            ColType::Long => "int64",
            ColType::Integer => "int32",
            ColType::Boolean => "bool",
            ColType::String => "object",
        }
    }

    fn mlflow(self) -> &'static str {
        match self {
            ColType::Double => "double",
            ColType::Float => "float",
            ColType::Long => "long",
            ColType::Integer => "integer",
            ColType::Boolean => "boolean",
            ColType::String => "string",
        }
    }
}

/// One input column (`ColSpec`) or tensor (`TensorSpec`).
#[derive(Debug, Clone, PartialEq)]
pub struct Spec {
    /// The column's or tensor's name, when the signature names it.
    pub name: Option<String>,
    /// The element type.
    pub ty: ColType,
    /// `required` (columns; a tensor is always required).
    pub required: bool,
    /// A tensor's shape (`-1`: any size); `None` for a column.
    pub shape: Option<Vec<i64>>,
}

/// An inference parameter (`ParamSpec`) with its default.
#[derive(Debug, Clone, PartialEq)]
pub struct Param {
    /// Its name.
    pub name: String,
    /// Its MLflow type (`double`, `string`, ...).
    pub ty: String,
    /// Its default value.
    pub default: serde_json::Value,
    /// `(-1,)` for a list of values; `None` for one value.
    pub shape: Option<Vec<i64>>,
}

impl Param {
    /// `ParamSpec`'s repr: `'k': long (default: 3)`, `… (shape: (-1,))`.
    fn describe(&self) -> String {
        let shape = self
            .shape
            .as_ref()
            .map(|s| format!(" (shape: {})", py_tuple(s)))
            .unwrap_or_default();
        format!(
            "{}: {} (default: {}){shape}",
            py_repr(&serde_json::Value::String(self.name.clone())),
            self.ty,
            py_str(&self.default)
        )
    }

    /// One value checked and converted as `_enforce_param_datatype` does (int → long, float, double; long →
    /// float, double; float → double; null kept), or MLflow's message.
    fn enforce_one(&self, value: &serde_json::Value) -> Result<serde_json::Value, String> {
        use serde_json::Value;
        let dtype = format!("DataType.{}", self.ty);
        let py_type = match value {
            Value::Null => return Ok(Value::Null),
            Value::Bool(_) => "bool",
            Value::Number(n) if n.is_i64() || n.is_u64() => "int",
            Value::Number(_) => "float",
            Value::String(_) => "str",
            Value::Array(_) | Value::Object(_) => {
                return Err(format!(
                    "Value must be a scalar for type `{dtype}`, got `{}`",
                    py_str(value)
                ));
            }
        };
        let ok = matches!(
            (self.ty.as_str(), py_type),
            ("boolean", "bool")
                | ("string" | "datetime", "str")
                | ("integer" | "long", "int")
                | ("float" | "double", "int" | "float")
        );
        if !ok {
            return Err(format!(
                "Can not safely convert `<class '{py_type}'>` to `{dtype}` for value `{}`",
                py_str(value)
            ));
        }
        Ok(match (self.ty.as_str(), value.as_f64()) {
            ("float" | "double", Some(f)) => {
                serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)
            }
            _ => value.clone(),
        })
    }

    /// The value checked against the spec's type and shape, or `Failed to validate …` in MLflow's words.
    fn enforce(&self, value: &serde_json::Value) -> Result<serde_json::Value, String> {
        let fail = |e: String| {
            format!(
                "Failed to validate type and shape for {}, error: {e}",
                self.describe()
            )
        };
        match (self.shape.as_deref(), value) {
            (None, v) => self.enforce_one(v).map_err(fail),
            (Some([-1]), serde_json::Value::Array(items))
                if items.iter().all(|v| !v.is_array()) =>
            {
                items
                    .iter()
                    .map(|v| self.enforce_one(v))
                    .collect::<Result<Vec<_>, _>>()
                    .map(serde_json::Value::Array)
                    .map_err(fail)
            }
            (Some([-1]), v) => Err(format!(
                "Value must be a 1D array with shape (-1,) for param {}, received {} with ndim {}",
                self.describe(),
                py_type_name(v),
                ndim(v)
            )),
            (Some(other), _) => Err(format!(
                "Shape must be None for scalar or dictionary value, or (-1,) for 1D array value for ParamSpec \
                 {}), received {}",
                self.describe(),
                py_tuple(other)
            )),
        }
    }
}

fn py_type_name(v: &serde_json::Value) -> &'static str {
    use serde_json::Value;
    match v {
        Value::Null => "NoneType",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_f64() => "float",
        Value::Number(_) => "int",
        Value::String(_) => "str",
        Value::Array(_) => "list",
        Value::Object(_) => "dict",
    }
}

fn ndim(v: &serde_json::Value) -> usize {
    match v {
        serde_json::Value::Array(items) => 1 + items.first().map_or(0, ndim),
        _ => 0,
    }
}

/// Python's `str()` of a JSON value (`high`, `0.5`, `True`, `[1, 'a']`).
fn py_str(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        other => py_repr(other),
    }
}

/// Python's `repr()` of a JSON value.
fn py_repr(v: &serde_json::Value) -> String {
    use serde_json::Value;
    match v {
        Value::Null => "None".into(),
        Value::Bool(true) => "True".into(),
        Value::Bool(false) => "False".into(),
        Value::Number(n) => match (n.as_i64(), n.as_f64()) {
            (Some(i), _) if !n.is_f64() => i.to_string(),
            (_, Some(f)) if f.fract() == 0.0 && f.abs() < 1e16 => format!("{f:.1}"),
            _ => n.to_string(),
        },
        Value::String(s) => {
            if s.contains('\'') && !s.contains('"') {
                format!("\"{}\"", s.replace('\\', "\\\\"))
            } else {
                format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'"))
            }
        }
        Value::Array(items) => format!(
            "[{}]",
            items.iter().map(py_repr).collect::<Vec<_>>().join(", ")
        ),
        Value::Object(map) => format!(
            "{{{}}}",
            map.iter()
                .map(|(k, v)| format!("{}: {}", py_repr(&Value::String(k.clone())), py_repr(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// A model's signature.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Signature {
    /// The inputs: columns, or one tensor.
    pub inputs: Vec<Spec>,
    /// The outputs' names, when the output signature names them.
    pub output_names: Vec<String>,
    /// How many outputs the output signature declares (named or not).
    pub output_count: usize,
    /// The inference parameters.
    pub params: Vec<Param>,
}

fn parse_json_field(
    sig: &serde_yaml::Value,
    key: &str,
) -> Result<Vec<serde_json::Value>, MlflowError> {
    match sig.get(key).and_then(serde_yaml::Value::as_str) {
        None => Ok(Vec::new()),
        Some(text) => serde_json::from_str(text).map_err(|e| {
            MlflowError::Malformed(format!("signature `{key}` is not a JSON list: {e}"))
        }),
    }
}

impl Signature {
    /// Reads `MLmodel`'s `signature` (its `inputs`, `outputs` and `params` are JSON strings). A column type this
    /// server does not take yet (string, binary, datetime, objects, arrays) refuses the model, naming it.
    pub fn from_mlmodel(sig: &serde_yaml::Value) -> Result<Self, MlflowError> {
        let mut inputs = Vec::new();
        for spec in parse_json_field(sig, "inputs")? {
            inputs.push(parse_spec(&spec)?);
        }
        if inputs.iter().any(|s| s.shape.is_some()) && inputs.len() != 1 {
            return Err(MlflowError::Unsupported(format!(
                "a signature of {} tensors: this server takes one input tensor or named columns",
                inputs.len()
            )));
        }
        let outputs = parse_json_field(sig, "outputs")?;
        let output_count = outputs.len();
        let output_names = outputs
            .iter()
            .filter_map(|o| o.get("name").and_then(|n| n.as_str()).map(str::to_owned))
            .collect();
        let params = parse_json_field(sig, "params")?
            .iter()
            .filter_map(|p| {
                Some(Param {
                    name: p.get("name")?.as_str()?.to_owned(),
                    ty: p
                        .get("type")
                        .and_then(|t| t.as_str())
                        .unwrap_or_default()
                        .to_owned(),
                    default: p.get("default").cloned().unwrap_or(serde_json::Value::Null),
                    shape: p
                        .get("shape")
                        .and_then(|s| s.as_array())
                        .map(|s| s.iter().filter_map(serde_json::Value::as_i64).collect()),
                })
            })
            .collect();
        Ok(Signature {
            inputs,
            output_names,
            output_count,
            params,
        })
    }

    /// The name pyfunc's one output takes: the output signature's, when it declares one named output.
    pub fn output_name(&self) -> Option<&str> {
        match self.output_names.as_slice() {
            [one] if self.output_count == 1 => Some(one),
            _ => None,
        }
    }

    /// A request's `params` as pyfunc's `_enforce_params_schema` takes them: each declared param converted to its
    /// type (or its default when not given); params the signature does not declare are dropped, as MLflow drops
    /// them with a warning (their names are returned); a wrong type or shape is refused in MLflow's words
    /// (`Invalid parameters found: {(name, message)}`). Without a params schema, every param is dropped.
    pub fn enforce_params(
        &self,
        given: Option<&serde_json::Map<String, serde_json::Value>>,
    ) -> Result<(serde_json::Map<String, serde_json::Value>, Vec<String>), MlflowError> {
        let empty = serde_json::Map::new();
        let given = given.unwrap_or(&empty);
        let ignored: Vec<String> = given
            .keys()
            .filter(|k| !self.params.iter().any(|p| &p.name == *k))
            .cloned()
            .collect();
        let mut out = serde_json::Map::new();
        let mut invalid = Vec::new();
        for p in &self.params {
            match given.get(&p.name) {
                Some(v) => match p.enforce(v) {
                    Ok(v) => {
                        out.insert(p.name.clone(), v);
                    }
                    Err(m) => invalid.push(format!(
                        "({}, {})",
                        py_repr(&serde_json::Value::String(p.name.clone())),
                        py_repr(&serde_json::Value::String(m))
                    )),
                },
                None => {
                    out.insert(p.name.clone(), p.default.clone());
                }
            }
        }
        if !invalid.is_empty() {
            return Err(MlflowError::Schema(format!(
                "Invalid parameters found: {{{}}}",
                invalid.join(", ")
            )));
        }
        Ok((out, ignored))
    }

    /// Whether the inputs are columns with names (then a request's columns are matched by name).
    pub fn named_columns(&self) -> bool {
        !self.inputs.is_empty()
            && self
                .inputs
                .iter()
                .all(|s| s.name.is_some() && s.shape.is_none())
    }

    /// The signature as MLflow prints a schema: `['a': double (required), ...]`.
    pub fn describe(&self) -> String {
        let specs: Vec<String> = self
            .inputs
            .iter()
            .map(|s| {
                let mut out = String::new();
                if let Some(n) = &s.name {
                    out.push_str(&format!("'{n}': "));
                }
                match &s.shape {
                    Some(shape) => {
                        out.push_str(&format!("Tensor('{}', {})", s.ty.numpy(), py_tuple(shape)))
                    }
                    None => out.push_str(&format!(
                        "{} ({})",
                        s.ty.mlflow(),
                        if s.required { "required" } else { "optional" }
                    )),
                }
                out
            })
            .collect();
        format!("[{}]", specs.join(", "))
    }
}

fn parse_spec(spec: &serde_json::Value) -> Result<Spec, MlflowError> {
    let name = spec.get("name").and_then(|n| n.as_str()).map(str::to_owned);
    let ty = spec
        .get("type")
        .and_then(|t| t.as_str())
        .unwrap_or_default();
    if ty == "tensor" {
        let t = spec.get("tensor-spec");
        let dtype = t
            .and_then(|t| t.get("dtype"))
            .and_then(|d| d.as_str())
            .unwrap_or_default();
        let shape: Vec<i64> = t
            .and_then(|t| t.get("shape"))
            .and_then(|s| s.as_array())
            .map(|s| s.iter().filter_map(serde_json::Value::as_i64).collect())
            .unwrap_or_default();
        let ty = ColType::parse(dtype)
            .filter(|t| *t != ColType::String)
            .ok_or_else(|| {
                MlflowError::Unsupported(format!(
                    "input tensor{} of dtype `{dtype}`: this server takes numeric tensors",
                    name.as_deref()
                        .map(|n| format!(" `{n}`"))
                        .unwrap_or_default()
                ))
            })?;
        if shape.len() > 2 {
            return Err(MlflowError::Unsupported(format!(
                "input tensor of shape {}: this server takes tables (rows × columns)",
                py_tuple(&shape)
            )));
        }
        return Ok(Spec {
            name,
            ty,
            required: true,
            shape: Some(shape),
        });
    }
    let col = ColType::parse(ty).ok_or_else(|| {
        MlflowError::Unsupported(format!(
            "input column{} of type `{ty}`: this server takes columns of type double, float, long, integer, \
             boolean and string",
            name.as_deref().map(|n| format!(" `{n}`")).unwrap_or_default()
        ))
    })?;
    Ok(Spec {
        name,
        ty: col,
        required: spec
            .get("required")
            .and_then(|r| r.as_bool())
            .unwrap_or(true),
        shape: None,
    })
}

/// Python's repr of a tuple of ints: `(-1, 4)`, `(3,)`.
fn py_tuple(dims: &[i64]) -> String {
    match dims {
        [one] => format!("({one},)"),
        _ => format!(
            "({})",
            dims.iter()
                .map(i64::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// Python's repr of a list of names: `['a', 'b']`.
fn py_list<S: AsRef<str>>(names: &[S]) -> String {
    format!(
        "[{}]",
        names
            .iter()
            .map(|n| format!("'{}'", n.as_ref()))
            .collect::<Vec<_>>()
            .join(", ")
    )
}

/// A table ready for an engine: rows × columns, row-major, float64 (NaN for missing values).
#[derive(Debug, Clone, PartialEq)]
pub struct Matrix {
    /// Rows.
    pub rows: usize,
    /// Columns.
    pub cols: usize,
    /// The values, row-major.
    pub values: Vec<f64>,
}

/// Enforces `signature` (or none) on `frame` and returns the engine's float64 matrix ([`enforce_table`], then
/// every column as numbers; a string column is refused).
pub fn enforce(signature: Option<&Signature>, frame: &Frame) -> Result<Matrix, MlflowError> {
    let table = enforce_table(signature, frame)?;
    let values = table
        .to_matrix()
        .map_err(|e| MlflowError::Schema(e.to_string()))?;
    Ok(Matrix {
        rows: table.rows(),
        cols: table.columns().len(),
        values,
    })
}

/// Enforces `signature` (or none) on `frame` as pyfunc's `_enforce_schema` does and returns the typed table the
/// flavour's model gets: the signature's columns in its order (named as the signature names them; extra columns
/// dropped; a missing optional column all missing), each converted to its type. Errors carry MLflow's wording.
///
/// Without a signature the columns are taken as sent, typed as pandas infers them (strings and nulls only: a
/// string column; otherwise numbers, a string that parses as one included).
pub fn enforce_table(signature: Option<&Signature>, frame: &Frame) -> Result<Table, MlflowError> {
    let Some(sig) = signature.filter(|s| !s.inputs.is_empty()) else {
        let picked: Vec<(Option<usize>, Option<ColType>)> = (0..frame.columns.len())
            .map(|j| (Some(j), inferred(&frame.columns[j].cells)))
            .collect();
        return build(frame, &picked, None);
    };
    if let [
        Spec {
            shape: Some(shape),
            ty,
            ..
        },
    ] = sig.inputs.as_slice()
    {
        let cols = frame.columns.len();
        if let [_, want] = shape.as_slice()
            && *want >= 0
            && usize::try_from(*want).ok() != Some(cols)
        {
            return Err(MlflowError::Schema(format!(
                "Shape of input ({}, {cols}) does not match expected shape {}.",
                frame.rows,
                py_tuple(shape)
            )));
        }
        let picked: Vec<(Option<usize>, Option<ColType>)> =
            (0..cols).map(|j| (Some(j), Some(*ty))).collect();
        return build(frame, &picked, None);
    }
    if sig.named_columns() && frame.named {
        let mut picked = Vec::with_capacity(sig.inputs.len());
        let mut missing = Vec::new();
        for spec in &sig.inputs {
            let name = spec.name.as_deref().unwrap_or_default();
            let at = frame.columns.iter().position(|c| c.name == name);
            if at.is_none() && spec.required {
                missing.push(name.to_owned());
            }
            picked.push((at, Some(spec.ty)));
        }
        if !missing.is_empty() {
            let extra: Vec<&str> = frame
                .columns
                .iter()
                .map(|c| c.name.as_str())
                .filter(|n| !sig.inputs.iter().any(|s| s.name.as_deref() == Some(*n)))
                .collect();
            let mut message = format!("Model is missing inputs {}.", py_list(&missing));
            if !extra.is_empty() {
                message.push_str(&format!(
                    " Note that there were extra inputs: {}.",
                    py_list(&extra)
                ));
            }
            return Err(MlflowError::Schema(message));
        }
        return build(frame, &picked, Some(sig));
    }
    // Unnamed columns on either side: by position, counting only (a Seldon ndarray or a V2 tensor whose
    // columns follow the signature's order).
    if frame.columns.len() < sig.inputs.iter().filter(|s| s.required).count()
        || frame.columns.len() > sig.inputs.len()
    {
        return Err(MlflowError::Schema(format!(
            "Model inference is missing inputs. The model signature declares {} inputs  but the provided value only \
             has {} inputs. Note: the inputs were not named in the signature so we can only verify their count.",
            sig.inputs.len(),
            frame.columns.len()
        )));
    }
    let picked: Vec<(Option<usize>, Option<ColType>)> = sig
        .inputs
        .iter()
        .enumerate()
        .map(|(i, s)| ((i < frame.columns.len()).then_some(i), Some(s.ty)))
        .collect();
    build(frame, &picked, sig.named_columns().then_some(sig))
}

/// The type pandas gives a column of JSON values when no signature says: strings (with or without nulls) stay
/// strings; anything else is read as numbers (`None`: float64, a string that parses as a number included).
fn inferred(cells: &[Cell]) -> Option<ColType> {
    let strings = cells.iter().any(|c| matches!(c, Cell::Str(_)));
    (strings && cells.iter().all(|c| matches!(c, Cell::Str(_) | Cell::Null)))
        .then_some(ColType::String)
}

/// Builds the table from the picked columns (`None`: an optional column left out), converting each as MLflow
/// allows. Columns are named after the signature when it names them (`named`), else as the frame names them.
fn build(
    frame: &Frame,
    picked: &[(Option<usize>, Option<ColType>)],
    named: Option<&Signature>,
) -> Result<Table, MlflowError> {
    let mut columns = Vec::with_capacity(picked.len());
    for (j, (at, ty)) in picked.iter().enumerate() {
        let spec_name = named
            .and_then(|s| s.inputs.get(j))
            .and_then(|s| s.name.clone());
        let Some(at) = at else {
            // An optional column left out: all missing, so that numeric engines keep their width.
            let n = frame.rows;
            let data = match ty {
                Some(ColType::String) => ColumnData::Str(vec![None; n]),
                Some(ColType::Boolean) => ColumnData::Bool(vec![None; n]),
                Some(ColType::Long | ColType::Integer) => ColumnData::I64(vec![None; n]),
                _ => ColumnData::F64(vec![f64::NAN; n]),
            };
            columns.push(TableColumn::new(
                spec_name.unwrap_or_else(|| j.to_string()),
                data,
            ));
            continue;
        };
        let column = &frame.columns[*at];
        let name = spec_name.unwrap_or_else(|| column.name.clone());
        let cells = &column.cells[..frame.rows.min(column.cells.len())];
        let data = convert_column(&column.name, cells, *ty)?;
        columns.push(TableColumn::new(name, data));
    }
    Table::new(columns).map_err(|e| MlflowError::Schema(e.to_string()))
}

/// pandas' dtype for a column of JSON values, as MLflow's messages print it.
fn pandas_kind(cells: &[Cell]) -> &'static str {
    let all = |f: fn(&Cell) -> bool| !cells.is_empty() && cells.iter().all(f);
    if all(|c| matches!(c, Cell::Int(_))) {
        "int64"
    } else if all(|c| matches!(c, Cell::Bool(_))) {
        "bool"
    } else if all(|c| matches!(c, Cell::Int(_) | Cell::Float(_) | Cell::Null))
        && cells.iter().any(|c| !matches!(c, Cell::Null))
    {
        "float64"
    } else {
        "object"
    }
}

/// One column converted to `ty` (`None`: float64 as numbers), as `_enforce_mlflow_datatype` allows.
fn convert_column(
    name: &str,
    cells: &[Cell],
    ty: Option<ColType>,
) -> Result<ColumnData, MlflowError> {
    match ty {
        // An `object` column passes as it is; numbers in it are read as their text (the scoring server casts
        // the column to `object`, and an encoder fitted on strings then sees an unseen category).
        Some(ColType::String) => Ok(ColumnData::Str(
            cells
                .iter()
                .map(|c| match c {
                    Cell::Null => None,
                    Cell::Str(s) => Some(s.clone()),
                    Cell::Bool(b) => Some(if *b { "True" } else { "False" }.to_owned()),
                    Cell::Int(i) => Some(i.to_string()),
                    Cell::Float(f) => Some(format!("{f:?}")),
                })
                .collect(),
        )),
        // A boolean column of booleans and nulls passes (pandas keeps it `object`, None stays None).
        Some(ColType::Boolean) => cells
            .iter()
            .map(|c| match c {
                Cell::Bool(b) => Ok(Some(*b)),
                Cell::Null => Ok(None),
                _ => Err(incompatible(name, pandas_kind(cells), "bool")),
            })
            .collect::<Result<_, _>>()
            .map(ColumnData::Bool),
        Some(t @ (ColType::Long | ColType::Integer)) => cells
            .iter()
            .map(|c| {
                if let Cell::Int(i) = c {
                    return Ok(Some(*i));
                }
                let v = number(name, c, Some(t))?;
                if v.fract() != 0.0 {
                    return Err(MlflowError::Schema(format!(
                        "Incompatible input types for column {name}. Can not safely convert float64 to {}.",
                        t.numpy()
                    )));
                }
                Ok(Some(v as i64))
            })
            .collect::<Result<_, _>>()
            .map(ColumnData::I64),
        t => cells
            .iter()
            .map(|c| {
                let v = number(name, c, t)?;
                Ok(if t == Some(ColType::Float) {
                    f64::from(v as f32)
                } else {
                    v
                })
            })
            .collect::<Result<_, _>>()
            .map(ColumnData::F64),
    }
}

fn incompatible(name: &str, from: &str, to: &str) -> MlflowError {
    MlflowError::Schema(format!(
        "Incompatible input types for column {name}. Can not safely convert {from} to {to}."
    ))
}

/// A cell as a number of type `ty` (float64 when `None`).
fn number(name: &str, cell: &Cell, ty: Option<ColType>) -> Result<f64, MlflowError> {
    let target = ty.map_or("float64", ColType::numpy);
    let fail = |detail: String| {
        MlflowError::Schema(format!(
            "Invalid input. Data is not compatible with model signature. Failed to convert column {name} to type \
             '{target}'. Error: '{detail}'"
        ))
    };
    let integral = matches!(ty, Some(ColType::Long | ColType::Integer));
    let v = match cell {
        Cell::Null if integral => {
            return Err(fail(
                "IntCastingNaNError('Cannot convert non-finite values (NA or inf) to integer')"
                    .into(),
            ));
        }
        Cell::Null => f64::NAN,
        Cell::Bool(b) => f64::from(u8::from(*b)),
        Cell::Int(i) => *i as f64,
        Cell::Float(f) => *f,
        Cell::Str(s) => (if integral {
            s.trim().parse::<i64>().ok().map(|i| i as f64)
        } else {
            s.trim().parse::<f64>().ok()
        })
        .ok_or_else(|| {
            if integral {
                fail(format!(
                    "ValueError(\"invalid literal for int() with base 10: '{s}'\")"
                ))
            } else {
                fail(format!(
                    "ValueError(\"could not convert string to float: '{s}'\")"
                ))
            }
        })?,
    };
    Ok(v)
}
