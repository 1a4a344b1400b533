//! The gRPC services on one listener: Seldon's `seldon.protos` (`seldon/grpc.rs`), V2's
//! `inference.GRPCInferenceService` and MLServer's `inference.model_repository.ModelRepositoryService`
//! (`v2/grpc.rs`), server reflection, and the server's extensions.

use std::sync::Arc;

use oxserve_protocol::pb::seldon::protos as pb;

use crate::seldon::grpc::SeldonGrpc;
use crate::state::ServerState;

/// Adds every gRPC service to a tonic router builder.
pub(crate) fn routes(
    state: Arc<ServerState>,
    max_message: usize,
    extensions: Vec<GrpcExtension>,
) -> tonic::service::Routes {
    let s = SeldonGrpc::new(state.clone());
    let mut builder = tonic::service::Routes::builder();
    // Server reflection (v1 and v1alpha), as Seldon's wrapper registers it: grpcurl lists the services.
    let reflection = || {
        tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(oxserve_protocol::pb::FILE_DESCRIPTOR_SET)
    };
    match (reflection().build_v1(), reflection().build_v1alpha()) {
        (Ok(v1), Ok(v1alpha)) => {
            builder.add_service(v1).add_service(v1alpha);
        }
        (Err(e), _) | (_, Err(e)) => tracing::warn!(error = %e, "gRPC reflection is unavailable"),
    }
    builder
        .add_service(
            pb::model_server::ModelServer::new(s.clone())
                .max_decoding_message_size(max_message)
                .max_encoding_message_size(max_message),
        )
        .add_service(
            pb::seldon_server::SeldonServer::new(s.clone())
                .max_decoding_message_size(max_message)
                .max_encoding_message_size(max_message),
        )
        .add_service(pb::generic_server::GenericServer::new(s.clone()).max_decoding_message_size(max_message))
        .add_service(pb::transformer_server::TransformerServer::new(s.clone()).max_decoding_message_size(max_message))
        .add_service(
            pb::output_transformer_server::OutputTransformerServer::new(s.clone())
                .max_decoding_message_size(max_message),
        )
        .add_service(pb::router_server::RouterServer::new(s.clone()).max_decoding_message_size(max_message))
        .add_service(pb::combiner_server::CombinerServer::new(s.clone()).max_decoding_message_size(max_message))
        .add_service(
            oxserve_protocol::pb::inference::grpc_inference_service_server::GrpcInferenceServiceServer::new(
                crate::v2::grpc::InferenceGrpc::new(state.clone()),
            )
            .max_decoding_message_size(max_message)
            .max_encoding_message_size(max_message),
        )
        .add_service(
            oxserve_protocol::pb::inference::model_repository::model_repository_service_server::ModelRepositoryServiceServer::new(
                crate::v2::grpc::ModelRepositoryGrpc::new(state.clone()),
            )
            .max_decoding_message_size(max_message),
        );
    for extension in extensions {
        extension(&mut builder, state.clone(), max_message);
    }
    builder.routes()
}

/// Adds a server's own gRPC services (TF Serving's `PredictionService`, ...) beside Seldon's and V2's: called
/// once at start-up with the router builder, the shared state and the largest message size to accept.
pub type GrpcExtension =
    Box<dyn FnOnce(&mut tonic::service::RoutesBuilder, Arc<ServerState>, usize) + Send>;
