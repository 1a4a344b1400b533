//! PYTORCH_SERVER and HUGGINGFACE_SERVER on candle: a model folder holding Hugging Face or PyTorch weights
//! (see `oxserve-candle` for what is supported) behind the oxserve runtime, with adaptive batching and a
//! text-embeddings-inference style `/embed` route.
//!
//! Parameters (`PREDICTIVE_UNIT_PARAMETERS`):
//! - `task`: `embeddings` or `classification` (default: classification for a `*ForSequenceClassification`
//!   architecture, else embeddings);
//! - `normalize` (BOOL): L2-normalise embeddings (default: when `modules.json` has a `Normalize` module);
//! - `max_batch_size` (INT, rows) and `max_batch_time` (seconds): adaptive batching, on when both are positive
//!   (fallbacks `MLSERVER_MODEL_MAX_BATCH_SIZE`, `MLSERVER_MODEL_MAX_BATCH_TIME`). Default for text models:
//!   32 rows and 5 ms, so that concurrent requests share one padded forward pass; 0 turns it off.
//!
//! Protocols: a text model takes one BYTES input (`args`, as MLServer's Hugging Face runtime names it) of N
//! strings on V2 REST and gRPC; Seldon `strData`, `jsonData` and a string `ndarray` reach it the same way.
//! Embeddings come back as `embedding` FP32 `[N, dim]`; a classifier returns `scores` FP32 `[N, labels]`
//! (Seldon `names` are the labels) and `label` BYTES `[N]`.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use oxserve_batching::{BatchConfig, BatchingModel, PARAM_MAX_BATCH_SIZE, PARAM_MAX_BATCH_TIME};
use oxserve_candle::{CandleModel, LoadOptions, OUTPUT_EMBEDDING, TEXT_INPUT, Task};
use oxserve_core::{Model, ModelError, NamedTensor, PredictRequest, Tensor, TensorData};
use oxserve_runtime::rest::{Doc, DocRouter};
use oxserve_runtime::{LoadContext, ParamValue, RestExtension, ServeError, ServerState};

/// Parameters this server accepts (besides `model_uri`).
pub const PARAMETERS: [&str; 4] = [
    "task",
    "normalize",
    PARAM_MAX_BATCH_SIZE,
    PARAM_MAX_BATCH_TIME,
];

/// The binary: what `candle-server --help` says first.
pub const SERVER: oxserve_runtime::Server = oxserve_runtime::Server {
    name: "candle-server",
    about: "PYTORCH_SERVER and HUGGINGFACE_SERVER on candle, without Python: serves BERT-family encoders \
            (config.json + model.safetensors or pytorch_model.bin, tokenizer.json) and MLPs (mlp.json + \
            model.safetensors or model.pt) over Seldon v1, V2 REST and gRPC and KServe V1, with adaptive batching and a \
            text-embeddings-inference style /embed route.",
    parameters: &PARAMETERS,
};

/// The default batching for text models when neither parameter nor env sets it: rows.
pub const DEFAULT_MAX_BATCH_SIZE: usize = 32;
/// The default batching wait for text models, in seconds.
pub const DEFAULT_MAX_BATCH_TIME: &str = "0.005";

/// The most texts one `/embed` call may carry (TEI's `--max-client-batch-size` default).
pub const MAX_CLIENT_BATCH_SIZE: usize = 32;

