//! MLFLOW_SERVER: an MLflow model folder served through oxserve's native engines, with no conda, pip or Python.
//!
//! - The folder's `MLmodel` picks the flavour (`oxserve_mlflow::MlModel`): `sklearn` (`pickle` / `cloudpickle`:
//!   the safe pickle reader and `oxserve-sklearn`, under `--max-model-memory`), `xgboost` (`oxserve-xgboost`:
//!   json / ubj / the legacy binary, `Booster` or the scikit-learn wrappers), `lightgbm` (a text booster, or a
//!   pickled `LGBMClassifier` / `LGBMRegressor`), `onnx` (`oxserve-onnx`). A custom `python_function` model is
//!   refused at start-up with what to do instead. The `skops` format (MLflow 3's default) is read natively
//!   (`oxserve_pickle::load_skops`) under the pickle reader's allowlist and memory budget.
//! - Each request is what pyfunc's `predict` gets: the signature enforced as `_enforce_schema` does, then the
//!   flavour's predict (`predict_fn` for sklearn, `Booster.predict` or the wrapper's `predict` for xgboost and
//!   lightgbm, every graph output for onnx). The answer is the output `predictions` (ONNX: one output per
//!   graph output, as pyfunc's DataFrame has one column per output).
//! - Protocols: Seldon v1 (`ndarray` rows, mixed types allowed, columns by `names` when given, else in the
//!   signature's order; the reply carries what `pyfunc.predict` returns), V2 (one 2-D tensor, or one 1-D input per
//!   column named as the signature names them, strings as BYTES, as MLServer's pandas codec sends them), KServe
//!   V1, and MLflow's scoring protocol on the same port ([`invocations_extension`]): `POST /invocations` (with
//!   `params` checked against the signature's params schema), `GET /ping`, `/health`, `/version`. Outside
//!   `/invocations` the answer is named as the output signature names it (V2's output, metadata), else
//!   `predictions`; a 2-D answer's columns take the output signature's names as Seldon's `names`.
//! - Parameters: `nthread` (XGBoost / LightGBM threads for one large request, default 1), `xtype` (Seldon's
//!   MLFlowServer's, accepted and ignored: a table is always a DataFrame here).

use std::path::Path;
use std::sync::{Arc, OnceLock};

use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use oxserve_core::{Model, ModelError};
use oxserve_mlflow::scoring;
use oxserve_mlflow::{Flavor, MlModel, MlflowModel, Outputs, ParamsEngine, TransformersTask};
use oxserve_runtime::rest::{Doc, DocRouter};
use oxserve_runtime::{LoadContext, RestExtension, ServeError, ServerState};

#[cfg(feature = "transformers")]
mod transformers;

/// Parameters this server accepts (besides `model_uri`).
pub const PARAMETERS: [&str; 2] = ["nthread", "xtype"];

/// The binary: what `mlflow-server --help` says first.
pub const SERVER: oxserve_runtime::Server = oxserve_runtime::Server {
    name: "mlflow-server",
    about: "MLFLOW_SERVER (Seldon Core, MLServer, KServe) without Python or conda: serves an MLflow model folder \
            (MLmodel with the sklearn, xgboost, lightgbm or onnx flavour) through native engines, with its \
            signature enforced, over Seldon v1, V2 REST and gRPC, KServe V1 and MLflow's /invocations.",
    parameters: &PARAMETERS,
};

/// What `/invocations` and `/version` need of the model `mlflow-server` serves (set by the first [`load_dir`];
/// the multi-model `oxserve` binary, which loads many, serves no `/invocations`).
#[derive(Debug)]
struct Loaded {
    /// `mlflow_version`, answered by `GET /version`.
    mlflow_version: Option<String>,
    /// pyfunc answers a DataFrame whatever the input's form (`Outputs::always_records`).
    records: bool,
}

static LOADED: OnceLock<Loaded> = OnceLock::new();

