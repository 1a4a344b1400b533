//! Every wire type oxserve speaks, as plain data, and their conversions to one [`Tensor`].
//!
//! - [`seldon`]: Seldon Core v1 — `SeldonMessage` (JSON and protobuf), `Feedback`, metadata, the error `Status`.
//! - [`v2`]: the Open Inference Protocol — REST JSON (with the binary tensor data extension) and gRPC.
//! - [`pb`]: the generated protobuf messages and tonic services of both (package `seldon.protos`, `inference`,
//!   `tensorflow`).
//!
//! No HTTP and no model logic live here.

pub mod pb;
pub mod seldon;
pub mod v2;

pub use oxserve_core::{DataType, NamedTensor, Tensor, TensorData, TensorError};