/// Loads the model in the context's folder and wraps it for batching.
pub fn load(ctx: &LoadContext) -> anyhow::Result<Arc<dyn Model>> {
    let task = match ctx.parameters.get_str("task") {
        Some(t) => Some(t.parse::<Task>()?),
        None => None,
    };
    let normalize = match ctx.parameters.get("normalize") {
        None => None,
        Some(ParamValue::Bool(b)) => Some(*b),
        Some(other) => match ctx.parameters.get_text("normalize").as_deref() {
            Some("true" | "True" | "1") => Some(true),
            Some("false" | "False" | "0") => Some(false),
            _ => anyhow::bail!("parameter `normalize` must be a BOOL, got {other:?}"),
        },
    };
    let model = CandleModel::load(&ctx.model_dir, LoadOptions { task, normalize })?;
    let size = ctx.parameters.get_text(PARAM_MAX_BATCH_SIZE);
    let time = ctx.parameters.get_text(PARAM_MAX_BATCH_TIME);
    // The env is read once, here: whether anything configured batching decides the text-model default.
    let env_size = std::env::var(oxserve_batching::ENV_MAX_BATCH_SIZE).ok();
    let env_time = std::env::var(oxserve_batching::ENV_MAX_BATCH_TIME).ok();
    let configured = size.is_some() || time.is_some() || env_size.is_some() || env_time.is_some();
    let mut config = BatchConfig::from_values(
        size.as_deref(),
        time.as_deref(),
        env_size.as_deref(),
        env_time.as_deref(),
    )?;
    if !configured && model.is_text() {
        config = BatchConfig::from_values(
            Some(&DEFAULT_MAX_BATCH_SIZE.to_string()),
            Some(DEFAULT_MAX_BATCH_TIME),
            None,
            None,
        )?;
    }
    tracing::info!(
        model = model.description(),
        max_batch_size = config.max_batch_size,
        max_batch_time_s = config.max_batch_time.as_secs_f64(),
        batching = config.is_enabled(),
        "candle model loaded"
    );
    Ok(Arc::new(BatchingModel::new(Arc::new(model), config)))
}

/// The `/embed` route (Hugging Face text-embeddings-inference's shape): `POST /embed` with
/// `{"inputs": "text" | ["text", ...], "normalize": true, "truncate": false}` answers `[[f32, ...], ...]`.
/// Inputs longer than the model's maximum are always truncated (`truncate` is accepted and ignored).
/// Errors are `{"error": "...", "error_type": "..."}`: 400 `empty`, 413 `validation` (too many inputs),
/// 422 `validation` (not the expected JSON), 424 `backend` (model failure), 429 `overloaded`.
pub fn embed_extension() -> RestExtension {
    RestExtension {
        protocol: "embed",
        prefix: "/embed",
        routes: DocRouter::new().route("/embed", post(embed), Doc::of::<__path_embed>()),
        error_response: ServeError::into_seldon_response,
    }
}

/// One text or several.
#[derive(serde::Deserialize, utoipa::ToSchema)]
#[serde(untagged)]
enum Inputs {
    One(String),
    Many(Vec<String>),
}

/// The `/embed` request (text-embeddings-inference's).
#[derive(serde::Deserialize, utoipa::ToSchema)]
struct EmbedRequest {
    /// The texts to embed.
    inputs: Inputs,
    /// Whether to L2-normalise each embedding (the default: yes).
    #[serde(default)]
    normalize: Option<bool>,
    /// Accepted and ignored: inputs longer than the model's maximum are always truncated.
    #[serde(default)]
    #[allow(dead_code)]
    truncate: Option<bool>,
}

/// An `/embed` error, as text-embeddings-inference writes it.
#[derive(serde::Serialize, utoipa::ToSchema)]
#[schema(as = EmbedError)]
struct TeiError {
    /// The message.
    error: String,
    /// `empty`, `validation`, `backend` or `overloaded`.
    error_type: String,
}

fn tei_error(status: StatusCode, kind: &str, message: impl Into<String>) -> Response {
    (
        status,
        axum::Json(TeiError {
            error: message.into(),
            error_type: kind.to_owned(),
        }),
    )
        .into_response()
}

/// `POST /embed`.
#[utoipa::path(post, path = "/embed", tag = "Embeddings", operation_id = "embed",
    summary = "Embeds texts (text-embeddings-inference's `/embed`)",
    request_body(content = EmbedRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "one embedding per input", body = Vec<Vec<f32>>),
        (status = 400, description = "`inputs` is empty", body = TeiError),
        (status = 413, description = "too many inputs", body = TeiError),
        (status = 422, description = "not the expected JSON, or the model refuses it", body = TeiError),
        (status = 424, description = "the model failed", body = TeiError),
        (status = 429, description = "the server is overloaded", body = TeiError),
    ))]
