//! A TMF621 listing's query: attribute filters (TMF630: `status=resolved,closed`,
//! `creationDate.gte=2026-12-01T00:00:00Z`), `fields=`, and `offset`/`limit` paging.

use chrono::DateTime;
use csm_kit::time;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, Select};

use crate::{
    error::ApiError,
    store::entity::ticket::{Column, Entity},
};

#[derive(Debug)]
pub struct Listing {
    pub fields: Option<String>,
    pub offset: u64,
    pub limit: Option<u64>,
    pub select: Select<Entity>,
}

/// The filters a listing accepts, each on the ticket's own column.
const EQUALITY: [(&str, Column); 6] = [
    ("status", Column::Status),
    ("severity", Column::Severity),
    ("ticketType", Column::TicketType),
    ("externalId", Column::ExternalId),
    ("relatedParty.id", Column::PhoneNumber),
    ("channel.id", Column::Channel),
];
const DATES: [(&str, Column); 3] =
    [("creationDate", Column::CreatedAt), ("resolutionDate", Column::ResolvedAt), ("lastUpdate", Column::UpdatedAt)];

/// A paging number: a whole number the database can take (below 2^63).
fn number(key: &str, value: &str) -> Result<u64, ApiError> {
    value
        .parse::<u64>()
        .ok()
        .filter(|n| i64::try_from(*n).is_ok())
        .ok_or_else(|| ApiError::bad(key, "must be a whole number below 2^63"))
}

fn instant(key: &str, value: &str) -> Result<i64, ApiError> {
    DateTime::parse_from_rfc3339(value)
        .map(|at| time::micros(at.to_utc()))
        .map_err(|_| ApiError::bad(key, "must be a date-time in RFC 3339"))
}

/// Reads the query pairs; a filter on an attribute the adapter cannot filter on is refused by
/// name rather than ignored, so a caller never mistakes an unfiltered listing for a filtered one.
pub fn parse(pairs: &[(String, String)]) -> Result<Listing, ApiError> {
    let mut listing = Listing { fields: None, offset: 0, limit: None, select: Entity::find() };
    let mut select = Entity::find();
    for (key, value) in pairs {
        match key.as_str() {
            "fields" => listing.fields = Some(value.clone()),
            "offset" => listing.offset = number(key, value)?,
            "limit" => listing.limit = Some(number(key, value)?),
            _ => {
                if let Some((_, column)) = EQUALITY.iter().find(|(name, _)| name == key) {
                    let values: Vec<String> =
                        value.split(',').map(|v| v.trim().to_string()).filter(|v| !v.is_empty()).collect();
                    select = select.filter(column.is_in(values));
                    continue;
                }
                let (attribute, operator) = key.rsplit_once('.').unwrap_or((key.as_str(), ""));
                let Some((_, column)) = DATES.iter().find(|(name, _)| *name == attribute) else {
                    return Err(ApiError::bad(key, "is not a filter this API supports"));
                };
                let at = instant(key, value)?;
                select = match operator {
                    "gt" => select.filter(column.gt(at)),
                    "gte" => select.filter(column.gte(at)),
                    "lt" => select.filter(column.lt(at)),
                    "lte" => select.filter(column.lte(at)),
                    "" | "eq" => select.filter(column.eq(at)),
                    _ => return Err(ApiError::bad(key, "the operator must be gt, gte, lt, lte or eq")),
                };
            }
        }
    }
    listing.select = select;
    Ok(listing)
}
