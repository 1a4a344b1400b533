//! Seldon's `TfServingProxy` as an oxserve [`Model`].
//!
//! Under Seldon's default `seldon` protocol a `TENSORFLOW_SERVER` node runs two containers: the proxy (the node
//! container, with the `rest_endpoint` / `model_name` / `signature_name` parameters and no model) and a TF Serving
//! sidecar (`--port=2000 --rest_api_port=2001 --model_base_path=/mnt/models`). With oxserve's image in both
//! places, the sidecar is `onnx-server` serving the model, and the node container is `onnx-server` in proxy mode:
//! this model, which forwards every prediction to the sidecar's TF Serving REST API (`:predict`, columnar form)
//! and takes its signature from the sidecar's `/metadata`. It also works in front of a real TF Serving.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use oxserve_core::{
    DataType, Model, ModelError, ModelMetadata, NamedTensor, PredictRequest, PredictResponse,
    TensorSpec,
};
use oxserve_protocol::seldon::{NdArray, NdArrayRef};
use serde_json::{Map, Value, json};

/// The node parameters Seldon gives the proxy (`model_input`/`model_output` are for its gRPC path; accepted).
pub const PARAMETERS: [&str; 6] = [
    "rest_endpoint",
    "grpc_endpoint",
    "model_name",
    "signature_name",
    "model_input",
    "model_output",
];

/// Why the proxy could not start or forward.
#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    /// `rest_endpoint` is not an `http://host:port` URL.
    #[error("rest_endpoint `{0}` is not an http:// URL")]
    BadEndpoint(String),
    /// The upstream never answered its metadata route in time.
    #[error("TF Serving at {endpoint} did not serve model `{model}` within {waited:?}: {last}")]
    NotReady {
        /// The endpoint.
        endpoint: String,
        /// The model name.
        model: String,
        /// How long we waited.
        waited: Duration,
        /// The last failure.
        last: String,
    },
    /// The upstream's metadata is not TF Serving's shape.
    #[error("TF Serving metadata for `{model}` has no signature `{signature}`: {body}")]
    BadMetadata {
        /// The model name.
        model: String,
        /// The signature looked for.
        signature: String,
        /// The body received (cut).
        body: String,
    },
}

/// Where the proxy forwards to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyConfig {
    /// `http://host:port` of TF Serving's REST API (Seldon's `rest_endpoint`, default `http://0.0.0.0:2001`).
    pub rest_endpoint: String,
    /// The model's name on the upstream (Seldon passes the node name).
    pub model_name: String,
    /// The signature (`serving_default` when absent).
    pub signature_name: Option<String>,
}

/// A model served by an upstream TF Serving REST API.
pub struct TfServingProxy {
    client: Client<HttpConnector, Full<Bytes>>,
    predict_uri: http::Uri,
    signature_name: Option<String>,
    metadata: ModelMetadata,
    runtime: tokio::runtime::Handle,
}

impl std::fmt::Debug for TfServingProxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TfServingProxy")
            .field("predict_uri", &self.predict_uri)
            .field("metadata", &self.metadata)
            .finish_non_exhaustive()
    }
}

