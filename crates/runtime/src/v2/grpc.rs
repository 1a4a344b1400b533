//! The Open Inference Protocol (V2) over gRPC, `inference.GRPCInferenceService`: decodes `ModelInferRequest`
//! with `oxserve_protocol::v2::decode_grpc`, calls the protocol's logic ([`super`]), and encodes the reply; an
//! error becomes its gRPC status in [`ServeError::grpc_status`].
//!
//! The repository calls are served twice, on the one repository: in Triton's layout on
//! `inference.GRPCInferenceService` (what Seldon Core 2's agent and ModelMesh's adapter call), and in MLServer's
//! on `inference.model_repository.ModelRepositoryService` ([`ModelRepositoryGrpc`]), which MLServer still serves
//! for its older clients.

use std::sync::Arc;

use oxserve_protocol::pb::inference as pb;
use oxserve_protocol::pb::inference::model_repository as mr;
use oxserve_protocol::v2;
use tonic::{Request, Response, Status};

use super::check_model;
use super::repository::index_rows;
use crate::error::ServeError;
use crate::state::ServerState;

/// The V2 gRPC service.
#[derive(Debug, Clone)]
pub(crate) struct InferenceGrpc {
    state: Arc<ServerState>,
}

impl InferenceGrpc {
    /// Wraps the state.
    pub(crate) fn new(state: Arc<ServerState>) -> Self {
        InferenceGrpc { state }
    }
}

fn version(v: &str) -> Option<&str> {
    (!v.is_empty()).then_some(v)
}

#[tonic::async_trait]
impl pb::grpc_inference_service_server::GrpcInferenceService for InferenceGrpc {
    async fn server_live(
        &self,
        _r: Request<pb::ServerLiveRequest>,
    ) -> Result<Response<pb::ServerLiveResponse>, Status> {
        Ok(Response::new(pb::ServerLiveResponse { live: true }))
    }

    async fn server_ready(
        &self,
        _r: Request<pb::ServerReadyRequest>,
    ) -> Result<Response<pb::ServerReadyResponse>, Status> {
        Ok(Response::new(pb::ServerReadyResponse {
            ready: self.state.is_ready(),
        }))
    }

    async fn model_ready(
        &self,
        r: Request<pb::ModelReadyRequest>,
    ) -> Result<Response<pb::ModelReadyResponse>, Status> {
        let r = r.into_inner();
        let _served = check_model(&self.state, &r.name, version(&r.version))?;
        Ok(Response::new(pb::ModelReadyResponse {
            ready: self.state.is_ready(),
        }))
    }

    async fn server_metadata(
        &self,
        _r: Request<pb::ServerMetadataRequest>,
    ) -> Result<Response<pb::ServerMetadataResponse>, Status> {
        Ok(Response::new(pb::ServerMetadataResponse {
            name: super::SERVER_NAME.to_string(),
            version: super::SERVER_VERSION.to_string(),
            extensions: super::EXTENSIONS.iter().map(|e| e.to_string()).collect(),
        }))
    }

    async fn model_metadata(
        &self,
        r: Request<pb::ModelMetadataRequest>,
    ) -> Result<Response<pb::ModelMetadataResponse>, Status> {
        let r = r.into_inner();
        let served = check_model(&self.state, &r.name, version(&r.version))?;
        Ok(Response::new(v2::model_metadata_grpc(
            &served.name,
            super::versions(&served),
            &super::metadata(&served),
        )))
    }

    async fn model_infer(
        &self,
        r: Request<pb::ModelInferRequest>,
    ) -> Result<Response<pb::ModelInferResponse>, Status> {
        Ok(Response::new(self.infer(r.into_inner()).await?))
    }

    async fn repository_index(
        &self,
        r: Request<pb::RepositoryIndexRequest>,
    ) -> Result<Response<pb::RepositoryIndexResponse>, Status> {
        let rows = index_rows(&self.state, r.into_inner().ready).await?;
        Ok(Response::new(pb::RepositoryIndexResponse {
            models: rows
                .into_iter()
                .map(|row| pb::repository_index_response::ModelIndex {
                    name: row.name,
                    version: row.version,
                    state: row.state.as_str().to_string(),
                    reason: row.reason,
                })
                .collect(),
        }))
    }

