//! LIGHTGBM_SERVER: a LightGBM text model (read by `oxserve-lightgbm`, no LightGBM library) behind the oxserve
//! runtime.
//!
//! - Model file: `model.txt` in the model folder, else `model.bst` (the name MLServer's and KServe's LightGBM
//!   runtimes look for; it holds the same text `Booster.save_model` writes).
//! - Outputs:
//!   - `predict` (the default, and every Seldon v1 reply): what `Booster.predict` returns — the transformed score,
//!     so class probabilities for `binary` (one column) and `multiclass` / `multiclassova` (`rows × classes`) — as
//!     MLServer's LightGBM runtime and KServe's lgbserver answer;
//!   - `predict_proba`: `LGBMClassifier.predict_proba`, `rows × classes` (two columns, `1 - p` and `p`, for
//!     `binary`), for the classification objectives only.
//! - Iterations: all the file holds (`save_model` already cut it at `best_iteration`), as `Booster.predict`.
//! - Tables (a model with categorical features): a Seldon mixed `ndarray` with `names`, `jsonData` records, V2
//!   one input per column (MLServer's pandas codec, strings as `BYTES`) are read by column name against the
//!   model's `feature_names` (a missing or unexpected column is a 400 naming it; unnamed columns by position);
//!   a string in a categorical column becomes the code LightGBM trained on, from `pandas_categorical`, and a
//!   category the model was not trained on is missing (NaN), as `_data_from_pandas` makes it. A model without
//!   `pandas_categorical` takes codes only. One numeric matrix stays as before.
//! - V2 outputs carry `content_type: np`, as MLServer's LightGBM runtime encodes them (`NumpyCodec`).
//! - Parameter `nthread` (`INT`, default 1): threads one large request may use (the engine splits its rows into
//!   blocks); small requests always run on one thread.

use std::path::Path;

use oxserve_core::{
    DataType, FeatureEncoder, Features, Model, ModelError, ModelMetadata, NamedTensor,
    PredictRequest, PredictResponse, Tensor, TensorData, TensorSpec, UnseenCategory,
};
use oxserve_lightgbm::{Booster, LgbError, Link, Predict, Rows};

/// The model file names tried in a model folder, in order.
pub const MODEL_FILES: [&str; 2] = ["model.txt", "model.bst"];

/// Parameters this server accepts (besides `model_uri`).
pub const PARAMETERS: [&str; 1] = ["nthread"];

/// The `predict` output.
pub const PREDICT: &str = "predict";
/// The `predict_proba` output.
pub const PREDICT_PROBA: &str = "predict_proba";

/// The binary: what `lightgbm-server --help` says first.
pub const SERVER: oxserve_runtime::Server = oxserve_runtime::Server {
    name: "lightgbm-server",
    about: "LIGHTGBM_SERVER (MLServer, KServe, Seldon Core) without Python: serves a LightGBM text model from \
            model.txt, else model.bst (the same text under MLServer's and KServe's name), over Seldon v1, V2 REST \
            and gRPC, and KServe v1 (:predict).",
    parameters: &PARAMETERS,
};

/// Reads the `nthread` parameter: threads one large request may use (default 1).
pub fn threads_parameter(parameters: &oxserve_runtime::Parameters) -> anyhow::Result<usize> {
    oxserve_runtime::loader::count_parameter(parameters, "nthread", 1, 1024)
}

/// A loaded LightGBM model served as a [`Model`].
#[derive(Debug)]
pub struct LightgbmModel {
    booster: Booster,
    /// `predict_proba` is offered (a classification objective).
    proba: bool,
    opts: Predict,
    metadata: ModelMetadata,
    /// Reads tables, for a model with categorical features.
    tables: Option<FeatureEncoder>,
}

impl LightgbmModel {
    /// Loads the first of [`MODEL_FILES`] in `dir` (or the file `dir` names); `threads` as
    /// [`threads_parameter`] reads it. A malformed file is refused with its name and what is wrong.
    pub fn load(dir: &Path, threads: usize) -> anyhow::Result<Self> {
        let (file, bytes) =
            oxserve_runtime::loader::read_model_file(dir, &MODEL_FILES, "LightGBM model")?;
        let booster =
            Booster::load(&bytes).map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
        Ok(Self::new(booster, threads))
    }

