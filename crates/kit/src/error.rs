//! Building blocks for the gRPC errors every service returns: field violations that name the
//! offending field (with `google.rpc.BadRequest` details), and the status for each common failure.
//! Each service keeps its own typed error enum and maps it to a status in one `From` impl using
//! these helpers.

use std::fmt;

use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

/// One thing wrong with one field of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldViolation {
    pub field: String,
    pub description: String,
}

/// Every problem found in a request, so a caller can fix them all at once: the first
/// [`MAX_REPORTED`] of them, and how many more there were, so a hostile request with a hundred
/// thousand bad items costs no more to answer than one with a hundred.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Violations(Vec<FieldViolation>, usize);

/// Violations reported by name at most; the rest are counted.
pub const MAX_REPORTED: usize = 100;

impl Violations {
    pub fn new() -> Self {
        Self::default()
    }

    /// A single violation.
    pub fn one(field: impl Into<String>, description: impl Into<String>) -> Self {
        let mut violations = Self::new();
        violations.add(field, description);
        violations
    }

    pub fn add(&mut self, field: impl Into<String>, description: impl Into<String>) {
        if self.0.len() < MAX_REPORTED {
            self.0.push(FieldViolation { field: field.into(), description: description.into() });
        } else {
            self.1 += 1;
        }
    }

    /// Adds every violation of `other`.
    pub fn merge(&mut self, other: Violations) {
        for violation in other.0 {
            self.add(violation.field, violation.description);
        }
        self.1 += other.1;
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = &FieldViolation> {
        self.0.iter()
    }

    pub fn fields(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(|v| v.field.as_str())
    }

    /// `Ok(())` when nothing was found, so validation ends with `violations.into_result()?`.
    pub fn into_result(self) -> Result<(), Violations> {
        if self.is_empty() { Ok(()) } else { Err(self) }
    }

    /// INVALID_ARGUMENT naming each field in the message and in `google.rpc.BadRequest` details.
    pub fn into_status(self) -> Status {
        let mut details = ErrorDetails::new();
        for violation in &self.0 {
            details.add_bad_request_violation(violation.field.clone(), violation.description.clone());
        }
        Status::with_error_details(Code::InvalidArgument, self.to_string(), details)
    }
}

impl fmt::Display for Violations {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, violation) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{}: {}", violation.field, violation.description)?;
        }
        if self.1 > 0 {
            write!(f, "; and {} more", self.1)?;
        }
        Ok(())
    }
}

impl std::error::Error for Violations {}

impl From<Violations> for Status {
    fn from(violations: Violations) -> Self {
        violations.into_status()
    }
}

/// NOT_FOUND for a resource name, with `google.rpc.ResourceInfo` details.
pub fn not_found(resource_type: &str, name: &str) -> Status {
    let details = ErrorDetails::with_resource_info(resource_type, name, "", "not found");
    Status::with_error_details(Code::NotFound, format!("{name} not found"), details)
}

/// FAILED_PRECONDITION for a state change the resource's current state does not allow, with
/// `google.rpc.PreconditionFailure` details.
pub fn failed_precondition(subject: &str, kind: &str, description: impl Into<String>) -> Status {
    let description = description.into();
    let details = ErrorDetails::with_precondition_failure_violation(kind, subject, description.clone());
    Status::with_error_details(Code::FailedPrecondition, description, details)
}

/// INTERNAL for a failure the caller cannot fix. The cause is logged here, with the trace, and
/// not sent to the caller.
pub fn internal(cause: &dyn fmt::Display) -> Status {
    tracing::error!(error = %cause, "internal error");
    Status::internal("internal error; the service logged the cause")
}

/// UNAVAILABLE for a database that cannot be reached right now: the caller may retry.
pub fn database(error: &sea_orm::DbErr) -> Status {
    match error {
        sea_orm::DbErr::ConnectionAcquire(_) | sea_orm::DbErr::Conn(_) => {
            tracing::warn!(error = %error, "database unavailable");
            Status::unavailable("database unavailable; retry with backoff")
        }
        other => internal(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn violations_name_every_field_in_message_and_details() {
        let mut violations = Violations::new();
        violations.add("phone_number", "must not be empty");
        violations.add("text", "at most 4000 characters");
        let status = violations.into_status();
        assert_eq!(status.code(), Code::InvalidArgument);
        assert!(status.message().contains("phone_number"));
        assert!(status.message().contains("text"));
        let details = status.get_error_details();
        let fields: Vec<_> = details.bad_request().unwrap().field_violations.iter().map(|v| v.field.clone()).collect();
        assert_eq!(fields, vec!["phone_number", "text"]);
    }

    #[test]
    fn a_flood_of_violations_is_answered_with_the_first_hundred_and_a_count() {
        let mut violations = Violations::new();
        for i in 0..100_000 {
            violations.add(format!("items[{i}]"), "required");
        }
        let mut more = Violations::new();
        more.add("name", "required");
        violations.merge(more);
        let status = violations.into_status();
        assert!(status.message().ends_with("; and 99901 more"), "{}", &status.message()[status.message().len() - 40..]);
        assert_eq!(status.get_error_details().bad_request().unwrap().field_violations.len(), MAX_REPORTED);
    }

    #[test]
    fn empty_violations_are_ok() {
        assert!(Violations::new().into_result().is_ok());
    }
}
