//! Resource names (AIP-122): `workOrders/{id}`, `cases/{id}`, ... Requests carry names; storage
//! keeps ids.

use crate::error::Violations;

/// The id in `name`, which must be `{collection}{id}` with a non-empty id and no further segment;
/// `field` names the request field in the error.
pub fn id_in<'a>(field: &str, name: &'a str, collection: &str) -> Result<&'a str, Violations> {
    match name.strip_prefix(collection) {
        Some(id) if !id.is_empty() && !id.contains('/') && id.len() <= 64 => Ok(id),
        _ => Err(Violations::one(field, format!("must be a resource name like {collection}{{id}}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::id_in;

    #[test]
    fn accepts_only_names_of_the_collection() {
        assert_eq!(id_in("name", "cases/42", "cases/").unwrap(), "42");
        assert!(id_in("name", "cases/", "cases/").is_err());
        assert!(id_in("name", "workOrders/42", "cases/").is_err());
        assert!(id_in("name", "cases/42/x", "cases/").is_err());
    }
}
