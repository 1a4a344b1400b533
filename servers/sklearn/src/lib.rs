//! SKLEARN_SERVER: a scikit-learn estimator (read from the user's own `model.joblib` by the safe pickle reader)
//! behind the oxserve runtime.
//!
//! - Model file: `model.joblib` in the model folder (as Seldon's server), else `model.pkl` / `model.pickle`
//!   (as MLServer's), else `model.skops` (skops' format, MLflow 3's default for scikit-learn).
//! - Parameter `method`: `predict_proba` (default, as in Seldon), `predict`, `decision_function`; any other value
//!   means `predict`, as in Seldon. A model without the asked method answers with `predict` (a transformer, which has
//!   no `predict`, with `transform`) and the server logs why at start-up; metadata lists only the methods the model
//!   answers.
//! - V2 outputs are named after methods (`predict`, `predict_proba`, ...), as MLServer's sklearn runtime names them.
//! - KServe V1 (`/v1/models/{name}:predict`) answers `predict`, or `predict_proba` when `PREDICT_PROBA=true` and
//!   the model has it, as KServe's sklearnserver does, whatever the `method` parameter says ([`SklearnArgs`]).

use std::path::{Path, PathBuf};

use oxserve_core::{
    DataType, Model, ModelError, ModelMetadata, NamedTensor, PredictRequest, PredictResponse,
    Tensor, TensorData, TensorSpec,
};
use oxserve_sklearn::{Estimator, Labels, Matrix, Method, Output, SklearnError};

/// The model file names tried in a model folder, in order.
/// `model.skops` (skops' zip of `schema.json` and `.npy` arrays, MLflow 3's default) is read by the same reader's
/// skops front end, under the same allowlist and memory budget.
pub const MODEL_FILES: [&str; 4] = ["model.joblib", "model.pkl", "model.pickle", "model.skops"];

/// Parameters this server accepts (besides `model_uri`).
pub const PARAMETERS: [&str; 1] = ["method"];

/// The binary: what `sklearn-server --help` says first.
pub const SERVER: oxserve_runtime::Server = oxserve_runtime::Server {
    name: "sklearn-server",
    about: "SKLEARN_SERVER (Seldon Core, MLServer, KServe) without Python: serves a scikit-learn estimator from \
            model.joblib, model.pkl or model.pickle (read by a safe pickle reader that never executes code), or a \
            Rust model from model.smartcore.json / model.linfa.json, over Seldon v1, V2 REST and gRPC, and KServe V1.",
    parameters: &PARAMETERS,
};

/// sklearn-server's own flag: KServe's sklearnserver reads `PREDICT_PROBA` from its env.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct SklearnArgs {
    /// KServe V1's `:predict` answers `predict_proba` (when the model has it) instead of `predict`: `true` in
    /// any case, as KServe's sklearnserver reads `PREDICT_PROBA`; any other value means `predict`.
    #[arg(long = "predict-proba", env = oxserve_runtime::config::env::PREDICT_PROBA, value_name = "BOOL")]
    pub predict_proba: Option<String>,
}

impl SklearnArgs {
    /// Whether V1 answers `predict_proba` (KServe's test: the value, lower-cased, is `true`).
    pub fn wants_proba(&self) -> bool {
        self.predict_proba
            .as_deref()
            .is_some_and(|v| v.eq_ignore_ascii_case("true"))
    }
}

impl oxserve_runtime::ServerArgs for SklearnArgs {
    /// KServe V1 answers `predict_proba` then `predict` (`PREDICT_PROBA=true`), else `predict`: the first the
    /// loaded model has; a transformer, which has neither, answers its default output.
    fn extensions(&self, extensions: oxserve_runtime::Extensions) -> oxserve_runtime::Extensions {
        let preferred: &[&'static str] = if self.wants_proba() {
            &["predict_proba", "predict"]
        } else {
            &["predict"]
        };
        extensions.with_kserve_v1_outputs(preferred)
    }
}

/// A loaded scikit-learn estimator served as a [`Model`].
#[derive(Debug)]
pub struct SklearnModel {
    estimator: Box<dyn Estimator>,
    default_method: Method,
    metadata: ModelMetadata,
    /// A table model's columns, for V2 metadata ([`Model::table_columns`]).
    columns: Option<Vec<TensorSpec>>,
}

/// Finds the model file in a folder (or accepts a file path).
pub fn find_model_file(dir: &Path) -> anyhow::Result<PathBuf> {
    if dir.is_file() {
        return Ok(dir.to_path_buf());
    }
    MODEL_FILES
        .iter()
        .map(|name| dir.join(name))
        .find(|p| p.is_file())
        .ok_or_else(|| anyhow::anyhow!("no {} in {}", MODEL_FILES.join(" / "), dir.display()))
}

