//! Who reaches what: a caller confined to a department (the department role without a wider one)
//! lists only its own department's cases, sub-tasks, programmes and care tasks. Following AIP-211,
//! a confined caller asking for anything outside its reach gets PERMISSION_DENIED whether or not
//! it exists, so nothing leaks across departments.

use csm_kit::Principal;

use crate::error::Error;

/// The department a listing is confined to: a department caller's own (naming another is
/// refused), or the one asked for by a wider caller.
pub fn confined(caller: &Principal, requested: &str, what: &str) -> Result<Option<String>, Error> {
    match caller.confined_department() {
        Some(own) if !requested.is_empty() && requested != own => {
            Err(Error::PermissionDenied(format!("a {own} caller may list only its own department's {what}")))
        }
        Some(own) => Ok(Some(own.to_string())),
        None => Ok((!requested.is_empty()).then(|| requested.to_string())),
    }
}
