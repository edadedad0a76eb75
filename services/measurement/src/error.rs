//! Measurement's errors and the one place they become gRPC statuses.

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
    #[error("{0} already exists")]
    AlreadyExists(String),
    /// The data cannot answer the question (too few respondents, predictors that move together).
    #[error("{0}")]
    Unanswerable(String),
    /// Stored data that should never be wrong is: a bug or a hand edit.
    #[error("stored data is inconsistent: {0}")]
    Corrupt(String),
    #[error("database: {0}")]
    Database(#[from] sea_orm::DbErr),
    /// CPU-bound work (an analysis, a rendering) that panicked or could not run.
    #[error(transparent)]
    Cpu(#[from] csm_kit::cpu::CpuError),
}

impl From<Error> for Status {
    fn from(error: Error) -> Self {
        match error {
            Error::Invalid(violations) => violations.into_status(),
            Error::NotFound(name) => names::not_found(&name),
            Error::AlreadyExists(name) => Status::already_exists(format!("{name} already exists")),
            Error::Unanswerable(reason) => error::failed_precondition("data", "INSUFFICIENT_DATA", reason),
            Error::Corrupt(reason) => error::internal(&reason),
            Error::Database(db) => error::database(&db),
            Error::Cpu(cpu) => error::internal(&cpu),
        }
    }
}
