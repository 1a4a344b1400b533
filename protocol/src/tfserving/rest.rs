//! TF Serving's REST JSON: predict requests in the row and columnar formats, their replies, model status and
//! signature metadata, and the error body.

use base64::Engine as _;
use oxserve_core::{DataType, ModelMetadata, NamedTensor, Tensor, TensorData, TensorSpec};
use serde_json::{Value, json};

use super::floats::{write_float, write_float32};
use super::json::{self, Json};
use super::{
    DEFAULT_SIGNATURE, PREDICT_METHOD, RequestError, check_signature_name, invalid, tf_dtype,
    tf_dtype_short,
};
use crate::limits::{Budget, RequestLimits};

/// Which form a predict request used; the reply uses the matching one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `{"instances": [...]}` → `{"predictions": [...]}`.
    Row,
    /// `{"inputs": ...}` → `{"outputs": ...}`.
    Columnar,
}

/// A decoded predict request.
#[derive(Debug, Clone, PartialEq)]
pub struct PredictBody {
    /// The request's form.
    pub format: Format,
    /// The input tensors, in the signature's order.
    pub inputs: Vec<NamedTensor>,
}

/// Reads a `:predict` body against the signature's inputs: `signature_name` (absent or `serving_default`),
/// then exactly one of `instances` (row format) or `inputs` (columnar), named (an object per instance / a map
/// of inputs) or unnamed (single-input signatures). JSON values are read as each input's dtype; `{"b64": ...}`
/// gives a string input's bytes. When the model declares no inputs, names are taken as sent and dtypes from the
/// values (numbers as FP64). Every tensor's shape is charged to one budget of `limits` before its buffer is
/// reserved.
pub fn decode_predict(
    body: &[u8],
    signature: &[TensorSpec],
    limits: &RequestLimits,
) -> Result<PredictBody, RequestError> {
    let budget = &mut limits.budget();
    let root = json::parse(body)?;
    let Json::Obj(members) = &root else {
        return Err(invalid("Request body must be a JSON object."));
    };
    let mut instances = None;
    let mut inputs = None;
    for (key, value) in members {
        match key.as_ref() {
            "signature_name" => match value {
                Json::Str(s) => check_signature_name(s)?,
                _ => return Err(invalid("'signature_name' key must be a string value.")),
            },
            "instances" => instances = Some(value),
            "inputs" => inputs = Some(value),
            _ => {}
        }
    }
    match (instances, inputs) {
        (Some(_), Some(_)) => Err(invalid(
            "Not formatted correctly expecting only one of 'inputs' or 'instances' keys exists",
        )),
        (None, None) => Err(invalid("Missing 'inputs' or 'instances' key")),
        (Some(rows), None) => Ok(PredictBody {
            format: Format::Row,
            inputs: decode_rows(rows, signature, budget)?,
        }),
        (None, Some(columns)) => Ok(PredictBody {
            format: Format::Columnar,
            inputs: decode_columns(columns, signature, budget)?,
        }),
    }
}

/// Whether a value is the named form (an object that is not a `{"b64": ...}` value).
fn is_named(value: &Json<'_>) -> bool {
    matches!(value, Json::Obj(_)) && value.as_b64().is_none()
}

