//! PyTorch and Hugging Face weights served without Python, on candle.
//!
//! candle reads state dicts (`model.safetensors`, `pytorch_model.bin`, `*.pt`) but runs no Python code, so this
//! crate serves the architectures it knows:
//!
//! - **BERT-family text encoders** (`config.json` with `model_type` `bert`, `roberta`, `distilbert`), tokenised
//!   from `tokenizer.json`:
//!   - *embeddings*: sentence-transformers pooling (`modules.json`, `1_Pooling/config.json`: cls, max, mean,
//!     mean_sqrt_len) over the real tokens only, L2 normalisation when a `Normalize` module follows, and
//!     `max_seq_length` from `sentence_bert_config.json`; output `embedding` FP32 `[N, dim]`;
//!   - *sequence classification* (`*ForSequenceClassification`): output `scores` FP32 `[N, labels]` (softmax,
//!     or sigmoid for `multi_label_classification` and single-logit models, as Hugging Face's
//!     text-classification pipeline applies them), column names from `id2label`, and `label` BYTES `[N]`;
//! - **an MLP** for tabular data, described by `mlp.json` (see [`mlp`]): input numbers `[N, in]`, output
//!   `output` FP32 `[N, out]`.
//!
//! Text models take one BYTES input of N UTF-8 strings, shape `[N]` or `[N, 1]`; each batch is padded to its
//! longest sequence (never to the tokenizer file's fixed length) and the attention mask keeps padding out of
//! the result, so a sentence gets the same vector alone or in a batch. A TorchScript archive is refused: it is
//! a program, not a state dict.
//!
//! Device: CPU; with the `cuda` feature, the first CUDA device when one is present.

pub mod mlp;
pub mod text;
pub mod weights;

use std::path::{Path, PathBuf};

use candle_core::Device;
use oxserve_core::{
    DataType, Model, ModelError, ModelMetadata, NamedTensor, PredictRequest, PredictResponse,
    Tensor, TensorData, TensorSpec,
};

pub use mlp::{MLP_CONFIG, MlpConfig};
pub use text::{Family, Pooling, SentencePipeline, read_sentence_pipeline};

use crate::text::{HfConfig, TextEncoder, TextOutput};

/// The name of a text model's input (MLServer's Hugging Face runtime calls it `args`); any single input is
/// accepted whatever its name.
pub const TEXT_INPUT: &str = "args";
/// The embeddings output.
pub const OUTPUT_EMBEDDING: &str = "embedding";
/// The class scores (probabilities) output of a classifier.
pub const OUTPUT_SCORES: &str = "scores";
/// The predicted label output of a classifier.
pub const OUTPUT_LABEL: &str = "label";
/// The MLP's input.
pub const MLP_INPUT: &str = "input-0";
/// The MLP's output.
pub const OUTPUT_MLP: &str = "output";

/// Why a model could not be loaded or run.
#[derive(Debug, thiserror::Error)]
pub enum CandleError {
    /// A file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A config file is malformed or inconsistent.
    #[error("{path}: {message}")]
    Config {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The weights could not be read or do not fit the architecture.
    #[error("weights {path}: {message}")]
    Weights {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A TorchScript archive.
    #[error(
        "{path} is a TorchScript archive (torch.jit.save), which runs Python-compiled code and is not supported; \
         save the state dict instead (torch.save(model.state_dict(), ...) or safetensors). Supported: {}",
        weights::SUPPORTED
    )]
    TorchScript {
        /// The file.
        path: PathBuf,
    },
    /// An architecture, module or option this crate does not run.
    #[error("{0}")]
    Unsupported(String),
    /// The tokenizer failed to load or to encode.
    #[error("tokenizer: {0}")]
    Tokenizer(String),
    /// candle failed while computing.
    #[error("candle: {0}")]
    Compute(#[from] candle_core::Error),
}

impl CandleError {
    fn io(path: &Path, source: std::io::Error) -> Self {
        CandleError::Io {
            path: path.to_path_buf(),
            source,
        }
    }

    fn weights(path: &Path, e: candle_core::Error) -> Self {
        CandleError::Weights {
            path: path.to_path_buf(),
            message: e.to_string(),
        }
    }
}

/// What a text model computes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Task {
    /// Sentence embeddings.
    Embeddings,
    /// Sequence classification.
    Classification,
}

impl std::str::FromStr for Task {
    type Err = CandleError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "embeddings" | "embedding" | "feature-extraction" | "sentence-similarity" => {
                Ok(Task::Embeddings)
            }
            "classification" | "text-classification" | "sentiment-analysis" => {
                Ok(Task::Classification)
            }
            other => Err(CandleError::Unsupported(format!(
                "task `{other}` is not supported; supported: embeddings (feature-extraction), classification (text-classification)"
            ))),
        }
    }
}

