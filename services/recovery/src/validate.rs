//! Checks shared by recovery's requests: free text, department names, phone
//! numbers, durations. Each adds to the request's violations, named by field.

use std::time::Duration;

use csm_kit::error::Violations;

pub const MAX_TEXT_CHARS: usize = 2000;
const MAX_DEPARTMENT_CHARS: usize = 64;

/// Free text, trimmed; required when `required`.
pub fn text<'a>(violations: &mut Violations, field: &str, value: &'a str, required: bool) -> &'a str {
    let value = value.trim();
    if required && value.is_empty() {
        violations.add(field, "is required");
    } else if value.chars().count() > MAX_TEXT_CHARS {
        violations.add(field, format!("at most {MAX_TEXT_CHARS} characters"));
    }
    value
}

/// A department name as tokens and taxonomies use it: lower-case letters, digits, '_' and '-'.
pub fn department<'a>(violations: &mut Violations, field: &str, value: &'a str) -> &'a str {
    let value = value.trim();
    let well_formed = !value.is_empty()
        && value.len() <= MAX_DEPARTMENT_CHARS
        && value.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
    if !well_formed {
        violations.add(field, "a department name: 1 to 64 of a-z, 0-9, '_' and '-'");
    }
    value
}

/// A phone number as intake stores it: digits only.
pub fn phone<'a>(violations: &mut Violations, field: &str, value: &'a str) -> &'a str {
    let value = value.trim();
    if value.len() < 5 || value.len() > 20 || !value.chars().all(|c| c.is_ascii_digit()) {
        violations.add(field, "a phone number: 5 to 20 digits");
    }
    value
}

/// An optional protobuf duration: positive and at most `max`.
pub fn duration(
    violations: &mut Violations,
    field: &str,
    value: Option<&prost_types::Duration>,
    default: Duration,
    max: Duration,
) -> Duration {
    let Some(value) = value else {
        return default;
    };
    match csm_kit::time::duration_from_proto(value) {
        Some(d) if !d.is_zero() && d <= max => d,
        _ => {
            violations.add(field, format!("a positive duration of at most {} days", max.as_secs() / 86_400));
            default
        }
    }
}

/// A required enum field: its value, or a violation saying what is `expected` when it is
/// unspecified or unknown.
pub fn required<E: Default + PartialEq>(
    violations: &mut Violations,
    field: &str,
    raw: i32,
    parse: fn(i32) -> Result<E, prost::UnknownEnumValue>,
    expected: &str,
) -> E {
    match parse(raw) {
        Ok(value) if value != E::default() => value,
        _ => {
            violations.add(field, expected);
            E::default()
        }
    }
}

/// The id in `name`, a resource name of `collection` ("recoveryActions/{id}", ...).
pub fn id_in<'a>(violations: &mut Violations, name: &'a str, collection: &str) -> &'a str {
    csm_kit::names::id_in("name", name, collection).unwrap_or_else(|v| {
        violations.merge(v);
        ""
    })
}