fn names(signature: &[TensorSpec]) -> String {
    signature
        .iter()
        .map(|s| s.name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

pub(crate) fn decode_rows(
    rows: &Json<'_>,
    signature: &[TensorSpec],
    budget: &mut Budget,
) -> Result<Vec<NamedTensor>, RequestError> {
    let items = match rows {
        Json::Arr(items) if !items.is_empty() => items,
        _ => return Err(invalid("'instances' must be a non-empty JSON array")),
    };
    if !is_named(&items[0]) {
        let spec = single_input(signature, "instances")?;
        let name = spec.map_or("inputs", |s| s.name.as_str());
        let tensor = to_tensor(rows, name, spec, budget)?;
        return Ok(vec![NamedTensor::new(name, tensor)]);
    }
    // One object per instance, each with exactly the signature's inputs.
    let keys: Vec<String> = if signature.is_empty() {
        match &items[0] {
            Json::Obj(members) => members.iter().map(|(k, _)| k.to_string()).collect(),
            _ => Vec::new(),
        }
    } else {
        signature.iter().map(|s| s.name.clone()).collect()
    };
    for (i, item) in items.iter().enumerate() {
        let Json::Obj(members) = item else {
            return Err(invalid(format!(
                "Expecting object but got {} at item {i} of input list",
                item.type_name()
            )));
        };
        if let Some((extra, _)) = members.iter().find(|(k, _)| !keys.iter().any(|n| n == k)) {
            return Err(invalid(format!(
                "instance {i} has an input `{extra}` that is not in the signature; the inputs are: {}",
                keys.join(", ")
            )));
        }
        if let Some(missing) = keys.iter().find(|n| item.get(n).is_none()) {
            return Err(invalid(format!(
                "Failed to process element: {i} key: {missing} of 'instances' list. Error: missing input `{missing}`"
            )));
        }
    }
    keys.iter()
        .map(|name| {
            let spec = signature.iter().find(|s| &s.name == name);
            let column: Vec<&Json<'_>> = items.iter().filter_map(|item| item.get(name)).collect();
            let tensor = stack(&column, name, spec, budget)?;
            Ok(NamedTensor::new(name.clone(), tensor))
        })
        .collect()
}

fn decode_columns(
    columns: &Json<'_>,
    signature: &[TensorSpec],
    budget: &mut Budget,
) -> Result<Vec<NamedTensor>, RequestError> {
    if !is_named(columns) {
        let spec = single_input(signature, "inputs")?;
        let name = spec.map_or("inputs", |s| s.name.as_str());
        return Ok(vec![NamedTensor::new(
            name,
            to_tensor(columns, name, spec, budget)?,
        )]);
    }
    let Json::Obj(members) = columns else {
        return Err(invalid("'inputs' must be an object or a tensor"));
    };
    if signature.is_empty() {
        return members
            .iter()
            .map(|(name, value)| {
                Ok(NamedTensor::new(
                    name.as_ref(),
                    to_tensor(value, name, None, budget)?,
                ))
            })
            .collect();
    }
    if let Some((extra, _)) = members
        .iter()
        .find(|(k, _)| !signature.iter().any(|s| &s.name == k))
    {
        return Err(invalid(format!(
            "'inputs' has an input `{extra}` that is not in the signature; the inputs are: {}",
            names(signature)
        )));
    }
    signature
        .iter()
        .map(|spec| {
            let value = columns.get(&spec.name).ok_or_else(|| {
                invalid(format!(
                    "Missing named input: {} in 'inputs' object.",
                    spec.name
                ))
            })?;
            Ok(NamedTensor::new(
                spec.name.clone(),
                to_tensor(value, &spec.name, Some(spec), budget)?,
            ))
        })
        .collect()
}

/// The signature's only input, for the unnamed forms (`None` when the model declares no inputs).
fn single_input<'s>(
    signature: &'s [TensorSpec],
    key: &str,
) -> Result<Option<&'s TensorSpec>, RequestError> {
    match signature {
        [] => Ok(None),
        [one] => Ok(Some(one)),
        _ => Err(invalid(format!(
            "The signature has {} inputs ({}): '{key}' must name them (an object{})",
            signature.len(),
            names(signature),
            if key == "instances" {
                " per instance"
            } else {
                " of inputs"
            }
        ))),
    }
}

/// The shape of a value: the lengths along its first elements.
fn shape_of(value: &Json<'_>) -> Vec<usize> {
    let mut shape = Vec::new();
    let mut v = value;
    while let Json::Arr(items) = v {
        shape.push(items.len());
        match items.first() {
            Some(first) => v = first,
            None => break,
        }
    }
    shape
}

/// One whole tensor value.
fn to_tensor(
    value: &Json<'_>,
    name: &str,
    spec: Option<&TensorSpec>,
    budget: &mut Budget,
) -> Result<Tensor, RequestError> {
    stack_with(&[value], name, spec, false, budget)
}

