//! TensorFlow Serving's API for any oxserve model, as runtime [`Extensions`]: TF Serving clients (and KServe
//! V1 clients of a TensorFlow model, which KServe serves with TF Serving itself) keep working against an
//! oxserve server.
//!
//! - REST under `/v1/` ([`rest_extension`]): model status, signature metadata and `:predict` in the row
//!   (`instances`) and columnar (`inputs`) formats, with TF Serving's `{"error": ...}` bodies and status codes;
//!   `:classify` and `:regress` answer 501 (they take `tf.Example`s, which a graph signature does not).
//!   The extension owns `/v1/`, so the runtime's KServe V1 model routes step aside: every path under `/v1/` is
//!   TF Serving's, as on KServe's own TensorFlow runtime (TF Serving itself), whose V1 is this API (`instances`
//!   in, `predictions` out, read and written by the same row code as KServe V1's).
//! - gRPC ([`add_grpc_services`]): `tensorflow.serving.PredictionService` (`Predict`, `GetModelMetadata`) and
//!   `tensorflow.serving.ModelService/GetModelStatus`.
//!
//! The served model has one version and one signature, `serving_default`, whose inputs and outputs are the
//! model's metadata. Its name is the runtime's model name; its version is the runtime's model version when that
//! is a number, else 1. Every version label resolves to that one version.
//!
//! A server that stands in for `tensorflow_model_server` also takes its command line ([`TfServingArgs`]).
//!
//! ```no_run
//! # use std::sync::Arc;
//! # fn load(_: &oxserve_runtime::LoadContext) -> anyhow::Result<Arc<dyn oxserve_core::Model>> { unimplemented!() }
//! const SERVER: oxserve_runtime::Server = oxserve_runtime::Server {
//!     name: "my-server",
//!     about: "serves model.bin over Seldon v1, V2 and TF Serving's API",
//!     parameters: &[],
//! };
//! fn main() -> std::process::ExitCode {
//!     oxserve_runtime::run_with::<oxserve_tfserving::TfServingArgs, _>(
//!         &SERVER,
//!         oxserve_tfserving::extensions(),
//!         load,
//!     )
//! }
//! ```

mod args;
mod grpc;
mod rest;
mod status;

use std::sync::Arc;

use oxserve_runtime::{Extensions, RestExtension, ServeError, ServerState};

pub use args::{METRICS_PATH, TfServingArgs};
pub use grpc::{TfServingGrpc, add_grpc_services};
pub use status::TfServingStatus;

/// The label TF Serving requests carry in metrics (REST and gRPC).
pub const PROTOCOL: &str = "tfserving";

/// The path prefix TF Serving's REST API owns.
pub const PREFIX: &str = "/v1/";

/// TF Serving's REST API and gRPC services.
pub fn extensions() -> Extensions {
    Extensions::default()
        .with_rest(rest_extension())
        .with_grpc(add_grpc_services)
        .with_grpc_protocol("tensorflow.serving.", PROTOCOL)
}

/// TF Serving's REST API: every path under `/v1/`, counted as `tfserving` in metrics.
pub fn rest_extension() -> RestExtension {
    RestExtension {
        protocol: PROTOCOL,
        prefix: PREFIX,
        routes: rest::routes(),
        error_response: status::error_response,
    }
}

/// Which version a request names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum VersionChoice {
    /// None: the latest.
    Latest,
    /// `/versions/{n}` or `ModelSpec.version`.
    Number(i64),
    /// `/labels/{l}` or `ModelSpec.version_label`.
    Label(String),
}

/// The served version's number: the runtime's model version when it is a number, else 1.
pub(crate) fn served_version(state: &ServerState) -> i64 {
    state
        .model_version
        .as_deref()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(1)
}

/// Resolves a request's model name and version to the served model's version, or TF Serving's NOT_FOUND.
pub(crate) fn resolve(
    state: &ServerState,
    name: &str,
    choice: &VersionChoice,
) -> Result<i64, ServeError> {
    let served = served_version(state);
    let found = name == state.model_name
        && match choice {
            VersionChoice::Latest | VersionChoice::Label(_) => true,
            VersionChoice::Number(n) => *n == served,
        };
    if found {
        return Ok(served);
    }
    Err(ServeError::ModelNotFound(match choice {
        VersionChoice::Number(n) => {
            format!("Servable not found for request: Specific({name}, {n})")
        }
        _ => format!("Servable not found for request: Latest({name})"),
    }))
}

/// The names of every output of the model's signature (a TF Serving reply carries them all).
pub(crate) fn all_outputs(state: &Arc<ServerState>) -> Vec<String> {
    state
        .model
        .metadata()
        .outputs
        .iter()
        .map(|s| s.name.clone())
        .collect()
}
