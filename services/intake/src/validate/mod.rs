//! What intake accepts. Every problem of a request is reported, field by field, and nothing is
//! stored unless there are none. Validated input comes out normalised (phone numbers without
//! separators or country prefix, text trimmed, keys lower-cased).

mod contact;
mod events;

use chrono::{DateTime, Utc};
use csm_kit::{error::Violations, time};
use prost::Message;
use regex::Regex;
use sha2::{Digest, Sha256};

pub use contact::{NewContact, Profile};
pub use events::{NewProductEvent, NewSurveyAnswer, NewUsageEvent};

use crate::config::IntakeSettings;

/// Longest accepted idempotency key, code or key.
const MAX_CODE: usize = 64;

/// The rules, compiled once from the settings.
#[derive(Debug, Clone)]
pub struct Rules {
    phone: Regex,
    max_text_chars: usize,
    max_clock_skew: chrono::Duration,
}

impl Rules {
    pub fn new(settings: &IntakeSettings) -> Result<Self, String> {
        let phone = settings.phone_regex()?;
        let max_clock_skew = settings.clock_skew()?;
        Ok(Self { phone, max_text_chars: settings.max_text_chars, max_clock_skew })
    }

    /// The normalised phone number, or a violation on `field`.
    fn phone(&self, field: &str, raw: &str, violations: &mut Violations) -> String {
        let phone = normalise_phone(raw);
        if raw.trim().is_empty() {
            violations.add(field, "must not be empty");
        } else if !phone.chars().all(|c| c.is_ascii_digit()) || !self.phone.is_match(&phone) {
            violations.add(field, format!("not a valid phone number (accepted pattern {})", self.phone.as_str()));
        }
        phone
    }

    /// A required time that may lie in the past but not in the future beyond the clock skew.
    fn occurred_at(
        &self,
        field: &str,
        value: Option<&prost_types::Timestamp>,
        now: DateTime<Utc>,
        violations: &mut Violations,
    ) -> Option<DateTime<Utc>> {
        match value {
            None => {
                violations.add(field, "required");
                None
            }
            Some(ts) => match time::from_timestamp(ts) {
                None => {
                    violations.add(field, "not a valid timestamp");
                    None
                }
                Some(at) if at > now + self.max_clock_skew => {
                    violations.add(field, "lies in the future");
                    None
                }
                Some(at) => Some(at),
            },
        }
    }
}

/// A code supplied by another system (problem code, product code, ...): letters, digits, '.', '-'
/// or '_'. Empty is allowed unless `required`.
fn code(field: &str, raw: &str, required: bool, violations: &mut Violations) -> Option<String> {
    let code = raw.trim();
    if code.is_empty() {
        if required {
            violations.add(field, "required");
        }
        return None;
    }
    if code.len() > MAX_CODE || !code.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_')) {
        violations.add(field, format!("at most {MAX_CODE} letters, digits, '.', '-' or '_'"));
    }
    Some(code.to_string())
}

/// A lower-case key such as a metric or question: letters, digits, '_', '.', '-'.
fn key(field: &str, raw: &str, required: bool, violations: &mut Violations) -> Option<String> {
    let key = raw.trim().to_lowercase();
    if key.is_empty() {
        if required {
            violations.add(field, "required");
        }
        return None;
    }
    let first = key.chars().next().is_some_and(|c| c.is_ascii_alphanumeric());
    if key.len() > MAX_CODE
        || !first
        || !key.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | '.' | '-'))
    {
        violations.add(field, format!("at most {MAX_CODE} lower-case letters, digits, '_', '.' or '-'"));
    }
    Some(key)
}

/// Free text: trimmed, without control characters other than line breaks and tabs.
fn free_text(field: &str, raw: &str, max_chars: usize, violations: &mut Violations) -> String {
    let text = raw.trim();
    let length = text.chars().count();
    if length > max_chars {
        violations.add(field, format!("at most {max_chars} characters (got {length})"));
    }
    if text.chars().any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t')) {
        violations.add(field, "must not contain control characters");
    }
    text.to_string()
}

/// Digits only, without separators or the +86 / 0086 country prefix.
pub fn normalise_phone(raw: &str) -> String {
    let compact: String = raw.chars().filter(|c| !matches!(c, ' ' | '-' | '(' | ')')).collect();
    let national = compact.strip_prefix("+86").or_else(|| compact.strip_prefix("0086")).unwrap_or(&compact);
    match national.strip_prefix("86") {
        Some(rest) if national.len() == 13 => rest.to_string(),
        _ => national.to_string(),
    }
}

/// SHA-256 (hex) of a request with its request_id cleared: a retry must carry the same request.
fn fingerprint<M: Message + Clone>(request: &M, clear_request_id: impl FnOnce(&mut M)) -> String {
    let mut canonical = request.clone();
    clear_request_id(&mut canonical);
    hex::encode(Sha256::digest(canonical.encode_to_vec()))
}
