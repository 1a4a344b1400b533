//! The `Model` trait every engine implements, and the plain data it exchanges with the runtime.

use std::future::Future;
use std::pin::Pin;

use crate::table::{Table, TableError};
use crate::tensor::{DataType, Tensor, TensorError};

/// The description of one input or output tensor, as metadata routes show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TensorSpec {
    /// The tensor's name (`input-0`, `predict_proba`, an ONNX graph input, ...).
    pub name: String,
    /// Its element type.
    pub datatype: DataType,
    /// Its shape; `-1` marks a dimension of any size (usually the batch).
    pub shape: Vec<i64>,
    /// The columns of a 2-D input as the model file names and types them; empty when it declares none.
    pub features: Features,
}

impl TensorSpec {
    /// Builds a spec that declares no feature names.
    pub fn new(name: impl Into<String>, datatype: DataType, shape: Vec<i64>) -> Self {
        TensorSpec {
            name: name.into(),
            datatype,
            shape,
            features: Features::default(),
        }
    }

    /// The same spec with the columns' names and types the model file declares.
    #[must_use]
    pub fn with_features(self, features: Features) -> Self {
        TensorSpec { features, ..self }
    }
}

/// The feature names and types a model file stores for its input's columns (XGBoost's `feature_names` /
/// `feature_types`, LightGBM's `feature_names` and the kind its `feature_infos` implies). Metadata routes show
/// them as the input's parameters (V2) or its schema (Seldon); an engine with none leaves both lists empty.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Features {
    /// One name per column, in column order; empty when the file names none.
    pub names: Vec<String>,
    /// One type per column in the library's own words (XGBoost `q`, `c`, `int`, `float`, `i`; LightGBM
    /// `numerical`, `categorical`); empty when the file types none.
    pub types: Vec<String>,
}

impl Features {
    /// Whether the file declared neither names nor types.
    pub fn is_empty(&self) -> bool {
        self.names.is_empty() && self.types.is_empty()
    }
}

/// What a model says about itself: the platform and its inputs and outputs.
///
/// The model's *name* and version are deployment facts (`PREDICTIVE_UNIT_ID`, `--model-name`) and belong to
/// the runtime's configuration, not to the model.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ModelMetadata {
    /// The platform string of V2 metadata (`sklearn`, `onnx_onnxv1`, ...).
    pub platform: String,
    /// The inputs the model accepts, in order.
    pub inputs: Vec<TensorSpec>,
    /// The outputs the model can produce; the first is the default.
    pub outputs: Vec<TensorSpec>,
}

impl ModelMetadata {
    /// The error for an output this model does not produce, listing the ones it does.
    pub fn unknown_output(&self, name: &str) -> ModelError {
        ModelError::UnknownOutput {
            name: name.to_string(),
            available: self
                .outputs
                .iter()
                .map(|o| o.name.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        }
    }
}

/// A tensor with the name it carries on the wire.
#[derive(Debug, Clone, PartialEq)]
pub struct NamedTensor {
    /// The name.
    pub name: String,
    /// The tensor.
    pub tensor: Tensor,
}

impl NamedTensor {
    /// Pairs a name with a tensor.
    pub fn new(name: impl Into<String>, tensor: Tensor) -> Self {
        NamedTensor {
            name: name.into(),
            tensor,
        }
    }
}

/// One prediction call: the input tensors of a batch and the outputs the caller asked for.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PredictRequest {
    /// The inputs, in the order the client sent them. Seldon requests carry exactly one, 2-D (rows × features).
    pub inputs: Vec<NamedTensor>,
    /// The outputs asked for by name; empty means "the model's default output".
    pub outputs: Vec<String>,
}

impl PredictRequest {
    /// A request carrying a table: one 1-D input per column, named after it ([`Table::into_inputs`]).
    pub fn from_table(table: Table, outputs: Vec<String>) -> Self {
        PredictRequest {
            inputs: table.into_inputs(),
            outputs,
        }
    }

    /// The inputs read as a table's columns ([`Table::from_inputs`]): what a tabular model reads when the request
    /// is not one numeric matrix.
    pub fn table(&self) -> Result<Table, TableError> {
        Table::from_inputs(&self.inputs)
    }
}

/// The input a model that [takes request parameters](Model::takes_request_parameters) finds them in.
pub const REQUEST_PARAMETERS_INPUT: &str = "oxserve.request_parameters";

/// What a model returns: one or more named output tensors, each with the batch as its first dimension.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PredictResponse {
    /// The outputs, in the order requested (or the default output alone).
    pub outputs: Vec<NamedTensor>,
}

/// Why a prediction failed. The runtime maps each kind once to every protocol's status.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ModelError {
    /// The request's data does not fit the model (wrong feature count, wrong type, ...): the client's fault.
    #[error("{0}")]
    BadInput(String),
    /// An output was asked for that the model does not produce.
    #[error("unknown output `{name}`; this model produces: {available}")]
    UnknownOutput {
        /// The name asked for.
        name: String,
        /// The outputs the model has, comma-separated.
        available: String,
    },
    /// The model failed on valid input: the server's fault.
    #[error("{0}")]
    Internal(String),
}

impl From<TableError> for ModelError {
    fn from(err: TableError) -> Self {
        ModelError::BadInput(err.to_string())
    }
}

impl From<TensorError> for ModelError {
    fn from(err: TensorError) -> Self {
        ModelError::BadInput(err.to_string())
    }
}

/// The answer to one request a model took on its waiting path ([`Model::predict_async`]). It needs no
/// particular executor (await it on a tokio task, or block on it from a plain thread); dropping it tells the
/// model that nobody waits for the answer any more.
pub type PredictFuture =
    Pin<Box<dyn Future<Output = Result<PredictResponse, ModelError>> + Send + 'static>>;

