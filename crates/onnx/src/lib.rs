//! ONNX models as [`oxserve_core::Model`]s, run by ONNX Runtime through `ort` with its `load-dynamic` feature.
//!
//! - The library: `libonnxruntime.so` is not linked in but loaded at start-up from `ORT_DYLIB_PATH`, else from
//!   beside the executable (see [`find_library`]); `scripts/fetch-onnxruntime.sh` extracts it from the PyPI wheel
//!   `onnxruntime==1.31.1`, the C API ort 2.0.0-rc.15 targets. One ort environment per process.
//! - The model: `model.onnx` in the model folder, or TF Serving's `<base>/<version>/model.onnx` (highest version
//!   served); see [`find_model`].
//! - The graph's signature is the metadata: every tensor input and output with its element type and shape (`-1`
//!   for dynamic dimensions). Non-tensor outputs (skl2onnx's ZipMap `seq(map)`) are left out of the metadata and
//!   never returned: export scikit-learn classifiers with `options={id(clf): {"zipmap": False}}`.
//! - Predict: request tensors are converted to each input's element type (numbers to floats as numpy's `astype`
//!   does; to integers only when integral and in range; strings only to string inputs), checked against the
//!   signature's rank and fixed dimensions, and run; the outputs asked for by name come back, all tensor outputs
//!   in graph order by default.
//! - Concurrency: ort's `Session::run` takes `&mut self` (ort says some ONNX Runtime internals are not thread
//!   safe), so one session sits behind a `Mutex`. Its intra-op thread pool already spreads one call over every
//!   CPU the process may use, so a second concurrent call would only compete for the same cores.

mod convert;
mod layout;
mod library;

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use ort::session::{OutputSelector, RunOptions, Session};
use ort::value::{DynValue, TensorElementType, ValueType};
use oxserve_core::{
    Model, ModelError, ModelMetadata, NamedTensor, PredictRequest, PredictResponse, TensorSpec,
};

pub use env::ORT_DYLIB_PATH;
pub use layout::{MODEL_FILE, ModelFile, SAVED_MODEL_FILE, find_model};
pub use library::{ONNXRUNTIME_VERSION, environment, find_library};

/// Env vars this crate reads, named once (README's configuration table lists them).
pub mod env {
    /// The environment variable naming the ONNX Runtime library (ort's own name for it).
    pub const ORT_DYLIB_PATH: &str = "ORT_DYLIB_PATH";
    /// Every name above.
    pub const ALL: &[&str] = &[ORT_DYLIB_PATH];
}

/// The V2 metadata `platform` of an ONNX model: Triton's name for its ONNX Runtime backend.
pub const PLATFORM: &str = "onnxruntime_onnx";

/// Why a model could not be loaded.
#[derive(Debug, Clone, thiserror::Error)]
pub enum OnnxError {
    /// No ONNX Runtime library was found.
    #[error(
        "ONNX Runtime library not found (tried {tried}); run scripts/fetch-onnxruntime.sh and set {ORT_DYLIB_PATH} \
         to the path it prints, or put libonnxruntime.so.{ONNXRUNTIME_VERSION} beside the server binary"
    )]
    LibraryNotFound {
        /// The places looked at.
        tried: String,
    },
    /// The library was found but could not be loaded or initialised.
    #[error(
        "cannot load ONNX Runtime from {path}: {reason} (oxserve needs onnxruntime {ONNXRUNTIME_VERSION}, as \
         scripts/fetch-onnxruntime.sh fetches it)"
    )]
    LibraryLoad {
        /// The library file.
        path: PathBuf,
        /// ort's error.
        reason: String,
    },
    /// No model file in the folder.
    #[error("no ONNX model in {dir}: looked for {looked_for}")]
    NoModel {
        /// The model folder.
        dir: PathBuf,
        /// What was looked for.
        looked_for: String,
    },
    /// A TensorFlow SavedModel without an ONNX file next to it.
    #[error("found a TensorFlow SavedModel but no ONNX file; convert it with: {command}")]
    SavedModel {
        /// The `tf2onnx` command that converts it.
        command: String,
    },
    /// The ONNX file could not be read or is not a valid model.
    #[error("cannot load the ONNX model {path}: {reason}")]
    Session {
        /// The model file.
        path: PathBuf,
        /// ONNX Runtime's error.
        reason: String,
    },
    /// The model uses an input type this server cannot feed.
    #[error("the ONNX model {path} is not supported: {reason}")]
    Unsupported {
        /// The model file.
        path: PathBuf,
        /// What is not supported.
        reason: String,
    },
    /// A file-system error.
    #[error("cannot read {path}: {reason}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The error.
        reason: String,
    },
}

/// How to load a model.
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// Intra-op threads of the session; `None` means `std::thread::available_parallelism()` (which respects
    /// cgroup CPU quotas and affinity masks).
    pub intra_op_threads: Option<usize>,
    /// A folder to look for `libonnxruntime.so*` in after `ORT_DYLIB_PATH` and the executable's folder.
    pub library_fallback: Option<PathBuf>,
}

