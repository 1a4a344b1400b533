//! `inference.GRPCInferenceService`: the Open Inference Protocol over gRPC.

use std::sync::Arc;

use oxserve_protocol::RequestLimits;
use oxserve_protocol::pb::inference as pb;
use oxserve_protocol::v2;
use tonic::{Request, Response, Status};

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
        self.state
            .check_model(&r.name, version(&r.version))
            .map_err(|e| e.grpc_status())?;
        Ok(Response::new(pb::ModelReadyResponse {
            ready: self.state.is_ready(),
        }))
    }

    async fn server_metadata(
        &self,
        _r: Request<pb::ServerMetadataRequest>,
    ) -> Result<Response<pb::ServerMetadataResponse>, Status> {
        let meta = crate::v2_rest::server_metadata_json();
        Ok(Response::new(pb::ServerMetadataResponse {
            name: meta["name"].as_str().unwrap_or_default().to_string(),
            version: meta["version"].as_str().unwrap_or_default().to_string(),
            extensions: vec!["binary_tensor_data".to_string()],
        }))
    }

    async fn model_metadata(
        &self,
        r: Request<pb::ModelMetadataRequest>,
    ) -> Result<Response<pb::ModelMetadataResponse>, Status> {
        let r = r.into_inner();
        self.state
            .check_model(&r.name, version(&r.version))
            .map_err(|e| e.grpc_status())?;
        Ok(Response::new(v2::model_metadata_grpc(
            &self.state.model_name,
            self.state.v2_versions(),
            self.state.model.metadata(),
        )))
    }

    async fn model_infer(
        &self,
        r: Request<pb::ModelInferRequest>,
    ) -> Result<Response<pb::ModelInferResponse>, Status> {
        let r = r.into_inner();
        self.state
            .check_model(&r.model_name, version(&r.model_version))
            .map_err(|e| e.grpc_status())?;
        let decoded = v2::decode_grpc(
            r,
            &RequestLimits::from_body_limit(self.state.max_body_bytes),
        )
        .map_err(|e| ServeError::BadRequest(e.to_string()).grpc_status())?;
        let id = decoded.id.clone().unwrap_or_default();
        let raw = decoded.raw_output;
        let response = self
            .state
            .predict(decoded.request)
            .await
            .map_err(|e| e.grpc_status())?;
        let reply = v2::encode_grpc(
            &self.state.model_name,
            self.state.model_version.as_deref(),
            id,
            response.outputs,
            raw,
        )
        .map_err(|e| ServeError::Internal(e.to_string()).grpc_status())?;
        Ok(Response::new(reply))
    }
}
