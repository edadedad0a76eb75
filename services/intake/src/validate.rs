//! What a contact must look like before intake stores it. Every problem is reported, field by
//! field, and nothing is stored unless there are none.

use chrono::{DateTime, Utc};
use csm_kit::{error::Violations, time};
use csm_proto::intake::v1::{Channel, ContactType, SubmitContactRequest};
use prost::Message;
use regex::Regex;
use sha2::{Digest, Sha256};

use crate::config::IntakeSettings;

/// Longest accepted idempotency key and problem code.
const MAX_REQUEST_ID: usize = 128;
const MAX_PROBLEM_CODE: usize = 64;

/// A contact that passed validation, normalised.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewContact {
    pub request_id: Option<String>,
    /// SHA-256 of the request without its request_id: a retry must carry the same request.
    pub fingerprint: String,
    pub channel: Channel,
    pub phone_number: String,
    pub contact_type: ContactType,
    pub text: String,
    pub occurred_at: DateTime<Utc>,
    pub problem_code: Option<String>,
}

impl NewContact {
    /// Complaints and fault reports open a work order; other contacts are recorded only.
    pub fn opens_work_order(&self) -> bool {
        matches!(self.contact_type, ContactType::Complaint | ContactType::FaultReport)
    }
}

/// The rules, compiled once from the settings.
#[derive(Debug, Clone)]
pub struct ContactRules {
    phone: Regex,
    max_text_chars: usize,
    max_clock_skew: chrono::Duration,
}

impl ContactRules {
    pub fn new(settings: &IntakeSettings) -> Result<Self, String> {
        let phone = Regex::new(&settings.phone_pattern)
            .map_err(|e| format!("intake.phone_pattern is not a valid pattern: {e}"))?;
        let max_clock_skew =
            chrono::Duration::from_std(settings.max_clock_skew).map_err(|e| format!("intake.max_clock_skew: {e}"))?;
        Ok(Self { phone, max_text_chars: settings.max_text_chars, max_clock_skew })
    }

    pub fn validate(&self, request: &SubmitContactRequest, now: DateTime<Utc>) -> Result<NewContact, Violations> {
        let mut violations = Violations::new();

        let request_id = request.request_id.trim();
        if request_id.chars().count() > MAX_REQUEST_ID {
            violations.add("request_id", format!("at most {MAX_REQUEST_ID} characters"));
        } else if request_id.chars().any(|c| !c.is_ascii_graphic()) {
            violations.add("request_id", "only printable ASCII without spaces (a UUID is ideal)");
        }

        let channel = Channel::try_from(request.channel).unwrap_or(Channel::Unspecified);
        if channel == Channel::Unspecified {
            violations.add("channel", format!("unknown channel {}; use one of the Channel values", request.channel));
        }
        let contact_type = ContactType::try_from(request.contact_type).unwrap_or(ContactType::Unspecified);
        if contact_type == ContactType::Unspecified {
            violations.add(
                "contact_type",
                format!("unknown contact type {}; use one of the ContactType values", request.contact_type),
            );
        }

        let phone_number = normalise_phone(&request.phone_number);
        if request.phone_number.trim().is_empty() {
            violations.add("phone_number", "must not be empty");
        } else if !phone_number.chars().all(|c| c.is_ascii_digit()) || !self.phone.is_match(&phone_number) {
            violations
                .add("phone_number", format!("not a valid phone number (accepted pattern {})", self.phone.as_str()));
        }

        let text = request.text.trim();
        let needs_text = matches!(contact_type, ContactType::Complaint | ContactType::FaultReport);
        if needs_text && text.is_empty() {
            violations.add("text", "must not be empty for a complaint or fault report");
        }
        let length = text.chars().count();
        if length > self.max_text_chars {
            violations.add("text", format!("at most {} characters (got {length})", self.max_text_chars));
        }
        if text.chars().any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t')) {
            violations.add("text", "must not contain control characters");
        }

