//! Recovery's errors and the one place they become gRPC statuses.

use csm_kit::error::{self, Violations};
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
    #[error("{name} is {status:?} and cannot be resolved")]
    NotResolvable { name: String, status: CaseStatus },
    #[error("database: {0}")]
    Database(#[from] sea_orm::DbErr),
}

impl From<Error> for Status {
    fn from(error: Error) -> Self {
        match error {
            Error::Invalid(violations) => violations.into_status(),
            Error::NotFound(name) => error::not_found("Case", &name),
            Error::PermissionDenied(message) => Status::permission_denied(message),
            Error::NotResolvable { name, status } => {
                let description = match status {
                    CaseStatus::AwaitingDispatch => format!("{name} is not dispatched yet; it cannot be resolved"),
                    CaseStatus::Resolved => format!("{name} is already resolved"),
                    other => format!("{name} is {} and cannot be resolved", other.as_str_name()),
                };
                error::failed_precondition(&name, "CASE_STATUS", description)
            }
            Error::Database(db) => error::database(&db),
        }
    }
}