/// Load options (the server's parameters).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LoadOptions {
    /// The task; `None` picks classification for a `*ForSequenceClassification` architecture, else embeddings.
    pub task: Option<Task>,
    /// Overrides whether embeddings are L2-normalised (default: a `Normalize` module in `modules.json`).
    pub normalize: Option<bool>,
}

enum Engine {
    Text {
        encoder: Box<TextEncoder>,
        labels: Option<Vec<String>>,
        sigmoid: bool,
    },
    Mlp(mlp::Mlp),
}

/// A loaded candle model, served as a [`Model`].
pub struct CandleModel {
    engine: Engine,
    metadata: ModelMetadata,
    description: String,
}

impl std::fmt::Debug for CandleModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CandleModel")
            .field("description", &self.description)
            .finish_non_exhaustive()
    }
}

/// The device models run on: CPU, or with the `cuda` feature the first CUDA device when present.
pub fn device() -> Device {
    #[cfg(feature = "cuda")]
    {
        if let Ok(d) = Device::cuda_if_available(0) {
            return d;
        }
    }
    Device::Cpu
}

impl CandleModel {
    /// Loads the model in `dir`: an MLP when `mlp.json` is there, else a text encoder from `config.json`.
    /// A single weights file may be given instead of a folder only for an MLP's folder layout.
    pub fn load(dir: &Path, options: LoadOptions) -> Result<Self, CandleError> {
        Self::load_with_tokenizer(dir, dir, options)
    }

    /// As [`CandleModel::load`], with a text model's `tokenizer.json` read from `tokenizer_dir` (an MLflow
    /// `transformers` folder keeps the model in `model/` and the tokenizer in `components/tokenizer/`).
    pub fn load_with_tokenizer(
        dir: &Path,
        tokenizer_dir: &Path,
        options: LoadOptions,
    ) -> Result<Self, CandleError> {
        let dev = device();
        if dir.join(MLP_CONFIG).is_file() {
            let mlp = mlp::Mlp::load(dir, &dev)?;
            let (n_in, n_out) = (mlp.inputs() as i64, mlp.outputs() as i64);
            let description = format!("mlp {:?}", mlp.config.layers);
            return Ok(CandleModel {
                metadata: ModelMetadata {
                    platform: "pytorch_candle".into(),
                    inputs: vec![TensorSpec::new(MLP_INPUT, DataType::F32, vec![-1, n_in])],
                    outputs: vec![TensorSpec::new(OUTPUT_MLP, DataType::F32, vec![-1, n_out])],
                },
                engine: Engine::Mlp(mlp),
                description,
            });
        }
        let config_path = dir.join("config.json");
        if !config_path.is_file() {
            // A lone TorchScript or state dict without a config: say what is needed.
            if let Ok(weights) = weights::find_weights(dir)
                && weights.extension().is_none_or(|e| e != "safetensors")
            {
                weights::read_state_dict(&weights, &Device::Cpu)?;
            }
            return Err(CandleError::Unsupported(format!(
                "no config.json or {MLP_CONFIG} in {}; supported: {}",
                dir.display(),
                weights::SUPPORTED
            )));
        }
        let config: HfConfig = text::read_json(&config_path)?;
        let family = config.family()?;
        let task = options.task.unwrap_or(if config.is_classifier() {
            Task::Classification
        } else {
            Task::Embeddings
        });
        let classify = task == Task::Classification;
        let encoder = TextEncoder::load(
            dir,
            tokenizer_dir,
            &config,
            classify,
            options.normalize,
            &dev,
        )?;
        let input = TensorSpec::new(TEXT_INPUT, DataType::Bytes, vec![-1]);
        let (outputs, labels, sigmoid) = if classify {
            let n = probe_labels(&encoder)?;
            let labels: Vec<String> = (0..n)
                .map(|i| {
                    config
                        .id2label
                        .as_ref()
                        .and_then(|m| m.get(&i.to_string()).cloned())
                        .unwrap_or_else(|| format!("LABEL_{i}"))
                })
                .collect();
            let sigmoid =
                n == 1 || config.problem_type.as_deref() == Some("multi_label_classification");
            (
                vec![
                    TensorSpec::new(OUTPUT_SCORES, DataType::F32, vec![-1, n as i64]),
                    TensorSpec::new(OUTPUT_LABEL, DataType::Bytes, vec![-1]),
                ],
                Some(labels),
                sigmoid,
            )
        } else {
            (
                vec![TensorSpec::new(
                    OUTPUT_EMBEDDING,
                    DataType::F32,
                    vec![-1, encoder.embedding_dim() as i64],
                )],
                None,
                false,
            )
        };
        let description = format!("{family:?} {task:?} (hidden {})", encoder.hidden());
        Ok(CandleModel {
            engine: Engine::Text {
                encoder: Box::new(encoder),
                labels,
                sigmoid,
            },
            metadata: ModelMetadata {
                platform: "pytorch_candle".into(),
                inputs: vec![input],
                outputs,
            },
            description,
        })
    }