/// Loads the MLflow model in `ctx.model_dir`.
pub fn load(ctx: &LoadContext) -> anyhow::Result<Arc<dyn Model>> {
    let threads = oxserve_runtime::loader::count_parameter(&ctx.parameters, "nthread", 1, 1024)?;
    let model = load_dir(&ctx.model_dir, threads, ctx.max_model_memory)?;
    Ok(Arc::new(model))
}

/// Loads the MLflow model in `dir` (the folder holding `MLmodel`).
pub fn load_dir(
    dir: &Path,
    threads: usize,
    max_model_memory: Option<u64>,
) -> anyhow::Result<MlflowModel> {
    let mlmodel = MlModel::load(dir)?;
    let _ = LOADED.set(Loaded {
        mlflow_version: mlmodel.mlflow_version.clone(),
        records: matches!(
            mlmodel.flavor,
            Flavor::Transformers {
                task: TransformersTask::TextClassification,
                ..
            }
        ),
    });
    let mut params_engine: Option<Arc<dyn ParamsEngine>> = None;
    let (engine, outputs): (Arc<dyn Model>, Outputs) = match &mlmodel.flavor {
        Flavor::SklearnPickle { file, predict_fn } => {
            let m = oxserve_sklearn_server::SklearnModel::load_with_budget(
                file,
                Some(predict_fn),
                max_model_memory,
            )?;
            if !m.metadata().outputs.iter().any(|o| &o.name == predict_fn) {
                anyhow::bail!(
                    "{}: the estimator `{}` has no `{predict_fn}` (the python_function flavour's predict_fn)",
                    file.display(),
                    m.estimator().class_name()
                );
            }
            (Arc::new(m), Outputs::Array(Some(predict_fn.clone())))
        }
        Flavor::Xgboost { file, model_class } => {
            let m = Arc::new(oxserve_xgboost_server::XgboostModel::load(file, threads)?);
            // pyfunc calls `Booster.predict(DMatrix(df))` on a Booster, the wrapper's `predict` otherwise.
            let booster = model_class.ends_with(".Booster");
            let out = (!booster).then(|| oxserve_xgboost_server::PREDICT.to_owned());
            params_engine = Some(Arc::new(XgboostParams {
                model: m.clone(),
                booster,
            }));
            (m, Outputs::Array(out))
        }
        Flavor::Lightgbm {
            file,
            pickled: false,
            ..
        } => {
            let m = oxserve_lightgbm_server::LightgbmModel::load(file, threads)?;
            (Arc::new(m), Outputs::Array(None))
        }
        // skops files (sklearn, LightGBM's wrappers) and pickled LightGBM wrappers: the same reader and
        // estimators as pickles; pyfunc calls `predict`.
        Flavor::Skops { file, .. }
        | Flavor::Lightgbm {
            file,
            pickled: true,
            ..
        } => {
            let m = oxserve_sklearn_server::SklearnModel::load_with_budget(
                file,
                Some("predict"),
                max_model_memory,
            )?;
            (Arc::new(m), Outputs::Array(Some("predict".into())))
        }
        Flavor::Transformers {
            model_dir,
            tokenizer_dir,
            task,
        } => {
            let (engine, outputs) = transformers_engine(model_dir, tokenizer_dir, *task)?;
            params_engine = Some(Arc::new(PipelineParams));
            (engine, outputs)
        }
        Flavor::Onnx { file } => {
            let options = oxserve_onnx::LoadOptions::default();
            let m = oxserve_onnx::OnnxModel::load(file, &options)?;
            let names = m
                .metadata()
                .outputs
                .iter()
                .map(|o| o.name.clone())
                .collect();
            (Arc::new(m), Outputs::Columns(names))
        }
    };
    tracing::info!(
        flavor = mlmodel.flavor.name(),
        mlflow_version = mlmodel.mlflow_version.as_deref().unwrap_or("?"),
        signature = mlmodel.signature.as_ref().map(|s| s.describe()),
        "MLflow model loaded"
    );
    let model = MlflowModel::new(engine, outputs, mlmodel.signature);
    Ok(match params_engine {
        Some(p) => model.with_params_engine(p),
        None => model,
    })
}