/// One value per row, stacked along a new first dimension.
fn stack(
    values: &[&Json<'_>],
    name: &str,
    spec: Option<&TensorSpec>,
    budget: &mut Budget,
) -> Result<Tensor, RequestError> {
    stack_with(values, name, spec, true, budget)
}

fn stack_with(
    values: &[&Json<'_>],
    name: &str,
    spec: Option<&TensorSpec>,
    batched: bool,
    budget: &mut Budget,
) -> Result<Tensor, RequestError> {
    let Some(first) = values.first() else {
        return Err(invalid(format!("input `{name}` has no values")));
    };
    let inner = shape_of(first);
    let dtype = match spec {
        Some(s) => s.datatype,
        None => infer_dtype(first),
    };
    let mut shape = Vec::with_capacity(inner.len() + 1);
    if batched {
        shape.push(values.len());
    }
    shape.extend_from_slice(&inner);
    let count = budget
        .shape(&shape)
        .map_err(|e| invalid(format!("input `{name}`: {e}")))?;
    let mut buf = Buf::with_capacity(dtype, count);
    for v in values {
        fill(v, &inner, 0, &mut buf, name)?;
    }
    if let Some(spec) = spec {
        check_shape(&shape, spec)?;
    }
    Tensor::new(shape, buf.into_data()).map_err(|e| invalid(format!("input `{name}`: {e}")))
}

/// A tensor's shape against the signature's: same rank, same fixed dimensions (`-1` is any size). A
/// signature without a shape accepts any.
pub(crate) fn check_shape(shape: &[usize], spec: &TensorSpec) -> Result<(), RequestError> {
    if spec.shape.is_empty() {
        return Ok(());
    }
    let fits = shape.len() == spec.shape.len()
        && shape
            .iter()
            .zip(&spec.shape)
            .all(|(&got, &want)| want < 0 || usize::try_from(want).is_ok_and(|w| w == got));
    if fits {
        Ok(())
    } else {
        Err(invalid(format!(
            "input `{}` has shape {shape:?}, but the signature expects {:?} (-1 is any size)",
            spec.name, spec.shape
        )))
    }
}

fn infer_dtype(value: &Json<'_>) -> DataType {
    let mut v = value;
    while let Json::Arr(items) = v {
        match items.first() {
            Some(first) => v = first,
            None => return DataType::F64,
        }
    }
    match v {
        Json::Bool(_) => DataType::Bool,
        Json::Str(_) | Json::Obj(_) => DataType::Bytes,
        _ => DataType::F64,
    }
}

fn fill(
    value: &Json<'_>,
    shape: &[usize],
    depth: usize,
    buf: &mut Buf,
    name: &str,
) -> Result<(), RequestError> {
    if depth == shape.len() {
        if let Json::Arr(_) = value {
            return Err(invalid(format!(
                "input `{name}` is not rectangular: a list stands where a value was expected at depth {depth}"
            )));
        }
        return buf.push(value, name);
    }
    match value {
        Json::Arr(items) if items.len() == shape[depth] => {
            for item in items {
                fill(item, shape, depth + 1, buf, name)?;
            }
            Ok(())
        }
        Json::Arr(items) => Err(invalid(format!(
            "input `{name}` is not rectangular: a list at depth {depth} has {} elements, expected {}",
            items.len(),
            shape[depth]
        ))),
        other => Err(invalid(format!(
            "input `{name}` is not rectangular: {} stands where a list of {} was expected at depth {depth}",
            other.describe(),
            shape[depth]
        ))),
    }
}

/// A typed buffer being filled from JSON values.
enum Buf {
    Bool(Vec<bool>),
    U8(Vec<u8>),
    I32(Vec<i32>),
    I64(Vec<i64>),
    F32(Vec<f32>),
    F64(Vec<f64>),
    Bytes(Vec<Vec<u8>>),
}

fn not_expected(value: &Json<'_>, dtype: DataType, name: &str) -> RequestError {
    invalid(format!(
        "JSON Value: {} Type: {} is not of expected type: {} (input `{name}`)",
        value.describe(),
        value.type_name(),
        tf_dtype_short(dtype)
    ))
}

impl Buf {
    fn with_capacity(dtype: DataType, n: usize) -> Self {
        // The shape comes from the first element's path only (the rest is checked while filling), so reserve at
        // most 2^16 elements up front and let a real large tensor grow.
        let n = n.min(1 << 16);
        match dtype {
            DataType::Bool => Buf::Bool(Vec::with_capacity(n)),
            DataType::U8 => Buf::U8(Vec::with_capacity(n)),
            DataType::I32 => Buf::I32(Vec::with_capacity(n)),
            DataType::I64 => Buf::I64(Vec::with_capacity(n)),
            DataType::F32 => Buf::F32(Vec::with_capacity(n)),
            DataType::F64 => Buf::F64(Vec::with_capacity(n)),
            DataType::Bytes => Buf::Bytes(Vec::with_capacity(n)),
        }
    }

    fn dtype(&self) -> DataType {
        match self {
            Buf::Bool(_) => DataType::Bool,
            Buf::U8(_) => DataType::U8,
            Buf::I32(_) => DataType::I32,
            Buf::I64(_) => DataType::I64,
            Buf::F32(_) => DataType::F32,
            Buf::F64(_) => DataType::F64,
            Buf::Bytes(_) => DataType::Bytes,
        }
    }

    fn push(&mut self, value: &Json<'_>, name: &str) -> Result<(), RequestError> {
        let float = || match value {
            Json::Num(text) => text.parse::<f64>().ok(),
            Json::NonFinite(f) => Some(*f),
            _ => None,
        };
        let int = || match value {
            Json::Num(text) => text.parse::<i64>().ok(),
            _ => None,
        };
        let dtype = self.dtype();
        let bad = || not_expected(value, dtype, name);
        match self {
            Buf::F32(v) => v.push(float().ok_or_else(bad)? as f32),
            Buf::F64(v) => v.push(float().ok_or_else(bad)?),
            Buf::I64(v) => v.push(int().ok_or_else(bad)?),
            Buf::I32(v) => v.push(int().and_then(|x| i32::try_from(x).ok()).ok_or_else(bad)?),
            Buf::U8(v) => v.push(int().and_then(|x| u8::try_from(x).ok()).ok_or_else(bad)?),
            Buf::Bool(v) => match value {
                Json::Bool(b) => v.push(*b),
                _ => return Err(bad()),
            },
            Buf::Bytes(v) => match value {
                Json::Str(s) => v.push(s.as_bytes().to_vec()),
                _ => {
                    let b64 = value.as_b64().ok_or_else(bad)?;
                    v.push(decode_b64(b64).ok_or_else(|| {
                        invalid(format!("Unable to base64 decode {b64:?} of input `{name}`"))
                    })?);
                }
            },
        }
        Ok(())
    }

    fn into_data(self) -> TensorData {
        match self {
            Buf::Bool(v) => TensorData::Bool(v),
            Buf::U8(v) => TensorData::U8(v),
            Buf::I32(v) => TensorData::I32(v),
            Buf::I64(v) => TensorData::I64(v),
            Buf::F32(v) => TensorData::F32(v),
            Buf::F64(v) => TensorData::F64(v),
            Buf::Bytes(v) => TensorData::Bytes(v),
        }
    }
}

/// Standard or URL-safe base64, padded or not (clients differ).
fn decode_b64(text: &str) -> Option<Vec<u8>> {
    use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
    [STANDARD, URL_SAFE, STANDARD_NO_PAD, URL_SAFE_NO_PAD]
        .iter()
        .find_map(|engine| engine.decode(text).ok())
}

/// Writes a predict reply: `{"predictions": ...}` for a row request (a list of rows; with several outputs, a
/// list of objects keyed by output name), `{"outputs": ...}` for a columnar one (the tensor; with several
/// outputs, an object keyed by output name). Several outputs are written sorted by name. A row reply needs
/// every output to have the same first dimension.
pub fn encode_predict(format: Format, outputs: &[NamedTensor]) -> Result<Vec<u8>, RequestError> {
    let mut sorted: Vec<&NamedTensor> = outputs.iter().collect();
    sorted.sort_by(|a, b| a.name.cmp(&b.name));
    let bytes: usize = outputs.iter().map(|o| o.tensor.len() * 12).sum();
    let mut out = Vec::with_capacity(bytes + 32);
    match format {
        Format::Columnar => {
            out.extend_from_slice(b"{\"outputs\":");
            match sorted.as_slice() {
                [one] => write_nested(&mut out, one, one.tensor.shape(), 0, Floats::TfServing),
                many => {
                    out.push(b'{');
                    for (i, o) in many.iter().enumerate() {
                        if i > 0 {
                            out.push(b',');
                        }
                        write_str(&mut out, &o.name);
                        out.push(b':');
                        write_nested(&mut out, o, o.tensor.shape(), 0, Floats::TfServing);
                    }
                    out.push(b'}');
                }
            }
            out.push(b'}');
        }
        Format::Row => {
            out.extend_from_slice(b"{\"predictions\":");
            write_rows(&mut out, &sorted, Floats::TfServing)?;
            out.push(b'}');
        }
    }
    Ok(out)
}

/// How a reply prints floating-point values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Floats {
    /// TF Serving's `%.6g` / `%.17g` ([`write_float`]), bare `NaN` and `Infinity`.
    TfServing,
    /// The shortest text that reads back as the same double, a float widened to a double first, and `null` for
    /// NaN and the infinities: what KServe's Python servers send (`ndarray.tolist()` written by orjson).
    Shortest,
}

/// Writes the row form of `outputs`: a list with one entry per row of the batch, the row of the one output
/// or, with several, an object keyed by output name. Every output needs the same first dimension.
pub(crate) fn write_rows(
    out: &mut Vec<u8>,
    outputs: &[&NamedTensor],
    floats: Floats,
) -> Result<(), RequestError> {
    let rows = batch_size(outputs)?;
    out.push(b'[');
    for row in 0..rows {
        if row > 0 {
            out.push(b',');
        }
        match outputs {
            [one] => write_row(out, one, row, floats),
            many => {
                out.push(b'{');
                for (i, o) in many.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    write_str(out, &o.name);
                    out.push(b':');
                    write_row(out, o, row, floats);
                }
                out.push(b'}');
            }
        }
    }
    out.push(b']');
    Ok(())
}

