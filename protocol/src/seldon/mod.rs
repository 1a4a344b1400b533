//! Seldon Core v1: `SeldonMessage` and friends in JSON (as the Python wrapper writes them) and protobuf.

pub mod grpc;
mod message;
mod ndarray;
pub mod pyjson;
mod quick;
pub mod tftensor;

pub use message::{
    ArrayKind, DataArray, DefaultData, ErrorBody, Feedback, FeedbackError, MessageMetadata, Meta,
    Metric, ModelMetadataMessage, Payload, SeldonMessage, Status, tensor_from_shape_values,
};
pub use ndarray::{FlatRef, NdArray, NdArrayRef, Rows, TableRows, table_from_json};

/// `reason` for bad input.
pub const REASON_BAD_DATA: &str = "MICROSERVICE_BAD_DATA";
/// `reason` for a failure inside the model or server.
pub const REASON_INTERNAL_ERROR: &str = "MICROSERVICE_INTERNAL_ERROR";
/// `reason` for metadata that fails validation.
pub const REASON_BAD_METADATA: &str = "MICROSERVICE_BAD_METADATA";
/// `reason` when the server is overloaded.
pub const REASON_OVERLOADED: &str = "MICROSERVICE_OVERLOADED";