impl TfServingProxy {
    /// Connects to the upstream: waits (polling every 200 ms, at most `wait`) until its metadata route serves
    /// the model — the sidecar starts beside the proxy — and reads the signature.
    pub async fn connect(config: &ProxyConfig, wait: Duration) -> Result<Self, ProxyError> {
        let base = config.rest_endpoint.trim_end_matches('/');
        if !base.starts_with("http://") {
            return Err(ProxyError::BadEndpoint(config.rest_endpoint.clone()));
        }
        let name = percent_encoding::utf8_percent_encode(
            &config.model_name,
            percent_encoding::NON_ALPHANUMERIC,
        )
        .to_string();
        let parse = |s: String| {
            s.parse::<http::Uri>()
                .map_err(|_| ProxyError::BadEndpoint(config.rest_endpoint.clone()))
        };
        let metadata_uri = parse(format!("{base}/v1/models/{name}/metadata"))?;
        let predict_uri = parse(format!("{base}/v1/models/{name}:predict"))?;
        let client = Client::builder(TokioExecutor::new()).build_http();
        let signature = config
            .signature_name
            .clone()
            .unwrap_or_else(|| "serving_default".into());
        let start = Instant::now();
        let body = loop {
            let last = match get(&client, &metadata_uri).await {
                Ok((200, body)) => break body,
                Ok((status, body)) => format!("HTTP {status}: {}", String::from_utf8_lossy(&body)),
                Err(e) => e,
            };
            if start.elapsed() >= wait {
                return Err(ProxyError::NotReady {
                    endpoint: base.to_string(),
                    model: config.model_name.clone(),
                    waited: wait,
                    last,
                });
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        let metadata =
            parse_signature(&body, &signature).ok_or_else(|| ProxyError::BadMetadata {
                model: config.model_name.clone(),
                signature: signature.clone(),
                body: String::from_utf8_lossy(&body).chars().take(500).collect(),
            })?;
        Ok(TfServingProxy {
            client,
            predict_uri,
            signature_name: config.signature_name.clone(),
            metadata,
            runtime: tokio::runtime::Handle::current(),
        })
    }

    async fn forward(&self, request: PredictRequest) -> Result<PredictResponse, ModelError> {
        let inputs = match request.inputs.as_slice() {
            [] => return Err(ModelError::BadInput("the request holds no input".into())),
            // One tensor (Seldon's `data`): the signature's only input, unnamed as TF Serving allows.
            [one] if self.metadata.inputs.len() <= 1 => {
                serde_json::to_value(NdArrayRef(&one.tensor)).map_err(internal)?
            }
            many => {
                let mut map = Map::new();
                for input in many {
                    map.insert(
                        input.name.clone(),
                        serde_json::to_value(NdArrayRef(&input.tensor)).map_err(internal)?,
                    );
                }
                Value::Object(map)
            }
        };
        let mut body = json!({ "inputs": inputs });
        if let (Some(sig), Value::Object(map)) = (&self.signature_name, &mut body) {
            map.insert("signature_name".into(), Value::String(sig.clone()));
        }
        let bytes = serde_json::to_vec(&body).map_err(internal)?;
        let (status, reply) = post(&self.client, &self.predict_uri, bytes)
            .await
            .map_err(|e| {
                ModelError::Internal(format!("TF Serving at {}: {e}", self.predict_uri))
            })?;
        let reply: Value = serde_json::from_slice(&reply).map_err(|e| {
            ModelError::Internal(format!(
                "TF Serving answered HTTP {status} with invalid JSON: {e}"
            ))
        })?;
        if status != 200 {
            let message = reply
                .get("error")
                .and_then(Value::as_str)
                .map_or_else(|| reply.to_string(), str::to_string);
            return Err(if (400..500).contains(&status) {
                ModelError::BadInput(message)
            } else {
                ModelError::Internal(format!("TF Serving: {message}"))
            });
        }
        let outputs = reply
            .get("outputs")
            .cloned()
            .ok_or_else(|| ModelError::Internal("TF Serving's reply has no `outputs`".into()))?;
        let mut tensors = match outputs {
            // Several outputs: keyed by name.
            Value::Object(map) if self.metadata.outputs.len() > 1 => map
                .into_iter()
                .map(|(name, value)| Ok(NamedTensor::new(name, to_tensor(value)?)))
                .collect::<Result<Vec<_>, ModelError>>()?,
            value => {
                let name = self
                    .metadata
                    .outputs
                    .first()
                    .map_or_else(|| "outputs".to_string(), |s| s.name.clone());
                vec![NamedTensor::new(name, to_tensor(value)?)]
            }
        };
        // The signature's order, then the ones asked for.
        let order = |t: &NamedTensor| {
            self.metadata
                .outputs
                .iter()
                .position(|s| s.name == t.name)
                .unwrap_or(usize::MAX)
        };
        tensors.sort_by_key(order);
        if request.outputs.is_empty() {
            tensors.truncate(1);
            return Ok(PredictResponse { outputs: tensors });
        }
        let mut chosen = Vec::with_capacity(request.outputs.len());
        for name in &request.outputs {
            let index = tensors
                .iter()
                .position(|t| &t.name == name)
                .ok_or_else(|| ModelError::UnknownOutput {
                    name: name.clone(),
                    available: tensors
                        .iter()
                        .map(|t| t.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", "),
                })?;
            chosen.push(tensors.swap_remove(index));
        }
        Ok(PredictResponse { outputs: chosen })
    }
}

impl Model for TfServingProxy {
    fn metadata(&self) -> &ModelMetadata {
        &self.metadata
    }

    fn predict(&self, request: PredictRequest) -> Result<PredictResponse, ModelError> {
        // The runtime calls non-inline models on a blocking thread, where blocking on the runtime is allowed.
        self.runtime.block_on(self.forward(request))
    }

    fn runs_inline(&self) -> bool {
        false
    }

    fn call_waits(&self) -> bool {
        // A call waits on TF Serving; many may be in flight at once.
        true
    }
}

fn internal(e: impl std::fmt::Display) -> ModelError {
    ModelError::Internal(e.to_string())
}

fn to_tensor(value: Value) -> Result<oxserve_core::Tensor, ModelError> {
    serde_json::from_value::<NdArray>(value)
        .map(|n| n.0)
        .map_err(|e| {
            ModelError::Internal(format!(
                "TF Serving's output is not a rectangular array: {e}"
            ))
        })
}

async fn get(
    client: &Client<HttpConnector, Full<Bytes>>,
    uri: &http::Uri,
) -> Result<(u16, Bytes), String> {
    send(client, http::Method::GET, uri, Bytes::new()).await
}

async fn post(
    client: &Client<HttpConnector, Full<Bytes>>,
    uri: &http::Uri,
    body: Vec<u8>,
) -> Result<(u16, Bytes), String> {
    send(client, http::Method::POST, uri, Bytes::from(body)).await
}

async fn send(
    client: &Client<HttpConnector, Full<Bytes>>,
    method: http::Method,
    uri: &http::Uri,
    body: Bytes,
) -> Result<(u16, Bytes), String> {
    let request = http::Request::builder()
        .method(method)
        .uri(uri.clone())
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(Full::new(body))
        .map_err(|e| e.to_string())?;
    let response = client.request(request).await.map_err(|e| e.to_string())?;
    let status = response.status().as_u16();
    let body = response
        .into_body()
        .collect()
        .await
        .map_err(|e| e.to_string())?
        .to_bytes();
    Ok((status, body))
}

/// Reads TF Serving's metadata reply (`metadata.signature_def.signature_def.<sig>`) into a [`ModelMetadata`].
fn parse_signature(body: &[u8], signature: &str) -> Option<ModelMetadata> {
    let value: Value = serde_json::from_slice(body).ok()?;
    let sig = value
        .pointer("/metadata/signature_def/signature_def")?
        .get(signature)?;
    let specs = |key: &str| -> Vec<TensorSpec> {
        let Some(Value::Object(map)) = sig.get(key) else {
            return Vec::new();
        };
        // TF Serving prints a map; keep a stable order (by alias).
        let sorted: BTreeMap<&String, &Value> = map.iter().collect();
        sorted
            .into_iter()
            .map(|(alias, info)| {
                let datatype = info
                    .get("dtype")
                    .and_then(Value::as_str)
                    .and_then(dtype)
                    .unwrap_or(DataType::F32);
                let shape = info
                    .pointer("/tensor_shape/dim")
                    .and_then(Value::as_array)
                    .map(|dims| {
                        dims.iter()
                            .map(|d| match d.get("size") {
                                Some(Value::String(s)) => s.parse().unwrap_or(-1),
                                Some(Value::Number(n)) => n.as_i64().unwrap_or(-1),
                                _ => -1,
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                TensorSpec::new(alias.clone(), datatype, shape)
            })
            .collect()
    };
    Some(ModelMetadata {
        platform: "tensorflow_proxy".into(),
        inputs: specs("inputs"),
        outputs: specs("outputs"),
    })
}

fn dtype(name: &str) -> Option<DataType> {
    Some(match name {
        "DT_FLOAT" => DataType::F32,
        "DT_DOUBLE" => DataType::F64,
        "DT_INT32" => DataType::I32,
        "DT_INT64" => DataType::I64,
        "DT_UINT8" => DataType::U8,
        "DT_BOOL" => DataType::Bool,
        "DT_STRING" => DataType::Bytes,
        _ => return None,
    })
}