/// The batch size every output shares (a row reply's length).
fn batch_size(outputs: &[&NamedTensor]) -> Result<usize, RequestError> {
    let mut size = None;
    for o in outputs {
        let Some(&first) = o.tensor.shape().first() else {
            return Err(invalid(format!(
                "Tensor name: {} has no shape information; a 0-rank output cannot be written in the row format ('instances'); use 'inputs'",
                o.name
            )));
        };
        match size {
            None => size = Some(first),
            Some(s) if s != first => {
                return Err(invalid(format!(
                    "Tensor name: {} has inconsistent batch size: {first} expecting: {s}",
                    o.name
                )));
            }
            Some(_) => {}
        }
    }
    Ok(size.unwrap_or(0))
}

/// Row `row` of an output: its slice along the first dimension.
fn write_row(out: &mut Vec<u8>, output: &NamedTensor, row: usize, floats: Floats) {
    let shape = output.tensor.shape();
    let stride: usize = shape[1..].iter().product();
    write_nested(out, output, &shape[1..], row * stride, floats);
}

/// Writes the elements from `start` in `shape` as nested lists (a scalar for an empty shape).
pub(crate) fn write_nested(
    out: &mut Vec<u8>,
    output: &NamedTensor,
    shape: &[usize],
    start: usize,
    floats: Floats,
) {
    crate::nested::write_nested(out, shape, start, &mut |out, i| {
        write_element(out, output, i, floats)
    });
}

