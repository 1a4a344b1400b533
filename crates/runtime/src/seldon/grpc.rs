//! Seldon v1 over gRPC: `seldon.protos` (Model, Seldon, Generic, Transformer, OutputTransformer, Router,
//! Combiner) decode the protobuf message, call the protocol's logic ([`super`]) and encode its reply; an error
//! becomes its gRPC status in [`ServeError::grpc_status`].

use std::sync::Arc;

use oxserve_protocol::RequestLimits;
use oxserve_protocol::pb::seldon::protos as pb;
use oxserve_protocol::seldon::{self, grpc as conv};
use tonic::{Request, Response, Status};

use crate::error::ServeError;
use crate::state::ServerState;

/// The Seldon gRPC services, sharing one state.
#[derive(Debug, Clone)]
pub(crate) struct SeldonGrpc {
    state: Arc<ServerState>,
}

impl SeldonGrpc {
    /// Wraps the state.
    pub(crate) fn new(state: Arc<ServerState>) -> Self {
        SeldonGrpc { state }
    }

    /// The per-request budget every decoded tensor is charged to, from the body (message) limit.
    fn limits(&self) -> RequestLimits {
        RequestLimits::from_body_limit(self.state.max_body_bytes)
    }

    async fn predict(&self, request: pb::SeldonMessage) -> Result<pb::SeldonMessage, ServeError> {
        let message = conv::from_pb(request, &self.limits())?;
        let reply = super::predict(&self.state, message).await?;
        Ok(conv::to_pb(&reply))
    }

    async fn feedback(&self, request: pb::Feedback) -> Result<pb::SeldonMessage, ServeError> {
        let feedback = conv::feedback_from_pb(request, &self.limits())?;
        Ok(conv::to_pb(
            &super::send_feedback(&self.state, feedback)
                .await?
                .into_message()?,
        ))
    }

    async fn transform_input(
        &self,
        request: pb::SeldonMessage,
    ) -> Result<pb::SeldonMessage, ServeError> {
        let message = conv::from_pb(request, &self.limits())?;
        Ok(conv::to_pb(
            &super::transform_input(&self.state, message).await?,
        ))
    }

    async fn transform_output(
        &self,
        request: pb::SeldonMessage,
    ) -> Result<pb::SeldonMessage, ServeError> {
        let message = conv::from_pb(request, &self.limits())?;
        Ok(conv::to_pb(
            &super::transform_output(&self.state, message).await?,
        ))
    }

    async fn route(&self, request: pb::SeldonMessage) -> Result<pb::SeldonMessage, ServeError> {
        if !super::is_component(&self.state) {
            return Err(ServeError::NotImplemented("route"));
        }
        let message = conv::from_pb(request, &self.limits())?;
        Ok(conv::to_pb(&super::route(&self.state, message).await?))
    }

    async fn aggregate(
        &self,
        request: pb::SeldonMessageList,
    ) -> Result<pb::SeldonMessage, ServeError> {
        if !super::is_component(&self.state) {
            return Err(ServeError::NotImplemented("aggregate"));
        }
        let messages = request
            .seldon_messages
            .into_iter()
            .map(|m| conv::from_pb(m, &self.limits()))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(conv::to_pb(&super::aggregate(&self.state, messages).await?))
    }

    fn metadata(&self) -> Result<pb::SeldonModelMetadata, ServeError> {
        let meta = self
            .state
            .seldon_metadata
            .as_ref()
            .ok_or(ServeError::BadMetadata)?;
        let item = |m: &seldon::MessageMetadata| pb::SeldonMessageMetadata {
            messagetype: m.messagetype.clone().unwrap_or_default(),
            schema: m.schema.as_ref().map(conv::json_to_pb),
            name: m.name.clone().unwrap_or_default(),
            datatype: m.datatype.clone().unwrap_or_default(),
            shape: m.shape.clone().unwrap_or_default(),
        };
        Ok(pb::SeldonModelMetadata {
            name: meta.name.clone(),
            versions: meta.versions.clone(),
            platform: meta.platform.clone(),
            inputs: meta.inputs.iter().map(item).collect(),
            outputs: meta.outputs.iter().map(item).collect(),
            custom: meta
                .custom
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        })
    }
}

#[tonic::async_trait]
impl pb::model_server::Model for SeldonGrpc {
    async fn predict(
        &self,
        request: Request<pb::SeldonMessage>,
    ) -> Result<Response<pb::SeldonMessage>, Status> {
        SeldonGrpc::predict(self, request.into_inner())
            .await
            .map(Response::new)
            .map_err(Status::from)
    }

    async fn send_feedback(
        &self,
        request: Request<pb::Feedback>,
    ) -> Result<Response<pb::SeldonMessage>, Status> {
        self.feedback(request.into_inner())
            .await
            .map(Response::new)
            .map_err(Status::from)
    }

