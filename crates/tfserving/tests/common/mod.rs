//! Test models with TF Serving-shaped signatures, and a server state for them.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used)]

use std::sync::Arc;

use clap::Parser;
use oxserve_core::{
    DataType, Model, ModelError, ModelMetadata, NamedTensor, PredictRequest, PredictResponse,
    Tensor, TensorData, TensorSpec,
};
use oxserve_runtime::{Config, ServerState, build_state};

/// Two inputs of different dtypes and two outputs:
/// `x` FP32 `[-1, 3]` and `n` INT64 `[-1]` → `scaled` FP32 `[-1, 3]` (`x * n` per row) and `total` FP64
/// `[-1]` (`sum(x) + n` per row). The default output is `scaled`.
pub struct PairModel {
    metadata: ModelMetadata,
}

impl Default for PairModel {
    fn default() -> Self {
        PairModel {
            metadata: ModelMetadata {
                platform: "test".into(),
                inputs: vec![
                    TensorSpec::new("x", DataType::F32, vec![-1, 3]),
                    TensorSpec::new("n", DataType::I64, vec![-1]),
                ],
                outputs: vec![
                    TensorSpec::new("scaled", DataType::F32, vec![-1, 3]),
                    TensorSpec::new("total", DataType::F64, vec![-1]),
                ],
            },
        }
    }
}

fn input<'a>(request: &'a PredictRequest, name: &str) -> Result<&'a Tensor, ModelError> {
    request
        .inputs
        .iter()
        .find(|t| t.name == name)
        .map(|t| &t.tensor)
        .ok_or_else(|| ModelError::BadInput(format!("missing input {name}")))
}

fn wanted(request: &PredictRequest, default: &str) -> Vec<String> {
    if request.outputs.is_empty() {
        vec![default.to_string()]
    } else {
        request.outputs.clone()
    }
}

impl Model for PairModel {
    fn metadata(&self) -> &ModelMetadata {
        &self.metadata
    }

    fn predict(&self, request: PredictRequest) -> Result<PredictResponse, ModelError> {
        let x = input(&request, "x")?;
        let n = input(&request, "n")?;
        let (TensorData::F32(xs), TensorData::I64(ns)) = (x.data(), n.data()) else {
            return Err(ModelError::BadInput("x must be FP32 and n INT64".into()));
        };
        let rows = x.shape()[0];
        if n.shape() != [rows] {
            return Err(ModelError::BadInput(format!(
                "x has {rows} rows but n has shape {:?}",
                n.shape()
            )));
        }
        let mut outputs = Vec::new();
        for name in wanted(&request, "scaled") {
            let tensor = match name.as_str() {
                "scaled" => Tensor::new(
                    vec![rows, 3],
                    TensorData::F32(
                        xs.chunks_exact(3)
                            .zip(ns)
                            .flat_map(|(row, &k)| row.iter().map(move |v| v * k as f32))
                            .collect(),
                    ),
                )?,
                "total" => Tensor::new(
                    vec![rows],
                    TensorData::F64(
                        xs.chunks_exact(3)
                            .zip(ns)
                            .map(|(row, &k)| {
                                row.iter().map(|&v| f64::from(v)).sum::<f64>() + k as f64
                            })
                            .collect(),
                    ),
                )?,
                other => {
                    return Err(ModelError::UnknownOutput {
                        name: other.into(),
                        available: "scaled, total".into(),
                    });
                }
            };
            outputs.push(NamedTensor::new(name, tensor));
        }
        Ok(PredictResponse { outputs })
    }
}

/// One input, one output: `features` FP32 `[-1, 2]` → `sum` FP64 `[-1]`.
pub struct SumModel {
    metadata: ModelMetadata,
}

impl Default for SumModel {
    fn default() -> Self {
        SumModel {
            metadata: ModelMetadata {
                platform: "test".into(),
                inputs: vec![TensorSpec::new("features", DataType::F32, vec![-1, 2])],
                outputs: vec![TensorSpec::new("sum", DataType::F64, vec![-1])],
            },
        }
    }
}

impl Model for SumModel {
    fn metadata(&self) -> &ModelMetadata {
        &self.metadata
    }

    fn predict(&self, request: PredictRequest) -> Result<PredictResponse, ModelError> {
        let x = input(&request, "features")?;
        let values = x.to_f64_vec()?;
        let rows = x.shape()[0];
        let sums = values.chunks_exact(2).map(|r| r[0] + r[1]).collect();
        Ok(PredictResponse {
            outputs: vec![NamedTensor::new(
                "sum",
                Tensor::new(vec![rows], TensorData::F64(sums))?,
            )],
        })
    }
}

/// Strings: `text` BYTES `[-1]` → `length` INT64 `[-1]` and `upper_bytes` BYTES `[-1]` (ASCII upper case).
pub struct TextModel {
    metadata: ModelMetadata,
}

impl Default for TextModel {
    fn default() -> Self {
        TextModel {
            metadata: ModelMetadata {
                platform: "test".into(),
                inputs: vec![TensorSpec::new("text", DataType::Bytes, vec![-1])],
                outputs: vec![
                    TensorSpec::new("length", DataType::I64, vec![-1]),
                    TensorSpec::new("upper_bytes", DataType::Bytes, vec![-1]),
                ],
            },
        }
    }
}

impl Model for TextModel {
    fn metadata(&self) -> &ModelMetadata {
        &self.metadata
    }

    fn predict(&self, request: PredictRequest) -> Result<PredictResponse, ModelError> {
        let x = input(&request, "text")?;
        let TensorData::Bytes(texts) = x.data() else {
            return Err(ModelError::BadInput("text must be BYTES".into()));
        };
        let n = texts.len();
        let mut outputs = Vec::new();
        for name in wanted(&request, "length") {
            let tensor = match name.as_str() {
                "length" => Tensor::new(
                    vec![n],
                    TensorData::I64(texts.iter().map(|t| t.len() as i64).collect()),
                )?,
                _ => Tensor::new(
                    vec![n],
                    TensorData::Bytes(texts.iter().map(|t| t.to_ascii_uppercase()).collect()),
                )?,
            };
            outputs.push(NamedTensor::new(name, tensor));
        }
        Ok(PredictResponse { outputs })
    }
}

/// Serves TF Serving's gRPC services for `state` on an ephemeral loopback port; returns a channel to them.
pub async fn serve_grpc(state: Arc<ServerState>) -> tonic::transport::Channel {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let mut builder = tonic::service::Routes::builder();
    oxserve_tfserving::add_grpc_services(&mut builder, state, 4 << 20);
    let routes = builder.routes();
    tokio::spawn(async move {
        tonic::transport::Server::builder()
            .add_routes(routes)
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener))
            .await
            .unwrap();
    });
    tonic::transport::Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap()
}

/// A server state named `name` (version from `version`, if any) serving `model`.
pub fn state(model: Arc<dyn Model>, name: &str, version: Option<&str>) -> Arc<ServerState> {
    let mut flags = vec!["--model-name", name];
    if let Some(v) = version {
        flags.extend(["--model-version", v]);
    }
    state_with(model, &flags)
}

/// A server state serving `model`, configured by the runtime's command-line `flags`.
pub fn state_with(model: Arc<dyn Model>, flags: &[&str]) -> Arc<ServerState> {
    let argv = std::iter::once("oxserve").chain(flags.iter().copied());
    let config = Config::parse_from(argv);
    build_state(&config, model, &std::env::temp_dir()).unwrap()
}
