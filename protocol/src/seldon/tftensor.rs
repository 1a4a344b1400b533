//! TensorFlow's `TensorProto` (Seldon's `tftensor`) to and from [`Tensor`], in protobuf and in proto3 JSON.

use base64::Engine as _;
use oxserve_core::{Tensor, TensorData};
use serde::ser::SerializeMap;
use serde::{Serialize, Serializer};

use crate::limits::Budget;
use crate::pb::tensorflow::{
    DataType as TfType, TensorProto, TensorShapeProto, tensor_shape_proto::Dim,
};

/// Converts a `TensorProto` into a tensor. Values come from `tensor_content` when present, else from the typed
/// `*_val` field; a single value with a larger shape is broadcast, as TensorFlow does. The declared shape is
/// charged to `budget` before anything is allocated, and a broadcast also to its expansion budget.
pub fn from_proto(proto: &TensorProto, budget: &mut Budget) -> Result<Tensor, String> {
    let dtype = TfType::try_from(proto.dtype)
        .map_err(|_| format!("unknown tftensor dtype {}", proto.dtype))?;
    let shape = proto
        .tensor_shape
        .as_ref()
        .map(|s| {
            s.dim
                .iter()
                .map(|d| {
                    usize::try_from(d.size)
                        .map_err(|_| format!("tftensor dimension {} is negative", d.size))
                })
                .collect::<Result<Vec<_>, _>>()
        })
        .transpose()?
        .unwrap_or_default();
    let count = budget.shape(&shape).map_err(|e| e.to_string())?;
    let content = &proto.tensor_content;
    let data = if !content.is_empty() {
        let le = |size: usize| -> Result<std::slice::ChunksExact<'_, u8>, String> {
            if count.checked_mul(size) != Some(content.len()) {
                return Err(format!(
                    "tftensor tensor_content has {} bytes, shape {shape:?} needs {}",
                    content.len(),
                    count.saturating_mul(size)
                ));
            }
            Ok(content.chunks_exact(size))
        };
        match dtype {
            TfType::DtFloat => TensorData::F32(
                le(4)?
                    .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                    .collect(),
            ),
            TfType::DtDouble => TensorData::F64(
                le(8)?
                    .map(|c| f64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
                    .collect(),
            ),
            TfType::DtInt32 => TensorData::I32(
                le(4)?
                    .map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                    .collect(),
            ),
            TfType::DtInt64 => TensorData::I64(
                le(8)?
                    .map(|c| i64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
                    .collect(),
            ),
            TfType::DtUint8 => TensorData::U8(le(1)?.map(|c| c[0]).collect()),
            TfType::DtBool => TensorData::Bool(le(1)?.map(|c| c[0] != 0).collect()),
            other => {
                return Err(format!(
                    "tftensor dtype {} is not supported",
                    other.as_str_name()
                ));
            }
        }
    } else {
        match dtype {
            TfType::DtFloat => {
                TensorData::F32(broadcast(&proto.float_val, &shape, count, 4, budget)?)
            }
            TfType::DtDouble => {
                TensorData::F64(broadcast(&proto.double_val, &shape, count, 8, budget)?)
            }
            TfType::DtInt32 | TfType::DtInt16 | TfType::DtInt8 => {
                TensorData::I32(broadcast(&proto.int_val, &shape, count, 4, budget)?)
            }
            TfType::DtUint8 => {
                let v = broadcast(&proto.int_val, &shape, count, 4, budget)?;
                TensorData::U8(
                    v.into_iter()
                        .map(|x| u8::try_from(x).map_err(|_| format!("{x} is not a uint8")))
                        .collect::<Result<_, _>>()?,
                )
            }
            TfType::DtInt64 => {
                TensorData::I64(broadcast(&proto.int64_val, &shape, count, 8, budget)?)
            }
            TfType::DtBool => {
                TensorData::Bool(broadcast(&proto.bool_val, &shape, count, 1, budget)?)
            }
            TfType::DtString => {
                let each = std::mem::size_of::<Vec<u8>>()
                    .saturating_add(proto.string_val.first().map_or(0, Vec::len));
                TensorData::Bytes(broadcast(&proto.string_val, &shape, count, each, budget)?)
            }
            other => {
                return Err(format!(
                    "tftensor dtype {} is not supported",
                    other.as_str_name()
                ));
            }
        }
    };
    Tensor::new(shape, data).map_err(|e| format!("tftensor: {e}"))
}

/// The values for a shape of `count` elements: as sent, or one value repeated (charged to the budget's
/// expansion first, at `element_bytes` each).
fn broadcast<T: Clone>(
    values: &[T],
    shape: &[usize],
    count: usize,
    element_bytes: usize,
    budget: &mut Budget,
) -> Result<Vec<T>, String> {
    match values {
        [single] if count != 1 => {
            budget
                .expand(shape, count, element_bytes)
                .map_err(|e| e.to_string())?;
            Ok(vec![single.clone(); count])
        }
        _ if values.len() == count => Ok(values.to_vec()),
        _ => Err(format!(
            "tftensor has {} values, its shape needs {count}",
            values.len()
        )),
    }
}

/// A known-rank `TensorShapeProto` of the given sizes (TensorFlow's `-1` is an unknown size).
pub fn shape_proto(dims: &[i64]) -> TensorShapeProto {
    TensorShapeProto {
        dim: dims
            .iter()
            .map(|&size| Dim {
                size,
                name: String::new(),
            })
            .collect(),
        unknown_rank: false,
    }
}

/// A `TensorProto` of `dtype` and shape `dims` with no values yet (set the typed `*_val` field or
/// `tensor_content`).
pub fn empty_proto(dtype: TfType, dims: &[i64]) -> TensorProto {
    TensorProto {
        dtype: dtype as i32,
        tensor_shape: Some(shape_proto(dims)),
        ..TensorProto::default()
    }
}

/// Converts a tensor into a `TensorProto` with typed value fields.
pub fn to_proto(tensor: &Tensor) -> TensorProto {
    let mut proto = TensorProto {
        tensor_shape: Some(TensorShapeProto {
            dim: tensor
                .shape()
                .iter()
                .map(|&d| Dim {
                    size: i64::try_from(d).unwrap_or(i64::MAX),
                    name: String::new(),
                })
                .collect(),
            unknown_rank: false,
        }),
        ..TensorProto::default()
    };
    let dtype = match tensor.data() {
        TensorData::F32(v) => {
            proto.float_val = v.clone();
            TfType::DtFloat
        }
        TensorData::F64(v) => {
            proto.double_val = v.clone();
            TfType::DtDouble
        }
        TensorData::I32(v) => {
            proto.int_val = v.clone();
            TfType::DtInt32
        }
        TensorData::I64(v) => {
            proto.int64_val = v.clone();
            TfType::DtInt64
        }
        TensorData::U8(v) => {
            proto.int_val = v.iter().map(|&x| i32::from(x)).collect();
            TfType::DtUint8
        }
        TensorData::Bool(v) => {
            proto.bool_val = v.clone();
            TfType::DtBool
        }
        TensorData::Bytes(v) => {
            proto.string_val = v.clone();
            TfType::DtString
        }
    };
    proto.dtype = dtype as i32;
    proto
}

/// Reads the proto3 JSON form of a `TensorProto` (`{"dtype":"DT_DOUBLE","tensorShape":{"dim":[{"size":"2"}]},
/// "doubleVal":[…]}`) into a tensor, with the checks of [`from_proto`].
pub fn from_json(value: &serde_json::Value, budget: &mut Budget) -> Result<Tensor, String> {
    let obj = value.as_object().ok_or("tftensor must be an object")?;
    let mut proto = TensorProto::default();
    for (key, v) in obj {
        match key.as_str() {
            "dtype" => {
                proto.dtype = match v {
                    serde_json::Value::String(s) => TfType::from_str_name(s)
                        .ok_or_else(|| format!("unknown tftensor dtype {s}"))?
                        as i32,
                    other => other
                        .as_i64()
                        .and_then(|i| i32::try_from(i).ok())
                        .ok_or("tftensor dtype must be a name or a number")?,
                }
            }
            "tensorShape" | "tensor_shape" => {
                let mut shape = TensorShapeProto::default();
                if let Some(dims) = v.get("dim").and_then(|d| d.as_array()) {
                    for d in dims {
                        let size = match d.get("size") {
                            Some(serde_json::Value::String(s)) => s
                                .parse::<i64>()
                                .map_err(|_| format!("bad tftensor dim size {s}"))?,
                            Some(n) => n.as_i64().ok_or("bad tftensor dim size")?,
                            None => 0,
                        };
                        shape.dim.push(Dim {
                            size,
                            name: String::new(),
                        });
                    }
                }
                proto.tensor_shape = Some(shape);
            }
            "tensorContent" | "tensor_content" => {
                let s = v.as_str().ok_or("tensorContent must be base64")?;
                proto.tensor_content = base64::engine::general_purpose::STANDARD
                    .decode(s)
                    .map_err(|e| format!("tensorContent is not base64: {e}"))?;
            }
            "floatVal" | "float_val" => {
                proto.float_val = nums(v)?.into_iter().map(|x| x as f32).collect()
            }
            "doubleVal" | "double_val" => proto.double_val = nums(v)?,
            "intVal" | "int_val" => {
                proto.int_val = ints(v)?.into_iter().map(|x| x as i32).collect()
            }
            "int64Val" | "int64_val" => proto.int64_val = ints(v)?,
            "boolVal" | "bool_val" => {
                proto.bool_val = v
                    .as_array()
                    .ok_or("boolVal must be a list")?
                    .iter()
                    .map(|b| b.as_bool().ok_or("boolVal holds a non-boolean"))
                    .collect::<Result<_, _>>()?
            }
            "stringVal" | "string_val" => {
                proto.string_val = v
                    .as_array()
                    .ok_or("stringVal must be a list")?
                    .iter()
                    .map(|s| {
                        s.as_str()
                            .and_then(|s| base64::engine::general_purpose::STANDARD.decode(s).ok())
                            .ok_or("stringVal holds a non-base64 value")
                    })
                    .collect::<Result<_, _>>()?
            }
            "versionNumber" | "version_number" => {}
            other => return Err(format!("tftensor field {other} is not supported")),
        }
    }
    from_proto(&proto, budget)
}

fn nums(v: &serde_json::Value) -> Result<Vec<f64>, String> {
    v.as_array()
        .ok_or("a value list must be a list")?
        .iter()
        .map(|x| match x {
            serde_json::Value::String(s) if s == "NaN" => Ok(f64::NAN),
            serde_json::Value::String(s) if s == "Infinity" => Ok(f64::INFINITY),
            serde_json::Value::String(s) if s == "-Infinity" => Ok(f64::NEG_INFINITY),
            other => other
                .as_f64()
                .ok_or_else(|| format!("{other} is not a number")),
        })
        .collect()
}

fn ints(v: &serde_json::Value) -> Result<Vec<i64>, String> {
    v.as_array()
        .ok_or("a value list must be a list")?
        .iter()
        .map(|x| match x {
            serde_json::Value::String(s) => s
                .parse::<i64>()
                .map_err(|_| format!("{s} is not an integer")),
            other => other
                .as_i64()
                .ok_or_else(|| format!("{other} is not an integer")),
        })
        .collect()
}

/// Writes a tensor in the proto3 JSON form of a `TensorProto` (keys sorted).
#[derive(Debug, Clone, Copy)]
pub struct JsonRef<'a>(pub &'a Tensor);