/// What [`Model::predict_async`] did with a request.
pub enum Submission {
    /// The model took the request; the future answers it. The caller spends no thread while it waits.
    Pending(PredictFuture),
    /// The model has no waiting path for this request; it is handed back, untouched, for [`Model::predict`].
    Direct(PredictRequest),
}

impl std::fmt::Debug for Submission {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Submission::Pending(_) => f.write_str("Submission::Pending(..)"),
            Submission::Direct(request) => {
                f.debug_tuple("Submission::Direct").field(request).finish()
            }
        }
    }
}

/// A loaded model. Constructed by loading (each engine has its own `load`), then asked to predict.
///
/// `predict` is synchronous. The runtime times every call and runs a model's calls on the async worker that
/// received the request only while they have proven tiny (a logistic regression on a few rows, where a thread
/// hop costs more than the model); everything else runs on a bounded pool of blocking threads, so health,
/// readiness and metrics answer whatever the models are doing. A model never has to say how heavy it is; it
/// may veto inline calls ([`Model::runs_inline`]), say its calls wait rather than compute
/// ([`Model::call_waits`]), and give a per-row cost hint the runtime checks against its request budget
/// ([`Model::row_cost`]). A model whose calls mostly wait for something else to compute them (a batching
/// queue) offers [`Model::predict_async`] instead, which the runtime awaits on the request's own task.
pub trait Model: Send + Sync + 'static {
    /// The model's platform, inputs and outputs.
    fn metadata(&self) -> &ModelMetadata;

    /// Runs one batch. Must not panic on any input; bad input is [`ModelError::BadInput`].
    fn predict(&self, request: PredictRequest) -> Result<PredictResponse, ModelError>;

    /// The waiting path: takes the request and returns a future of its answer, or hands the request back
    /// ([`Submission::Direct`], the default) for [`Model::predict`]. The runtime tries this first, after its
    /// overload and cost checks, and awaits a pending answer on the request's task without a blocking thread;
    /// when the client goes away the future is dropped, and a model may then skip the work. Neither this call
    /// nor the future may block the thread (no computing here: hand computing to a thread of the model's own);
    /// a panic in either becomes an internal error for this request alone. Engines implement it with
    /// whatever channel they like: the future is a plain [`Future`], no async runtime is implied.
    fn predict_async(&self, request: PredictRequest) -> Submission {
        Submission::Direct(request)
    }

    /// Column names for a 2-D output, used as Seldon's `data.names`; `None` lets the runtime use
    /// `t:0 … t:{n-1}`, as Seldon's Python wrapper does.
    fn column_names(&self, _output: &str) -> Option<Vec<String>> {
        None
    }

    /// A table model's columns (name, element type, shape `[-1]`), which V2 metadata lists as its inputs: one
    /// input per column, as MLServer's pandas codec sends a DataFrame. `None` (the default) lists
    /// [`ModelMetadata::inputs`]. Only the metadata routes read it; requests are decoded as before.
    fn table_columns(&self) -> Option<&[TensorSpec]> {
        None
    }

    /// The V2 `content_type` parameter written on this model's outputs, as MLServer's runtime for the same
    /// model writes it (`np`: its NumPy codec, which MLServer's scikit-learn runtime uses for every output,
    /// string labels included). `None` (the default) writes no parameter.
    fn output_content_type(&self) -> Option<&'static str> {
        None
    }

    /// Whether the model reads tables ([`PredictRequest::table`]): named, typed columns, strings among them (a
    /// scikit-learn pipeline fitted on a DataFrame or on an object array). Protocols then hand it mixed rows,
    /// named columns and records as one input per column; an all-numeric request without names still comes as
    /// one matrix. Default `false`: such requests are refused as not numeric.
    fn accepts_table(&self) -> bool {
        false
    }

    /// Whether the model reads a V2 request's own `parameters` (MLServer's MLflow runtime hands the ones it does
    /// not know itself to pyfunc as `params`). When `true`, the V2 routes append the request's parameters, less
    /// `content_type` and `headers`, as one more input named [`REQUEST_PARAMETERS_INPUT`]: a 0-d BYTES tensor
    /// holding their JSON object, present only when there are some. 0-d, it keeps the request out of adaptive
    /// batches (requests with different parameters never merge). Default `false`: parameters stay with the
    /// protocol.
    fn takes_request_parameters(&self) -> bool {
        false
    }

    /// Whether a call of [`Model::predict`] *may* run on the async worker that received the request. `true`
    /// (the default) leaves the decision to the runtime's measurement of this model's calls; `false` sends every
    /// call to a blocking thread (a model that blocks on a queue, a lock or the network, or one whose cost
    /// varies too much to predict).
    fn runs_inline(&self) -> bool {
        true
    }

    /// Whether a blocking call of [`Model::predict`] mostly *waits* (on a remote server it reaches with a
    /// blocking client) rather than computes. Waiting calls are not bounded by the number of CPUs, so that
    /// concurrent requests can be in flight together; each still holds a blocking thread, which
    /// [`Model::predict_async`] does not. Default `false`.
    fn call_waits(&self) -> bool {
        false
    }

    /// Roughly how many arithmetic operations one input row costs (k-NN: training rows × features; an SVC:
    /// support vectors × features), or `None` when a row is cheap or its cost unknown. The runtime refuses a
    /// request whose rows × this exceeds its per-request budget (`--max-request-cost`) with a 400 before
    /// calling the model. A hint, not a promise: only its order of magnitude matters.
    fn row_cost(&self) -> Option<u64> {
        None
    }
}
