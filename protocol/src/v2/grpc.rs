//! gRPC (`inference.GRPCInferenceService`): `ModelInferRequest` → [`DecodedInfer`], outputs →
//! `ModelInferResponse`, metadata, and `InferParameter` ↔ JSON.

use std::collections::HashMap;

use oxserve_core::{ModelMetadata, NamedTensor, PredictRequest, TensorData, TensorSpec};
use serde_json::{Map, Value};

use super::binary::{decode_blob, encode_blob};
use super::rest::build_tensor;
use super::{DecodedInfer, InputInfo, V2DataType, V2Error, charged_shape, wire_shape};
use crate::limits::RequestLimits;
use crate::pb::inference::infer_parameter::ParameterChoice;
use crate::pb::inference::model_infer_response::InferOutputTensor;
use crate::pb::inference::model_metadata_response::TensorMetadata;
use crate::pb::inference::{
    InferParameter, InferTensorContents, ModelInferRequest, ModelInferResponse,
    ModelMetadataResponse,
};

/// Decodes a gRPC inference request. Each input takes its elements from the typed `contents` field of its
/// datatype or, when it has no typed contents, from the next `raw_input_contents` entry (MLServer's tolerated
/// mix); the entries must pair up exactly with those inputs. `raw_output` is set iff raw contents were used.
///
/// Every input's shape is charged to one budget of `limits` before its values are read (a `[2147483647, 0]`
/// shape is refused).
pub fn decode_grpc(
    request: ModelInferRequest,
    limits: &RequestLimits,
) -> Result<DecodedInfer, V2Error> {
    let mut budget = limits.budget();
    let raw_output = !request.raw_input_contents.is_empty();
    if raw_output {
        let needing = request
            .inputs
            .iter()
            .filter(|i| {
                i.contents
                    .as_ref()
                    .is_none_or(|c| filled_field(c).is_none())
            })
            .count();
        if needing != request.raw_input_contents.len() {
            return Err(V2Error::RawCount {
                inputs: needing,
                raw: request.raw_input_contents.len(),
            });
        }
    }
    let mut raw = request.raw_input_contents.into_iter();
    let mut inputs = Vec::with_capacity(request.inputs.len());
    let mut infos = Vec::with_capacity(request.inputs.len());
    for input in request.inputs {
        let dtype = V2DataType::parse(&input.datatype).ok_or_else(|| V2Error::UnknownDatatype {
            name: input.name.clone(),
            datatype: input.datatype.clone(),
        })?;
        let (dims, count) = charged_shape(&input.name, &input.shape, &mut budget)?;
        let contents = input.contents.unwrap_or_default();
        let (values, what) = match (filled_field(&contents), raw_output) {
            (None, true) => {
                let blob = raw.next().ok_or(V2Error::RawCount { inputs: 0, raw: 0 })?;
                (
                    decode_blob(&input.name, dtype, count, &blob)?,
                    "raw_input_contents",
                )
            }
            _ => typed_contents(&input.name, dtype, contents)?,
        };
        let tensor = build_tensor(&input.name, &input.shape, dims, count, what, values)?;
        inputs.push(NamedTensor::new(input.name, tensor));
        infos.push(InputInfo {
            datatype: dtype,
            parameters: infer_parameters_to_json(input.parameters),
        });
    }
    let mut outputs = Vec::with_capacity(request.outputs.len());
    let mut output_parameters = Vec::with_capacity(request.outputs.len());
    for output in request.outputs {
        outputs.push(output.name);
        output_parameters.push(infer_parameters_to_json(output.parameters));
    }
    let mut decoded = DecodedInfer {
        id: Some(request.id),
        parameters: infer_parameters_to_json(request.parameters),
        request: PredictRequest { inputs, outputs },
        inputs: infos,
        output_parameters,
        binary_outputs: super::BinaryOutputs::none(),
        raw_output,
    };
    super::codecs::apply(&mut decoded)?;
    Ok(decoded)
}

/// The first non-empty typed field, by name.
fn filled_field(c: &InferTensorContents) -> Option<&'static str> {
    [
        (!c.bool_contents.is_empty(), "bool_contents"),
        (!c.int_contents.is_empty(), "int_contents"),
        (!c.int64_contents.is_empty(), "int64_contents"),
        (!c.uint_contents.is_empty(), "uint_contents"),
        (!c.uint64_contents.is_empty(), "uint64_contents"),
        (!c.fp32_contents.is_empty(), "fp32_contents"),
        (!c.fp64_contents.is_empty(), "fp64_contents"),
        (!c.bytes_contents.is_empty(), "bytes_contents"),
    ]
    .into_iter()
    .find_map(|(filled, name)| filled.then_some(name))
}

