//! The effective configuration as an operator reads it (`check-config`): every key with the value
//! in force, secrets masked.

use serde::Serialize;
use serde_json::Value;

use super::ConfigError;

/// How `check-config` prints the configuration.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    #[default]
    Toml,
    Json,
}

/// What replaces a secret.
const MASK: &str = "***";

/// Keys whose values are secrets wherever they appear.
const SECRET_KEYS: [&str; 4] = ["token", "token_sha256", "password", "secret"];

/// `config` in `format`, with tokens (upstream tokens, bearer tokens and their digests) and the
/// passwords of URLs (`postgres://user:secret@host/db`) masked; unset options left out.
pub fn render<T: Serialize>(config: &T, format: Format) -> Result<String, ConfigError> {
    let mut value =
        serde_json::to_value(config).map_err(|e| ConfigError::new(format!("showing configuration: {e}")))?;
    mask(&mut value, None);
    let text = match format {
        Format::Json => serde_json::to_string_pretty(&value).map(|text| text + "\n").map_err(|e| e.to_string()),
        Format::Toml => toml::to_string(&value).map_err(|e| e.to_string()),
    };
    text.map_err(|e| ConfigError::new(format!("showing configuration: {e}")))
}

fn mask(value: &mut Value, key: Option<&str>) {
    match value {
        Value::Object(map) => {
            map.retain(|_, v| !v.is_null());
            for (key, value) in map.iter_mut() {
                mask(value, Some(key));
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|item| mask(item, key)),
        Value::String(text) if !text.is_empty() && key.is_some_and(|key| SECRET_KEYS.contains(&key)) => {
            *text = MASK.into();
        }
        Value::String(text) => {
            if let Some(masked) = mask_url_password(text) {
                *text = masked;
            }
        }
        _ => {}
    }
}

/// `scheme://user:password@host...` with the password masked; `None` when there is none.
pub fn mask_url_password(text: &str) -> Option<String> {
    let start = text.find("://")? + 3;
    let authority_end = text[start..].find(['/', '?', '#']).map_or(text.len(), |i| start + i);
    let at = text[start..authority_end].rfind('@')? + start;
    let colon = text[start..at].find(':')? + start;
    Some(format!("{}{MASK}{}", &text[..=colon], &text[at..]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{CommonSettings, TokenSettings, UpstreamSettings};

    #[derive(Serialize)]
    struct Sample {
        #[serde(flatten)]
        common: CommonSettings,
        upstream: UpstreamSettings,
    }

    #[test]
    fn secrets_are_masked_and_the_rest_shown() {
        let mut common = CommonSettings::default();
        common.database.url = "postgres://csm:hunter2@db:5432/csm_intake?sslmode=require".into();
        common.auth.tokens.push(TokenSettings {
            token: Some("s3cret-token".into()),
            subject: "ops".into(),
            ..TokenSettings::default()
        });
        let sample = Sample { common, upstream: UpstreamSettings::new("http://intake:50051", "feed-secret") };
        for format in [Format::Toml, Format::Json] {
            let text = render(&sample, format).unwrap();
            for secret in ["hunter2", "s3cret-token", "feed-secret"] {
                assert!(!text.contains(secret), "{format:?} shows {secret}:\n{text}");
            }
            assert!(text.contains("postgres://csm:***@db:5432/csm_intake?sslmode=require"), "{text}");
            assert!(text.contains("request_timeout") && text.contains("10s"), "{text}");
            assert!(text.contains("\"ops\"") || text.contains("subject = \"ops\""), "{text}");
        }
        let toml_text = render(&sample, Format::Toml).unwrap();
        assert!(toml_text.contains("[server]"), "{toml_text}");
    }

    #[test]
    fn urls_without_a_password_are_left_alone() {
        assert_eq!(mask_url_password("postgres://csm@db:5432/x"), None);
        assert_eq!(mask_url_password("http://intake:50051"), None);
        assert_eq!(mask_url_password("postgres://u:p@h/d").as_deref(), Some("postgres://u:***@h/d"));
    }
}
