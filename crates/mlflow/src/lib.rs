//! MLflow model folders without Python or conda.
//!
//! - [`MlModel`] reads the folder's `MLmodel` (YAML): the flavour to serve ([`Flavor`]: `sklearn` in the
//!   `pickle` / `cloudpickle` / `skops` formats, `xgboost`, `lightgbm`, `onnx`, `transformers` for the
//!   [`TransformersTask`]s candle serves), the [`Signature`], the input
//!   example, `mlflow_version`. A custom `python_function` model (a pickled `PythonModel`, `code` paths) is
//!   refused with what to do instead: oxserve never runs a model's Python.
//! - [`MlflowModel`] wraps the engine the server loaded for the flavour (any [`Model`] taking one float64
//!   matrix, or named columns when it [`accepts_table`](Model::accepts_table)) and gives it what pyfunc's
//!   `predict` gives the flavour's model: the signature enforced as `_enforce_schema` does
//!   ([`signature::enforce_table`]: columns by name, or by position when unnamed; double, float, long, integer,
//!   boolean and string columns; MLflow's conversions; its wording for missing columns and wrong types), and
//!   the output pyfunc answers, named as the output signature names it. [`Signature::enforce_params`] checks a
//!   request's `params` against the params schema (they come from `/invocations` bodies and V2 requests'
//!   `parameters`, as MLServer's MLflow runtime passes them); mlflow.sklearn's and mlflow.lightgbm's wrappers take
//!   them and ignore them; mlflow.xgboost's passes them to `predict` as keyword arguments, which the server applies
//!   through a [`ParamsEngine`].
//! - [`scoring`] parses MLflow's scoring protocol (`/invocations`: `dataframe_split`, `dataframe_records`,
//!   `instances`, `inputs`, `text/csv`) into a [`Frame`] and writes `{"predictions": …}`.
//!
//! Which engine serves a flavour is the server's choice (`servers/mlflow`); this crate knows no model format
//! beyond `MLmodel`, and no HTTP.

pub mod frame;
mod mlmodel;
pub mod scoring;
pub mod signature;

use std::path::PathBuf;
use std::sync::Arc;

use oxserve_core::{
    DataType, Model, ModelError, ModelMetadata, NamedTensor, PredictRequest, PredictResponse,
    REQUEST_PARAMETERS_INPUT, Tensor, TensorData, TensorSpec,
};

pub use frame::{Cell, Column, Frame};
pub use mlmodel::{Flavor, MlModel, SERVED_FLAVORS, TransformersTask};
pub use signature::{ColType, Signature};

/// Why an MLflow model or request was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum MlflowError {
    /// The folder has no readable `MLmodel`.
    #[error(
        "no MLmodel file in {dir}: {reason} (an MLflow model folder holds MLmodel and the flavour's files)"
    )]
    NoMlModel {
        /// The folder.
        dir: PathBuf,
        /// Why it could not be read.
        reason: String,
    },
    /// `MLmodel` is not what MLflow writes.
    #[error("malformed MLflow model: {0}")]
    Malformed(String),
    /// A custom Python model: refused, with what to do instead.
    #[error("refused: {0}")]
    CustomPython(String),
    /// No flavour this server reads.
    #[error(
        "no flavour this server serves in MLmodel (it has: {flavors}; python_function loader_module `{loader}`); \
         served natively: sklearn, xgboost, lightgbm, onnx, transformers (text-classification, feature-extraction). Log the model with one of those flavours, or export it \
         to ONNX"
    )]
    UnsupportedFlavor {
        /// The flavours the file lists.
        flavors: String,
        /// `python_function`'s `loader_module`.
        loader: String,
    },
    /// Something the model needs that this server does not do yet.
    #[error("unsupported MLflow model: {0}")]
    Unsupported(String),
    /// The request's data does not fit the signature (MLflow's wording).
    #[error("{0}")]
    Schema(String),
    /// The request body is not what the protocol takes.
    #[error("{0}")]
    Body(String),
}