impl SklearnModel {
    /// Loads the estimator in `dir` and picks the method Seldon's `method` parameter names, within the default
    /// model memory budget.
    pub fn load(dir: &Path, method: Option<&str>) -> anyhow::Result<Self> {
        Self::load_with_budget(dir, method, None)
    }

    /// [`SklearnModel::load`] with `--max-model-memory` (`None`: half of the container's memory limit). A file that
    /// needs more is refused before the memory is allocated, with an error naming the budget and the flag.
    pub fn load_with_budget(
        dir: &Path,
        method: Option<&str>,
        max_model_memory: Option<u64>,
    ) -> anyhow::Result<Self> {
        let file = find_model_file(dir)?;
        let limits = oxserve_pickle::Limits {
            max_memory_bytes: max_model_memory
                .unwrap_or_else(oxserve_pickle::default_memory_budget),
            ..oxserve_pickle::Limits::default()
        };
        let skops = file.extension().is_some_and(|e| e == "skops");
        let read = if skops {
            oxserve_pickle::load_skops_file(&file, &limits)
        } else {
            oxserve_pickle::load_file_with(&file, &limits)
        };
        let value = read.map_err(|e| {
            use oxserve_pickle::PickleError::{DecompressedTooLarge, MemoryBudget};
            let over_budget = matches!(e, MemoryBudget { .. } | DecompressedTooLarge { .. });
            let e = anyhow::Error::new(e);
            if over_budget {
                e.context(format!(
                    "{} does not fit the model memory budget (raise it with --max-model-memory or {})",
                    file.display(),
                    oxserve_runtime::config::env::MAX_MODEL_MEMORY
                ))
            } else {
                e
            }
        })?;
        let estimator = oxserve_sklearn::build(&value)?;
        Ok(Self::new(estimator, method))
    }

    /// Wraps an estimator.
    pub fn new(estimator: Box<dyn Estimator>, method: Option<&str>) -> Self {
        let wanted = match method.unwrap_or("predict_proba") {
            "predict_proba" => Method::PredictProba,
            "decision_function" => Method::DecisionFunction,
            // Seldon's SKLearnServer calls `predict` for any other value.
            _ => Method::Predict,
        };
        let default_method = default_method(estimator.as_ref(), wanted);
        if default_method != wanted {
            tracing::warn!(
                estimator = estimator.class_name(),
                method = wanted.name(),
                "the estimator has no {}; answering with {}",
                wanted.name(),
                default_method.name()
            );
        }
        let n = estimator
            .n_features_in()
            .and_then(|n| i64::try_from(n).ok())
            .unwrap_or(-1);
        // Only what the estimator answers, the default first: a bare scaler lists `transform`, not `predict`.
        let methods: Vec<Method> = std::iter::once(default_method)
            .chain(Method::ALL.into_iter().filter(|&m| m != default_method))
            .filter(|&m| estimator.supports(m))
            .collect();
        let outputs = methods
            .iter()
            .map(|&m| {
                let (dtype, shape) = match m {
                    Method::Predict => (label_dtype(estimator.classes()), vec![-1]),
                    Method::PredictProba => (
                        DataType::F64,
                        vec![-1, estimator.classes().map_or(-1, |c| c.len() as i64)],
                    ),
                    _ => (DataType::F64, vec![-1, -1]),
                };
                TensorSpec::new(m.name(), dtype, shape)
            })
            .collect();
        // A model whose first step takes raw documents declares one BYTES input of N documents: the runtime then
        // hands it strings (a Seldon `ndarray` of strings, `strData`, `jsonData`, a V2 BYTES tensor).
        let input = if estimator.takes_strings() {
            TensorSpec::new("input-0", DataType::Bytes, vec![-1])
        } else {
            TensorSpec::new("input-0", DataType::F64, vec![-1, n])
        };
        // A model that reads any keys (a `DictVectorizer`) has no columns to list.
        let columns = (!estimator.takes_strings()
            && estimator.takes_table()
            && (estimator.feature_names_in().is_some() || n >= 0))
            .then(|| table_inputs(estimator.as_ref(), n));
        let metadata = ModelMetadata {
            platform: "sklearn".into(),
            inputs: vec![input],
            outputs,
        };
        SklearnModel {
            estimator,
            default_method,
            metadata,
            columns,
        }
    }

    /// The method answered when a request names none.
    pub fn default_method(&self) -> Method {
        self.default_method
    }

    /// The estimator.
    pub fn estimator(&self) -> &dyn Estimator {
        self.estimator.as_ref()
    }
}

