//! Reading request bodies: JSON objects of the accepted media types, and their attributes checked
//! one by one so a refusal names the attribute.

use axum::http::HeaderMap;
use chrono::DateTime;
use csm_kit::time;
use serde_json::{Map, Value, json};

use crate::{
    error::ApiError,
    http::{Root, Version},
    shapes,
};

/// Notes one request may carry at most, and characters of each.
const MAX_NOTES: usize = 50;
const MAX_NOTE: usize = 2000;
const MAX_AUTHOR: usize = 128;

/// A request body as a JSON object, sent as `application/json` or (for a change)
/// `application/merge-patch+json`; JSON Patch documents are not taken.
pub fn json_body(headers: &HeaderMap, body: &[u8]) -> Result<Map<String, Value>, ApiError> {
    let media = headers.get(http::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("application/json");
    let media = media.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    if !matches!(media.as_str(), "application/json" | "application/merge-patch+json") {
        return Err(ApiError::UnsupportedMedia(format!(
            "{media} is not accepted: send application/json or application/merge-patch+json"
        )));
    }
    json_object(body)
}

/// v5 bodies say what they are: `@type` is mandatory there (TMF630 v5 `Extensible`).
pub fn typed(body: &Map<String, Value>, root: &Root) -> Result<(), ApiError> {
    if root.version() == Version::V5 && !body.get("@type").is_some_and(Value::is_string) {
        return Err(ApiError::bad("@type", "is mandatory in TMF621 v5"));
    }
    Ok(())
}

/// A request body as a JSON object.
pub fn json_object(body: &[u8]) -> Result<Map<String, Value>, ApiError> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(ApiError::bad("body", "must be a JSON object")),
        Err(error) => Err(ApiError::bad("body", format!("not JSON: {error}"))),
    }
}

/// A mandatory or optional string attribute, at most `max` characters.
pub fn text(body: &Map<String, Value>, key: &str, required: bool, max: usize) -> Result<Option<String>, ApiError> {
    match body.get(key) {
        None if required => Err(ApiError::bad(key, "is mandatory")),
        None => Ok(None),
        Some(Value::Null) => Err(ApiError::bad(key, "must be a string, not null")),
        Some(Value::String(text)) if required && text.trim().is_empty() => Err(ApiError::bad(key, "must not be empty")),
        Some(Value::String(text)) if text.chars().count() > max => {
            Err(ApiError::bad(key, format!("at most {max} characters")))
        }
        Some(Value::String(text)) => Ok(Some(text.clone())),
        Some(_) => Err(ApiError::bad(key, "must be a string")),
    }
}

/// TMF630's polymorphism attributes, which csm does not use but which must be text when given.
pub fn meta(body: &Map<String, Value>) -> Result<(), ApiError> {
    for key in ["@type", "@baseType", "@schemaLocation"] {
        text(body, key, false, 2000)?;
    }
    Ok(())
}

/// An optional date attribute in RFC 3339.
pub fn date(body: &Map<String, Value>, key: &str) -> Result<Option<i64>, ApiError> {
    match text(body, key, false, 64)? {
        None => Ok(None),
        Some(text) => DateTime::parse_from_rfc3339(&text)
            .map(|at| Some(time::micros(at.to_utc())))
            .map_err(|_| ApiError::bad(key, "must be a date-time in RFC 3339, for example 2026-12-02T08:00:00Z")),
    }
}

/// Notes given with a create or a change: an array of objects, each with its `text`.
pub fn notes(body: &Map<String, Value>, author: &str, now: i64) -> Result<Vec<Value>, ApiError> {
    let Some(value) = body.get("note").filter(|v| !v.is_null()) else {
        return Ok(Vec::new());
    };
    let Some(items) = value.as_array() else {
        return Err(ApiError::bad("note", "must be an array of notes"));
    };
    if items.len() > MAX_NOTES {
        return Err(ApiError::bad("note", format!("at most {MAX_NOTES} notes at a time")));
    }
    let mut notes = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let Some(note) = item.as_object() else {
            return Err(ApiError::bad(format!("note[{i}]"), "must be an object"));
        };
        let text =
            text(note, "text", true, MAX_NOTE).map_err(|e| ApiError::bad(format!("note[{i}]"), e.to_string()))?;
        let by = self::text(note, "author", false, MAX_AUTHOR)
            .map_err(|e| ApiError::bad(format!("note[{i}]"), e.to_string()))?
            .unwrap_or_else(|| author.to_string());
        notes.push(json!({
            "id": uuid::Uuid::now_v7().to_string(),
            "author": by,
            "date": shapes::date(now),
            "text": text,
            "@type": "Note",
        }));
    }
    Ok(notes)
}
