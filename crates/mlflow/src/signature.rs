//! A model's signature (`MLmodel`'s `signature`) and its enforcement, as pyfunc's `_enforce_schema` does it on
//! numeric inputs: columns by name (by position when the signature has no names), MLflow's allowed conversions,
//! missing columns and wrong types refused in MLflow's words.

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
        }
    }

    fn mlflow(self) -> &'static str {
        match self {
            ColType::Double => "double",
            ColType::Float => "float",
            ColType::Long => "long",
            ColType::Integer => "integer",
            ColType::Boolean => "boolean",
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
}

/// A model's signature.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Signature {
    /// The inputs: columns, or one tensor.
    pub inputs: Vec<Spec>,
    /// The outputs' names, when the output signature names them.
    pub output_names: Vec<String>,
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
        let output_names = parse_json_field(sig, "outputs")?
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
                })
            })
            .collect();
        Ok(Signature {
            inputs,
            output_names,
            params,
        })
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
        let ty = ColType::parse(dtype).ok_or_else(|| {
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
            "input column{} of type `{ty}`: this server takes numeric columns (double, float, long, integer, \
             boolean) for now",
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

/// Enforces `signature` (or none) on `frame` and returns the engine's matrix. Errors carry MLflow's wording.
pub fn enforce(signature: Option<&Signature>, frame: &Frame) -> Result<Matrix, MlflowError> {
    let Some(sig) = signature.filter(|s| !s.inputs.is_empty()) else {
        let types: Vec<Option<ColType>> = frame.columns.iter().map(|_| None).collect();
        let picked: Vec<Option<usize>> = (0..frame.columns.len()).map(Some).collect();
        return build(frame, &picked, &types);
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
        let types = vec![Some(*ty); cols];
        let picked: Vec<Option<usize>> = (0..cols).map(Some).collect();
        return build(frame, &picked, &types);
    }
    let types: Vec<Option<ColType>> = sig.inputs.iter().map(|s| Some(s.ty)).collect();
    if sig.named_columns() && frame.named {
        let mut picked = Vec::with_capacity(sig.inputs.len());
        let mut missing = Vec::new();
        for spec in &sig.inputs {
            let name = spec.name.as_deref().unwrap_or_default();
            let at = frame.columns.iter().position(|c| c.name == name);
            if at.is_none() && spec.required {
                missing.push(name.to_owned());
            }
            picked.push(at);
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
        return build(frame, &picked, &types);
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
    let picked: Vec<Option<usize>> = (0..sig.inputs.len())
        .map(|i| (i < frame.columns.len()).then_some(i))
        .collect();
    build(frame, &picked, &types)
}

/// Builds the matrix from the picked columns (`None`: an optional column left out, all NaN), converting each as
/// MLflow allows.
fn build(
    frame: &Frame,
    picked: &[Option<usize>],
    types: &[Option<ColType>],
) -> Result<Matrix, MlflowError> {
    let cols = picked.len();
    let len = frame
        .rows
        .checked_mul(cols)
        .ok_or_else(|| MlflowError::Schema("the input is too large".into()))?;
    let mut values = vec![f64::NAN; len];
    for (j, (at, ty)) in picked.iter().zip(types).enumerate() {
        let Some(at) = at else { continue };
        let column = &frame.columns[*at];
        for (i, cell) in column.cells.iter().enumerate().take(frame.rows) {
            values[i * cols + j] = convert(&column.name, cell, *ty)?;
        }
    }
    Ok(Matrix {
        rows: frame.rows,
        cols,
        values,
    })
}

fn convert(name: &str, cell: &Cell, ty: Option<ColType>) -> Result<f64, MlflowError> {
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
        Cell::Str(s) => s
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|_| !integral)
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
    if integral && v.fract() != 0.0 {
        return Err(MlflowError::Schema(format!(
            "Incompatible input types for column {name}. Can not safely convert float64 to {target}."
        )));
    }
    if ty == Some(ColType::Boolean) && !matches!(cell, Cell::Bool(_)) {
        return Err(MlflowError::Schema(format!(
            "Incompatible input types for column {name}. Can not safely convert {} to bool.",
            cell.numpy_kind()
        )));
    }
    Ok(v)
}
