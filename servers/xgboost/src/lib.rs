//! XGBOOST_SERVER: an XGBoost model (read by `oxserve-xgboost`, no XGBoost library) behind the oxserve runtime.
//!
//! - Model file: `model.bst` in the model folder (as Seldon's XGBoostServer), else `model.json` / `model.ubj` (as
//!   MLServer's and KServe's); the format (JSON, UBJSON, the legacy binary `.bst` of XGBoost ≤ 1.7) is read from
//!   the bytes, never from the name.
//! - Outputs, named as MLServer's XGBoost runtime names them:
//!   - `predict`: what the model's Python class returns from `predict` — class labels for a model saved from
//!     `XGBClassifier` (its `scikit_learn` attribute says `classifier`), else what `Booster.predict` returns;
//!   - `predict_proba`: class probabilities (`rows × classes`, two columns for `binary:logistic`), for the
//!     objectives that have them (`binary:logistic`, `multi:softprob`, `multi:softmax`) unless the file says the
//!     model is an `XGBRegressor`.
//!   - A request that names no output (every Seldon v1 and KServe v1 request) gets what `Booster.predict`
//!     returns, as Seldon's XGBoostServer (`xgb.Booster(model_file=…).predict(DMatrix(X))`) and KServe's
//!     xgbserver answer: for a binary `XGBClassifier` one probability per row (`p`, not the wrapper's
//!     `[1 - p, p]`), for a multi-class one `rows × classes`. It is named `predict_proba` where it is the
//!     matrix the wrapper's `predict_proba` gives (`multi:softprob`), else `predict`; so for a saved
//!     classifier the unnamed `predict` reply holds `Booster.predict`'s numbers while a request naming
//!     `predict` gets the class labels.
//! - A model saved from the scikit-learn wrapper predicts as the wrapper does: over `best_iteration + 1` rounds
//!   when early stopping stored one, with its `classes_` when XGBoost 1.x stored them. A booster predicts over
//!   all its rounds, as `Booster.predict` does.
//! - Tables (a model with categorical features, `feature_types` `c`): a Seldon mixed `ndarray` with `names`,
//!   `jsonData` records, V2 one input per column (MLServer's pandas codec, strings as `BYTES`) are read by column
//!   name against the model's `feature_names` (a missing or unexpected column is a 400 naming it; unnamed
//!   columns by position); a string in a categorical column becomes the code XGBoost trained on, from the
//!   categories XGBoost ≥ 3.1 records in the model (`cats`); a category the model was not trained on is a 400,
//!   as XGBoost's re-coder refuses it (XGBoost 3.2 itself maps such a value to a neighbouring category, a bug
//!   fixed in 3.3). A model without recorded categories takes codes only. One numeric matrix stays as before.
//! - V2 outputs carry `content_type: np`, as MLServer's XGBoost runtime encodes them (`NumpyCodec`).
//! - Parameter `nthread` (`INT`, default 1): threads one large request may use (the engine splits its rows into
//!   blocks); small requests always run on one thread.

use std::path::Path;

use oxserve_core::{
    DataType, FeatureEncoder, Features, Model, ModelError, ModelMetadata, NamedTensor,
    PredictRequest, PredictResponse, Tensor, TensorData, TensorSpec, UnseenCategory,
};
use oxserve_xgboost::{Booster, BoosterKind, Predict, Rows, XgbError};

/// The model file names tried in a model folder, in order.
pub const MODEL_FILES: [&str; 3] = ["model.bst", "model.json", "model.ubj"];

/// Parameters this server accepts (besides `model_uri`).
pub const PARAMETERS: [&str; 1] = ["nthread"];

/// The `predict` output.
pub const PREDICT: &str = "predict";
/// The `predict_proba` output.
pub const PREDICT_PROBA: &str = "predict_proba";

/// The binary: what `xgboost-server --help` says first.
pub const SERVER: oxserve_runtime::Server = oxserve_runtime::Server {
    name: "xgboost-server",
    about: "XGBOOST_SERVER (Seldon Core, MLServer, KServe) without Python: serves an XGBoost model from model.bst, \
            else model.json or model.ubj (JSON, UBJSON or the legacy binary format of XGBoost <= 1.7, told apart by \
            their bytes), over Seldon v1, V2 REST and gRPC, and KServe v1 (:predict).",
    parameters: &PARAMETERS,
};

/// Reads the `nthread` parameter: threads one large request may use (default 1).
pub fn threads_parameter(parameters: &oxserve_runtime::Parameters) -> anyhow::Result<usize> {
    oxserve_runtime::loader::count_parameter(parameters, "nthread", 1, 1024)
}