/// The `transformers` flavour's engine on candle: a feature-extraction pipeline answers pyfunc's array (the
/// first text's per-token hidden states); a text-classification one pyfunc's DataFrame (`label`, `score`).
#[cfg(feature = "transformers")]
fn transformers_engine(
    model_dir: &Path,
    tokenizer_dir: &Path,
    task: TransformersTask,
) -> anyhow::Result<(Arc<dyn Model>, Outputs)> {
    Ok(match task {
        TransformersTask::FeatureExtraction => {
            let m = transformers::FeatureExtractor::load(model_dir, tokenizer_dir)?;
            (
                Arc::new(m),
                Outputs::Array(Some(transformers::HIDDEN_STATES.to_owned())),
            )
        }
        TransformersTask::TextClassification => {
            let m = transformers::TextClassifier::load(model_dir, tokenizer_dir)?;
            let columns = vec![
                oxserve_candle::OUTPUT_LABEL.to_owned(),
                transformers::SCORE.to_owned(),
            ];
            (Arc::new(m), Outputs::Records(columns))
        }
    })
}

/// Without the `transformers` feature (the static `mlflow-server` image): refused with where it is served.
#[cfg(not(feature = "transformers"))]
fn transformers_engine(
    _model_dir: &Path,
    _tokenizer_dir: &Path,
    task: TransformersTask,
) -> anyhow::Result<(Arc<dyn Model>, Outputs)> {
    anyhow::bail!(
        "the transformers flavour ({task}) runs on the candle engine, which this build of mlflow-server leaves out \
         (its static image stays small): serve the model with the `oxserve` binary (MLServer implementation \
         {IMPLEMENTATION}), or build mlflow-server with the `transformers` feature"
    )
}

/// The `transformers` flavour merges pyfunc's `params` into the pipeline's call arguments (`top_k`,
/// `function_to_apply`, `truncation`, ...): oxserve serves the pipeline's defaults only and refuses them.
struct PipelineParams;

impl ParamsEngine for PipelineParams {
    fn predict_with_params(
        &self,
        _request: oxserve_core::PredictRequest,
        params: &oxserve_mlflow::Params,
    ) -> Result<oxserve_core::PredictResponse, ModelError> {
        let keys: Vec<&str> = params.keys().map(String::as_str).collect();
        Err(ModelError::BadInput(format!(
            "params {keys:?}: the transformers flavour passes params to the pipeline as call arguments, and \
             oxserve serves the pipeline's defaults only; send no params"
        )))
    }
}

/// mlflow.xgboost's pyfunc hands `params` to the model's `predict` as keyword arguments, dropping (with a
/// warning) those the method does not take: `Booster.predict` takes `output_margin`, `pred_leaf`,
/// `pred_contribs`, `approx_contribs`, `pred_interactions`, `validate_features`, `training`, `iteration_range`,
/// `strict_shape`; the scikit-learn wrappers' `predict` takes `output_margin`, `validate_features`,
/// `base_margin`, `iteration_range`. Applied here: `output_margin`, `iteration_range`, `strict_shape`;
/// `validate_features` and `training` change nothing for columns already in the signature's order and a
/// non-DART booster; the leaf and contribution outputs, `training` on DART and `base_margin` are refused.
struct XgboostParams {
    model: Arc<oxserve_xgboost_server::XgboostModel>,
    /// A `Booster` (else a scikit-learn wrapper).
    booster: bool,
}

/// Python's truth of a param value.
fn truthy(v: &serde_json::Value) -> bool {
    match v {
        serde_json::Value::Null => false,
        serde_json::Value::Bool(b) => *b,
        serde_json::Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        serde_json::Value::String(s) => !s.is_empty(),
        serde_json::Value::Array(a) => !a.is_empty(),
        serde_json::Value::Object(o) => !o.is_empty(),
    }
}

impl XgboostParams {
    fn refuse(&self, key: &str, what: &str) -> ModelError {
        let method = if self.booster {
            "Booster.predict"
        } else {
            "the scikit-learn wrapper's predict"
        };
        ModelError::BadInput(format!(
            "params: `{key}` ({what}) is passed to {method} by mlflow.xgboost, and oxserve does not compute it; \
             send it false or leave it out"
        ))
    }