/// The field a datatype's typed elements travel in.
fn field_of(dtype: V2DataType) -> &'static str {
    match dtype {
        V2DataType::Bool => "bool_contents",
        V2DataType::I8 | V2DataType::I16 | V2DataType::I32 => "int_contents",
        V2DataType::I64 => "int64_contents",
        V2DataType::U8 | V2DataType::U16 | V2DataType::U32 => "uint_contents",
        V2DataType::U64 => "uint64_contents",
        V2DataType::F32 | V2DataType::F16 | V2DataType::Bf16 => "fp32_contents",
        V2DataType::F64 => "fp64_contents",
        V2DataType::Bytes => "bytes_contents",
    }
}

/// Takes an input's elements out of the typed field of its datatype (no copy where the core type matches).
fn typed_contents(
    name: &str,
    dtype: V2DataType,
    mut c: InferTensorContents,
) -> Result<(TensorData, &'static str), V2Error> {
    let expected = field_of(dtype);
    if let Some(found) = filled_field(&c)
        && found != expected
    {
        return Err(V2Error::ContentsField {
            name: name.to_owned(),
            datatype: dtype.name(),
            expected,
            found,
        });
    }
    let range = |index: usize, value: String| V2Error::OutOfRange {
        name: name.to_owned(),
        datatype: dtype.name(),
        index,
        value,
    };
    let values = match dtype {
        V2DataType::Bool => TensorData::Bool(std::mem::take(&mut c.bool_contents)),
        V2DataType::I32 => TensorData::I32(std::mem::take(&mut c.int_contents)),
        V2DataType::I8 | V2DataType::I16 => {
            let (min, max) = if dtype == V2DataType::I8 {
                (i32::from(i8::MIN), i32::from(i8::MAX))
            } else {
                (i32::from(i16::MIN), i32::from(i16::MAX))
            };
            if let Some((i, v)) = c
                .int_contents
                .iter()
                .enumerate()
                .find(|(_, v)| !(min..=max).contains(*v))
            {
                return Err(range(i, v.to_string()));
            }
            TensorData::I32(std::mem::take(&mut c.int_contents))
        }
        V2DataType::I64 => TensorData::I64(std::mem::take(&mut c.int64_contents)),
        V2DataType::U8 => TensorData::U8(
            c.uint_contents
                .iter()
                .enumerate()
                .map(|(i, &v)| u8::try_from(v).map_err(|_| range(i, v.to_string())))
                .collect::<Result<_, _>>()?,
        ),
        V2DataType::U16 => TensorData::I32(
            c.uint_contents
                .iter()
                .enumerate()
                .map(|(i, &v)| {
                    u16::try_from(v)
                        .map(i32::from)
                        .map_err(|_| range(i, v.to_string()))
                })
                .collect::<Result<_, _>>()?,
        ),
        V2DataType::U32 => TensorData::I64(c.uint_contents.iter().map(|&v| i64::from(v)).collect()),
        V2DataType::U64 => TensorData::I64(
            c.uint64_contents
                .iter()
                .enumerate()
                .map(|(i, &v)| i64::try_from(v).map_err(|_| range(i, v.to_string())))
                .collect::<Result<_, _>>()?,
        ),
        V2DataType::F32 => TensorData::F32(std::mem::take(&mut c.fp32_contents)),
        V2DataType::F64 => TensorData::F64(std::mem::take(&mut c.fp64_contents)),
        V2DataType::Bytes => TensorData::Bytes(std::mem::take(&mut c.bytes_contents)),
        V2DataType::F16 | V2DataType::Bf16 => {
            return Err(V2Error::UnsupportedEncoding {
                name: name.to_owned(),
                datatype: dtype.name(),
                encoding: "typed contents",
            });
        }
    };
    Ok((values, expected))
}