/// The scikit-learn class a model was saved from (its `scikit_learn` attribute), if any.
#[derive(Debug, Clone, PartialEq)]
pub enum Wrapper {
    /// Saved from a `Booster` (or the attribute is absent).
    Booster,
    /// Saved from `XGBClassifier`, with the `classes_` XGBoost 1.x stored when they are integers.
    Classifier(Option<Vec<i64>>),
    /// Saved from `XGBRegressor` (or another non-classifier wrapper).
    Regressor,
}

impl Wrapper {
    /// Reads the `scikit_learn` attribute (`{"_estimator_type": "classifier", ...}`).
    pub fn of(booster: &Booster) -> Wrapper {
        let Some((_, meta)) = booster
            .attributes()
            .iter()
            .find(|(k, _)| k == "scikit_learn")
        else {
            return Wrapper::Booster;
        };
        let Ok(meta) = serde_json::from_str::<serde_json::Value>(meta) else {
            return Wrapper::Booster;
        };
        match meta.get("_estimator_type").and_then(|t| t.as_str()) {
            Some("classifier") => Wrapper::Classifier(
                meta.get("classes_")
                    .and_then(|c| c.as_array())
                    .and_then(|c| c.iter().map(serde_json::Value::as_i64).collect()),
            ),
            Some(_) => Wrapper::Regressor,
            None => Wrapper::Booster,
        }
    }
}

/// A loaded XGBoost model served as a [`Model`].
#[derive(Debug)]
pub struct XgboostModel {
    booster: Booster,
    wrapper: Wrapper,
    /// `predict_proba` is offered.
    proba: bool,
    /// Options of every prediction (rounds, threads).
    opts: Predict,
    metadata: ModelMetadata,
    /// Reads tables, for a model with categorical features.
    tables: Option<FeatureEncoder>,
}

impl XgboostModel {
    /// Loads the first of [`MODEL_FILES`] in `dir` (or the file `dir` names); `threads` as
    /// [`threads_parameter`] reads it. A malformed file is refused with its name and what is wrong.
    pub fn load(dir: &Path, threads: usize) -> anyhow::Result<Self> {
        let (file, bytes) =
            oxserve_runtime::loader::read_model_file(dir, &MODEL_FILES, "XGBoost model")?;
        let booster =
            Booster::load(&bytes).map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
        Ok(Self::new(booster, threads))
    }

    /// Wraps a loaded booster.
    pub fn new(booster: Booster, threads: usize) -> Self {
        let wrapper = Wrapper::of(&booster);
        let probabilistic = matches!(
            booster.objective(),
            "binary:logistic" | "multi:softprob" | "multi:softmax"
        );
        let proba = probabilistic && wrapper != Wrapper::Regressor;
        // The scikit-learn wrapper predicts over `best_iteration + 1` rounds when early stopping stored one
        // (`XGBModel._get_iteration_range`); `Booster.predict` over all of them. gblinear has no rounds to cut.
        let iteration_range = match (&wrapper, booster.best_iteration()) {
            (Wrapper::Booster, _) | (_, None) => None,
            _ if booster.kind() == BoosterKind::GbLinear => None,
            (_, Some(best)) => Some((0, (best + 1).min(booster.n_rounds()))),
        };
        let opts = Predict {
            iteration_range,
            threads,
        };
        let n_features = i64::try_from(booster.n_features()).unwrap_or(-1);
        let classes = class_count(&booster);
        let predict_spec = match &wrapper {
            Wrapper::Classifier(_) => TensorSpec::new(PREDICT, DataType::I64, vec![-1]),
            _ => TensorSpec::new(PREDICT, DataType::F64, booster_shape(&booster)),
        };
        let proba_spec = TensorSpec::new(PREDICT_PROBA, DataType::F64, vec![-1, classes]);
        // The first output is the default one: `Booster.predict`'s answer, which is `predict_proba` itself only
        // for a multi:softprob classifier.
        let outputs = match (&wrapper, proba) {
            (Wrapper::Classifier(_), true) if booster.objective() == "multi:softprob" => {
                vec![proba_spec, predict_spec]
            }
            (_, true) => vec![predict_spec, proba_spec],
            (_, false) => vec![predict_spec],
        };
        let metadata = ModelMetadata {
            platform: "xgboost".into(),
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
            &booster.feature_kinds(),
            UnseenCategory::Refuse,
        );
        XgboostModel {
            booster,
            wrapper,
            proba,
            opts,
            metadata,
            tables: encoder.has_categorical().then_some(encoder),
        }
    }

    /// The booster.
    pub fn booster(&self) -> &Booster {
        &self.booster
    }

    /// The scikit-learn class the model was saved from.
    pub fn wrapper(&self) -> &Wrapper {
        &self.wrapper
    }

    /// The name of the output answered when a request names none (it holds `Booster.predict`'s answer).
    pub fn default_output(&self) -> &str {
        self.metadata
            .outputs
            .first()
            .map_or(PREDICT, |o| o.name.as_str())
    }