fn write_element(out: &mut Vec<u8>, output: &NamedTensor, i: usize, floats: Floats) {
    // `i` is within the tensor: the shape's product is the buffer's length (Tensor's invariant).
    match (output.tensor.data(), floats) {
        (TensorData::F32(v), Floats::TfServing) => write_float32(out, v[i]),
        (TensorData::F64(v), Floats::TfServing) => write_float(out, v[i]),
        (TensorData::F32(v), Floats::Shortest) => write_shortest(out, f64::from(v[i])),
        (TensorData::F64(v), Floats::Shortest) => write_shortest(out, v[i]),
        (TensorData::I64(v), _) => write_integer(out, v[i]),
        (TensorData::I32(v), _) => write_integer(out, v[i]),
        (TensorData::U8(v), _) => write_integer(out, v[i]),
        (TensorData::Bool(v), _) => out.extend_from_slice(if v[i] { b"true" } else { b"false" }),
        (TensorData::Bytes(v), _) => {
            // TF Serving writes a string output whose alias ends in `_bytes` as base64; oxserve also does so
            // for bytes that are not UTF-8, which a JSON string cannot hold.
            match std::str::from_utf8(&v[i]) {
                Ok(s) if !output.name.ends_with("_bytes") => write_str(out, s),
                _ => {
                    out.extend_from_slice(b"{\"b64\":\"");
                    out.extend_from_slice(
                        base64::engine::general_purpose::STANDARD
                            .encode(&v[i])
                            .as_bytes(),
                    );
                    out.extend_from_slice(b"\"}");
                }
            }
        }
    }
}

fn write_integer(out: &mut Vec<u8>, v: impl itoa::Integer) {
    out.extend_from_slice(itoa::Buffer::new().format(v).as_bytes());
}

