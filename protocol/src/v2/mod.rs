//! The Open Inference Protocol (V2): REST JSON types, the binary tensor data extension, gRPC conversions, and the
//! decoding of all of them into one [`PredictRequest`].
//!
//! The runtime calls [`decode_rest`] / [`decode_grpc`] once per request and [`encode_rest`] /
//! [`encode_grpc`] once per response; models see only [`Tensor`](oxserve_core::Tensor)s. Every error is a
//! [`V2Error`] whose message names the input or output and what is wrong; the runtime answers all of them with
//! HTTP 400 `{"error": "..."}` or gRPC `INVALID_ARGUMENT`.
//!
//! # Datatypes
//! The core tensor has fewer element types than the protocol; [`V2DataType::core`] maps each wire type onto the
//! narrowest core type that holds every value exactly: `INT8`/`INT16`/`INT32`/`UINT16` → `I32`, `UINT32`/`INT64` →
//! `I64`, `UINT64` → `I64` (a value above `i64::MAX` is rejected), `FP16`/`BF16` → `F32` (binary and raw only;
//! in JSON they are rejected, as KServe does). Outputs are labelled with the tensor's own type
//! ([`DataType::v2_name`](oxserve_core::DataType::v2_name)).
//!
//! # JSON number rules
//! - Integer types accept JSON integers and integral floats (`2.0`) within the type's range; `1.5`, `true`,
//!   strings and `null` are rejected.
//! - `FP32`/`FP64` accept any JSON number, and `null` as NaN (MLServer writes NaN as `null`); a finite number
//!   beyond `f32::MAX` is rejected for `FP32`. On output NaN and ±inf are written as `null`.
//! - `BOOL` accepts only `true`/`false`; `BYTES` accepts only strings (stored as their UTF-8 bytes). A `BYTES`
//!   output that is not valid UTF-8 cannot be written as JSON: ask for it with `binary_data`.
//! - `data` may be flat or nested; nested arrays must be rectangular, and (like MLServer's reshape) their element
//!   count, not their nesting, must match `shape`.

mod binary;
pub mod codecs;
mod error;
mod grpc;
mod json_data;
mod quick;
mod reply_json;
mod rest;

use oxserve_core::{DataType, PredictRequest};

use crate::limits::Budget;
use serde_json::{Map, Value};

pub use error::V2Error;
pub use grpc::{
    decode_grpc, encode_grpc, infer_parameters_to_json, json_to_infer_parameters,
    model_metadata_grpc,
};
pub use json_data::TensorJson;
pub use rest::{
    DecodedResponse, EncodedBody, ErrorResponse, InferenceRequest, InferenceResponse,
    MetadataModelResponse, MetadataServerResponse, MetadataTensor, ModelReadyResponse,
    RequestInput, RequestOutput, ResponseOutput, ServerLiveResponse, ServerReadyResponse,
    decode_rest, decode_rest_chunks, decode_rest_response, encode_response, encode_rest,
    model_metadata_rest,
};

/// The header that carries the JSON part's length in a binary-extension body.
pub const HEADER_CONTENT_LENGTH: &str = "inference-header-content-length";
/// Input/output parameter: byte length of that tensor's blob after the JSON header.
pub const BINARY_DATA_SIZE: &str = "binary_data_size";
/// Requested-output parameter: return this output as a binary blob.
pub const BINARY_DATA: &str = "binary_data";
/// Request parameter: the default of [`BINARY_DATA`] for every output.
pub const BINARY_DATA_OUTPUT: &str = "binary_data_output";

/// A protocol datatype name (case-sensitive on the wire), including those the core tensor stores widened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum V2DataType {
    /// `BOOL`.
    Bool,
    /// `UINT8`.
    U8,
    /// `UINT16`.
    U16,
    /// `UINT32`.
    U32,
    /// `UINT64`.
    U64,
    /// `INT8`.
    I8,
    /// `INT16`.
    I16,
    /// `INT32`.
    I32,
    /// `INT64`.
    I64,
    /// `FP16` (IEEE half).
    F16,
    /// `BF16` (bfloat16; KServe lists it, MLServer does not).
    Bf16,
    /// `FP32`.
    F32,
    /// `FP64`.
    F64,
    /// `BYTES`.
    Bytes,
}

impl V2DataType {
    /// Every datatype, in the order error messages list them.
    pub const ALL: [V2DataType; 14] = [
        V2DataType::Bool,
        V2DataType::U8,
        V2DataType::U16,
        V2DataType::U32,
        V2DataType::U64,
        V2DataType::I8,
        V2DataType::I16,
        V2DataType::I32,
        V2DataType::I64,
        V2DataType::F16,
        V2DataType::Bf16,
        V2DataType::F32,
        V2DataType::F64,
        V2DataType::Bytes,
    ];

