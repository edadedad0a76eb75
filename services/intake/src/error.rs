//! Intake's errors and the one place they become gRPC statuses. This module depends on nothing
//! else of intake's: the modules with refusals of their own convert them into [`Error`] where they
//! define them (the writer's `Refusal` in [`crate::write`]), so no import cycle runs through here.

use csm_kit::{
    error::{self, Violations},
    group_commit::WriteFailed,
    names,
};
use tonic::Status;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid request: {0}")]
    Invalid(#[from] Violations),
    #[error("{0} not found")]
    NotFound(String),
    /// A department caller asked for what another department's customers said.
    #[error("{0}")]
    PermissionDenied(String),
    #[error("request_id {0} was already used for a different request")]
    RequestIdReused(String),
    #[error("database: {0}")]
    Database(#[from] sea_orm::DbErr),
    #[error("{0}")]
    WriteFailed(#[from] WriteFailed),
    /// A bug: the writer stored something other than what it was given.
    #[error("the writer returned {0} for another kind of item")]
    Unexpected(&'static str),
}

impl From<Error> for Status {
    fn from(error: Error) -> Self {
        match error {
            Error::Invalid(violations) => violations.into_status(),
            Error::NotFound(name) => match names::resource_type(&name) {
                // A customer asked for by phone number rather than by name.
                "Resource" => error::not_found("Customer", &name),
                _ => names::not_found(&name),
            },
            Error::PermissionDenied(message) => Status::permission_denied(message),
            Error::RequestIdReused(id) => Status::already_exists(format!(
                "request_id {id} was already used for a different request; use a new request_id"
            )),
            Error::Database(db) => error::database(&db),
            Error::WriteFailed(failed) => failed.into_status(),
            unexpected @ Error::Unexpected(_) => error::internal(&unexpected),
        }
    }
}
