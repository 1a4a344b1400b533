//! One error type for every request path, mapped in one place to each protocol's status and body.
//!
//! An error is classified once, where it is born: the protocol crate's typed errors convert with `?`
//! ([`From`] for [`V2Error`], [`LimitError`], Seldon's [`DecodeError`] and [`FeedbackError`], [`ModelError`]),
//! and every transport
//! answers the class's status
//! from the table in [`ServeError::http_status`] / [`ServeError::grpc_status`]:
//!
//! | class | variants | HTTP | gRPC |
//! |---|---|---|---|
//! | bad input | `BadRequest`, `V2`, `Limit`, `Seldon`, `Feedback`, `TooCostly`, `NotImplemented`, `Model(BadInput / UnknownOutput)` | 400 | `INVALID_ARGUMENT` |
//! | not found | `ModelNotFound`, `RouteNotFound` | 404 | `NOT_FOUND` |
//! | method | `MethodNotAllowed` | 405 | `UNIMPLEMENTED` |
//! | too large | `TooLarge` | 413 | `RESOURCE_EXHAUSTED` |
//! | overloaded | `Overloaded` | 429 | `RESOURCE_EXHAUSTED` |
//! | internal | `Internal`, `BadMetadata`, `Model(Internal)` | 500 | `INTERNAL` |
//! | not implemented | `NoExplainer` | 501 | `UNIMPLEMENTED` |
//! | unavailable | `NotReady` | 503 | `UNAVAILABLE` |
//!
//! A Seldon component's error (`Component`) carries its own status (400–599) and `reason`, answered on REST as the
//! Python wrapper answers a `SeldonMicroserviceException`; on gRPC it takes its class's code (4xx bad input,
//! 5xx internal).

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use oxserve_core::ModelError;
use oxserve_protocol::LimitError;
use oxserve_protocol::seldon::grpc::DecodeError;
use oxserve_protocol::seldon::{self, ErrorBody, FeedbackError, Status};
use oxserve_protocol::v2::V2Error;