impl Serialize for JsonRef<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let proto = to_proto(self.0);
        let dtype = TfType::try_from(proto.dtype).unwrap_or(TfType::DtInvalid);
        let mut map = serializer.serialize_map(None)?;
        if !proto.bool_val.is_empty() {
            map.serialize_entry("boolVal", &proto.bool_val)?;
        }
        if !proto.double_val.is_empty() {
            map.serialize_entry("doubleVal", &proto.double_val)?;
        }
        map.serialize_entry("dtype", dtype.as_str_name())?;
        if !proto.float_val.is_empty() {
            map.serialize_entry("floatVal", &proto.float_val)?;
        }
        if !proto.int64_val.is_empty() {
            let strings: Vec<String> = proto.int64_val.iter().map(i64::to_string).collect();
            map.serialize_entry("int64Val", &strings)?;
        }
        if !proto.int_val.is_empty() {
            map.serialize_entry("intVal", &proto.int_val)?;
        }
        if !proto.string_val.is_empty() {
            let strings: Vec<String> = proto
                .string_val
                .iter()
                .map(|b| base64::engine::general_purpose::STANDARD.encode(b))
                .collect();
            map.serialize_entry("stringVal", &strings)?;
        }
        let dims: Vec<serde_json::Value> = self
            .0
            .shape()
            .iter()
            .map(|d| serde_json::json!({ "size": d.to_string() }))
            .collect();
        map.serialize_entry("tensorShape", &serde_json::json!({ "dim": dims }))?;
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_round_trip() {
        let t = Tensor::new(vec![1, 2], TensorData::F64(vec![1.5, 2.0])).unwrap();
        let json = serde_json::to_value(JsonRef(&t)).unwrap();
        assert_eq!(json["dtype"], "DT_DOUBLE");
        assert_eq!(json["tensorShape"]["dim"][1]["size"], "2");
        assert_eq!(from_json(&json, &mut Budget::default()).unwrap(), t);
    }

    #[test]
    fn content_bytes_are_checked() {
        let mut p = to_proto(&Tensor::new(vec![2], TensorData::F32(vec![1.0, 2.0])).unwrap());
        p.float_val.clear();
        p.tensor_content = vec![0; 7];
        assert!(
            from_proto(&p, &mut Budget::default())
                .unwrap_err()
                .contains("7 bytes")
        );
        p.tensor_content = [1.0f32.to_le_bytes(), 2.0f32.to_le_bytes()].concat();
        assert_eq!(
            from_proto(&p, &mut Budget::default()).unwrap().data(),
            &TensorData::F32(vec![1.0, 2.0])
        );
    }
}