impl From<MlflowError> for ModelError {
    fn from(e: MlflowError) -> Self {
        match e {
            MlflowError::Schema(m) | MlflowError::Body(m) => ModelError::BadInput(m),
            other => ModelError::Internal(other.to_string()),
        }
    }
}

/// What the engine is asked for, and how its answer is named.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outputs {
    /// pyfunc answers one array: the engine's output of this name (`None`: its default), named
    /// [`scoring::PREDICTIONS`].
    Array(Option<String>),
    /// pyfunc answers a DataFrame of every engine output (ONNX), each named as the engine names it.
    Columns(Vec<String>),
    /// pyfunc answers a DataFrame of these engine outputs whatever the input's form (the transformers
    /// text-classification pipeline): `/invocations` writes it as records.
    Records(Vec<String>),
}

/// pyfunc's `params` once checked: each declared param converted to its type or its default.
pub type Params = serde_json::Map<String, serde_json::Value>;

/// An engine that applies pyfunc's `params` itself, as mlflow.xgboost's wrapper passes them to the model's
/// `predict` as keyword arguments. A flavour without one takes `params` and ignores them, as mlflow.sklearn's
/// and mlflow.lightgbm's wrappers do.
pub trait ParamsEngine: Send + Sync {
    /// Predicts `request` (what the engine's [`Model::predict`] takes) with `params`, already checked against
    /// the signature's params schema and never empty. A param the flavour's `predict` does not take, or a value
    /// it refuses, is [`ModelError::BadInput`] with the library's words.
    fn predict_with_params(
        &self,
        request: PredictRequest,
        params: &Params,
    ) -> Result<PredictResponse, ModelError>;
}

/// An MLflow model: an engine behind pyfunc's input handling.
pub struct MlflowModel {
    params_engine: Option<Arc<dyn ParamsEngine>>,
    engine: Arc<dyn Model>,
    engine_input: String,
    engine_tables: bool,
    outputs: Outputs,
    /// The name pyfunc's array answer takes outside `/invocations` (the output signature's, else
    /// [`scoring::PREDICTIONS`]).
    array_name: String,
    signature: Option<Signature>,
    metadata: ModelMetadata,
}

impl std::fmt::Debug for MlflowModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MlflowModel")
            .field("outputs", &self.outputs)
            .field("signature", &self.signature)
            .finish_non_exhaustive()
    }
}

impl MlflowModel {
    /// Wraps `engine` for a model saved with `signature`. The engine takes one float64 matrix (its first input),
    /// or, when it reads tables ([`Model::accepts_table`]), the enforced columns by name.
    pub fn new(engine: Arc<dyn Model>, outputs: Outputs, signature: Option<Signature>) -> Self {
        let engine_meta = engine.metadata();
        let engine_input = engine_meta
            .inputs
            .first()
            .map_or_else(|| "input-0".to_owned(), |i| i.name.clone());
        let inputs = match &signature {
            Some(sig) if sig.named_columns() => sig
                .inputs
                .iter()
                .map(|s| {
                    TensorSpec::new(
                        s.name.clone().unwrap_or_default(),
                        col_dtype(s.ty),
                        vec![-1],
                    )
                })
                .collect(),
            Some(sig) => vec![TensorSpec::new(
                "input-0",
                sig.inputs
                    .first()
                    .map_or(DataType::F64, |s| col_dtype(s.ty)),
                vec![-1, i64::try_from(sig.inputs.len()).unwrap_or(-1)],
            )],
            None => engine_meta.inputs.clone(),
        };
        let array_name = signature
            .as_ref()
            .and_then(Signature::output_name)
            .unwrap_or(scoring::PREDICTIONS)
            .to_owned();
        let outputs_meta = match &outputs {
            Outputs::Array(name) => {
                let spec = engine_meta
                    .outputs
                    .iter()
                    .find(|o| name.as_ref().is_none_or(|n| &o.name == n))
                    .cloned()
                    .unwrap_or_else(|| TensorSpec::new("", DataType::F64, vec![-1]));
                vec![TensorSpec {
                    name: array_name.clone(),
                    ..spec
                }]
            }
            Outputs::Columns(_) | Outputs::Records(_) => engine_meta.outputs.clone(),
        };
        let metadata = ModelMetadata {
            platform: format!("mlflow_{}", engine_meta.platform),
            inputs,
            outputs: outputs_meta,
        };
        MlflowModel {
            params_engine: None,
            engine_tables: engine.accepts_table(),
            engine,
            engine_input,
            outputs,
            array_name,
            signature,
            metadata,
        }
    }