    /// `Booster.predict` (over the wrapper's rounds for a saved scikit-learn model).
    fn booster_predict(&self, x: Rows<'_>) -> Result<oxserve_xgboost::Output, ModelError> {
        self.booster.predict(x, &self.opts).map_err(model_error)
    }

    /// What the model's Python `predict` (the one [`Model::predict`] answers unasked: `Booster.predict`, or the
    /// wrapper's labels for a classifier) returns with two of its keyword arguments, as mlflow.xgboost passes
    /// pyfunc's `params`: `iteration_range` (`(begin, end)`: for a booster an end of 0 means every round from
    /// `begin`; for a scikit-learn wrapper an end of 0 means its own rounds, `best_iteration + 1` when stored) and
    /// `output_margin` (the untransformed margins, `rows` or `rows × outputs`). A range outside the model's rounds
    /// is refused as bad input.
    pub fn predict_keywords(
        &self,
        request: &PredictRequest,
        iteration_range: Option<(usize, usize)>,
        output_margin: bool,
    ) -> Result<Tensor, ModelError> {
        let x = input(request, self.booster.n_features())?;
        let mut opts = self.opts;
        match (iteration_range, &self.wrapper) {
            (None, _) | (Some((_, 0)), Wrapper::Classifier(_) | Wrapper::Regressor) => {}
            (Some((0, 0)), Wrapper::Booster) => opts.iteration_range = None,
            (Some((b, 0)), Wrapper::Booster) => {
                opts.iteration_range = Some((b, self.booster.n_rounds()));
            }
            (Some(range), _) => opts.iteration_range = Some(range),
        }
        if output_margin {
            let m = self
                .booster
                .predict_margin(x.rows(), &opts)
                .map_err(model_error)?;
            return tensor(m.shape(), TensorData::F64(m.values));
        }
        match &self.wrapper {
            Wrapper::Classifier(classes) => self.labels_with(x.rows(), classes.as_deref(), &opts),
            _ => {
                let p = self.booster.predict(x.rows(), &opts).map_err(model_error)?;
                tensor(p.shape(), TensorData::F64(p.values))
            }
        }
    }

    /// `XGBClassifier.predict`: the class of each row.
    fn labels(&self, x: Rows<'_>, classes: Option<&[i64]>) -> Result<Tensor, ModelError> {
        self.labels_with(x, classes, &self.opts)
    }

    /// `XGBClassifier.predict` over the rounds `opts` names.
    fn labels_with(
        &self,
        x: Rows<'_>,
        classes: Option<&[i64]>,
        opts: &Predict,
    ) -> Result<Tensor, ModelError> {
        let p = self.booster.predict(x, opts).map_err(model_error)?;
        let index: Vec<usize> = if p.n_cols > 1 {
            p.values
                .chunks(p.n_cols)
                .map(|row| {
                    (0..row.len()).fold(0, |best, k| if row[k] > row[best] { k } else { best })
                })
                .collect()
        } else if self.booster.objective() == "multi:softmax" {
            p.values.iter().map(|&v| v as usize).collect()
        } else {
            p.values.iter().map(|&v| usize::from(v > 0.5)).collect()
        };
        let labels: Vec<i64> = index
            .into_iter()
            .map(|k| match classes {
                Some(c) => c.get(k).copied().unwrap_or(k as i64),
                None => k as i64,
            })
            .collect();
        tensor(vec![labels.len()], TensorData::I64(labels))
    }

    /// `XGBClassifier.predict_proba`: `rows × classes`.
    fn probabilities(&self, x: Rows<'_>) -> Result<Tensor, ModelError> {
        if self.booster.objective() == "multi:softmax" {
            let mut m = self
                .booster
                .predict_margin(x, &self.opts)
                .map_err(model_error)?;
            m.values.chunks_mut(m.n_cols).for_each(softmax);
            return tensor(vec![m.n_rows, m.n_cols], TensorData::F64(m.values));
        }
        let p = self.booster_predict(x)?;
        if p.n_cols > 1 {
            return tensor(vec![p.n_rows, p.n_cols], TensorData::F64(p.values));
        }
        // The wrapper stacks `1 - p` (in float32, as numpy computes it on XGBoost's float32 output) beside p.
        let values = p
            .values
            .iter()
            .flat_map(|&v| [f64::from(1.0f32 - v as f32), v])
            .collect();
        tensor(vec![p.n_rows, 2], TensorData::F64(values))
    }
}

/// Classes of a classification objective (2 for binary ones), else -1.
fn class_count(booster: &Booster) -> i64 {
    if booster.objective().starts_with("binary:") {
        2
    } else if booster.num_class() > 0 {
        i64::try_from(booster.num_class()).unwrap_or(-1)
    } else {
        -1
    }
}