    async fn repository_model_load(
        &self,
        r: Request<pb::RepositoryModelLoadRequest>,
    ) -> Result<Response<pb::RepositoryModelLoadResponse>, Status> {
        load(&self.state, &r.into_inner().model_name).await?;
        Ok(Response::new(pb::RepositoryModelLoadResponse {}))
    }

    async fn repository_model_unload(
        &self,
        r: Request<pb::RepositoryModelUnloadRequest>,
    ) -> Result<Response<pb::RepositoryModelUnloadResponse>, Status> {
        unload(&self.state, &r.into_inner().model_name).await?;
        Ok(Response::new(pb::RepositoryModelUnloadResponse {}))
    }
}

impl InferenceGrpc {
    /// One inference: the model checked, the request decoded (`decode_grpc`), run ([`super::infer`]) and
    /// encoded (`encode_grpc`); every failure is classified by its `ServeError` conversion.
    async fn infer(&self, r: pb::ModelInferRequest) -> Result<pb::ModelInferResponse, ServeError> {
        let served = check_model(&self.state, &r.model_name, version(&r.model_version))?;
        let mut decoded = v2::decode_grpc(r, &super::limits(&self.state))?;
        let id = decoded.id.clone().unwrap_or_default();
        let raw = decoded.raw_output;
        super::add_request_parameters(&served, &decoded.parameters, &mut decoded.request)?;
        let response = super::infer(&self.state, &served, decoded.request).await?;
        let mut reply = v2::encode_grpc(
            &served.name,
            served.version.as_deref(),
            id,
            response.outputs,
            raw,
        )?;
        if let Some(content_type) = served.model.output_content_type() {
            let parameters =
                v2::json_to_infer_parameters(&v2::codecs::output_parameters(content_type));
            for output in &mut reply.outputs {
                output.parameters.extend(parameters.clone());
            }
        }
        Ok(reply)
    }
}

/// Loads (or reloads) `name`: both gRPC services' `RepositoryModelLoad`.
async fn load(state: &ServerState, name: &str) -> Result<(), ServeError> {
    Ok(state.repository.load(name).await?)
}

/// Unloads `name`: both gRPC services' `RepositoryModelUnload`.
async fn unload(state: &ServerState, name: &str) -> Result<(), ServeError> {
    Ok(state.repository.unload(name).await?)
}

/// MLServer's `inference.model_repository.ModelRepositoryService`: the same three repository calls in MLServer's
/// message layout (no `parameters` on load and unload), on the same repository as the V2 service's.
#[derive(Debug, Clone)]
pub(crate) struct ModelRepositoryGrpc {
    state: Arc<ServerState>,
}

impl ModelRepositoryGrpc {
    /// Wraps the state.
    pub(crate) fn new(state: Arc<ServerState>) -> Self {
        ModelRepositoryGrpc { state }
    }
}

#[tonic::async_trait]
impl mr::model_repository_service_server::ModelRepositoryService for ModelRepositoryGrpc {
    async fn repository_index(
        &self,
        r: Request<mr::RepositoryIndexRequest>,
    ) -> Result<Response<mr::RepositoryIndexResponse>, Status> {
        let rows = index_rows(&self.state, r.into_inner().ready).await?;
        Ok(Response::new(mr::RepositoryIndexResponse {
            models: rows
                .into_iter()
                .map(|row| mr::repository_index_response::ModelIndex {
                    name: row.name,
                    version: row.version,
                    state: row.state.as_str().to_string(),
                    reason: row.reason,
                })
                .collect(),
        }))
    }

    async fn repository_model_load(
        &self,
        r: Request<mr::RepositoryModelLoadRequest>,
    ) -> Result<Response<mr::RepositoryModelLoadResponse>, Status> {
        load(&self.state, &r.into_inner().model_name).await?;
        Ok(Response::new(mr::RepositoryModelLoadResponse {}))
    }

    async fn repository_model_unload(
        &self,
        r: Request<mr::RepositoryModelUnloadRequest>,
    ) -> Result<Response<mr::RepositoryModelUnloadResponse>, Status> {
        unload(&self.state, &r.into_inner().model_name).await?;
        Ok(Response::new(mr::RepositoryModelUnloadResponse {}))
    }
}
