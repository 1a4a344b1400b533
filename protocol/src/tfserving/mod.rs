//! TensorFlow Serving's API: the REST JSON bodies (row `instances` and columnar `inputs` predict requests, their
//! `predictions` / `outputs` replies, model status and signature metadata; the row code also reads and writes
//! KServe's V1 bodies, [`crate::kserve_v1`]) and the gRPC `TensorProto` conversions, all driven by the model's
//! signature ([`TensorSpec`]s).
//!
//! The signature is the model's metadata: one signature, `serving_default`, whose input and output aliases are
//! the model's tensor names. JSON numbers are read as each input's dtype; replies print floats as TF Serving
//! does (6 significant digits when that round-trips, always with a `.` or an exponent, bare `NaN`/`Infinity`).

mod floats;
mod grpc;
pub(crate) mod json;
pub(crate) mod rest;

pub use floats::{write_float, write_float32};
pub use grpc::{inputs_from_protos, outputs_to_protos, signature_def, signature_def_map_any};
pub use rest::{
    Format, PredictBody, decode_predict, encode_predict, error_body, metadata_json, status_json,
};

use oxserve_core::DataType;

use crate::pb::tensorflow::DataType as TfType;

/// The one signature a served model has.
pub const DEFAULT_SIGNATURE: &str = "serving_default";

/// The `method_name` of a predict signature.
pub const PREDICT_METHOD: &str = "tensorflow/serving/predict";

/// Why a TF Serving request could not be read: the client's fault (TF Serving's `INVALID_ARGUMENT`).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RequestError {
    /// The body is not JSON.
    #[error("JSON Parse error: {reason} at offset: {offset}")]
    Json {
        /// What is wrong.
        reason: String,
        /// The byte offset where the parser stopped.
        offset: usize,
    },
    /// The JSON or the tensor does not fit the signature.
    #[error("{0}")]
    Invalid(String),
}

/// Accepts the one signature's name (`serving_default`; an empty name means it too).
pub fn check_signature_name(name: &str) -> Result<(), RequestError> {
    if name.is_empty() || name == DEFAULT_SIGNATURE {
        Ok(())
    } else {
        Err(invalid(format!(
            "Serving signature name: \"{name}\" not found in signature def"
        )))
    }
}

pub(crate) fn invalid(message: impl Into<String>) -> RequestError {
    RequestError::Invalid(message.into())
}

/// The TensorFlow dtype of an element type.
pub fn tf_dtype(datatype: DataType) -> TfType {
    match datatype {
        DataType::Bool => TfType::DtBool,
        DataType::U8 => TfType::DtUint8,
        DataType::I32 => TfType::DtInt32,
        DataType::I64 => TfType::DtInt64,
        DataType::F32 => TfType::DtFloat,
        DataType::F64 => TfType::DtDouble,
        DataType::Bytes => TfType::DtString,
    }
}

/// TensorFlow's short dtype name (`float`, `int64`, `string`), as its error messages print it.
pub fn tf_dtype_short(datatype: DataType) -> &'static str {
    match datatype {
        DataType::Bool => "bool",
        DataType::U8 => "uint8",
        DataType::I32 => "int32",
        DataType::I64 => "int64",
        DataType::F32 => "float",
        DataType::F64 => "double",
        DataType::Bytes => "string",
    }
}