    fn iteration_range(v: &serde_json::Value) -> Result<Option<(usize, usize)>, ModelError> {
        let bad = || {
            ModelError::BadInput(format!(
                "params: `iteration_range` must be two non-negative integers [begin, end), got {v}"
            ))
        };
        match v {
            serde_json::Value::Null => Ok(None),
            serde_json::Value::Array(items) if items.len() == 2 => {
                let n = |i: usize| {
                    items[i]
                        .as_u64()
                        .and_then(|n| usize::try_from(n).ok())
                        .ok_or_else(bad)
                };
                Ok(Some((n(0)?, n(1)?)))
            }
            _ => Err(bad()),
        }
    }
}

impl ParamsEngine for XgboostParams {
    fn predict_with_params(
        &self,
        request: oxserve_core::PredictRequest,
        params: &oxserve_mlflow::Params,
    ) -> Result<oxserve_core::PredictResponse, ModelError> {
        let mut iteration_range = None;
        let (mut output_margin, mut strict_shape) = (false, false);
        for (key, value) in params {
            match (key.as_str(), self.booster) {
                ("output_margin", _) => output_margin = truthy(value),
                ("iteration_range", _) => iteration_range = Self::iteration_range(value)?,
                ("validate_features", true) => {
                    // mlflow passes its own `validate_features=True` beside the params.
                    return Err(ModelError::BadInput(
                        "xgboost.core.Booster.predict() got multiple values for keyword argument \
                         'validate_features'"
                            .into(),
                    ));
                }
                ("validate_features", false) => {}
                ("strict_shape", true) => strict_shape = truthy(value),
                ("pred_leaf", true) if truthy(value) => {
                    return Err(self.refuse(key, "leaf indices"));
                }
                ("pred_contribs" | "pred_interactions", true) if truthy(value) => {
                    return Err(self.refuse(key, "SHAP contributions"));
                }
                ("training", true)
                    if truthy(value)
                        && self.model.booster().kind() == oxserve_xgboost::BoosterKind::Dart =>
                {
                    return Err(self.refuse(key, "DART dropout at training time"));
                }
                ("base_margin", false) if !value.is_null() => {
                    return Err(self.refuse(key, "a margin per row"));
                }
                // Keywords the method does not take are dropped by mlflow, with a warning.
                _ => {}
            }
        }
        let mut out = self
            .model
            .predict_keywords(&request, iteration_range, output_margin)?;
        if strict_shape && out.shape().len() == 1 {
            let rows = out.shape()[0];
            out = oxserve_core::Tensor::new(vec![rows, 1], out.data().clone())?;
        }
        Ok(oxserve_core::PredictResponse {
            outputs: vec![oxserve_core::NamedTensor::new(
                oxserve_xgboost_server::PREDICT,
                out,
            )],
        })
    }
}

/// MLflow's scoring protocol as a runtime extension: `POST /invocations`, `GET /ping`, `GET /health`,
/// `GET /version` (what `mlflow models serve` answers), counted under the protocol label `mlflow`. Errors are
/// MLflow's `{"error_code": "BAD_REQUEST", "message": …}`.
pub fn invocations_extension() -> RestExtension {
    RestExtension {
        protocol: "mlflow",
        prefix: "/invocations",
        routes: DocRouter::new()
            .route(
                "/invocations",
                post(invocations),
                Doc::of::<__path_invocations>(),
            )
            .route("/ping", get(ping), Doc::of::<__path_ping>())
            .route("/health", get(health), Doc::of::<__path_health>())
            .route("/version", get(version), Doc::of::<__path_version>()),
        error_response: mlflow_error_response,
    }
}

/// MLflow's error body.
#[derive(serde::Serialize, utoipa::ToSchema)]
#[schema(as = MlflowErrorBody)]
struct MlflowError {
    /// `BAD_REQUEST` for a request the model cannot take; `TEMPORARILY_UNAVAILABLE`, `INTERNAL_ERROR`.
    error_code: &'static str,
    /// What is wrong, in MLflow's words where MLflow has them.
    message: String,
}

