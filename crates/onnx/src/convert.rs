//! Request tensors to ONNX Runtime values of each graph input's element type, and output values back.

use ort::value::{DynValue, Tensor as OrtTensor, TensorElementType};
use oxserve_core::{DataType, ModelError, Tensor, TensorData};

/// The element types this crate passes in and out, and the core type each one shows as in metadata.
pub(crate) fn core_type(ty: TensorElementType) -> Option<DataType> {
    Some(match ty {
        TensorElementType::Float32 => DataType::F32,
        TensorElementType::Float64 => DataType::F64,
        TensorElementType::Int8 | TensorElementType::Int16 | TensorElementType::Uint16 => {
            DataType::I32
        }
        TensorElementType::Int32 => DataType::I32,
        TensorElementType::Int64 | TensorElementType::Uint32 | TensorElementType::Uint64 => {
            DataType::I64
        }
        TensorElementType::Uint8 => DataType::U8,
        TensorElementType::Bool => DataType::Bool,
        TensorElementType::String => DataType::Bytes,
        _ => return None,
    })
}

fn bad(name: &str, what: impl std::fmt::Display) -> ModelError {
    ModelError::BadInput(format!("input `{name}`: {what}"))
}

/// A number an integer input can take: integral and within `T`'s range.
fn int_from_f64<T: TryFrom<i64>>(name: &str, target: &str, v: f64) -> Result<T, ModelError> {
    // 2^63 is exactly representable; i64's range is [-2^63, 2^63).
    if v.is_finite()
        && v.fract() == 0.0
        && (-9.223_372_036_854_776e18..9.223_372_036_854_776e18).contains(&v)
    {
        // The range check above makes this cast exact.
        #[allow(clippy::cast_possible_truncation)]
        let i = v as i64;
        T::try_from(i).map_err(|_| bad(name, format!("{v} does not fit {target}")))
    } else {
        Err(bad(name, format!("{v} is not a {target} value")))
    }
}

fn int_from_i64<T: TryFrom<i64>>(name: &str, target: &str, v: i64) -> Result<T, ModelError> {
    T::try_from(v).map_err(|_| bad(name, format!("{v} does not fit {target}")))
}

fn ints<T: TryFrom<i64> + Copy>(
    name: &str,
    target: &str,
    data: TensorData,
) -> Result<Vec<T>, ModelError> {
    match data {
        TensorData::I64(v) => v
            .into_iter()
            .map(|x| int_from_i64(name, target, x))
            .collect(),
        TensorData::I32(v) => v
            .into_iter()
            .map(|x| int_from_i64(name, target, i64::from(x)))
            .collect(),
        TensorData::U8(v) => v
            .into_iter()
            .map(|x| int_from_i64(name, target, i64::from(x)))
            .collect(),
        TensorData::F64(v) => v
            .into_iter()
            .map(|x| int_from_f64(name, target, x))
            .collect(),
        TensorData::F32(v) => v
            .into_iter()
            .map(|x| int_from_f64(name, target, f64::from(x)))
            .collect(),
        other => Err(cannot(name, other.dtype(), target)),
    }
}

fn cannot(name: &str, from: DataType, target: &str) -> ModelError {
    bad(
        name,
        format!("{from} data cannot be converted to the model's {target}"),
    )
}

// Floats: any number converts (as numpy's astype does); NaN and infinities pass through.
#[allow(clippy::cast_possible_truncation, clippy::cast_precision_loss)]
fn f32s(name: &str, data: TensorData) -> Result<Vec<f32>, ModelError> {
    Ok(match data {
        TensorData::F32(v) => v,
        TensorData::F64(v) => v.into_iter().map(|x| x as f32).collect(),
        TensorData::I64(v) => v.into_iter().map(|x| x as f32).collect(),
        TensorData::I32(v) => v.into_iter().map(|x| x as f32).collect(),
        TensorData::U8(v) => v.into_iter().map(f32::from).collect(),
        other => return Err(cannot(name, other.dtype(), "float32")),
    })
}

