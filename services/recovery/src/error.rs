//! Recovery's errors and the one place they become gRPC statuses.

use csm_kit::{
    error::{self, Violations},
    group_commit::WriteFailed,
    names,
};
use csm_proto::recovery::v1::CaseStatus;
use tonic::Status;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid request: {0}")]
    Invalid(#[from] Violations),
    #[error("{0} not found")]
    NotFound(String),
    #[error("{0}")]
    PermissionDenied(String),
    /// The step is not legal from the case's status.
    #[error("{name} is {status:?}; {action} is not possible")]
    IllegalTransition { name: String, status: CaseStatus, action: &'static str },
    /// Something other than a case is not in a state that allows the request.
    #[error("{message}")]
    Precondition { name: String, reason: &'static str, message: String },
    /// Another caller changed the same record at the same moment; retrying is safe.
    #[error("{0} was changed concurrently")]
    Conflict(String),
    #[error("database: {0}")]
    Database(#[from] sea_orm::DbErr),
    /// A change queued for the group commit was not written.
    #[error("{0}")]
    Write(#[from] WriteFailed),
}

impl From<Error> for Status {
    fn from(error: Error) -> Self {
        match error {
            Error::Invalid(violations) => violations.into_status(),
            Error::NotFound(name) => names::not_found(&name),
            Error::PermissionDenied(message) => Status::permission_denied(message),
            Error::IllegalTransition { name, status, action } => {
                let description = match status {
                    CaseStatus::AwaitingDispatch => format!("{name} is not dispatched yet; {action} is not possible"),
                    other => format!("{name} is {}; {action} is not possible from there", other.as_str_name()),
                };
                error::failed_precondition(&name, "CASE_STATUS", description)
            }
            Error::Precondition { name, reason, message } => error::failed_precondition(&name, reason, message),
            Error::Conflict(name) => Status::aborted(format!("{name} was changed by another caller; retry")),
            Error::Database(db) => error::database(&db),
            Error::Write(failed) => failed.into_status(),
        }
    }
}