    /// Wraps a loaded booster.
    pub fn new(booster: Booster, threads: usize) -> Self {
        let name = booster
            .objective()
            .split_ascii_whitespace()
            .next()
            .unwrap_or("");
        // LGBMClassifier's objectives; `cross_entropy` is a sigmoid too, but a regression on probabilities.
        let proba = match booster.link() {
            Link::Sigmoid(_) => name == "binary",
            Link::Softmax | Link::OvaSigmoid(_) => true,
            _ => false,
        };
        let n_features = i64::try_from(booster.n_features()).unwrap_or(-1);
        let columns = i64::try_from(booster.n_outputs()).unwrap_or(-1);
        let predict_shape = if booster.n_outputs() == 1 {
            vec![-1]
        } else {
            vec![-1, columns]
        };
        let mut outputs = vec![TensorSpec::new(PREDICT, DataType::F64, predict_shape)];
        if proba {
            let classes = if booster.n_outputs() == 1 { 2 } else { columns };
            outputs.push(TensorSpec::new(
                PREDICT_PROBA,
                DataType::F64,
                vec![-1, classes],
            ));
        }
        let metadata = ModelMetadata {
            platform: "lightgbm".into(),
            inputs: vec![
                TensorSpec::new("input-0", DataType::F64, vec![-1, n_features]).with_features(
                    Features {
                        names: booster.feature_names().to_vec(),
                        types: booster.feature_types().to_vec(),
                    },
                ),
            ],
            outputs,
        };
        let encoder = FeatureEncoder::new(
            booster.n_features(),
            booster.feature_names(),
            booster.feature_kinds(),
            UnseenCategory::Missing,
        );
        LightgbmModel {
            tables: encoder.has_categorical().then_some(encoder),
            booster,
            proba,
            opts: Predict {
                threads,
                ..Predict::default()
            },
            metadata,
        }
    }

    /// The booster.
    pub fn booster(&self) -> &Booster {
        &self.booster
    }
}

fn tensor(shape: Vec<usize>, data: TensorData) -> Result<Tensor, ModelError> {
    Tensor::new(shape, data).map_err(|e| ModelError::Internal(e.to_string()))
}

fn model_error(e: LgbError) -> ModelError {
    match e {
        LgbError::Input(m) => ModelError::BadInput(m),
        e => ModelError::Internal(e.to_string()),
    }
}

/// The request's single input, rows × features, as float64 (LightGBM's own input type).
fn input(request: &PredictRequest, n_features: usize) -> Result<Vec<f64>, ModelError> {
    let tensor = oxserve_runtime::loader::single_matrix(
        request,
        "LIGHTGBM_SERVER",
        n_features,
        |cols| {
            format!(
                "The number of features in data ({cols}) is not the same as it was in training data \
             ({n_features})"
            )
        },
    )?;
    Ok(tensor.to_f64_vec()?)
}

impl Model for LightgbmModel {
    fn metadata(&self) -> &ModelMetadata {
        &self.metadata
    }

    fn predict(&self, request: PredictRequest) -> Result<PredictResponse, ModelError> {
        let x = match self
            .tables
            .as_ref()
            .and_then(|t| t.encode_request(&request))
        {
            Some(rows) => rows?,
            None => input(&request, self.booster.n_features())?,
        };
        let names: Vec<&str> = if request.outputs.is_empty() {
            vec![PREDICT]
        } else {
            request.outputs.iter().map(String::as_str).collect()
        };
        let mut outputs = Vec::with_capacity(names.len());
        for name in names {
            if name != PREDICT && !(name == PREDICT_PROBA && self.proba) {
                return Err(self.metadata.unknown_output(name));
            }
            let p = self
                .booster
                .predict(Rows::F64(&x), &self.opts)
                .map_err(model_error)?;
            let out = if name == PREDICT_PROBA && p.n_cols == 1 {
                // LGBMClassifier stacks `1 - p` beside p for a binary objective.
                let values = p.values.iter().flat_map(|&v| [1.0 - v, v]).collect();
                tensor(vec![p.n_rows, 2], TensorData::F64(values))?
            } else {
                tensor(p.shape(), TensorData::F64(p.values))?
            };
            outputs.push(NamedTensor::new(name, out));
        }
        Ok(PredictResponse { outputs })
    }

    fn accepts_table(&self) -> bool {
        self.tables.is_some()
    }

    fn output_content_type(&self) -> Option<&'static str> {
        Some("np")
    }
}

/// MLServer's LightGBM runtime, the `implementation` a `model-settings.json` names for these models.
pub const IMPLEMENTATION: &str = "mlserver_lightgbm.LightGBMModel";

/// Adds this server's format to a model repository's loaders: LightGBM text models under MLServer's name (and
/// `lightgbm`, `oxserve.lightgbm`), recognised by `model.txt` in a folder without settings;
/// `parameters.extra.nthread`, MLServer's adaptive batching from the settings. `lightgbm-server --models-dir` and
/// `oxserve` both load through it.
pub fn register(
    registry: oxserve_runtime::repository::LoaderRegistry,
) -> oxserve_runtime::repository::LoaderRegistry {
    registry.register(
        &[IMPLEMENTATION, "lightgbm", "oxserve.lightgbm"],
        &["model.txt"],
        |source| {
            let threads = threads_parameter(&source.parameters(&[])?)?;
            let model = std::sync::Arc::new(LightgbmModel::load(&source.uri, threads)?);
            Ok(oxserve_batching::batched_by_settings(
                &source.settings,
                model,
            )?)
        },
    )
}