#[allow(clippy::cast_precision_loss)]
fn f64s(name: &str, data: TensorData) -> Result<Vec<f64>, ModelError> {
    Ok(match data {
        TensorData::F64(v) => v,
        TensorData::F32(v) => v.into_iter().map(f64::from).collect(),
        TensorData::I64(v) => v.into_iter().map(|x| x as f64).collect(),
        TensorData::I32(v) => v.into_iter().map(f64::from).collect(),
        TensorData::U8(v) => v.into_iter().map(f64::from).collect(),
        other => return Err(cannot(name, other.dtype(), "float64")),
    })
}

fn bools(name: &str, data: TensorData) -> Result<Vec<bool>, ModelError> {
    fn one(name: &str, x: f64) -> Result<bool, ModelError> {
        if x == 0.0 {
            Ok(false)
        } else if x == 1.0 {
            Ok(true)
        } else {
            Err(bad(name, format!("{x} is not a boolean (0 or 1)")))
        }
    }
    match data {
        TensorData::Bool(v) => Ok(v),
        TensorData::U8(v) => v.into_iter().map(|x| one(name, f64::from(x))).collect(),
        TensorData::I32(v) => v.into_iter().map(|x| one(name, f64::from(x))).collect(),
        TensorData::I64(v) => v
            .into_iter()
            .map(|x| {
                one(
                    name,
                    if x == 0 {
                        0.0
                    } else if x == 1 {
                        1.0
                    } else {
                        2.0
                    },
                )
            })
            .collect(),
        TensorData::F64(v) => v.into_iter().map(|x| one(name, x)).collect(),
        TensorData::F32(v) => v.into_iter().map(|x| one(name, f64::from(x))).collect(),
        other => Err(cannot(name, other.dtype(), "bool")),
    }
}

fn strings(name: &str, data: TensorData) -> Result<Vec<String>, ModelError> {
    match data {
        TensorData::Bytes(v) => v
            .into_iter()
            .map(|b| {
                String::from_utf8(b).map_err(|_| bad(name, "a string element is not valid UTF-8"))
            })
            .collect(),
        other => Err(cannot(name, other.dtype(), "string")),
    }
}

fn ort_err(name: &str, err: ort::Error) -> ModelError {
    ModelError::Internal(format!("input `{name}`: {err}"))
}

/// Builds the ONNX Runtime value for input `name` of element type `ty` from a request tensor whose shape has
/// already been checked against the signature.
pub(crate) fn to_value(
    name: &str,
    ty: TensorElementType,
    tensor: Tensor,
) -> Result<DynValue, ModelError> {
    let (shape, data) = tensor.into_parts();
    let shape: Vec<i64> = shape
        .into_iter()
        .map(|d| i64::try_from(d).map_err(|_| bad(name, "dimension too large")))
        .collect::<Result<_, _>>()?;
    macro_rules! num {
        ($vec:expr) => {
            OrtTensor::from_array((shape, $vec))
                .map(|t| t.into_dyn())
                .map_err(|e| ort_err(name, e))
        };
    }
    match ty {
        TensorElementType::Float32 => num!(f32s(name, data)?),
        TensorElementType::Float64 => num!(f64s(name, data)?),
        TensorElementType::Int64 => num!(ints::<i64>(name, "int64", data)?),
        TensorElementType::Int32 => num!(ints::<i32>(name, "int32", data)?),
        TensorElementType::Int16 => num!(ints::<i16>(name, "int16", data)?),
        TensorElementType::Int8 => num!(ints::<i8>(name, "int8", data)?),
        TensorElementType::Uint8 => num!(ints::<u8>(name, "uint8", data)?),
        TensorElementType::Uint16 => num!(ints::<u16>(name, "uint16", data)?),
        TensorElementType::Uint32 => num!(ints::<u32>(name, "uint32", data)?),
        TensorElementType::Uint64 => num!(ints::<u64>(name, "uint64", data)?),
        TensorElementType::Bool => num!(bools(name, data)?),
        TensorElementType::String => {
            let values = strings(name, data)?;
            OrtTensor::from_string_array((shape, values.as_slice()))
                .map(|t| t.into_dyn())
                .map_err(|e| ort_err(name, e))
        }
        other => Err(ModelError::Internal(format!(
            "input `{name}` has the unsupported element type {other:?}"
        ))),
    }
}

