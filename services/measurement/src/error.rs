//! Measurement's errors and the one place they become gRPC statuses.

use csm_kit::error::{self, Violations};
use tonic::Status;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid request: {0}")]
    Invalid(#[from] Violations),
    #[error("{0} not found")]
    NotFound(String),
    #[error("database: {0}")]
    Database(#[from] sea_orm::DbErr),
}

impl From<Error> for Status {
    fn from(error: Error) -> Self {
        match error {
            Error::Invalid(violations) => violations.into_status(),
            Error::NotFound(name) => error::not_found("Indicator", &name),
            Error::Database(db) => error::database(&db),
        }
    }
}