/// A `/invocations` request: a JSON object with one of `dataframe_split`, `dataframe_records`, `instances`,
/// `inputs` (and optionally `params`), or a CSV table with a header line.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
struct InvocationsRequest {
    /// `{"columns": [...], "data": [[...]]}`.
    dataframe_split: Option<serde_json::Value>,
    /// `[{"column": value, ...}, ...]`.
    dataframe_records: Option<Vec<serde_json::Value>>,
    /// Records, rows or columns.
    instances: Option<serde_json::Value>,
    /// Records, rows or columns.
    inputs: Option<serde_json::Value>,
    /// Inference parameters.
    params: Option<serde_json::Value>,
}

/// `{"predictions": …}`.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
struct InvocationsResponse {
    /// What pyfunc's `predict` returns: an array, or (ONNX) records / a dict of columns.
    predictions: serde_json::Value,
}

fn error(status: StatusCode, code: &'static str, message: impl Into<String>) -> Response {
    (
        status,
        axum::Json(MlflowError {
            error_code: code,
            message: message.into(),
        }),
    )
        .into_response()
}

/// A runtime error in MLflow's shape (the status from the runtime's one table).
pub fn mlflow_error_response(e: ServeError) -> Response {
    let status = e.http_status();
    let code = match status.as_u16() {
        400..=499 if status != StatusCode::TOO_MANY_REQUESTS => "BAD_REQUEST",
        429 | 503 => "TEMPORARILY_UNAVAILABLE",
        _ => "INTERNAL_ERROR",
    };
    let message = match e {
        ServeError::Model(ModelError::BadInput(m)) => m,
        other => other.to_string(),
    };
    error(status, code, message)
}

/// `POST /invocations`.
#[utoipa::path(post, path = "/invocations", tag = "MLflow", operation_id = "mlflow_invocations",
    summary = "Predicts (MLflow's scoring protocol, as `mlflow models serve`)",
    request_body(content(
        (InvocationsRequest = "application/json"),
        (String = "text/csv"),
    )),
    responses(
        (status = 200, description = "the predictions", body = InvocationsResponse),
        (status = 400, description = "the body is not the protocol's, or does not fit the model's signature", body = MlflowError),
        (status = 413, description = "the body is over the size limit", body = MlflowError),
        (status = 415, description = "a content type other than JSON or CSV", body = MlflowError),
        (status = 429, description = "the server is overloaded", body = MlflowError),
        (status = 500, description = "the model failed", body = MlflowError),
    ))]
async fn invocations(State(state): State<Arc<ServerState>>, request: Request) -> Response {
    let content_type = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let limit = state.max_body_bytes;
    let body = match oxserve_runtime::rest::body_bytes(request.into_body(), limit).await {
        Ok(b) => b,
        Err(e) => return error(StatusCode::PAYLOAD_TOO_LARGE, "BAD_REQUEST", e.to_string()),
    };
    let unsupported_type = content_type.as_deref().is_some_and(|c| {
        let mime = c
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        mime != "application/json" && mime != "text/csv"
    });
    let invocation = match scoring::parse(content_type.as_deref(), &body) {
        Ok(i) => i,
        Err(e) if unsupported_type => {
            return error(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "BAD_REQUEST",
                e.to_string(),
            );
        }
        Err(e) => return error(StatusCode::BAD_REQUEST, "BAD_REQUEST", e.to_string()),
    };
    let form = if LOADED.get().is_some_and(|l| l.records) {
        scoring::Form::DataFrame
    } else {
        invocation.form
    };
    let input_name = state
        .model
        .metadata()
        .inputs
        .first()
        .map_or_else(|| "input-0".to_owned(), |i| i.name.clone());
    let mut inputs = match invocation.frame.into_inputs(&input_name) {
        Ok(i) => i,
        Err(e) => return error(StatusCode::BAD_REQUEST, "BAD_REQUEST", e.to_string()),
    };
    // The body's `params` reach pyfunc's `predict` as a V2 request's parameters do (`MlflowModel` checks them
    // against the signature's params schema after the input, as pyfunc does, and hands them to the flavour).
    if let Some(params) = invocation.params.filter(|p| !p.is_empty()) {
        let json = serde_json::Value::Object(params).to_string().into_bytes();
        match oxserve_core::Tensor::new(vec![], oxserve_core::TensorData::Bytes(vec![json])) {
            Ok(t) => inputs.push(oxserve_core::NamedTensor::new(
                oxserve_core::REQUEST_PARAMETERS_INPUT,
                t,
            )),
            Err(e) => {
                return error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "INTERNAL_ERROR",
                    e.to_string(),
                );
            }
        }
    }
    let reply = match state
        .predict(oxserve_core::PredictRequest {
            inputs,
            // pyfunc's answer as /invocations writes it (`oxserve_mlflow::MlflowModel::predict`).
            outputs: vec![scoring::PREDICTIONS.to_owned()],
        })
        .await
    {
        Ok(r) => r,
        Err(e) => return mlflow_error_response(e),
    };
    axum::Json(scoring::predictions(&reply.outputs, form)).into_response()
}

