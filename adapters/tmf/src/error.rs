//! Every failure the adapter answers with, in TM Forum's error shape (TMF630 `Error`: `code`,
//! `reason`, `message`, `status`), mapped from csm's gRPC statuses in one place.

use axum::{
    Json,
    http::StatusCode,
    response::{IntoResponse, Response},
};
use sea_orm::DbErr;
use serde_json::json;
use tonic::Code;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The request is malformed or misses a mandatory attribute, named first in the message.
    #[error("{0}")]
    BadRequest(String),
    #[error("no credentials, or credentials not accepted: {0}")]
    Unauthenticated(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0} not found")]
    NotFound(String),
    /// The change is not legal from the resource's state (an illegal status transition).
    #[error("{0}")]
    Conflict(String),
    /// The resource has the method in the specification, but csm does not allow it (deletion).
    #[error("{0}")]
    NotAllowed(String),
    #[error("{0}")]
    UnsupportedMedia(String),
    #[error("{0}")]
    Unavailable(String),
    #[error("{0}")]
    Internal(String),
}

impl ApiError {
    pub fn bad(field: impl Into<String>, message: impl Into<String>) -> Self {
        ApiError::BadRequest(format!("{}: {}", field.into(), message.into()))
    }

    fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::NotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            // 400 rather than 415: TMF621 v4 documents no 415 for its operations.
            ApiError::UnsupportedMedia(_) => StatusCode::BAD_REQUEST,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// Faults are the adapter's or a service's; everything else is the caller's request.
    pub fn is_fault(&self) -> bool {
        matches!(self, ApiError::Unavailable(_) | ApiError::Internal(_))
    }
}

impl From<tonic::Status> for ApiError {
    fn from(status: tonic::Status) -> Self {
        let message = status.message().to_string();
        match status.code() {
            // The services name the offending field first: "phone_number: not a phone number".
            Code::InvalidArgument | Code::OutOfRange => ApiError::BadRequest(message),
            Code::Unauthenticated => ApiError::Unauthenticated(message),
            Code::PermissionDenied => ApiError::Forbidden(message),
            Code::NotFound => ApiError::NotFound(message),
            Code::FailedPrecondition | Code::AlreadyExists | Code::Aborted => ApiError::Conflict(message),
            Code::Unavailable | Code::ResourceExhausted | Code::DeadlineExceeded => ApiError::Unavailable(message),
            _ => ApiError::Internal(message),
        }
    }
}

impl From<DbErr> for ApiError {
    fn from(error: DbErr) -> Self {
        ApiError::Internal(format!("database: {error}"))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        if self.is_fault() {
            tracing::warn!(error = %self, "request failed");
        }
        let reason = status.canonical_reason().unwrap_or("Error");
        let body = json!({
            "@type": "Error",
            "code": status.as_u16().to_string(),
            "reason": reason,
            "message": self.to_string(),
            "status": status.as_u16().to_string(),
        });
        let mut response = (status, Json(body)).into_response();
        response.extensions_mut().insert(Failure(self.is_fault()));
        response
    }
}

/// Marks a response that carries an error, so the request's span is marked an error too; `.0`
/// tells a fault from a refusal.
#[derive(Debug, Clone, Copy)]
pub struct Failure(pub bool);