/// A double as its shortest round-trip text (`0.1`, `1.0`, `1e-7`), `null` when not finite (orjson's forms).
fn write_shortest(out: &mut Vec<u8>, v: f64) {
    if v.is_finite() {
        out.extend_from_slice(ryu::Buffer::new().format_finite(v).as_bytes());
    } else {
        out.extend_from_slice(b"null");
    }
}

fn write_str(out: &mut Vec<u8>, s: &str) {
    // Writing a &str into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, s);
}

/// `GET /v1/models/{name}`: one version, available.
pub fn status_json(version: i64) -> Value {
    json!({
        "model_version_status": [{
            "version": version.to_string(),
            "state": "AVAILABLE",
            "status": { "error_code": "OK", "error_message": "" },
        }]
    })
}

/// `GET /v1/models/{name}/metadata`: the model's signature as `serving_default`, printed as TF Serving prints
/// a `SignatureDefMap` (original field names, int64 sizes as strings, `-1` for any size).
pub fn metadata_json(name: &str, version: i64, metadata: &ModelMetadata) -> Value {
    let infos = |specs: &[TensorSpec]| -> Value {
        let map: serde_json::Map<String, Value> = specs
            .iter()
            .map(|s| {
                let dims: Vec<Value> = s
                    .shape
                    .iter()
                    .map(|d| json!({ "size": d.to_string(), "name": "" }))
                    .collect();
                (
                    s.name.clone(),
                    json!({
                        "dtype": tf_dtype(s.datatype).as_str_name(),
                        "tensor_shape": { "dim": dims, "unknown_rank": false },
                        "name": s.name,
                    }),
                )
            })
            .collect();
        Value::Object(map)
    };
    json!({
        "model_spec": { "name": name, "signature_name": "", "version": version.to_string() },
        "metadata": { "signature_def": { "signature_def": { DEFAULT_SIGNATURE: {
            "inputs": infos(&metadata.inputs),
            "outputs": infos(&metadata.outputs),
            "method_name": PREDICT_METHOD,
            "defaults": {},
        }}}}
    })
}

/// TF Serving's error body: `{"error": "<message>"}`.
pub fn error_body(message: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(message.len() + 16);
    out.extend_from_slice(b"{\"error\":");
    write_str(&mut out, message);
    out.push(b'}');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(name: &str, dtype: DataType, shape: &[i64]) -> TensorSpec {
        TensorSpec::new(name, dtype, shape.to_vec())
    }

    #[test]
    fn rows_stack_and_columns_keep_their_shape() {
        let sig = [spec("x", DataType::F32, &[-1, 2])];
        let body = decode_predict(
            br#"{"instances": [[1, 2], [3, 4.5]]}"#,
            &sig,
            &RequestLimits::default(),
        )
        .unwrap();
        assert_eq!(body.format, Format::Row);
        assert_eq!(body.inputs[0].tensor.shape(), &[2, 2]);
        assert_eq!(
            body.inputs[0].tensor.data(),
            &TensorData::F32(vec![1.0, 2.0, 3.0, 4.5])
        );
        let body = decode_predict(
            br#"{"inputs": {"x": [[1, 2]]}}"#,
            &sig,
            &RequestLimits::default(),
        )
        .unwrap();
        assert_eq!(body.format, Format::Columnar);
        assert_eq!(body.inputs[0].tensor.shape(), &[1, 2]);
        let err = decode_predict(
            br#"{"instances": [[1, 2], [3]]}"#,
            &sig,
            &RequestLimits::default(),
        )
        .unwrap_err();
        assert!(err.to_string().contains("not rectangular"), "{err}");
    }

    #[test]
    fn row_reply_slices_every_output() {
        let a = NamedTensor::new(
            "a",
            Tensor::new(vec![2, 2], TensorData::F32(vec![1.0, 2.0, 3.0, 4.0])).unwrap(),
        );
        let b = NamedTensor::new(
            "b",
            Tensor::new(vec![2], TensorData::I64(vec![7, 8])).unwrap(),
        );
        let out = encode_predict(Format::Row, &[b.clone(), a.clone()]).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            r#"{"predictions":[{"a":[1.0,2.0],"b":7},{"a":[3.0,4.0],"b":8}]}"#
        );
        let out = encode_predict(Format::Columnar, &[a]).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            r#"{"outputs":[[1.0,2.0],[3.0,4.0]]}"#
        );
    }
}