/// Copies an output value into a core [`Tensor`].
pub(crate) fn from_value(name: &str, value: &DynValue) -> Result<Tensor, ModelError> {
    let internal = |e: ort::Error| ModelError::Internal(format!("output `{name}`: {e}"));
    macro_rules! copy {
        ($t:ty, $variant:ident, $map:expr) => {{
            let (shape, data) = value.try_extract_tensor::<$t>().map_err(internal)?;
            let data = data
                .iter()
                .copied()
                .map($map)
                .collect::<Result<Vec<_>, ModelError>>()?;
            (shape.to_vec(), TensorData::$variant(data))
        }};
    }
    let too_big = |v: u64| {
        i64::try_from(v)
            .map_err(|_| ModelError::Internal(format!("output `{name}`: {v} does not fit int64")))
    };
    let ty = value
        .dtype()
        .tensor_type()
        .ok_or_else(|| ModelError::Internal(format!("output `{name}` is not a tensor")))?;
    let (shape, data) = match ty {
        TensorElementType::Float32 => {
            let (shape, data) = value.try_extract_tensor::<f32>().map_err(internal)?;
            (shape.to_vec(), TensorData::F32(data.to_vec()))
        }
        TensorElementType::Float64 => {
            let (shape, data) = value.try_extract_tensor::<f64>().map_err(internal)?;
            (shape.to_vec(), TensorData::F64(data.to_vec()))
        }
        TensorElementType::Int64 => {
            let (shape, data) = value.try_extract_tensor::<i64>().map_err(internal)?;
            (shape.to_vec(), TensorData::I64(data.to_vec()))
        }
        TensorElementType::Int32 => {
            let (shape, data) = value.try_extract_tensor::<i32>().map_err(internal)?;
            (shape.to_vec(), TensorData::I32(data.to_vec()))
        }
        TensorElementType::Uint8 => {
            let (shape, data) = value.try_extract_tensor::<u8>().map_err(internal)?;
            (shape.to_vec(), TensorData::U8(data.to_vec()))
        }
        TensorElementType::Bool => {
            let (shape, data) = value.try_extract_tensor::<bool>().map_err(internal)?;
            (shape.to_vec(), TensorData::Bool(data.to_vec()))
        }
        TensorElementType::Int8 => copy!(i8, I32, |x| Ok(i32::from(x))),
        TensorElementType::Int16 => copy!(i16, I32, |x| Ok(i32::from(x))),
        TensorElementType::Uint16 => copy!(u16, I32, |x| Ok(i32::from(x))),
        TensorElementType::Uint32 => copy!(u32, I64, |x| Ok(i64::from(x))),
        TensorElementType::Uint64 => copy!(u64, I64, too_big),
        TensorElementType::String => {
            let (shape, data) = value.try_extract_strings().map_err(internal)?;
            (
                shape.to_vec(),
                TensorData::Bytes(data.into_iter().map(String::into_bytes).collect()),
            )
        }
        other => {
            return Err(ModelError::Internal(format!(
                "output `{name}` has the unsupported element type {other:?}"
            )));
        }
    };
    let shape = shape
        .into_iter()
        .map(|d| {
            usize::try_from(d).map_err(|_| {
                ModelError::Internal(format!("output `{name}` has a negative dimension"))
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    Tensor::new(shape, data).map_err(|e| ModelError::Internal(format!("output `{name}`: {e}")))
}