/// A table model's inputs, one per column as MLServer's pandas codec sends them: named after
/// `feature_names_in_` (`0`, `1`, … for a model fitted on an object array), `BYTES` where the fitted
/// transformers read strings and `FP64` elsewhere (a fitted pipeline does not record whether a numeric column was
/// int64 or bool; FP64 carries either).
fn table_inputs(estimator: &dyn Estimator, n: i64) -> Vec<TensorSpec> {
    let names: Vec<String> = match estimator.feature_names_in() {
        Some(names) => names.to_vec(),
        None => oxserve_core::Table::positional_names(usize::try_from(n).unwrap_or(0)),
    };
    let strings = estimator.string_columns().unwrap_or_default();
    names
        .into_iter()
        .enumerate()
        .map(|(i, name)| {
            let dtype = if strings.get(i) == Some(&true) {
                DataType::Bytes
            } else {
                DataType::F64
            };
            TensorSpec::new(name, dtype, vec![-1])
        })
        .collect()
}

/// The method answered when a request names none: the one Seldon's `method` parameter asks for when the estimator
/// has it, else `predict`, else (a transformer: a bare scaler, a pipeline ending in one) the first method it has in
/// [`Method::ALL`]'s order (`transform` for transformers).
fn default_method(estimator: &dyn Estimator, wanted: Method) -> Method {
    std::iter::once(wanted)
        .chain(Method::ALL)
        .find(|&m| estimator.supports(m))
        .unwrap_or(Method::Predict)
}

fn label_dtype(classes: Option<&Labels>) -> DataType {
    match classes {
        Some(Labels::Int(_)) => DataType::I64,
        Some(Labels::Str(_)) => DataType::Bytes,
        _ => DataType::F64,
    }
}

fn model_error(e: SklearnError) -> ModelError {
    match e {
        SklearnError::BadInput(m) => ModelError::BadInput(m),
        e @ SklearnError::NoMethod { .. } => ModelError::BadInput(e.to_string()),
        e => ModelError::Internal(e.to_string()),
    }
}

/// Reads the request's single input as a rows × features float64 matrix.
fn input_matrix(request: &PredictRequest) -> Result<Matrix, ModelError> {
    let [input] = request.inputs.as_slice() else {
        return Err(ModelError::BadInput(format!(
            "SKLEARN_SERVER takes exactly one input tensor, got {}",
            request.inputs.len()
        )));
    };
    let (rows, cols) = match *input.tensor.shape() {
        [rows, cols] => (rows, cols),
        [cols] => (1, cols),
        ref other => {
            return Err(ModelError::BadInput(format!(
                "expected a 2-D array (rows x features), got shape {other:?}"
            )));
        }
    };
    let values = input.tensor.to_f64_vec()?;
    Matrix::new(rows, cols, values).map_err(model_error)
}

/// What a request hands the estimator: numbers (rows × features), raw documents (borrowed from the request),
/// or a table.
enum Batch<'r> {
    Numbers(Matrix),
    Docs(Vec<&'r str>),
    Table(oxserve_core::Table),
}

