//! The Open Inference Protocol (V2) over gRPC, `inference.GRPCInferenceService`: decodes `ModelInferRequest`
//! with `oxserve_protocol::v2::decode_grpc`, calls the protocol's logic ([`super`]), and encodes the reply; an
//! error becomes its gRPC status in [`ServeError::grpc_status`].

use std::sync::Arc;

use oxserve_protocol::pb::inference as pb;
use oxserve_protocol::v2;
use tonic::{Request, Response, Status};

use super::check_model;
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
        check_model(&self.state, &r.name, version(&r.version))?;
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
        check_model(&self.state, &r.name, version(&r.version))?;
        Ok(Response::new(v2::model_metadata_grpc(
            &self.state.model_name,
            super::versions(&self.state),
            self.state.model.metadata(),
        )))
    }

    async fn model_infer(
        &self,
        r: Request<pb::ModelInferRequest>,
    ) -> Result<Response<pb::ModelInferResponse>, Status> {
        Ok(Response::new(self.infer(r.into_inner()).await?))
    }
}

impl InferenceGrpc {
    /// One inference: the model checked, the request decoded (`decode_grpc`), run ([`super::infer`]) and
    /// encoded (`encode_grpc`); every failure is classified by its `ServeError` conversion.
    async fn infer(&self, r: pb::ModelInferRequest) -> Result<pb::ModelInferResponse, ServeError> {
        check_model(&self.state, &r.model_name, version(&r.model_version))?;
        let decoded = v2::decode_grpc(r, &super::limits(&self.state))?;
        let id = decoded.id.clone().unwrap_or_default();
        let raw = decoded.raw_output;
        let response = super::infer(&self.state, decoded.request).await?;
        Ok(v2::encode_grpc(
            &self.state.model_name,
            self.state.model_version.as_deref(),
            id,
            response.outputs,
            raw,
        )?)
    }
}
