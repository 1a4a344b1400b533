//! TF Serving's gRPC services: `tensorflow.serving.PredictionService` (`Predict`, `GetModelMetadata`) and
//! `tensorflow.serving.ModelService` (`GetModelStatus`). Methods not served here (`Classify`, `Regress`,
//! `MultiInference`, `HandleReloadConfigRequest`) answer UNIMPLEMENTED.

use std::collections::HashMap;
use std::sync::Arc;

use oxserve_core::PredictRequest;
use oxserve_protocol::RequestLimits;
use oxserve_protocol::pb::tensorflow::serving::{
    self as pb, ModelSpec, model_service_server, model_spec, model_version_status,
    prediction_service_server,
};
use oxserve_protocol::tfserving::{self, DEFAULT_SIGNATURE, RequestError};
use oxserve_runtime::{ServeError, ServerState};
use tonic::{Request, Response, Status};

use crate::{TfServingStatus as _, VersionChoice, all_outputs, resolve};

/// Adds `PredictionService` and `ModelService` to the runtime's gRPC router (the shape of a
/// [`oxserve_runtime::GrpcExtension`]).
pub fn add_grpc_services(
    builder: &mut tonic::service::RoutesBuilder,
    state: Arc<ServerState>,
    max_message: usize,
) {
    let service = TfServingGrpc { state };
    builder
        .add_service(
            prediction_service_server::PredictionServiceServer::new(service.clone())
                .max_decoding_message_size(max_message)
                .max_encoding_message_size(max_message),
        )
        .add_service(model_service_server::ModelServiceServer::new(service));
}

/// TF Serving's gRPC services over the runtime's state.
#[derive(Debug, Clone)]
pub struct TfServingGrpc {
    state: Arc<ServerState>,
}

impl TfServingGrpc {
    /// Wraps the state.
    pub fn new(state: Arc<ServerState>) -> Self {
        TfServingGrpc { state }
    }

    /// Resolves a request's `ModelSpec` to the served version (checking the signature name too).
    fn servable(&self, spec: Option<&ModelSpec>) -> Result<i64, Status> {
        let spec = spec.ok_or_else(|| Status::invalid_argument("Missing ModelSpec"))?;
        tfserving::check_signature_name(&spec.signature_name).map_err(invalid)?;
        let choice = match &spec.version_choice {
            None => VersionChoice::Latest,
            Some(model_spec::VersionChoice::Version(n)) => VersionChoice::Number(*n),
            Some(model_spec::VersionChoice::VersionLabel(l)) => VersionChoice::Label(l.clone()),
        };
        resolve(&self.state, &spec.name, &choice).map_err(|e| e.tf_serving_grpc_status())
    }

    fn reply_spec(&self, version: i64, signature: &str) -> ModelSpec {
        ModelSpec {
            name: self.state.model_name.clone(),
            version_choice: Some(model_spec::VersionChoice::Version(version)),
            signature_name: signature.into(),
        }
    }
}

fn invalid(e: RequestError) -> Status {
    ServeError::BadRequest(e.to_string()).tf_serving_grpc_status()
}

#[tonic::async_trait]
impl prediction_service_server::PredictionService for TfServingGrpc {
    async fn predict(
        &self,
        request: Request<pb::PredictRequest>,
    ) -> Result<Response<pb::PredictResponse>, Status> {
        let request = request.into_inner();
        let version = self.servable(request.model_spec.as_ref())?;
        let inputs = tfserving::inputs_from_protos(
            &request.inputs,
            &self.state.model.metadata().inputs,
            &RequestLimits::from_body_limit(self.state.max_body_bytes),
        )
        .map_err(invalid)?;
        let response = self
            .state
            .predict(PredictRequest {
                inputs,
                outputs: all_outputs(&self.state),
            })
            .await
            .map_err(|e| e.tf_serving_grpc_status())?;
        let outputs = tfserving::outputs_to_protos(&response.outputs, &request.output_filter)
            .map_err(invalid)?;
        Ok(Response::new(pb::PredictResponse {
            model_spec: Some(self.reply_spec(version, DEFAULT_SIGNATURE)),
            outputs,
        }))
    }

    async fn get_model_metadata(
        &self,
        request: Request<pb::GetModelMetadataRequest>,
    ) -> Result<Response<pb::GetModelMetadataResponse>, Status> {
        let request = request.into_inner();
        let version = self.servable(request.model_spec.as_ref())?;
        if request.metadata_field.is_empty() {
            return Err(Status::invalid_argument(
                "GetModelMetadataRequest must specify at least one metadata_field",
            ));
        }
        if let Some(field) = request
            .metadata_field
            .iter()
            .find(|f| f.as_str() != "signature_def")
        {
            return Err(Status::invalid_argument(format!(
                "Metadata field {field} is not supported"
            )));
        }
        let any = tfserving::signature_def_map_any(self.state.model.metadata());
        Ok(Response::new(pb::GetModelMetadataResponse {
            model_spec: Some(self.reply_spec(version, "")),
            metadata: HashMap::from([("signature_def".to_string(), any)]),
        }))
    }
}

#[tonic::async_trait]
impl model_service_server::ModelService for TfServingGrpc {
    async fn get_model_status(
        &self,
        request: Request<pb::GetModelStatusRequest>,
    ) -> Result<Response<pb::GetModelStatusResponse>, Status> {
        let request = request.into_inner();
        let version = self.servable(request.model_spec.as_ref())?;
        Ok(Response::new(pb::GetModelStatusResponse {
            model_version_status: vec![pb::ModelVersionStatus {
                version,
                state: model_version_status::State::Available as i32,
                status: Some(pb::StatusProto {
                    error_code: 0,
                    error_message: String::new(),
                }),
            }],
        }))
    }
}