/// The shape `Booster.predict` returns: `[rows]`, or `[rows, outputs]` for several outputs.
fn booster_shape(booster: &Booster) -> Vec<i64> {
    if booster.objective() == "multi:softmax" || booster.n_outputs() == 1 {
        vec![-1]
    } else {
        vec![-1, i64::try_from(booster.n_outputs()).unwrap_or(-1)]
    }
}

/// scipy's `softmax` over one row, in float32 as XGBoost's float32 margins give it.
fn softmax(row: &mut [f64]) {
    let max = row
        .iter()
        .map(|&v| v as f32)
        .fold(f32::NEG_INFINITY, f32::max);
    let exps: Vec<f32> = row.iter().map(|&v| (v as f32 - max).exp()).collect();
    let sum: f32 = exps.iter().sum();
    for (o, e) in row.iter_mut().zip(exps) {
        *o = f64::from(e / sum);
    }
}

fn tensor(shape: Vec<usize>, data: TensorData) -> Result<Tensor, ModelError> {
    Tensor::new(shape, data).map_err(|e| ModelError::Internal(e.to_string()))
}

fn model_error(e: XgbError) -> ModelError {
    match e {
        XgbError::Input(m) => ModelError::BadInput(m),
        e => ModelError::Internal(e.to_string()),
    }
}

/// The request's single input as rows: float32 stays float32 (XGBoost compares in float32), anything else is
/// read as float64.
enum Input {
    F32(Vec<f32>),
    F64(Vec<f64>),
}

impl Input {
    fn rows(&self) -> Rows<'_> {
        match self {
            Input::F32(v) => Rows::F32(v),
            Input::F64(v) => Rows::F64(v),
        }
    }
}

fn input(request: &PredictRequest, n_features: usize) -> Result<Input, ModelError> {
    let tensor =
        oxserve_runtime::loader::single_matrix(request, "XGBOOST_SERVER", n_features, |cols| {
            format!("Feature shape mismatch, expected: {n_features}, got {cols}")
        })?;
    Ok(match tensor.data() {
        TensorData::F32(v) => Input::F32(v.clone()),
        _ => Input::F64(tensor.to_f64_vec()?),
    })
}

impl Model for XgboostModel {
    fn metadata(&self) -> &ModelMetadata {
        &self.metadata
    }

    fn predict(&self, request: PredictRequest) -> Result<PredictResponse, ModelError> {
        let x = match self
            .tables
            .as_ref()
            .and_then(|t| t.encode_request(&request))
        {
            Some(rows) => Input::F64(rows?),
            None => input(&request, self.booster.n_features())?,
        };
        if request.outputs.is_empty() {
            let p = self.booster_predict(x.rows())?;
            let out = tensor(p.shape(), TensorData::F64(p.values))?;
            return Ok(PredictResponse {
                outputs: vec![NamedTensor::new(self.default_output(), out)],
            });
        }
        let names: Vec<&str> = request.outputs.iter().map(String::as_str).collect();
        let mut outputs = Vec::with_capacity(names.len());
        for name in names {
            let out = match (name, &self.wrapper) {
                (PREDICT, Wrapper::Classifier(classes)) => {
                    self.labels(x.rows(), classes.as_deref())?
                }
                (PREDICT, _) => {
                    let p = self.booster_predict(x.rows())?;
                    tensor(p.shape(), TensorData::F64(p.values))?
                }
                (PREDICT_PROBA, _) if self.proba => self.probabilities(x.rows())?,
                _ => return Err(self.metadata.unknown_output(name)),
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

/// MLServer's XGBoost runtime, the `implementation` a `model-settings.json` names for these models.
pub const IMPLEMENTATION: &str = "mlserver_xgboost.XGBoostModel";

/// Adds this server's format to a model repository's loaders: XGBoost boosters under MLServer's name (and
/// `xgboost`, `oxserve.xgboost`), recognised by `model.bst` / `model.ubj` / `model.json` in a folder without
/// settings; `parameters.extra.nthread`, MLServer's adaptive batching from the settings.
/// `xgboost-server --models-dir` and `oxserve` both load through it.
pub fn register(
    registry: oxserve_runtime::repository::LoaderRegistry,
) -> oxserve_runtime::repository::LoaderRegistry {
    registry.register(
        &[IMPLEMENTATION, "xgboost", "oxserve.xgboost"],
        &["model.bst", "model.ubj", "model.json"],
        |source| {
            let threads = threads_parameter(&source.parameters(&[])?)?;
            let model = std::sync::Arc::new(XgboostModel::load(&source.uri, threads)?);
            Ok(oxserve_batching::batched_by_settings(
                &source.settings,
                model,
            )?)
        },
    )
}