    /// One line saying what was loaded (family, task, sizes).
    pub fn description(&self) -> &str {
        &self.description
    }

    /// Whether this is a text model (BYTES input).
    pub fn is_text(&self) -> bool {
        matches!(self.engine, Engine::Text { .. })
    }

    /// Embeds `texts` (an embeddings model only), overriding normalisation when `normalize` is given; rows of
    /// `dim` values. For callers that skip the tensor protocol (TEI's `/embed`).
    pub fn embed(
        &self,
        texts: Vec<String>,
        normalize: Option<bool>,
    ) -> Result<(Vec<f32>, usize), ModelError> {
        let Engine::Text {
            encoder,
            labels: None,
            ..
        } = &self.engine
        else {
            return Err(ModelError::BadInput(
                "this model does not compute embeddings".into(),
            ));
        };
        if texts.is_empty() {
            return Err(ModelError::BadInput("the batch holds no text".into()));
        }
        match encoder.run(texts, normalize).map_err(internal)? {
            TextOutput::Embeddings(v, dim) => Ok((v, dim)),
            TextOutput::Logits(..) => Err(ModelError::Internal("unexpected logits".into())),
        }
    }
}

/// The number of logits the head gives (from one run on an empty string: cheap, and exact whatever the
/// checkpoint's `num_labels` says).
fn probe_labels(encoder: &TextEncoder) -> Result<usize, CandleError> {
    match encoder.run(vec![String::new()], None)? {
        TextOutput::Logits(_, n) => Ok(n),
        TextOutput::Embeddings(..) => {
            Err(CandleError::Unsupported("no classification head".into()))
        }
    }
}

fn internal(e: CandleError) -> ModelError {
    match e {
        CandleError::Tokenizer(m) => ModelError::BadInput(format!("tokenizer: {m}")),
        e => ModelError::Internal(e.to_string()),
    }
}

/// Reads the request's single BYTES input as UTF-8 strings.
fn texts(request: &PredictRequest) -> Result<Vec<String>, ModelError> {
    let [input] = request.inputs.as_slice() else {
        return Err(ModelError::BadInput(format!(
            "a text model takes exactly one BYTES input of strings, got {} inputs",
            request.inputs.len()
        )));
    };
    let shape = input.tensor.shape();
    let rows_ok = matches!(*shape, [_] | [_, 1]);
    let TensorData::Bytes(items) = input.tensor.data() else {
        return Err(ModelError::BadInput(format!(
            "a text model takes BYTES (strings), got {} for input `{}`",
            input.tensor.dtype(),
            input.name
        )));
    };
    if !rows_ok {
        return Err(ModelError::BadInput(format!(
            "input `{}` must have shape [N] or [N, 1] (one string per row), got {shape:?}",
            input.name
        )));
    }
    if items.is_empty() {
        return Err(ModelError::BadInput("the batch holds no text".into()));
    }
    items
        .iter()
        .enumerate()
        .map(|(i, b)| {
            String::from_utf8(b.clone()).map_err(|e| {
                ModelError::BadInput(format!(
                    "string {i} of input `{}` is not UTF-8: {e}",
                    input.name
                ))
            })
        })
        .collect()
}

fn wanted(
    request: &PredictRequest,
    metadata: &ModelMetadata,
    all: &[&str],
) -> Result<Vec<String>, ModelError> {
    if request.outputs.is_empty() {
        return Ok(all.iter().map(|s| s.to_string()).collect());
    }
    for name in &request.outputs {
        if !metadata.outputs.iter().any(|o| &o.name == name) {
            return Err(ModelError::UnknownOutput {
                name: name.clone(),
                available: all.join(", "),
            });
        }
    }
    Ok(request.outputs.clone())
}

fn tensor(shape: Vec<usize>, data: TensorData) -> Result<Tensor, ModelError> {
    Tensor::new(shape, data).map_err(|e| ModelError::Internal(e.to_string()))
}