    /// The engine applies `params` through `engine` (mlflow.xgboost); without one they are checked and dropped.
    pub fn with_params_engine(mut self, engine: Arc<dyn ParamsEngine>) -> Self {
        self.params_engine = Some(engine);
        self
    }

    /// The signature the model was saved with.
    pub fn signature(&self) -> Option<&Signature> {
        self.signature.as_ref()
    }

    /// A request's `params` as pyfunc's `_validate_params` takes them: checked and converted against the
    /// signature's params schema, defaults filled ([`Signature::enforce_params`]); without a params schema every
    /// param is ignored, as MLflow ignores them (with a warning). A wrong type or shape is MLflow's message.
    pub fn check_params(&self, given: Option<&Params>) -> Result<Params, ModelError> {
        let declared = self.signature.as_ref().filter(|s| !s.params.is_empty());
        let Some(sig) = declared else {
            if given.is_some_and(|g| !g.is_empty()) {
                tracing::warn!(
                    "the model's signature defines no params schema; the request's params are ignored, as \
                     MLflow ignores them"
                );
            }
            return Ok(Params::new());
        };
        let (params, ignored) = sig.enforce_params(given)?;
        if !ignored.is_empty() {
            tracing::warn!(
                ?ignored,
                "params the signature does not declare are ignored, as MLflow ignores them"
            );
        }
        Ok(params)
    }

    /// Runs pyfunc's `predict` on a table with the request's `params`: the signature enforced on the input,
    /// then on `params` ([`MlflowModel::check_params`]), in pyfunc's order; the engine called (with the params
    /// where the flavour applies them); its answer as `/invocations` writes it (one array named
    /// [`scoring::PREDICTIONS`], or the DataFrame's columns).
    pub fn predict_frame(
        &self,
        frame: &Frame,
        given: Option<&Params>,
    ) -> Result<Vec<NamedTensor>, ModelError> {
        let table = signature::enforce_table(self.signature.as_ref(), frame)?;
        let params = self.check_params(given)?;
        let asked = match &self.outputs {
            Outputs::Array(name) => name.iter().cloned().collect(),
            Outputs::Columns(names) | Outputs::Records(names) => names.clone(),
        };
        // A model that reads tables gets named columns as pyfunc hands it a DataFrame; positional numbers stay
        // the matrix they are (a numpy array).
        let strings = table.columns().iter().any(|c| !c.data.is_numeric());
        let request = if self.engine_tables && (strings || !table.is_positional()) {
            PredictRequest::from_table(table, asked)
        } else {
            let (rows, cols) = (table.rows(), table.columns().len());
            let values = table.to_matrix().map_err(|e| {
                ModelError::BadInput(format!(
                    "{e}: the `{}` flavour's model takes numbers only",
                    self.metadata.platform
                ))
            })?;
            let x = Tensor::new(vec![rows, cols], TensorData::F64(values))?;
            PredictRequest {
                inputs: vec![NamedTensor::new(self.engine_input.clone(), x)],
                outputs: asked,
            }
        };
        let reply = match &self.params_engine {
            Some(engine) if !params.is_empty() => engine.predict_with_params(request, &params)?,
            _ => self.engine.predict(request)?,
        };
        Ok(match &self.outputs {
            Outputs::Array(_) => reply
                .outputs
                .into_iter()
                .take(1)
                .map(|o| NamedTensor::new(scoring::PREDICTIONS, o.tensor))
                .collect(),
            Outputs::Columns(_) | Outputs::Records(_) => reply.outputs,
        })
    }
}

