//! Customer tags and notes stay respectful: staff must never label a customer with derogatory words
//! (刁民 "troublemaker", 恶意客户 "malicious customer", 黑名单客户 "blacklisted customer", ...).
//! Labels are matched however they are written: case, spaces and punctuation are ignored, so
//! "Blacklisted_Customer" and "黑 名 单 客户" are refused too.

use csm_kit::error::Violations;

const MAX_TAG_CHARS: usize = 32;
const MAX_NOTE_CHARS: usize = 500;

#[derive(Debug, Clone)]
pub struct TagRules {
    refused: Vec<String>,
}

/// Lower-case letters and digits of any script, nothing else.
fn normalise(text: &str) -> String {
    text.chars().filter(|c| c.is_alphanumeric()).flat_map(char::to_lowercase).collect()
}

impl TagRules {
    pub fn new(derogatory_labels: &[String]) -> Self {
        Self { refused: derogatory_labels.iter().map(|l| normalise(l)).filter(|l| !l.is_empty()).collect() }
    }

    fn derogatory(&self, text: &str) -> bool {
        let text = normalise(text);
        self.refused.iter().any(|label| text.contains(label.as_str()))
    }

    /// The tag as stored (trimmed, lower-case), or the problems with it and its note.
    pub fn check(&self, tag: &str, note: &str) -> Result<String, Violations> {
        let mut violations = Violations::new();
        let tag = tag.trim().to_lowercase();
        if tag.is_empty() {
            violations.add("tag", "must not be empty");
        } else if tag.chars().count() > MAX_TAG_CHARS {
            violations.add("tag", format!("at most {MAX_TAG_CHARS} characters"));
        } else if tag.chars().any(|c| c.is_control()) {
            violations.add("tag", "must not contain control characters");
        }
        if self.derogatory(&tag) {
            violations.add("tag", "is a derogatory label; describe the customer's situation or needs respectfully");
        }
        if note.chars().count() > MAX_NOTE_CHARS {
            violations.add("note", format!("at most {MAX_NOTE_CHARS} characters"));
        }
        if self.derogatory(note) {
            violations.add("note", "contains a derogatory label; keep notes respectful");
        }
        violations.into_result().map(|()| tag)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::IntakeSettings;

    fn rules() -> TagRules {
        TagRules::new(&IntakeSettings::default().derogatory_labels)
    }

    #[test]
    fn the_default_labels_are_refused_in_both_languages_however_written() {
        for label in [
            "刁民",
            "恶意客户",
            "黑名单客户",
            "黑 名 单 客户",
            "Troublemaker",
            "malicious_customer",
            "BLACKLISTED-Customer",
            "vip blacklisted customer",
        ] {
            assert!(rules().check(label, "").is_err(), "{label}");
        }
        let violations = rules().check("elderly", "此人是刁民").unwrap_err();
        assert_eq!(violations.fields().collect::<Vec<_>>(), vec!["note"]);
    }

    #[test]
    fn respectful_tags_are_kept_lower_case() {
        assert_eq!(rules().check(" Heavy_Data_User ", "prefers SMS").unwrap(), "heavy_data_user");
        assert_eq!(rules().check("老年客户", "").unwrap(), "老年客户");
    }

    #[test]
    fn operators_choose_their_own_list() {
        let rules = TagRules::new(&["difficult".to_string()]);
        assert!(rules.check("difficult", "").is_err());
        assert!(rules.check("troublemaker", "").is_ok());
    }
}