    /// Parses a wire name (`FP64`, `INT64`, ...); names are case-sensitive, as in MLServer.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|d| d.name() == name)
    }

    /// The wire name.
    pub fn name(self) -> &'static str {
        match self {
            V2DataType::Bool => "BOOL",
            V2DataType::U8 => "UINT8",
            V2DataType::U16 => "UINT16",
            V2DataType::U32 => "UINT32",
            V2DataType::U64 => "UINT64",
            V2DataType::I8 => "INT8",
            V2DataType::I16 => "INT16",
            V2DataType::I32 => "INT32",
            V2DataType::I64 => "INT64",
            V2DataType::F16 => "FP16",
            V2DataType::Bf16 => "BF16",
            V2DataType::F32 => "FP32",
            V2DataType::F64 => "FP64",
            V2DataType::Bytes => "BYTES",
        }
    }

    /// The core element type values of this wire type are stored as (see the module docs).
    pub fn core(self) -> DataType {
        match self {
            V2DataType::Bool => DataType::Bool,
            V2DataType::U8 => DataType::U8,
            V2DataType::I8 | V2DataType::I16 | V2DataType::I32 | V2DataType::U16 => DataType::I32,
            V2DataType::U32 | V2DataType::U64 | V2DataType::I64 => DataType::I64,
            V2DataType::F16 | V2DataType::Bf16 | V2DataType::F32 => DataType::F32,
            V2DataType::F64 => DataType::F64,
            V2DataType::Bytes => DataType::Bytes,
        }
    }

    /// Bytes per element in the binary / raw encoding; `None` for `BYTES` (length-prefixed).
    pub fn wire_size(self) -> Option<usize> {
        match self {
            V2DataType::Bool | V2DataType::U8 | V2DataType::I8 => Some(1),
            V2DataType::U16 | V2DataType::I16 | V2DataType::F16 | V2DataType::Bf16 => Some(2),
            V2DataType::U32 | V2DataType::I32 | V2DataType::F32 => Some(4),
            V2DataType::U64 | V2DataType::I64 | V2DataType::F64 => Some(8),
            V2DataType::Bytes => None,
        }
    }

    /// The inclusive integer range of an integer type, `None` for the others.
    pub(crate) fn int_range(self) -> Option<(i128, i128)> {
        Some(match self {
            V2DataType::U8 => (0, u8::MAX.into()),
            V2DataType::U16 => (0, u16::MAX.into()),
            V2DataType::U32 => (0, u32::MAX.into()),
            // Stored as i64: larger values are out of range for us, though valid on the wire.
            V2DataType::U64 => (0, i64::MAX.into()),
            V2DataType::I8 => (i8::MIN.into(), i8::MAX.into()),
            V2DataType::I16 => (i16::MIN.into(), i16::MAX.into()),
            V2DataType::I32 => (i32::MIN.into(), i32::MAX.into()),
            V2DataType::I64 => (i64::MIN.into(), i64::MAX.into()),
            _ => return None,
        })
    }
}

impl From<DataType> for V2DataType {
    fn from(d: DataType) -> Self {
        match d {
            DataType::Bool => V2DataType::Bool,
            DataType::U8 => V2DataType::U8,
            DataType::I32 => V2DataType::I32,
            DataType::I64 => V2DataType::I64,
            DataType::F32 => V2DataType::F32,
            DataType::F64 => V2DataType::F64,
            DataType::Bytes => V2DataType::Bytes,
        }
    }
}

impl std::fmt::Display for V2DataType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// What the wire said about one input beyond its tensor: parallel to [`PredictRequest::inputs`].
#[derive(Debug, Clone, PartialEq)]
pub struct InputInfo {
    /// The datatype as sent (the tensor may hold it widened, see [`V2DataType::core`]).
    pub datatype: V2DataType,
    /// The input's `parameters` as sent (`content_type`, `binary_data_size`, ...); empty when absent.
    pub parameters: Map<String, Value>,
}

/// Which outputs the client wants as binary blobs (REST binary extension): the request's
/// `parameters.binary_data_output`, overridden per requested output by its `parameters.binary_data`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BinaryOutputs {
    /// The default for every output (`binary_data_output`, false when absent).
    pub default: bool,
    /// Per-output overrides, `(output name, binary_data)`, in request order.
    pub per_output: Vec<(String, bool)>,
}

impl BinaryOutputs {
    /// No binary outputs: plain JSON (gRPC, or a REST request that asked for none).
    pub fn none() -> Self {
        BinaryOutputs::default()
    }