#[derive(Debug)]
struct Input {
    name: String,
    ty: TensorElementType,
    shape: Vec<i64>,
}

/// An ONNX model with its session, built once at load.
#[derive(Debug)]
pub struct OnnxModel {
    session: Mutex<Session>,
    inputs: Vec<Input>,
    metadata: ModelMetadata,
    file: ModelFile,
    intra_op_threads: usize,
    /// Every graph output is a served tensor, so a default request need not select outputs.
    only_tensor_outputs: bool,
}

fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
}

impl OnnxModel {
    /// Finds the model in `dir` (see [`find_model`]) and builds its session.
    pub fn load(dir: &Path, options: &LoadOptions) -> Result<Self, OnnxError> {
        let file = find_model(dir)?;
        Self::load_file(file, options)
    }

    /// Builds the session of one `.onnx` file.
    pub fn load_file(file: ModelFile, options: &LoadOptions) -> Result<Self, OnnxError> {
        let env = environment(options.library_fallback.as_deref())?;
        let threads = options
            .intra_op_threads
            .unwrap_or_else(default_threads)
            .max(1);
        let session_err = |e: ort::Error| OnnxError::Session {
            path: file.path.clone(),
            reason: e.to_string(),
        };
        let session = Session::builder(env)
            .and_then(|b| b.with_intra_threads(threads).map_err(Into::into))
            .and_then(|b| b.with_inter_threads(1).map_err(Into::into))
            .map_err(session_err)?
            .commit_from_file(&file.path)
            .map_err(session_err)?;
        let unsupported = |reason: String| OnnxError::Unsupported {
            path: file.path.clone(),
            reason,
        };
        let mut inputs = Vec::new();
        let mut input_specs = Vec::new();
        for outlet in session.inputs() {
            let (ty, shape) = match outlet.dtype() {
                ValueType::Tensor { ty, shape, .. } => (*ty, shape.to_vec()),
                other => {
                    return Err(unsupported(format!(
                        "input `{}` is a {other:?}, not a tensor",
                        outlet.name()
                    )));
                }
            };
            let datatype = convert::core_type(ty).ok_or_else(|| {
                unsupported(format!(
                    "input `{}` has the element type {ty:?}",
                    outlet.name()
                ))
            })?;
            input_specs.push(TensorSpec::new(outlet.name(), datatype, shape.clone()));
            inputs.push(Input {
                name: outlet.name().to_owned(),
                ty,
                shape,
            });
        }
        let mut outputs = Vec::new();
        for outlet in session.outputs() {
            match outlet.dtype() {
                ValueType::Tensor { ty, shape, .. } => match convert::core_type(*ty) {
                    Some(datatype) => {
                        outputs.push(TensorSpec::new(outlet.name(), datatype, shape.to_vec()))
                    }
                    None => tracing::warn!(
                        output = outlet.name(),
                        "output of element type {ty:?} is not served"
                    ),
                },
                other => tracing::warn!(
                    output = outlet.name(),
                    "output is a {other:?}, not a tensor, and is not served (skl2onnx: export with zipmap=False)"
                ),
            }
        }
        if outputs.is_empty() {
            return Err(unsupported(
                "the graph has no tensor output (a skl2onnx classifier exported with its ZipMap? use \
                 options={id(clf): {\"zipmap\": False}})"
                    .to_owned(),
            ));
        }
        let only_tensor_outputs = outputs.len() == session.outputs().len();
        Ok(OnnxModel {
            only_tensor_outputs,
            session: Mutex::new(session),
            inputs,
            metadata: ModelMetadata {
                platform: PLATFORM.to_owned(),
                inputs: input_specs,
                outputs,
            },
            file,
            intra_op_threads: threads,
        })
    }

    /// The file served and its TF Serving version directory.
    pub fn file(&self) -> &ModelFile {
        &self.file
    }

    /// The session's intra-op thread count.
    pub fn intra_op_threads(&self) -> usize {
        self.intra_op_threads
    }