impl Model for CandleModel {
    fn metadata(&self) -> &ModelMetadata {
        &self.metadata
    }

    fn predict(&self, request: PredictRequest) -> Result<PredictResponse, ModelError> {
        match &self.engine {
            Engine::Mlp(mlp) => {
                let names = wanted(&request, &self.metadata, &[OUTPUT_MLP])?;
                let [input] = request.inputs.as_slice() else {
                    return Err(ModelError::BadInput(format!(
                        "the MLP takes exactly one input, got {}",
                        request.inputs.len()
                    )));
                };
                let (rows, cols) = match *input.tensor.shape() {
                    [rows, cols] => (rows, cols),
                    [cols] => (1, cols),
                    ref other => {
                        return Err(ModelError::BadInput(format!(
                            "expected a 2-D array (rows x {} features), got shape {other:?}",
                            mlp.inputs()
                        )));
                    }
                };
                if cols != mlp.inputs() {
                    return Err(ModelError::BadInput(format!(
                        "X has {cols} features, but this MLP expects {}",
                        mlp.inputs()
                    )));
                }
                if rows == 0 {
                    return Err(ModelError::BadInput("the batch holds no rows".into()));
                }
                let x: Vec<f32> = input
                    .tensor
                    .to_f64_vec()?
                    .into_iter()
                    .map(|v| v as f32)
                    .collect();
                let y = mlp.forward(rows, x).map_err(internal)?;
                let out = tensor(vec![rows, mlp.outputs()], TensorData::F32(y))?;
                Ok(PredictResponse {
                    outputs: names
                        .into_iter()
                        .map(|n| NamedTensor::new(n, out.clone()))
                        .collect(),
                })
            }
            Engine::Text {
                encoder,
                labels,
                sigmoid,
            } => {
                let all: &[&str] = if labels.is_some() {
                    &[OUTPUT_SCORES, OUTPUT_LABEL]
                } else {
                    &[OUTPUT_EMBEDDING]
                };
                let names = wanted(&request, &self.metadata, all)?;
                let texts = texts(&request)?;
                let n = texts.len();
                match encoder.run(texts, None).map_err(internal)? {
                    TextOutput::Embeddings(v, dim) => {
                        let out = tensor(vec![n, dim], TensorData::F32(v))?;
                        Ok(PredictResponse {
                            outputs: names
                                .into_iter()
                                .map(|name| NamedTensor::new(name, out.clone()))
                                .collect(),
                        })
                    }
                    TextOutput::Logits(logits, k) => {
                        let labels = labels.as_deref().unwrap_or_default();
                        let scores = scores(&logits, k, *sigmoid);
                        let best: Vec<Vec<u8>> = scores
                            .chunks(k.max(1))
                            .map(|row| {
                                let i = argmax(row);
                                labels
                                    .get(i)
                                    .cloned()
                                    .unwrap_or_else(|| format!("LABEL_{i}"))
                                    .into_bytes()
                            })
                            .collect();
                        let mut outputs = Vec::with_capacity(names.len());
                        for name in names {
                            let t = if name == OUTPUT_LABEL {
                                tensor(vec![n], TensorData::Bytes(best.clone()))?
                            } else {
                                tensor(vec![n, k], TensorData::F32(scores.clone()))?
                            };
                            outputs.push(NamedTensor::new(name, t));
                        }
                        Ok(PredictResponse { outputs })
                    }
                }
            }
        }
    }

    fn column_names(&self, output: &str) -> Option<Vec<String>> {
        match &self.engine {
            Engine::Text {
                labels: Some(labels),
                ..
            } if output == OUTPUT_SCORES => Some(labels.clone()),
            _ => None,
        }
    }

    fn runs_inline(&self) -> bool {
        false
    }
}

/// Softmax per row (or the logistic function per element), in float64 for stability.
fn scores(logits: &[f32], k: usize, sigmoid: bool) -> Vec<f32> {
    let mut out = Vec::with_capacity(logits.len());
    for row in logits.chunks(k.max(1)) {
        if sigmoid {
            out.extend(
                row.iter()
                    .map(|&x| (1.0 / (1.0 + (-(x as f64)).exp())) as f32),
            );
        } else {
            let m = row.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
            let e: Vec<f64> = row.iter().map(|&x| (x as f64 - m).exp()).collect();
            let s: f64 = e.iter().sum();
            out.extend(e.iter().map(|v| (v / s) as f32));
        }
    }
    out
}

fn argmax(row: &[f32]) -> usize {
    let mut best = 0;
    for (i, &v) in row.iter().enumerate() {
        if v > row[best] {
            best = i;
        }
    }
    best
}