    async fn metadata(
        &self,
        _request: Request<()>,
    ) -> Result<Response<pb::SeldonModelMetadata>, Status> {
        SeldonGrpc::metadata(self)
            .map(Response::new)
            .map_err(Status::from)
    }
}

#[tonic::async_trait]
impl pb::seldon_server::Seldon for SeldonGrpc {
    async fn predict(
        &self,
        request: Request<pb::SeldonMessage>,
    ) -> Result<Response<pb::SeldonMessage>, Status> {
        SeldonGrpc::predict(self, request.into_inner())
            .await
            .map(Response::new)
            .map_err(Status::from)
    }

    async fn send_feedback(
        &self,
        request: Request<pb::Feedback>,
    ) -> Result<Response<pb::SeldonMessage>, Status> {
        self.feedback(request.into_inner())
            .await
            .map(Response::new)
            .map_err(Status::from)
    }

    async fn model_metadata(
        &self,
        _request: Request<pb::SeldonModelMetadataRequest>,
    ) -> Result<Response<pb::SeldonModelMetadata>, Status> {
        SeldonGrpc::metadata(self)
            .map(Response::new)
            .map_err(Status::from)
    }

    async fn graph_metadata(
        &self,
        _request: Request<()>,
    ) -> Result<Response<pb::SeldonGraphMetadata>, Status> {
        Err(Status::unknown(
            "GraphMetadata not available on the Model level.",
        ))
    }
}

#[tonic::async_trait]
impl pb::generic_server::Generic for SeldonGrpc {
    async fn transform_input(
        &self,
        r: Request<pb::SeldonMessage>,
    ) -> Result<Response<pb::SeldonMessage>, Status> {
        SeldonGrpc::transform_input(self, r.into_inner())
            .await
            .map(Response::new)
            .map_err(Status::from)
    }

    async fn transform_output(
        &self,
        r: Request<pb::SeldonMessage>,
    ) -> Result<Response<pb::SeldonMessage>, Status> {
        SeldonGrpc::transform_output(self, r.into_inner())
            .await
            .map(Response::new)
            .map_err(Status::from)
    }

    async fn route(
        &self,
        r: Request<pb::SeldonMessage>,
    ) -> Result<Response<pb::SeldonMessage>, Status> {
        SeldonGrpc::route(self, r.into_inner())
            .await
            .map(Response::new)
            .map_err(Status::from)
    }

    async fn aggregate(
        &self,
        r: Request<pb::SeldonMessageList>,
    ) -> Result<Response<pb::SeldonMessage>, Status> {
        SeldonGrpc::aggregate(self, r.into_inner())
            .await
            .map(Response::new)
            .map_err(Status::from)
    }

    async fn send_feedback(
        &self,
        r: Request<pb::Feedback>,
    ) -> Result<Response<pb::SeldonMessage>, Status> {
        self.feedback(r.into_inner())
            .await
            .map(Response::new)
            .map_err(Status::from)
    }
}

#[tonic::async_trait]
impl pb::transformer_server::Transformer for SeldonGrpc {
    async fn transform_input(
        &self,
        r: Request<pb::SeldonMessage>,
    ) -> Result<Response<pb::SeldonMessage>, Status> {
        SeldonGrpc::transform_input(self, r.into_inner())
            .await
            .map(Response::new)
            .map_err(Status::from)
    }
}

#[tonic::async_trait]
impl pb::output_transformer_server::OutputTransformer for SeldonGrpc {
    async fn transform_output(
        &self,
        r: Request<pb::SeldonMessage>,
    ) -> Result<Response<pb::SeldonMessage>, Status> {
        SeldonGrpc::transform_output(self, r.into_inner())
            .await
            .map(Response::new)
            .map_err(Status::from)
    }
}

#[tonic::async_trait]
impl pb::router_server::Router for SeldonGrpc {
    async fn route(
        &self,
        r: Request<pb::SeldonMessage>,
    ) -> Result<Response<pb::SeldonMessage>, Status> {
        SeldonGrpc::route(self, r.into_inner())
            .await
            .map(Response::new)
            .map_err(Status::from)
    }

    async fn send_feedback(
        &self,
        r: Request<pb::Feedback>,
    ) -> Result<Response<pb::SeldonMessage>, Status> {
        self.feedback(r.into_inner())
            .await
            .map(Response::new)
            .map_err(Status::from)
    }
}

#[tonic::async_trait]
impl pb::combiner_server::Combiner for SeldonGrpc {
    async fn aggregate(
        &self,
        r: Request<pb::SeldonMessageList>,
    ) -> Result<Response<pb::SeldonMessage>, Status> {
        SeldonGrpc::aggregate(self, r.into_inner())
            .await
            .map(Response::new)
            .map_err(Status::from)
    }
}