    /// Matches the request's tensors to the graph's inputs: by name, or a single unnamed tensor (Seldon's) to a
    /// single-input graph.
    fn bind(&self, inputs: Vec<NamedTensor>) -> Result<Vec<(usize, NamedTensor)>, ModelError> {
        let names = || {
            self.inputs
                .iter()
                .map(|i| format!("`{}`", i.name))
                .collect::<Vec<_>>()
                .join(", ")
        };
        if self.inputs.len() == 1 && inputs.len() == 1 {
            return Ok(inputs.into_iter().map(|t| (0, t)).collect());
        }
        let mut bound: Vec<Option<NamedTensor>> = self.inputs.iter().map(|_| None).collect();
        for tensor in inputs {
            let Some(index) = self.inputs.iter().position(|i| i.name == tensor.name) else {
                return Err(ModelError::BadInput(format!(
                    "unknown input `{}`; the model's inputs are {}",
                    tensor.name,
                    names()
                )));
            };
            if bound[index].replace(tensor).is_some() {
                return Err(ModelError::BadInput(format!(
                    "input `{}` given twice",
                    self.inputs[index].name
                )));
            }
        }
        let missing: Vec<String> = self
            .inputs
            .iter()
            .zip(&bound)
            .filter(|(_, b)| b.is_none())
            .map(|(i, _)| format!("`{}`", i.name))
            .collect();
        if !missing.is_empty() {
            return Err(ModelError::BadInput(format!(
                "missing input {}; the model's inputs are {}",
                missing.join(", "),
                names()
            )));
        }
        Ok(bound
            .into_iter()
            .enumerate()
            .filter_map(|(i, t)| t.map(|t| (i, t)))
            .collect())
    }

    fn check_shape(input: &Input, shape: &[usize]) -> Result<(), ModelError> {
        let fits = shape.len() == input.shape.len()
            && input
                .shape
                .iter()
                .zip(shape)
                .all(|(&want, &got)| want < 0 || usize::try_from(want).is_ok_and(|w| w == got));
        if fits {
            Ok(())
        } else {
            Err(ModelError::BadInput(format!(
                "input `{}` expects shape {:?} (-1: any size) but got {:?}",
                input.name, input.shape, shape
            )))
        }
    }

    fn outputs_wanted(&self, requested: Vec<String>) -> Result<Vec<String>, ModelError> {
        if requested.is_empty() {
            return Ok(self
                .metadata
                .outputs
                .iter()
                .map(|o| o.name.clone())
                .collect());
        }
        for name in &requested {
            if !self.metadata.outputs.iter().any(|o| &o.name == name) {
                return Err(self.metadata.unknown_output(name));
            }
        }
        Ok(requested)
    }

    /// Runs the session on prepared values, returning the named outputs; `all` means every graph output is computed.
    fn run(
        &self,
        values: Vec<(String, DynValue)>,
        wanted: &[String],
        all: bool,
    ) -> Result<PredictResponse, ModelError> {
        // A panic while the lock was held cannot leave the session half-updated from our side; keep serving.
        let mut session = self
            .session
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let collect =
            |outputs: &ort::session::SessionOutputs<'_>| -> Result<PredictResponse, ModelError> {
                let mut out = Vec::with_capacity(wanted.len());
                for name in wanted {
                    let value = outputs.get(name).ok_or_else(|| {
                        ModelError::Internal(format!("ONNX Runtime returned no output `{name}`"))
                    })?;
                    out.push(NamedTensor::new(
                        name.clone(),
                        convert::from_value(name, value)?,
                    ));
                }
                Ok(PredictResponse { outputs: out })
            };
        if all {
            let outputs = session.run(values).map_err(run_error)?;
            collect(&outputs)
        } else {
            let selector = wanted
                .iter()
                .fold(OutputSelector::no_default(), |s, n| s.with(n.clone()));
            let options = RunOptions::new().map_err(run_error)?.with_outputs(selector);
            let outputs = session
                .run_with_options(values, &options)
                .map_err(run_error)?;
            collect(&outputs)
        }
    }
}

/// ONNX Runtime's error for one run. Inputs were checked against the signature already, so what still fails is
/// about the data (inconsistent batch sizes between inputs, an index out of range for a Gather, ...): invalid
/// arguments and node failures are the client's; anything else is the server's.
fn run_error(err: ort::Error) -> ModelError {
    use ort::error::ErrorCode;
    let message = err.to_string();
    match err.code() {
        ErrorCode::InvalidArgument => {
            ModelError::BadInput(format!("ONNX Runtime rejected the input: {message}"))
        }
        ErrorCode::RuntimeException | ErrorCode::GenericFailure
            if message.contains("while running") =>
        {
            ModelError::BadInput(format!("the model failed on this input: {message}"))
        }
        _ => ModelError::Internal(format!("ONNX Runtime: {message}")),
    }
}

impl Model for OnnxModel {
    fn metadata(&self) -> &ModelMetadata {
        &self.metadata
    }

    fn predict(&self, request: PredictRequest) -> Result<PredictResponse, ModelError> {
        let all = request.outputs.is_empty() && self.only_tensor_outputs;
        let wanted = self.outputs_wanted(request.outputs)?;
        let bound = self.bind(request.inputs)?;
        let mut values = Vec::with_capacity(bound.len());
        for (index, tensor) in bound {
            let input = &self.inputs[index];
            Self::check_shape(input, tensor.tensor.shape())?;
            values.push((
                input.name.clone(),
                convert::to_value(&input.name, input.ty, tensor.tensor)?,
            ));
        }
        self.run(values, &wanted, all)
    }

    fn runs_inline(&self) -> bool {
        false
    }
}
