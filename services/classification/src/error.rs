//! Classification's errors and the one place they become gRPC statuses.

use csm_kit::{
    error::{self, Violations},
    names,
};
use tonic::Status;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid request: {0}")]
    Invalid(#[from] Violations),
    #[error("{0} not found")]
    NotFound(String),
    /// The request is well formed but the state does not allow it (for example no model in force).
    #[error("{subject}: {description}")]
    FailedPrecondition { subject: String, description: String },
    #[error("another change to {0} happened at the same time; retry")]
    Conflict(String),
    #[error("database: {0}")]
    Database(#[from] sea_orm::DbErr),
    #[error("{0}")]
    Internal(String),
}

impl From<csm_kit::cpu::CpuError> for Error {
    /// CPU-bound work (an evaluation, a fit) that panicked or could not run: INTERNAL, its cause
    /// logged.
    fn from(error: csm_kit::cpu::CpuError) -> Self {
        Self::Internal(error.to_string())
    }
}

impl Error {
    pub fn precondition(subject: impl Into<String>, description: impl Into<String>) -> Self {
        Self::FailedPrecondition { subject: subject.into(), description: description.into() }
    }
}

impl From<Error> for Status {
    fn from(error: Error) -> Self {
        match error {
            Error::Invalid(violations) => violations.into_status(),
            Error::NotFound(name) => names::not_found(&name),
            Error::FailedPrecondition { subject, description } => {
                error::failed_precondition(&subject, "STATE", description)
            }
            Error::Conflict(subject) => {
                Status::aborted(format!("another change to {subject} happened at the same time; retry"))
            }
            Error::Database(db) => error::database(&db),
            Error::Internal(cause) => error::internal(&cause),
        }
    }
}