/// Why a request failed.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The request could not be read (not JSON, wrong shape, bad tensor): the client's fault.
    #[error("{0}")]
    BadRequest(String),
    /// A V2 request that does not decode, or a reply that cannot be written in the form the request asked for
    /// (a non-UTF-8 `BYTES` output as JSON): the client's fault, as `oxserve_protocol::v2` documents, on REST
    /// and gRPC alike.
    #[error(transparent)]
    V2(#[from] V2Error),
    /// A request tensor larger than the request's budget (derived from the body limit): the client's fault.
    #[error(transparent)]
    Limit(#[from] LimitError),
    /// A protobuf SeldonMessage or Feedback that does not decode: the client's fault. (Seldon's JSON is read
    /// with the Python wrapper's own wording, in `seldon/rest.rs`.)
    #[error(transparent)]
    Seldon(#[from] DecodeError),
    /// A JSON Seldon Feedback that does not read (`Invalid JSON: …`, the wrapper's wording): the client's fault.
    #[error(transparent)]
    Feedback(#[from] FeedbackError),
    /// The model refused or failed the request.
    #[error(transparent)]
    Model(#[from] ModelError),
    /// No such model or version.
    #[error("{0}")]
    ModelNotFound(String),
    /// No such route.
    #[error("404 Not Found: The requested URL was not found on the server.")]
    RouteNotFound,
    /// The route exists with other methods.
    #[error("405 Method Not Allowed: The method is not allowed for the requested URL.")]
    MethodNotAllowed,
    /// The request body is larger than the configured limit.
    #[error("request body is larger than the limit of {0} bytes")]
    TooLarge(usize),
    /// The request asks the model for more work than one request may (`--max-request-cost`): the client's
    /// fault, answered 400 in every protocol's shape before the model runs.
    #[error(
        "the request's {rows} rows would cost about {} operations with this model ({row_cost} per row), over \
         this server's limit of {max} per request (--max-request-cost / OXSERVE_MAX_REQUEST_COST); send at \
         most {max_rows} rows per request",
        (*rows as u64).saturating_mul(*row_cost)
    )]
    TooCostly {
        /// The request's rows.
        rows: usize,
        /// The model's cost hint per row.
        row_cost: u64,
        /// The limit.
        max: u64,
        /// The most rows one request may carry for this model.
        max_rows: u64,
    },
    /// The server is serving as many requests as it is allowed to.
    #[error("the server is overloaded; try again later")]
    Overloaded,
    /// KServe V1's `:explain`: no explainer serves beside the model (KServe's own words and 501, from its
    /// `Model.explain` without an `explainer_host`).
    #[error("Could not find explainer_host.")]
    NoExplainer,
    /// The model is not ready (the server is shutting down): KServe's `ModelNotReady`, 503.
    #[error("{0}")]
    NotReady(String),
    /// A route Seldon defines but a model does not implement (`/route`, `/aggregate`).
    #[error("{0} is not implemented")]
    NotImplemented(&'static str),
    /// The model's metadata failed validation.
    #[error("Model metadata unavailable")]
    BadMetadata,
    /// A Seldon component's hook failed: its own status (400–599) and reason, as the Python wrapper answers a
    /// `SeldonMicroserviceException`.
    #[error(transparent)]
    Component(#[from] crate::component::ComponentError),
    /// A bug or failure inside the server.
    #[error("{0}")]
    Internal(String),
}

/// The error's class, from which every protocol's status follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    BadInput,
    NotFound,
    MethodNotAllowed,
    TooLarge,
    Overloaded,
    Internal,
    NotImplemented,
    Unavailable,
}

impl ServeError {
    fn kind(&self) -> Kind {
        match self {
            ServeError::BadRequest(_)
            | ServeError::V2(_)
            | ServeError::Limit(_)
            | ServeError::Seldon(_)
            | ServeError::Feedback(_)
            | ServeError::TooCostly { .. }
            | ServeError::NotImplemented(_)
            | ServeError::Model(ModelError::BadInput(_) | ModelError::UnknownOutput { .. }) => {
                Kind::BadInput
            }
            ServeError::ModelNotFound(_) | ServeError::RouteNotFound => Kind::NotFound,
            ServeError::MethodNotAllowed => Kind::MethodNotAllowed,
            ServeError::TooLarge(_) => Kind::TooLarge,
            ServeError::Overloaded => Kind::Overloaded,
            ServeError::Model(ModelError::Internal(_))
            | ServeError::BadMetadata
            | ServeError::Internal(_) => Kind::Internal,
            ServeError::NoExplainer => Kind::NotImplemented,
            ServeError::NotReady(_) => Kind::Unavailable,
            ServeError::Component(e) if e.status() < 500 => Kind::BadInput,
            ServeError::Component(_) => Kind::Internal,
        }
    }

    /// The HTTP status, the same for Seldon and V2 bodies.
    pub fn http_status(&self) -> StatusCode {
        if let ServeError::Component(e) = self
            && let Ok(status) = StatusCode::from_u16(e.status())
        {
            return status;
        }
        match self.kind() {
            Kind::BadInput => StatusCode::BAD_REQUEST,
            Kind::NotFound => StatusCode::NOT_FOUND,
            Kind::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Kind::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Kind::Overloaded => StatusCode::TOO_MANY_REQUESTS,
            Kind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            Kind::NotImplemented => StatusCode::NOT_IMPLEMENTED,
            Kind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// Seldon's `reason` string.
    pub fn seldon_reason(&self) -> &'static str {
        match (self, self.kind()) {
            (ServeError::BadMetadata, _) => seldon::REASON_BAD_METADATA,
            (_, Kind::BadInput | Kind::TooLarge) => seldon::REASON_BAD_DATA,
            (_, Kind::Overloaded) => seldon::REASON_OVERLOADED,
            _ => seldon::REASON_INTERNAL_ERROR,
        }
    }

    /// The gRPC status.
    pub fn grpc_status(&self) -> tonic::Status {
        let message = self.to_string();
        match self.kind() {
            Kind::BadInput => tonic::Status::invalid_argument(message),
            Kind::NotFound => tonic::Status::not_found(message),
            Kind::MethodNotAllowed => tonic::Status::unimplemented(message),
            Kind::TooLarge | Kind::Overloaded => tonic::Status::resource_exhausted(message),
            Kind::Internal => tonic::Status::internal(message),
            Kind::NotImplemented => tonic::Status::unimplemented(message),
            Kind::Unavailable => tonic::Status::unavailable(message),
        }
    }

    /// A Seldon error reply: `{"status":{"code":-1,"info":…,"reason":…,"status":1}}`.
    pub fn into_seldon_response(self) -> Response {
        let status = self.http_status();
        let (reason, code) = match &self {
            ServeError::Component(e) => (e.reason(), e.code()),
            other => (other.seldon_reason(), -1),
        };
        let mut body = ErrorBody {
            status: Status::failure(reason, self.to_string()),
        };
        body.status.code = code;
        json_response(status, seldon::pyjson::to_vec(&body).unwrap_or_default())
    }

    /// A KServe V1 error reply: `{"error": …}` with the table's status. KServe's model server answers V1 and
    /// V2 errors through the same exception handlers, so the shape is V2's.
    pub fn into_kserve_v1_response(self) -> Response {
        self.into_v2_response()
    }

    /// A V2 error reply: `{"error": …}`.
    pub fn into_v2_response(self) -> Response {
        let status = self.http_status();
        let body = serde_json::to_vec(&serde_json::json!({ "error": self.to_string() }))
            .unwrap_or_default();
        json_response(status, body)
    }
}

/// The gRPC status of an error, so a gRPC handler's `?` answers the runtime's classification.
impl From<ServeError> for tonic::Status {
    fn from(e: ServeError) -> tonic::Status {
        e.grpc_status()
    }
}

/// A JSON reply with the given status: the body's buffer becomes the reply's, not copied.
pub(crate) fn json_response(status: StatusCode, body: Vec<u8>) -> Response {
    let mut response = Response::new(axum::body::Body::from(body));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_table_for_every_protocol() {
        let bad = ServeError::Model(ModelError::BadInput("X has 3 features".into()));
        assert_eq!(bad.http_status(), StatusCode::BAD_REQUEST);
        assert_eq!(bad.seldon_reason(), "MICROSERVICE_BAD_DATA");
        assert_eq!(bad.grpc_status().code(), tonic::Code::InvalidArgument);
        let internal = ServeError::Model(ModelError::Internal("boom".into()));
        assert_eq!(internal.http_status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(internal.seldon_reason(), "MICROSERVICE_INTERNAL_ERROR");
        assert_eq!(internal.grpc_status().code(), tonic::Code::Internal);
        let missing = ServeError::ModelNotFound("Model x not found".into());
        assert_eq!(missing.http_status(), StatusCode::NOT_FOUND);
        assert_eq!(missing.grpc_status().code(), tonic::Code::NotFound);
        assert_eq!(
            ServeError::Overloaded.grpc_status().code(),
            tonic::Code::ResourceExhausted
        );
    }
}