/// The outputs a request asked for by name, in its order (all of them when it names none); an unknown name is
/// the metadata's error.
pub fn pick_outputs(
    mut outputs: Vec<NamedTensor>,
    asked: &[String],
    metadata: &ModelMetadata,
) -> Result<PredictResponse, ModelError> {
    if asked.is_empty() {
        return Ok(PredictResponse { outputs });
    }
    let mut picked = Vec::with_capacity(asked.len());
    for name in asked {
        let at = outputs
            .iter()
            .position(|o| &o.name == name)
            .ok_or_else(|| metadata.unknown_output(name))?;
        picked.push(outputs.swap_remove(at));
    }
    Ok(PredictResponse { outputs: picked })
}

/// Removes the request's parameters input ([`REQUEST_PARAMETERS_INPUT`]) and reads its JSON object.
fn take_params(inputs: &mut Vec<NamedTensor>) -> Result<Option<Params>, ModelError> {
    let Some(at) = inputs
        .iter()
        .position(|i| i.name == REQUEST_PARAMETERS_INPUT)
    else {
        return Ok(None);
    };
    let input = inputs.remove(at);
    let text = match input.tensor.data() {
        TensorData::Bytes(v) if v.len() == 1 => &v[0],
        _ => {
            return Err(ModelError::BadInput(format!(
                "`{REQUEST_PARAMETERS_INPUT}` must hold one JSON object of params"
            )));
        }
    };
    match serde_json::from_slice(text) {
        Ok(serde_json::Value::Object(map)) => Ok(Some(map)),
        _ => Err(ModelError::BadInput(format!(
            "`{REQUEST_PARAMETERS_INPUT}` must hold one JSON object of params"
        ))),
    }
}

fn col_dtype(ty: ColType) -> DataType {
    match ty {
        ColType::Double => DataType::F64,
        ColType::Float => DataType::F32,
        ColType::Long => DataType::I64,
        ColType::Integer => DataType::I32,
        ColType::Boolean => DataType::Bool,
        ColType::String => DataType::Bytes,
    }
}

impl Model for MlflowModel {
    fn metadata(&self) -> &ModelMetadata {
        &self.metadata
    }

    /// A request's tensors as pyfunc's input ([`Frame::from_inputs`]); outputs asked by name are matched
    /// against the model's (a request naming none gets them all). pyfunc's array is named as the output signature
    /// names it; asking for [`scoring::PREDICTIONS`] alone answers as `/invocations` does (the array under that
    /// name, or every DataFrame column).
    /// pyfunc's `params` come as the request's parameters ([`Model::takes_request_parameters`]: a V2
    /// request's, as MLServer's MLflow runtime passes them; `/invocations` sends its body's `params` the same
    /// way), checked after the input as pyfunc checks them.
    fn predict(&self, mut request: PredictRequest) -> Result<PredictResponse, ModelError> {
        let given = take_params(&mut request.inputs)?;
        let frame = Frame::from_inputs(&request.inputs)?;
        let mut outputs = self.predict_frame(&frame, given.as_ref())?;
        if request.outputs == [scoring::PREDICTIONS] {
            return Ok(PredictResponse { outputs });
        }
        if let Outputs::Array(_) = self.outputs {
            for o in &mut outputs {
                o.name.clone_from(&self.array_name);
            }
        }
        pick_outputs(outputs, &request.outputs, &self.metadata)
    }

    /// A 2-D array answer's columns, named by an output signature of as many named columns (Seldon's `names`).
    fn column_names(&self, output: &str) -> Option<Vec<String>> {
        let sig = self.signature.as_ref()?;
        (matches!(self.outputs, Outputs::Array(_))
            && output == self.array_name
            && sig.output_names.len() > 1
            && sig.output_names.len() == sig.output_count)
            .then(|| sig.output_names.clone())
    }

    /// pyfunc takes a DataFrame: mixed rows, named columns and records reach the model as columns.
    fn accepts_table(&self) -> bool {
        true
    }

    /// pyfunc's `params` (MLServer's MLflow runtime passes a V2 request's extra parameters).
    fn takes_request_parameters(&self) -> bool {
        true
    }

    fn row_cost(&self) -> Option<u64> {
        self.engine.row_cost()
    }
}
