//! The seam between oxserve's runtime and its model engines.
//!
//! Engines (the scikit-learn math, ONNX Runtime, candle, ...) depend on this crate only: it holds the one
//! [`Tensor`] type every wire format converts to, the [`Table`] of named, typed columns that tabular requests
//! with strings become, the [`Model`] trait a server implements, and the
//! [`ModelError`] a model returns. Nothing here knows HTTP, gRPC or a wire format.

mod categorical;
mod model;
mod table;
mod tensor;

pub use categorical::{Categories, FeatureEncoder, FeatureKind, UnseenCategory};
pub use model::{
    Features, Model, ModelError, ModelMetadata, NamedTensor, PredictFuture, PredictRequest,
    PredictResponse, REQUEST_PARAMETERS_INPUT, Submission, TensorSpec,
};
pub use table::{Column, ColumnData, Table, TableError};
pub use tensor::{DataType, Tensor, TensorData, TensorError};