/// Encodes a gRPC inference response: outputs in `raw_output_contents` (one little-endian blob per output, with an
/// empty `contents` as MLServer sends) when `raw` — i.e. when the request used raw contents — else in the typed
/// `contents` field of each datatype. An absent `model_version` is sent as `""`.
pub fn encode_grpc(
    model_name: &str,
    model_version: Option<&str>,
    id: String,
    outputs: Vec<NamedTensor>,
    raw: bool,
) -> Result<ModelInferResponse, V2Error> {
    let mut tensors = Vec::with_capacity(outputs.len());
    let mut raw_output_contents = Vec::new();
    for output in outputs {
        let datatype = output.tensor.dtype().v2_name().to_owned();
        let (shape, data) = output.tensor.into_parts();
        let shape = wire_shape(&output.name, &shape)?;
        let contents = if raw {
            let mut blob = Vec::new();
            encode_blob(&output.name, &data, &mut blob)?;
            raw_output_contents.push(blob);
            InferTensorContents::default()
        } else {
            contents_of(data)
        };
        tensors.push(InferOutputTensor {
            name: output.name,
            datatype,
            shape,
            parameters: HashMap::new(),
            contents: Some(contents),
        });
    }
    Ok(ModelInferResponse {
        model_name: model_name.to_owned(),
        model_version: model_version.unwrap_or_default().to_owned(),
        id,
        parameters: HashMap::new(),
        outputs: tensors,
        raw_output_contents,
    })
}

/// A tensor's elements in the typed field of its datatype.
fn contents_of(data: TensorData) -> InferTensorContents {
    let mut c = InferTensorContents::default();
    match data {
        TensorData::Bool(v) => c.bool_contents = v,
        TensorData::U8(v) => c.uint_contents = v.into_iter().map(u32::from).collect(),
        TensorData::I32(v) => c.int_contents = v,
        TensorData::I64(v) => c.int64_contents = v,
        TensorData::F32(v) => c.fp32_contents = v,
        TensorData::F64(v) => c.fp64_contents = v,
        TensorData::Bytes(v) => c.bytes_contents = v,
    }
    c
}

/// The gRPC metadata of a model named `name`.
pub fn model_metadata_grpc(
    name: &str,
    versions: Vec<String>,
    metadata: &ModelMetadata,
) -> ModelMetadataResponse {
    let tensor = |spec: &TensorSpec| TensorMetadata {
        name: spec.name.clone(),
        datatype: spec.datatype.v2_name().to_owned(),
        shape: spec.shape.clone(),
        parameters: super::rest::feature_lists(spec)
            .map(|(key, list)| {
                let text = serde_json::to_string(list).unwrap_or_default();
                let value = InferParameter {
                    parameter_choice: Some(ParameterChoice::StringParam(text)),
                };
                (key.to_owned(), value)
            })
            .collect(),
    };
    ModelMetadataResponse {
        name: name.to_owned(),
        versions,
        platform: metadata.platform.clone(),
        inputs: metadata.inputs.iter().map(tensor).collect(),
        outputs: metadata.outputs.iter().map(tensor).collect(),
        parameters: HashMap::new(),
    }
}

/// gRPC parameters as JSON values: bool, int64, uint64 and double become numbers/booleans (a non-finite double
/// becomes `null`), string stays a string, an unset parameter becomes `null`.
pub fn infer_parameters_to_json(params: HashMap<String, InferParameter>) -> Map<String, Value> {
    params
        .into_iter()
        .map(|(k, p)| {
            let v = match p.parameter_choice {
                None => Value::Null,
                Some(ParameterChoice::BoolParam(b)) => Value::Bool(b),
                Some(ParameterChoice::Int64Param(i)) => Value::from(i),
                Some(ParameterChoice::StringParam(s)) => Value::String(s),
                Some(ParameterChoice::DoubleParam(d)) => Value::from(d),
                Some(ParameterChoice::Uint64Param(u)) => Value::from(u),
            };
            (k, v)
        })
        .collect()
}

/// JSON parameters as gRPC parameters: booleans, strings, integers (`int64`, or `uint64` above `i64::MAX`) and
/// other numbers (`double`) map directly; `null` is unset; arrays and objects are sent as their JSON text.
pub fn json_to_infer_parameters(params: &Map<String, Value>) -> HashMap<String, InferParameter> {
    params
        .iter()
        .map(|(k, v)| {
            let choice = match v {
                Value::Null => None,
                Value::Bool(b) => Some(ParameterChoice::BoolParam(*b)),
                Value::String(s) => Some(ParameterChoice::StringParam(s.clone())),
                Value::Number(n) => Some(if let Some(i) = n.as_i64() {
                    ParameterChoice::Int64Param(i)
                } else if let Some(u) = n.as_u64() {
                    ParameterChoice::Uint64Param(u)
                } else {
                    ParameterChoice::DoubleParam(n.as_f64().unwrap_or(f64::NAN))
                }),
                other => Some(ParameterChoice::StringParam(other.to_string())),
            };
            (
                k.clone(),
                InferParameter {
                    parameter_choice: choice,
                },
            )
        })
        .collect()
}
