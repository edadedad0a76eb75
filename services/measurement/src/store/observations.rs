//! The `observation` table: observations that never change (surveys, usage samples ...), kept
//! with their fields as JSON so that a measure added later can count them too.

use std::sync::Arc;

use sea_orm::{
    ConnectionTrait, DbBackend, DbErr,
    sea_query::{Expr, ExprTrait, Order, Query},
};
use serde_json::Value as Json;

use super::{ROWS_PER_STATEMENT, Statements, fetch, postgres, schema::Observation as ObservationTable};
use crate::observe::{Dims, FieldKind, FieldValue, Observation, Source};

/// An observation's fields as the JSON object stored with it, written straight from the fields
/// (every observation absorbed is encoded, so no intermediate map is built). A number that is
/// not finite is stored as null, as JSON has no spelling for it.
struct FieldsJson<'a>(&'a [(&'static str, FieldValue)]);

impl serde::Serialize for FieldsJson<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (name, value) in self.0 {
            match value {
                FieldValue::Text(text) => map.serialize_entry(name, &**text)?,
                FieldValue::Number(n) => map.serialize_entry(name, &n.is_finite().then_some(*n))?,
                FieldValue::Bool(b) => map.serialize_entry(name, b)?,
            }
        }
        map.end()
    }
}

fn encode_fields(observation: &Observation) -> String {
    serde_json::to_string(&FieldsJson(&observation.fields)).unwrap_or_else(|_| "{}".to_string())
}

fn decode_fields(source: Source, text: &str) -> Vec<(&'static str, FieldValue)> {
    let Ok(Json::Object(map)) = serde_json::from_str::<Json>(text) else {
        return Vec::new();
    };
    map.into_iter()
        .filter_map(|(name, value)| {
            let field = source.field(&name)?;
            let value = match (source.field_kind(field)?, value) {
                (FieldKind::Text, Json::String(text)) => FieldValue::Text(text.into()),
                (FieldKind::Number, Json::Number(n)) => FieldValue::Number(n.as_f64()?),
                (FieldKind::Bool, Json::Bool(b)) => FieldValue::Bool(b),
                _ => return None,
            };
            Some((field, value))
        })
        .collect()
}

/// Keeps observations that never change, so that a measure added later can count them too.
pub fn observation_writes(backend: DbBackend, rows: &[(Observation, String)]) -> Statements {
    if backend == DbBackend::Postgres {
        let fields = rows.iter().map(|(observation, _)| encode_fields(observation)).collect();
        return postgres::observation_writes(rows, fields);
    }
    let mut writes = Statements::default();
    for chunk in rows.chunks(ROWS_PER_STATEMENT / 2) {
        let mut insert = Query::insert();
        insert.into_table(ObservationTable::Table).columns([
            ObservationTable::Source,
            ObservationTable::At,
            ObservationTable::Customer,
            ObservationTable::Region,
            ObservationTable::Segment,
            ObservationTable::Channel,
            ObservationTable::Product,
            ObservationTable::Fields,
        ]);
        for (observation, customer) in chunk {
            let dims = &observation.dims;
            insert.values_panic([
                observation.source.code().into(),
                observation.at.into(),
                customer.as_str().into(),
                (*dims.region).into(),
                (*dims.segment).into(),
                (*dims.channel).into(),
                (*dims.product).into(),
                encode_fields(observation).into(),
            ]);
        }
        writes.push(backend.build(&insert));
    }
    writes
}

/// A stored observation, with its id and the customer it concerns.
pub struct StoredObservation {
    pub id: i64,
    pub customer: String,
    pub observation: Observation,
}

/// Stored observations of `source`, by id after `after`, optionally only in `[from, to)`.
pub async fn scan_observations(
    db: &impl ConnectionTrait,
    source: Source,
    after: i64,
    window: Option<(i64, i64)>,
    limit: u64,
) -> Result<Vec<StoredObservation>, DbErr> {
    let mut query = Query::select();
    query
        .column(sea_orm::sea_query::Asterisk)
        .from(ObservationTable::Table)
        .and_where(Expr::col(ObservationTable::Source).eq(source.code()))
        .and_where(Expr::col(ObservationTable::Id).gt(after))
        .order_by(ObservationTable::Id, Order::Asc)
        .limit(limit);
    if let Some((from, to)) = window {
        query.and_where(Expr::col(ObservationTable::At).gte(from)).and_where(Expr::col(ObservationTable::At).lt(to));
    }
    fetch(db, query)
        .await?
        .iter()
        .map(|row| {
            let text = |column: &str| -> Result<Arc<str>, DbErr> { Ok(row.try_get::<String>("", column)?.into()) };
            let dims = Dims {
                region: text("region")?,
                segment: text("segment")?,
                channel: text("channel")?,
                product: text("product")?,
                department: "".into(),
                path: Vec::new(),
            };
            let fields: String = row.try_get("", "fields")?;
            let observation = Observation {
                source,
                at: row.try_get("", "at")?,
                dims: Arc::new(dims),
                fields: decode_fields(source, &fields),
            };
            Ok(StoredObservation { id: row.try_get("", "id")?, customer: row.try_get("", "customer")?, observation })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_fields_read_back_as_written_and_a_non_finite_number_is_dropped() {
        let observation = Observation::new(Source::Usage, 0, Arc::default())
            .text("metric", "call \"drop\" rate")
            .number("value", 0.25)
            .flag("success", false);
        let by_name = |mut fields: Vec<(&'static str, FieldValue)>| {
            fields.sort_by_key(|(name, _)| *name);
            fields
        };
        let text = encode_fields(&observation);
        assert_eq!(by_name(decode_fields(Source::Usage, &text)), by_name(observation.fields.clone()));

        let infinite = Observation::new(Source::Usage, 0, Arc::default()).number("value", f64::INFINITY);
        assert_eq!(encode_fields(&infinite), r#"{"value":null}"#);
        assert!(decode_fields(Source::Usage, &encode_fields(&infinite)).is_empty());
    }
}