async fn embed(State(state): State<Arc<ServerState>>, body: axum::body::Bytes) -> Response {
    let request: EmbedRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => {
            return tei_error(
                StatusCode::UNPROCESSABLE_ENTITY,
                "validation",
                format!("Failed to deserialize the JSON body into the target type: {e}"),
            );
        }
    };
    let texts = match request.inputs {
        Inputs::One(s) => vec![s],
        Inputs::Many(v) => v,
    };
    if texts.is_empty() {
        return tei_error(StatusCode::BAD_REQUEST, "empty", "`inputs` cannot be empty");
    }
    if texts.len() > MAX_CLIENT_BATCH_SIZE {
        return tei_error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "validation",
            format!(
                "batch size {} > maximum allowed batch size {MAX_CLIENT_BATCH_SIZE}",
                texts.len()
            ),
        );
    }
    let n = texts.len();
    let tensor = match Tensor::new(
        vec![n],
        TensorData::Bytes(texts.into_iter().map(String::into_bytes).collect()),
    ) {
        Ok(t) => t,
        Err(e) => {
            return tei_error(
                StatusCode::UNPROCESSABLE_ENTITY,
                "validation",
                e.to_string(),
            );
        }
    };
    let predict = PredictRequest {
        inputs: vec![NamedTensor::new(TEXT_INPUT, tensor)],
        outputs: vec![OUTPUT_EMBEDDING.to_string()],
    };
    let reply = match state.predict(predict).await {
        Ok(r) => r,
        Err(ServeError::Overloaded) => {
            return tei_error(
                StatusCode::TOO_MANY_REQUESTS,
                "overloaded",
                "Model is overloaded",
            );
        }
        Err(ServeError::Model(
            ModelError::BadInput(m) | ModelError::UnknownOutput { name: m, .. },
        )) => {
            return tei_error(StatusCode::UNPROCESSABLE_ENTITY, "validation", m);
        }
        Err(e) => return tei_error(StatusCode::FAILED_DEPENDENCY, "backend", e.to_string()),
    };
    let Some(out) = reply.outputs.into_iter().next() else {
        return tei_error(
            StatusCode::FAILED_DEPENDENCY,
            "backend",
            "the model returned no output",
        );
    };
    let dim = out.tensor.shape().get(1).copied().unwrap_or(0).max(1);
    let values = match out.tensor.to_f64_vec() {
        Ok(v) => v,
        Err(e) => return tei_error(StatusCode::FAILED_DEPENDENCY, "backend", e.to_string()),
    };
    let normalize = request.normalize.unwrap_or(true);
    let rows: Vec<Vec<f32>> = values
        .chunks(dim)
        .map(|row| {
            let norm = if normalize {
                row.iter().map(|x| x * x).sum::<f64>().sqrt().max(1e-12)
            } else {
                1.0
            };
            row.iter().map(|x| (x / norm) as f32).collect()
        })
        .collect();
    axum::Json(rows).into_response()
}

/// MLServer's Hugging Face runtime (the tasks candle serves), the `implementation` a `model-settings.json` names.
pub const IMPLEMENTATION: &str = "mlserver_huggingface.HuggingFaceRuntime";

/// Adds this server's formats to a model repository's loaders: candle's encoders and MLPs under MLServer's
/// Hugging Face name (and `huggingface`, `oxserve.candle`), recognised by `model.safetensors` /
/// `pytorch_model.bin` in a folder without settings; [`load`] reads `task`, `normalize` and the settings'
/// `max_batch_size` / `max_batch_time` as it reads the node's parameters. `candle-server --models-dir` and
/// `oxserve` both load through it.
pub fn register(
    registry: oxserve_runtime::repository::LoaderRegistry,
) -> oxserve_runtime::repository::LoaderRegistry {
    registry.register(
        &[IMPLEMENTATION, "huggingface", "oxserve.candle"],
        &["model.safetensors", "pytorch_model.bin"],
        |source| {
            load(&LoadContext {
                model_dir: source.uri.clone(),
                parameters: source.parameters(&[PARAM_MAX_BATCH_SIZE, PARAM_MAX_BATCH_TIME])?,
                model_name: source.name.clone(),
                max_model_memory: None,
            })
        },
    )
}