    /// Every output binary (as `binary_data_output: true` asks).
    pub fn all() -> Self {
        BinaryOutputs {
            default: true,
            per_output: Vec::new(),
        }
    }

    /// Whether the output called `name` goes out as a binary blob.
    pub fn is_binary(&self, name: &str) -> bool {
        self.per_output
            .iter()
            .find(|(n, _)| n == name)
            .map_or(self.default, |&(_, b)| b)
    }

    /// Whether any output might go out as binary.
    pub fn any(&self) -> bool {
        self.default || self.per_output.iter().any(|&(_, b)| b)
    }
}

/// One decoded inference request, whichever transport it came by.
#[derive(Debug, Clone, PartialEq)]
pub struct DecodedInfer {
    /// The request `id`. REST: `None` when absent (MLServer then answers with a fresh UUID). gRPC: always `Some`,
    /// possibly `""` (proto3 cannot tell absent from empty; MLServer echoes `""`).
    pub id: Option<String>,
    /// The request-level `parameters` (gRPC `InferParameter`s converted to JSON values); empty when absent.
    pub parameters: Map<String, Value>,
    /// The tensors, in wire order, and the requested output names (empty = the model's default).
    pub request: PredictRequest,
    /// Per input: the datatype as sent and its parameters.
    pub inputs: Vec<InputInfo>,
    /// Per requested output, its `parameters` as sent (parallel to `request.outputs`).
    pub output_parameters: Vec<Map<String, Value>>,
    /// REST only: which outputs to answer as binary blobs.
    pub binary_outputs: BinaryOutputs,
    /// gRPC only: the request used `raw_input_contents`, so the answer uses `raw_output_contents`.
    pub raw_output: bool,
}

/// The number of elements of a wire shape, as a usize shape plus its product; rejects negative dimensions and
/// overflow.
pub(crate) fn checked_shape(input: &str, shape: &[i64]) -> Result<(Vec<usize>, usize), V2Error> {
    let mut dims = Vec::with_capacity(shape.len());
    let mut count: usize = 1;
    for &d in shape {
        let d = usize::try_from(d).map_err(|_| V2Error::NegativeDimension {
            name: input.to_owned(),
            shape: shape.to_vec(),
        })?;
        count = count.checked_mul(d).ok_or_else(|| V2Error::ShapeOverflow {
            name: input.to_owned(),
            shape: shape.to_vec(),
        })?;
        dims.push(d);
    }
    Ok((dims, count))
}

/// [`checked_shape`], then the shape charged to the request's budget (before anything is allocated for it).
pub(crate) fn charged_shape(
    input: &str,
    shape: &[i64],
    budget: &mut Budget,
) -> Result<(Vec<usize>, usize), V2Error> {
    let (dims, count) = checked_shape(input, shape)?;
    budget.shape(&dims).map_err(|source| V2Error::Limit {
        name: input.to_owned(),
        source,
    })?;
    Ok((dims, count))
}

/// A tensor shape as wire `int64`s.
pub(crate) fn wire_shape(name: &str, shape: &[usize]) -> Result<Vec<i64>, V2Error> {
    shape
        .iter()
        .map(|&d| {
            i64::try_from(d).map_err(|_| V2Error::ShapeOverflow {
                name: name.to_owned(),
                shape: shape.iter().map(|&d| d as i64).collect(),
            })
        })
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn datatype_names_round_trip() {
        for d in V2DataType::ALL {
            assert_eq!(V2DataType::parse(d.name()), Some(d));
        }
        assert_eq!(V2DataType::parse("fp64"), None);
        for d in [
            DataType::Bool,
            DataType::U8,
            DataType::I32,
            DataType::I64,
            DataType::F32,
            DataType::F64,
            DataType::Bytes,
        ] {
            assert_eq!(V2DataType::from(d).name(), d.v2_name());
            assert_eq!(V2DataType::from(d).core(), d);
        }
    }

    #[test]
    fn binary_output_flags() {
        let b = BinaryOutputs {
            default: true,
            per_output: vec![("a".into(), false)],
        };
        assert!(!b.is_binary("a"));
        assert!(b.is_binary("b"));
        assert!(!BinaryOutputs::none().any());
    }

    #[test]
    fn shapes_are_checked() {
        assert_eq!(checked_shape("x", &[2, 3]).ok(), Some((vec![2, 3], 6)));
        assert!(matches!(
            checked_shape("x", &[2, -1]),
            Err(V2Error::NegativeDimension { .. })
        ));
        assert!(matches!(
            checked_shape("x", &[i64::MAX, i64::MAX, 4]),
            Err(V2Error::ShapeOverflow { .. })
        ));
    }
}