/// The request's documents when its single input is a BYTES tensor: shape `[N]` (a 1-D Seldon `ndarray` of
/// strings, a V2 BYTES input, `strData` as `[1]`) or `[N, 1]` is N documents, as Seldon's server hands the array
/// to scikit-learn. `None` for a numeric input (which the text model then refuses, naming what it takes).
fn input_documents(request: &PredictRequest) -> Result<Option<Vec<&str>>, ModelError> {
    let [input] = request.inputs.as_slice() else {
        return Ok(None);
    };
    let TensorData::Bytes(strings) = input.tensor.data() else {
        return Ok(None);
    };
    match *input.tensor.shape() {
        [_] | [_, 1] => {}
        ref other => {
            return Err(ModelError::BadInput(format!(
                "expected a 1-D array of documents (strings), got shape {other:?}"
            )));
        }
    }
    // A V2 `null` among the documents: scikit-learn's vectorizers refuse `None`.
    if let Some(index) = input
        .tensor
        .missing()
        .and_then(|m| m.iter().position(|&missing| missing))
    {
        return Err(ModelError::BadInput(format!(
            "np.nan is an invalid document, expected byte or unicode string (document {index} is null)"
        )));
    }
    strings
        .iter()
        .enumerate()
        .map(|(i, b)| {
            std::str::from_utf8(b)
                .map_err(|e| ModelError::BadInput(format!("document {i} is not valid UTF-8: {e}")))
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

fn output_tensor(output: Output) -> Result<Tensor, ModelError> {
    let tensor = match output {
        Output::Labels(Labels::Int(v)) => Tensor::new(vec![v.len()], TensorData::I64(v)),
        Output::Labels(Labels::Float(v)) | Output::Column(v) => {
            Tensor::new(vec![v.len()], TensorData::F64(v))
        }
        Output::Labels(Labels::Str(v)) => Tensor::new(
            vec![v.len()],
            TensorData::Bytes(v.into_iter().map(String::into_bytes).collect()),
        ),
        Output::Matrix(m) => {
            let (rows, cols) = (m.rows(), m.cols());
            Tensor::new(vec![rows, cols], TensorData::F64(m.into_data()))
        }
    };
    tensor.map_err(|e| ModelError::Internal(e.to_string()))
}

impl Model for SklearnModel {
    fn metadata(&self) -> &ModelMetadata {
        &self.metadata
    }

    fn predict(&self, request: PredictRequest) -> Result<PredictResponse, ModelError> {
        let docs = if self.estimator.takes_strings() {
            input_documents(&request)?
        } else {
            None
        };
        let x = match docs {
            Some(docs) => Batch::Docs(docs),
            None if self.estimator.takes_table() && !is_one_numeric_matrix(&request) => {
                Batch::Table(request.table()?)
            }
            None => Batch::Numbers(input_matrix(&request)?),
        };
        // The default method needs no list of its own (one allocation less on the common request).
        let requested: Vec<Method>;
        let methods: &[Method] = if request.outputs.is_empty() {
            std::slice::from_ref(&self.default_method)
        } else {
            requested = request
                .outputs
                .iter()
                .map(|name| {
                    Method::from_name(name)
                        .filter(|&m| self.estimator.supports(m))
                        .ok_or_else(|| self.metadata.unknown_output(name))
                })
                .collect::<Result<_, _>>()?;
            &requested
        };
        let mut outputs = Vec::with_capacity(methods.len());
        for &method in methods {
            let out = match &x {
                Batch::Numbers(x) => self.estimator.call(method, x),
                Batch::Docs(docs) => self.estimator.call_strings(method, docs),
                Batch::Table(t) => self.estimator.call_table(method, t),
            }
            .map_err(model_error)?;
            outputs.push(NamedTensor::new(method.name(), output_tensor(out)?));
        }
        Ok(PredictResponse { outputs })
    }

    fn row_cost(&self) -> Option<u64> {
        self.estimator.row_cost()
    }

    fn table_columns(&self) -> Option<&[TensorSpec]> {
        self.columns.as_deref()
    }

    /// MLServer's scikit-learn runtime answers every output through its NumPy codec.
    fn output_content_type(&self) -> Option<&'static str> {
        Some("np")
    }

    /// A pipeline fitted on a DataFrame (`feature_names_in_`) or with encoders fitted on strings reads tables.
    fn accepts_table(&self) -> bool {
        self.estimator.takes_table()
    }
}

/// Whether a request is one numeric matrix (the seed's fast path, also for table models fitted on numbers only:
/// positional columns, as scikit-learn takes a numpy array).
fn is_one_numeric_matrix(request: &PredictRequest) -> bool {
    match request.inputs.as_slice() {
        [input] => input.tensor.dtype() != DataType::Bytes && input.tensor.shape().len() == 2,
        _ => false,
    }
}

/// MLServer's scikit-learn runtime, the `implementation` a `model-settings.json` names for these models.
pub const IMPLEMENTATION: &str = "mlserver_sklearn.SKLearnModel";

/// Adds this server's formats to a model repository's loaders: scikit-learn pickles and joblib files and the
/// Rust-trained models, under MLServer's name (and `sklearn`, `oxserve.sklearn`), recognised by their files in
/// a folder without settings; `parameters.extra.method` as the node parameter, MLServer's adaptive batching from
/// the settings. `sklearn-server --models-dir` and `oxserve` both load through it.
pub fn register(
    registry: oxserve_runtime::repository::LoaderRegistry,
) -> oxserve_runtime::repository::LoaderRegistry {
    registry.register(
        &[IMPLEMENTATION, "sklearn", "oxserve.sklearn"],
        &[
            "model.joblib",
            "model.pkl",
            "model.pickle",
            oxserve_rustml::SMARTCORE_FILE,
            oxserve_rustml::LINFA_FILE,
        ],
        |source| {
            let parameters = source.parameters(&[])?;
            let method = parameters.get_str("method");
            let rust_file = if source.uri.is_file() {
                let name = source.uri.to_string_lossy();
                (name.ends_with(oxserve_rustml::SMARTCORE_FILE)
                    || name.ends_with(oxserve_rustml::LINFA_FILE))
                .then(|| source.uri.clone())
            } else {
                oxserve_rustml::find(&source.uri)
            };
            let model: std::sync::Arc<dyn oxserve_core::Model> = match rust_file {
                Some(path) => std::sync::Arc::new(oxserve_rustml::RustModel::load(&path, method)?),
                None => std::sync::Arc::new(SklearnModel::load(&source.uri, method)?),
            };
            Ok(oxserve_batching::batched_by_settings(
                &source.settings,
                model,
            )?)
        },
    )
}