        let occurred_at = match request.occurred_at.as_ref() {
            None => {
                violations.add("occurred_at", "required");
                None
            }
            Some(ts) => match time::from_timestamp(ts) {
                None => {
                    violations.add("occurred_at", "not a valid timestamp");
                    None
                }
                Some(at) if at > now + self.max_clock_skew => {
                    violations.add("occurred_at", "lies in the future");
                    None
                }
                Some(at) => Some(at),
            },
        };

        let problem_code = request.problem_code.trim();
        if problem_code.len() > MAX_PROBLEM_CODE
            || !problem_code.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
        {
            violations.add("problem_code", format!("at most {MAX_PROBLEM_CODE} letters, digits, '.', '-' or '_'"));
        }

        violations.into_result()?;
        let Some(occurred_at) = occurred_at else {
            return Err(Violations::one("occurred_at", "required"));
        };
        Ok(NewContact {
            request_id: (!request_id.is_empty()).then(|| request_id.to_string()),
            fingerprint: fingerprint(request),
            channel,
            phone_number,
            contact_type,
            text: text.to_string(),
            occurred_at,
            problem_code: (!problem_code.is_empty()).then(|| problem_code.to_string()),
        })
    }
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

fn fingerprint(request: &SubmitContactRequest) -> String {
    let mut canonical = request.clone();
    canonical.request_id.clear();
    Sha256::digest(canonical.encode_to_vec()).iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules() -> ContactRules {
        ContactRules::new(&IntakeSettings::default()).unwrap()
    }

    fn complaint() -> SubmitContactRequest {
        SubmitContactRequest {
            request_id: "r-1".into(),
            channel: Channel::HotlineAgent as i32,
            phone_number: "+86 138-1234-5678".into(),
            contact_type: ContactType::Complaint as i32,
            text: "  话费多扣了  ".into(),
            occurred_at: Some(time::to_timestamp(Utc::now())),
            problem_code: String::new(),
        }
    }

    #[test]
    fn accepts_and_normalises_a_valid_complaint() {
        let contact = rules().validate(&complaint(), Utc::now()).unwrap();
        assert_eq!(contact.phone_number, "13812345678");
        assert_eq!(contact.text, "话费多扣了");
        assert!(contact.opens_work_order());
    }

    #[test]
    fn names_every_bad_field() {
        let mut request = complaint();
        request.phone_number = "12345".into();
        request.channel = 999;
        request.text = "x".repeat(4001);
        request.occurred_at = None;
        let violations = rules().validate(&request, Utc::now()).unwrap_err();
        let fields: Vec<_> = violations.fields().collect();
        assert_eq!(fields, vec!["channel", "phone_number", "text", "occurred_at"]);
    }

    #[test]
    fn text_limit_is_inclusive_and_counts_characters() {
        let mut request = complaint();
        request.text = "满".repeat(4000);
        assert!(rules().validate(&request, Utc::now()).is_ok());
        request.text.push('满');
        assert!(rules().validate(&request, Utc::now()).is_err());
    }

    #[test]
    fn future_times_beyond_the_skew_are_refused() {
        let now = Utc::now();
        let mut request = complaint();
        request.occurred_at = Some(time::to_timestamp(now + chrono::Duration::seconds(299)));
        assert!(rules().validate(&request, now).is_ok());
        request.occurred_at = Some(time::to_timestamp(now + chrono::Duration::seconds(301)));
        assert!(rules().validate(&request, now).is_err());
    }

    #[test]
    fn the_fingerprint_ignores_only_the_request_id() {
        let a = complaint();
        let mut b = complaint();
        b.request_id = "r-2".into();
        b.occurred_at = a.occurred_at;
        assert_eq!(fingerprint(&a), fingerprint(&b));
        b.text = "other".into();
        assert_ne!(fingerprint(&a), fingerprint(&b));
    }

    #[test]
    fn empty_phone_is_reported_as_empty() {
        let mut request = complaint();
        request.phone_number = "  ".into();
        let violations = rules().validate(&request, Utc::now()).unwrap_err();
        assert!(violations.to_string().contains("phone_number: must not be empty"));
    }
}
