//! Every wire type oxserve speaks, as plain data, and their conversions to one [`Tensor`].
//!
//! - [`seldon`]: Seldon Core v1 — `SeldonMessage` (JSON and protobuf), `Feedback`, metadata, the error `Status`.
//! - [`v2`]: the Open Inference Protocol — REST JSON (with the binary tensor data extension) and gRPC.
//! - [`tfserving`]: TensorFlow Serving's REST JSON and its gRPC `TensorProto`s.
//! - [`kserve_v1`]: KServe's V1 data plane JSON (`instances` / `inputs` rows in, `predictions` out), read and
//!   written with TF Serving's row code.
//! - [`pb`]: the generated protobuf messages and tonic services of all of them (package `seldon.protos`,
//!   `inference`, `tensorflow`, `tensorflow.serving`).
//!
//! - [`limits`]: the per-request budget every decoder charges a tensor's declared shape to before allocating.
//!
//! - [`wire_budget`]: the gRPC codec that refuses a protobuf message whose decoded size would be out of
//!   proportion to its wire size, before prost allocates it.
//!
//! No HTTP and no model logic live here.

pub mod kserve_v1;
pub mod limits;
mod nested;
pub mod pb;
mod powers;
mod scan;
pub mod seldon;
pub mod tfserving;
pub mod v2;
pub mod wire_budget;

pub use limits::{Budget, LimitError, RequestLimits};
pub use oxserve_core::{DataType, NamedTensor, Tensor, TensorData, TensorError};
