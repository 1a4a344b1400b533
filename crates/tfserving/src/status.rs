//! TF Serving's status table: which canonical code, REST status and error body each runtime error answers on
//! TF Serving's API (its REST statuses follow its canonical codes, `http_rest_api_util.cc`).

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use oxserve_runtime::ServeError;

/// A runtime error as TF Serving reports it, on REST and gRPC alike.
pub trait TfServingStatus {
    /// TF Serving's canonical code for the error, from which its REST status and its gRPC status follow.
    fn tf_serving_code(&self) -> tonic::Code;
    /// TF Serving's HTTP status: its table from canonical code to status; a body over the limit stays 413.
    fn tf_serving_http_status(&self) -> StatusCode;
    /// TF Serving's gRPC status (same codes as its REST replies).
    fn tf_serving_grpc_status(&self) -> tonic::Status;
    /// A TF Serving (and KServe v1) error reply: `{"error": …}` with TF Serving's status.
    fn into_tf_serving_response(self) -> Response;
}

impl TfServingStatus for ServeError {
    fn tf_serving_code(&self) -> tonic::Code {
        match self {
            ServeError::NotImplemented(_) => tonic::Code::Unimplemented,
            // TF Serving answers any request it cannot route as a malformed one.
            ServeError::MethodNotAllowed => tonic::Code::InvalidArgument,
            // Otherwise the runtime's one classification: bad input, not found, too large or overloaded, internal.
            other => other.grpc_status().code(),
        }
    }

    fn tf_serving_http_status(&self) -> StatusCode {
        if let ServeError::TooLarge(_) = self {
            return StatusCode::PAYLOAD_TOO_LARGE;
        }
        match self.tf_serving_code() {
            tonic::Code::Ok => StatusCode::OK,
            tonic::Code::Cancelled => StatusCode::from_u16(499).unwrap_or(StatusCode::BAD_REQUEST),
            tonic::Code::InvalidArgument
            | tonic::Code::FailedPrecondition
            | tonic::Code::OutOfRange => StatusCode::BAD_REQUEST,
            tonic::Code::DeadlineExceeded => StatusCode::GATEWAY_TIMEOUT,
            tonic::Code::NotFound => StatusCode::NOT_FOUND,
            tonic::Code::AlreadyExists | tonic::Code::Aborted => StatusCode::CONFLICT,
            tonic::Code::PermissionDenied => StatusCode::FORBIDDEN,
            tonic::Code::ResourceExhausted => StatusCode::TOO_MANY_REQUESTS,
            tonic::Code::Unimplemented => StatusCode::NOT_IMPLEMENTED,
            tonic::Code::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            tonic::Code::Unauthenticated => StatusCode::UNAUTHORIZED,
            tonic::Code::Unknown | tonic::Code::Internal | tonic::Code::DataLoss => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
        }
    }

    fn tf_serving_grpc_status(&self) -> tonic::Status {
        tonic::Status::new(self.tf_serving_code(), self.to_string())
    }

    fn into_tf_serving_response(self) -> Response {
        let status = self.tf_serving_http_status();
        let body = oxserve_protocol::tfserving::error_body(&self.to_string());
        let mut response = (status, body).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        response
    }
}

/// [`TfServingStatus::into_tf_serving_response`] as the runtime's REST extensions take an error renderer.
pub(crate) fn error_response(err: ServeError) -> Response {
    err.into_tf_serving_response()
}

#[cfg(test)]
mod tests {
    use oxserve_core::ModelError;

    use super::*;

    #[test]
    fn tf_serving_codes_and_statuses() {
        let bad = ServeError::BadRequest("x".into());
        assert_eq!(bad.tf_serving_http_status(), StatusCode::BAD_REQUEST);
        assert_eq!(
            bad.tf_serving_grpc_status().code(),
            tonic::Code::InvalidArgument
        );
        let missing = ServeError::ModelNotFound("Servable not found for request: Latest(m)".into());
        assert_eq!(missing.tf_serving_http_status(), StatusCode::NOT_FOUND);
        let unimplemented = ServeError::NotImplemented(":classify");
        assert_eq!(
            unimplemented.tf_serving_http_status(),
            StatusCode::NOT_IMPLEMENTED
        );
        assert_eq!(
            ServeError::MethodNotAllowed.tf_serving_http_status(),
            StatusCode::BAD_REQUEST
        );
        assert_eq!(
            ServeError::TooLarge(1).tf_serving_http_status(),
            StatusCode::PAYLOAD_TOO_LARGE
        );
        assert_eq!(
            ServeError::TooLarge(1).tf_serving_code(),
            tonic::Code::ResourceExhausted
        );
        assert_eq!(
            ServeError::Overloaded.tf_serving_http_status(),
            StatusCode::TOO_MANY_REQUESTS
        );
        let internal = ServeError::Model(ModelError::Internal("boom".into()));
        assert_eq!(
            internal.tf_serving_http_status(),
            StatusCode::INTERNAL_SERVER_ERROR
        );
        assert_eq!(
            internal.tf_serving_grpc_status().code(),
            tonic::Code::Internal
        );
    }
}
