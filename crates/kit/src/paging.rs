//! Pagination (AIP-158): `page_size` with a default and a ceiling, and opaque `page_token`s that
//! carry the position after the last item returned plus a fingerprint of the filters, so a token
//! replayed with different filters is refused rather than silently returning the wrong page.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use sha2::{Digest, Sha256};

use crate::error::Violations;

/// The page size to use: `default` for 0, at most `max`; negative sizes are refused.
pub fn page_size(requested: i32, default: u64, max: u64) -> Result<u64, Violations> {
    match requested {
        size if size < 0 => Err(Violations::one("page_size", "must not be negative")),
        0 => Ok(default),
        size => Ok(u64::try_from(size).unwrap_or(max).min(max)),
    }
}

/// A short fingerprint of the filters a listing was made with.
pub fn fingerprint(parts: &[&str]) -> String {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update(part.as_bytes());
        hasher.update([0u8]);
    }
    hex::encode(&hasher.finalize()[..8])
}

/// A token for the position `position` of a listing with filter fingerprint `filters`.
pub fn encode_token(filters: &str, position: &str) -> String {
    URL_SAFE_NO_PAD.encode(format!("{filters}\n{position}"))
}

/// The position in `token`, which must have been issued for the same filters. Empty means the
/// first page.
pub fn decode_token(token: &str, filters: &str) -> Result<Option<String>, Violations> {
    if token.is_empty() {
        return Ok(None);
    }
    let invalid = || Violations::one("page_token", "not a token this listing issued");
    let bytes = URL_SAFE_NO_PAD.decode(token).map_err(|_| invalid())?;
    let text = String::from_utf8(bytes).map_err(|_| invalid())?;
    let (issued_for, position) = text.split_once('\n').ok_or_else(invalid)?;
    if issued_for != filters {
        return Err(Violations::one("page_token", "was issued for different filters"));
    }
    Ok(Some(position.to_string()))
}

/// The keyset position in `token` as issued by [`next_page`]: a number (a time, a deadline) and
/// the id that breaks ties. Empty means the first page.
pub fn decode_keyset(token: &str, filters: &str) -> Result<Option<(i64, String)>, Violations> {
    let Some(position) = decode_token(token, filters)? else {
        return Ok(None);
    };
    let invalid = || Violations::one("page_token", "not a token this listing issued");
    let (number, id) = position.split_once(':').ok_or_else(invalid)?;
    Ok(Some((number.parse().map_err(|_| invalid())?, id.to_string())))
}

/// Cuts a page out of `rows`, fetched with a limit of `page_size + 1`: keeps the first
/// `page_size` and returns the token for the next page, empty when there is none. `key` gives a
/// row's keyset position (number and id) for [`decode_keyset`].
pub fn next_page<T>(rows: &mut Vec<T>, page_size: u64, filters: &str, key: impl Fn(&T) -> (i64, &str)) -> String {
    let more = rows.len() as u64 > page_size;
    rows.truncate(usize::try_from(page_size).unwrap_or(usize::MAX));
    match rows.last() {
        Some(last) if more => {
            let (number, id) = key(last);
            encode_token(filters, &format!("{number}:{id}"))
        }
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_only_with_the_same_filters() {
        let filters = fingerprint(&["billing", ""]);
        let token = encode_token(&filters, "42:abc");
        assert_eq!(decode_token(&token, &filters).unwrap().as_deref(), Some("42:abc"));
        assert!(decode_token(&token, &fingerprint(&["network", ""])).is_err());
        assert!(decode_token("!!", &filters).is_err());
        assert_eq!(decode_keyset(&token, &filters).unwrap(), Some((42, "abc".to_string())));
        assert!(decode_keyset(&encode_token(&filters, "x:abc"), &filters).is_err());
        assert_eq!(decode_token("", &filters).unwrap(), None);
    }

    #[test]
    fn page_size_defaults_and_caps() {
        assert_eq!(page_size(0, 50, 500).unwrap(), 50);
        assert_eq!(page_size(10_000, 50, 500).unwrap(), 500);
        assert!(page_size(-1, 50, 500).is_err());
    }
}
