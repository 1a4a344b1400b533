//! The gRPC services on one listener: Seldon's `seldon.protos` (`seldon/grpc.rs`), V2's
//! `inference.GRPCInferenceService` and MLServer's `inference.model_repository.ModelRepositoryService`
//! (`v2/grpc.rs`), server reflection, and the server's extensions.

use std::convert::Infallible;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};

use oxserve_protocol::pb::seldon::protos as pb;
use tower::ServiceExt as _;

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
    // Server reflection (v1 and v1alpha), as Seldon's wrapper registers it: grpcurl lists the services. Built on
    // its first call: decoding the descriptor set costs 0.5 MB of idle RSS and 1–2 ms of start-up.
    builder
        .add_service(LazyReflection::<true>::default())
        .add_service(LazyReflection::<false>::default());
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

/// A built reflection service, boxed (its type is opaque).
type Reflection = tower::util::BoxCloneSyncService<
    http::Request<tonic::body::Body>,
    http::Response<tonic::body::Body>,
    Infallible,
>;

/// gRPC server reflection, `grpc.reflection.v1` (`V1`) or `v1alpha`, built on its first call.
#[derive(Clone, Default)]
struct LazyReflection<const V1: bool> {
    /// The service once built; `None` if building it failed (its calls then answer `UNIMPLEMENTED`).
    built: Arc<OnceLock<Option<Reflection>>>,
}

impl<const V1: bool> LazyReflection<V1> {
    fn service(&self) -> Option<Reflection> {
        self.built
            .get_or_init(|| {
                let builder = tonic_reflection::server::Builder::configure()
                    .register_encoded_file_descriptor_set(
                        oxserve_protocol::pb::FILE_DESCRIPTOR_SET,
                    );
                let built = if V1 {
                    builder.build_v1().map(Reflection::new)
                } else {
                    builder.build_v1alpha().map(Reflection::new)
                };
                built
                    .inspect_err(|e| tracing::warn!(error = %e, "gRPC reflection is unavailable"))
                    .ok()
            })
            .clone()
    }
}

impl<const V1: bool> tonic::server::NamedService for LazyReflection<V1> {
    const NAME: &'static str = if V1 {
        "grpc.reflection.v1.ServerReflection"
    } else {
        "grpc.reflection.v1alpha.ServerReflection"
    };
}

impl<const V1: bool> tower::Service<http::Request<tonic::body::Body>> for LazyReflection<V1> {
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = futures::future::BoxFuture<'static, Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<tonic::body::Body>) -> Self::Future {
        match self.service() {
            Some(service) => Box::pin(service.oneshot(request)),
            None => Box::pin(async {
                Ok(tonic::Status::unimplemented("gRPC reflection is unavailable").into_http())
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn reflection_is_built_on_its_first_call_and_kept() {
        let mut v1alpha = LazyReflection::<false>::default();
        let copy = v1alpha.clone();
        assert!(v1alpha.built.get().is_none(), "built before any call");
        // A ListServices request: gRPC frame (uncompressed, 2-byte message: field 7 = "").
        let request = http::Request::builder()
            .method("POST")
            .uri("/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo")
            .header("content-type", "application/grpc")
            .body(tonic::body::Body::new(http_body_util::Full::new(
                bytes::Bytes::from_static(&[0, 0, 0, 0, 2, 0x3a, 0]),
            )))
            .unwrap();
        let response = tower::Service::call(&mut v1alpha, request).await.unwrap();
        assert_eq!(response.status(), http::StatusCode::OK);
        assert!(tonic::Status::from_header_map(response.headers()).is_none());
        let body = http_body_util::BodyExt::collect(response.into_body())
            .await
            .unwrap()
            .to_bytes();
        let listed = String::from_utf8_lossy(&body);
        assert!(
            listed.contains("inference.GRPCInferenceService"),
            "{listed}"
        );
        assert!(
            copy.built.get().is_some_and(Option::is_some),
            "kept for every clone"
        );
    }
}