/// `GET /ping`: 200 once the model is loaded (MLflow answers a newline).
#[utoipa::path(get, path = "/ping", tag = "MLflow", operation_id = "mlflow_ping",
    summary = "Health check (MLflow's scoring server)",
    responses((status = 200, description = "the model is loaded", body = String),
              (status = 503, description = "shutting down", body = String)))]
async fn ping(State(state): State<Arc<ServerState>>) -> Response {
    probe(&state)
}

/// `GET /health`: as `/ping`.
#[utoipa::path(get, path = "/health", tag = "MLflow", operation_id = "mlflow_health",
    summary = "Health check (MLflow's scoring server)",
    responses((status = 200, description = "the model is loaded", body = String),
              (status = 503, description = "shutting down", body = String)))]
async fn health(State(state): State<Arc<ServerState>>) -> Response {
    probe(&state)
}

fn probe(state: &ServerState) -> Response {
    let status = if state.is_ready() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, [(header::CONTENT_TYPE, "application/json")], "\n").into_response()
}

/// `GET /version`: the `mlflow_version` the model was saved with (MLflow's server answers its own version).
#[utoipa::path(get, path = "/version", tag = "MLflow", operation_id = "mlflow_version",
    summary = "The MLflow version (of the loaded model)",
    responses((status = 200, description = "the version", body = String)))]
async fn version() -> Response {
    LOADED
        .get()
        .and_then(|l| l.mlflow_version.clone())
        .unwrap_or_else(|| env!("CARGO_PKG_VERSION").to_owned())
        .into_response()
}

/// MLServer's MLflow runtime, the `implementation` a `model-settings.json` names for MLflow model folders.
pub const IMPLEMENTATION: &str = "mlserver_mlflow.MLflowRuntime";

/// Adds this server's format to a model repository's loaders: MLflow model folders under MLServer's name (and
/// `mlflow`, `oxserve.mlflow`), recognised by `MLmodel` in a folder without settings, read by [`load`] (the
/// flavour from `MLmodel`, its signature enforced; custom Python refused with the reason); MLServer's adaptive
/// batching from the settings. `mlflow-server --models-dir` and `oxserve` both load through it.
pub fn register(
    registry: oxserve_runtime::repository::LoaderRegistry,
) -> oxserve_runtime::repository::LoaderRegistry {
    registry.register(
        &[IMPLEMENTATION, "mlflow", "oxserve.mlflow"],
        &["MLmodel"],
        |source| {
            let model = load(&oxserve_runtime::LoadContext {
                model_dir: source.uri.clone(),
                parameters: source.parameters(&[])?,
                model_name: source.name.clone(),
                max_model_memory: None,
            })?;
            Ok(oxserve_batching::batched_by_settings(
                &source.settings,
                model,
            )?)
        },
    )
}
