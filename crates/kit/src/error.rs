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
/// [`MAX_REPORTED`] of them, each clipped to [`MAX_TEXT`] bytes, and how many more there
/// were, so a hostile request with a hundred thousand bad items costs no more to answer than one
/// with twenty, and the answer fits in the 16 KiB of headers a gRPC client accepts by default (a
/// larger one reaches the caller as a protocol error instead of its status).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Violations(Vec<FieldViolation>, usize);

/// Violations reported by name at most; the rest are counted.
pub const MAX_REPORTED: usize = 20;

/// Bytes of a field path or description reported at most; longer ones are cut at a character
/// boundary and end in "…".
pub const MAX_TEXT: usize = 160;

/// Bytes of the status message listing the violations; the details carry all that were kept.
const MESSAGE_BUDGET: usize = 600;

fn clip(mut text: String) -> String {
    if text.len() > MAX_TEXT {
        let end = (0..=MAX_TEXT).rev().find(|&i| text.is_char_boundary(i)).unwrap_or(0);
        text.truncate(end);
        text.push('…');
    }
    text
}

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
            self.0.push(FieldViolation { field: clip(field.into()), description: clip(description.into()) });
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
        let mut written = 0;
        let mut shown = 0;
        for violation in &self.0 {
            if shown > 0 && written + violation.field.len() + violation.description.len() > MESSAGE_BUDGET {
                break;
            }
            if shown > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{}: {}", violation.field, violation.description)?;
            written += violation.field.len() + violation.description.len() + 4;
            shown += 1;
        }
        let more = self.1 + self.0.len() - shown;
        if more > 0 {
            write!(f, "; and {more} more")?;
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

/// PostgreSQL's SQLSTATEs for text it cannot hold: a NUL character (22021, "invalid byte sequence
/// for encoding UTF8: 0x00") or one the server encoding lacks (22P05). The request carried it, so
/// it is the caller's to fix; SQLite stores such text as it is.
const TEXT_THE_DATABASE_CANNOT_HOLD: [&str; 2] = ["22021", "22P05"];

fn sql_state(error: &sea_orm::DbErr) -> Option<String> {
    use sea_orm::{DbErr, RuntimeErr};
    match error {
        DbErr::Exec(RuntimeErr::SqlxError(e)) | DbErr::Query(RuntimeErr::SqlxError(e)) => {
            e.as_database_error().and_then(|db| db.code()).map(|code| code.into_owned())
        }
        _ => None,
    }
}

/// UNAVAILABLE for a database that cannot be reached right now: the caller may retry.
/// INVALID_ARGUMENT for text the database cannot hold (a NUL character on PostgreSQL).
pub fn database(error: &sea_orm::DbErr) -> Status {
    if sql_state(error).is_some_and(|state| TEXT_THE_DATABASE_CANNOT_HOLD.contains(&state.as_str())) {
        return Status::invalid_argument(
            "a text in the request holds a NUL character (\\0) or one the database cannot store; remove it",
        );
    }
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
    fn a_flood_of_violations_is_answered_with_the_first_twenty_and_a_count_within_a_clients_header_budget() {
        let mut violations = Violations::new();
        for i in 0..100_000 {
            violations.add(format!("items[{i}].{}", "name".repeat(1_000)), "满".repeat(10_000));
        }
        let mut more = Violations::new();
        more.add("name", "required");
        violations.merge(more);
        let status = violations.into_status();
        assert!(status.message().ends_with("; and 100000 more"), "{}", status.message());
        assert_eq!(status.get_error_details().bad_request().unwrap().field_violations.len(), MAX_REPORTED);
        let response = status.into_http::<tonic::body::Body>();
        let header_bytes: usize =
            response.headers().iter().map(|(name, value)| name.as_str().len() + value.len()).sum();
        assert!(header_bytes < 16 * 1024, "{header_bytes} bytes of headers");
    }

    #[test]
    fn empty_violations_are_ok() {
        assert!(Violations::new().into_result().is_ok());
    }
}
