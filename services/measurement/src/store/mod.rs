//! Data access for measurement: measures and their cells, work-order facts, stored observations,
//! the catalogue, the customer base and reference documents.

pub mod migration;
pub mod schema;

use std::{collections::HashMap, sync::Arc};

use sea_orm::{
    ConnectionTrait, DbBackend, DbErr, QueryResult, Statement, StatementBuilder,
    sea_query::{Expr, ExprTrait, OnConflict, Order, Query, SimpleExpr},
};
use serde_json::Value as Json;

use crate::{
    calendar::Grain,
    cells::CellKey,
    facts::OrderFact,
    formula::Tally,
    observe::{Dimension, Dims, FieldKind, FieldValue, Observation, Source},
};
use schema::{Cell, CustomerBase, Document, Measure, Observation as ObservationTable, OrderFact as Fact};

/// Rows per multi-row statement: well under SQLite's and PostgreSQL's bind-parameter limits.
const ROWS_PER_STATEMENT: usize = 400;

async fn fetch(db: &impl ConnectionTrait, query: impl StatementBuilder) -> Result<Vec<QueryResult>, DbErr> {
    db.query_all(&query).await
}

/// Serialises the writers of cells and facts on PostgreSQL for the rest of the transaction (the
/// three feed consumers and catalogue changes); SQLite's single writer already does.
pub async fn lock_writers(db: &impl ConnectionTrait) -> Result<(), DbErr> {
    if db.get_database_backend() == DbBackend::Postgres {
        db.execute_raw(Statement::from_string(DbBackend::Postgres, "SELECT pg_advisory_xact_lock(7270301)")).await?;
    }
    Ok(())
}

pub async fn load_measures(db: &impl ConnectionTrait) -> Result<Vec<(i64, String)>, DbErr> {
    let query = Query::select().columns([Measure::Id, Measure::Expression]).from(Measure::Table).to_owned();
    fetch(db, query).await?.iter().map(|row| Ok((row.try_get("", "id")?, row.try_get("", "expression")?))).collect()
}

/// Ids of the measures spelt `expressions`, adding those not yet stored; reports which are new.
pub async fn ensure_measures(db: &impl ConnectionTrait, expressions: &[String]) -> Result<Vec<(i64, bool)>, DbErr> {
    let known: HashMap<String, i64> = load_measures(db).await?.into_iter().map(|(id, e)| (e, id)).collect();
    let mut ids = Vec::with_capacity(expressions.len());
    for expression in expressions {
        if let Some(id) = known.get(expression) {
            ids.push((*id, false));
            continue;
        }
        let insert = Query::insert()
            .into_table(Measure::Table)
            .columns([Measure::Expression])
            .values_panic([expression.as_str().into()])
            .returning_col(Measure::Id)
            .to_owned();
        let row = db.query_one(&insert).await?;
        let id: i64 = row.ok_or_else(|| DbErr::RecordNotInserted)?.try_get("", "id")?;
        ids.push((id, true));
    }
    Ok(ids)
}

/// Adds the deltas to the cells.
pub async fn add_to_cells(db: &impl ConnectionTrait, cells: Vec<(CellKey, Tally)>) -> Result<(), DbErr> {
    for chunk in cells.chunks(ROWS_PER_STATEMENT) {
        let mut insert = Query::insert();
        insert.into_table(Cell::Table).columns([
            Cell::Measure,
            Cell::Grain,
            Cell::Dimension,
            Cell::Period,
            Cell::Value,
            Cell::Count,
            Cell::Total,
        ]);
        for (key, tally) in chunk {
            insert.values_panic([
                key.measure.into(),
                key.grain.code().into(),
                key.dimension.key().into(),
                key.period.into(),
                (*key.value).into(),
                tally.count.into(),
                tally.total.into(),
            ]);
        }
        insert.on_conflict(
            OnConflict::columns([Cell::Measure, Cell::Grain, Cell::Dimension, Cell::Period, Cell::Value])
                .value(
                    Cell::Count,
                    Expr::col((Cell::Table, Cell::Count)).add(Expr::col((Alias::Excluded, Cell::Count))),
                )
                .value(
                    Cell::Total,
                    Expr::col((Cell::Table, Cell::Total)).add(Expr::col((Alias::Excluded, Cell::Total))),
                )
                .to_owned(),
        );
        db.execute(&insert).await?;
    }
    Ok(())
}

#[derive(sea_orm::DeriveIden)]
enum Alias {
    Excluded,
    Measures,
    LastMeasure,
}

/// The stored cells of several measures (an indicator's numerator and denominator, say) of one
/// dimension in `[from, to)`: (measure, period start, value, tally). One statement, so the
/// measures are read as of one moment: read one by one, a batch committing in between could
/// show a numerator without the denominator it moved with.
pub async fn read_cells(
    db: &impl ConnectionTrait,
    measures: &[i64],
    grain: Grain,
    dimension: Dimension,
    (from, to): (i64, i64),
    only: Option<&str>,
) -> Result<Vec<(i64, i64, String, Tally)>, DbErr> {
    if measures.is_empty() {
        return Ok(Vec::new());
    }
    let mut query = Query::select();
    query
        .columns([Cell::Measure, Cell::Period, Cell::Value, Cell::Count, Cell::Total])
        .from(Cell::Table)
        .and_where(Expr::col(Cell::Measure).is_in(measures.iter().copied()))
        .and_where(Expr::col(Cell::Grain).eq(grain.code()))
        .and_where(Expr::col(Cell::Dimension).eq(dimension.key()))
        .and_where(Expr::col(Cell::Period).gte(from))
        .and_where(Expr::col(Cell::Period).lt(to))
        // A cell every observation has left (a work order classified since) holds nothing.
        .and_where(Expr::col(Cell::Count).ne(0));
    if let Some(value) = only {
        query.and_where(Expr::col(Cell::Value).eq(value));
    }
    fetch(db, query)
        .await?
        .iter()
        .map(|row| {
            let tally = Tally { count: row.try_get("", "count")?, total: row.try_get("", "total")? };
            Ok((row.try_get("", "measure")?, row.try_get("", "period")?, row.try_get("", "value")?, tally))
        })
        .collect()
}

const PATH_SEPARATOR: char = '/';

fn fact_from_row(row: &QueryResult) -> Result<(String, OrderFact), DbErr> {
    let path: String = row.try_get("", "path")?;
    let fact = OrderFact {
        opened_at: row.try_get("", "opened_at")?,
        channel: row.try_get("", "channel")?,
        region: row.try_get("", "region")?,
        segment: row.try_get("", "segment")?,
        product: row.try_get("", "product")?,
        kind: row.try_get("", "kind")?,
        contact_type: row.try_get("", "contact_type")?,
        appeal: row.try_get("", "appeal")?,
        path: if path.is_empty() { Vec::new() } else { path.split(PATH_SEPARATOR).map(str::to_string).collect() },
        department: row.try_get("", "department")?,
        corrected: row.try_get("", "corrected")?,
        resolved_at: row.try_get("", "resolved_at")?,
        on_time: row.try_get("", "on_time")?,
        reopen_count: row.try_get("", "reopen_count")?,
        callback_at: row.try_get("", "callback_at")?,
        callback_within_due: row.try_get("", "callback_within_due")?,
        callback_outcome: row.try_get("", "callback_outcome")?,
    };
    Ok((row.try_get("", "work_order_id")?, fact))
}

/// The facts of these work orders that exist.
pub async fn load_facts(db: &impl ConnectionTrait, ids: &[String]) -> Result<HashMap<String, OrderFact>, DbErr> {
    let mut facts = HashMap::with_capacity(ids.len());
    for chunk in ids.chunks(ROWS_PER_STATEMENT) {
        let query = Query::select()
            .column(sea_orm::sea_query::Asterisk)
            .from(Fact::Table)
            .and_where(Expr::col(Fact::WorkOrderId).is_in(chunk.iter().map(String::as_str)))
            .to_owned();
        for row in fetch(db, query).await? {
            let (id, fact) = fact_from_row(&row)?;
            facts.insert(id, fact);
        }
    }
    Ok(facts)
}

/// Facts in key order after `after`, for recomputing measures from scratch.
pub async fn scan_facts(db: &impl ConnectionTrait, after: &str, limit: u64) -> Result<Vec<(String, OrderFact)>, DbErr> {
    let query = Query::select()
        .column(sea_orm::sea_query::Asterisk)
        .from(Fact::Table)
        .and_where(Expr::col(Fact::WorkOrderId).gt(after))
        .order_by(Fact::WorkOrderId, Order::Asc)
        .limit(limit)
        .to_owned();
    fetch(db, query).await?.iter().map(fact_from_row).collect()
}

pub async fn save_facts(db: &impl ConnectionTrait, facts: &[(&String, &OrderFact)]) -> Result<(), DbErr> {
    let columns = [
        Fact::WorkOrderId,
        Fact::OpenedAt,
        Fact::Channel,
        Fact::Region,
        Fact::Segment,
        Fact::Product,
        Fact::Kind,
        Fact::ContactType,
        Fact::Appeal,
        Fact::Path,
        Fact::Department,
        Fact::Corrected,
        Fact::ResolvedAt,
        Fact::OnTime,
        Fact::ReopenCount,
        Fact::CallbackAt,
        Fact::CallbackWithinDue,
        Fact::CallbackOutcome,
    ];
    for chunk in facts.chunks(ROWS_PER_STATEMENT / 2) {
        let mut insert = Query::insert();
        insert.into_table(Fact::Table).columns(columns);
        for (id, fact) in chunk {
            let values: [SimpleExpr; 18] = [
                id.as_str().into(),
                fact.opened_at.into(),
                fact.channel.as_str().into(),
                fact.region.as_str().into(),
                fact.segment.as_str().into(),
                fact.product.as_str().into(),
                fact.kind.as_str().into(),
                fact.contact_type.as_str().into(),
                fact.appeal.as_str().into(),
                fact.path.join(&PATH_SEPARATOR.to_string()).into(),
                fact.department.as_str().into(),
                fact.corrected.into(),
                fact.resolved_at.into(),
                fact.on_time.into(),
                fact.reopen_count.into(),
                fact.callback_at.into(),
                fact.callback_within_due.into(),
                fact.callback_outcome.as_str().into(),
            ];
            insert.values_panic(values);
        }
        let [_, rest @ ..] = columns;
        insert.on_conflict(OnConflict::column(Fact::WorkOrderId).update_columns(rest).to_owned());
        db.execute(&insert).await?;
    }
    Ok(())
}

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
pub async fn insert_observations(db: &impl ConnectionTrait, rows: &[(Observation, String)]) -> Result<(), DbErr> {
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
        db.execute(&insert).await?;
    }
    Ok(())
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

pub async fn set_customer_base(db: &impl ConnectionTrait, region: &str, customers: i64) -> Result<(), DbErr> {
    let insert = Query::insert()
        .into_table(CustomerBase::Table)
        .columns([CustomerBase::Region, CustomerBase::Customers])
        .values_panic([region.into(), customers.into()])
        .on_conflict(OnConflict::column(CustomerBase::Region).update_column(CustomerBase::Customers).to_owned())
        .to_owned();
    db.execute(&insert).await?;
    Ok(())
}

pub async fn customer_base(db: &impl ConnectionTrait) -> Result<HashMap<String, i64>, DbErr> {
    let query =
        Query::select().columns([CustomerBase::Region, CustomerBase::Customers]).from(CustomerBase::Table).to_owned();
    fetch(db, query).await?.iter().map(|row| Ok((row.try_get("", "region")?, row.try_get("", "customers")?))).collect()
}

/// Kinds of reference document.
pub mod kind {
    /// A catalogue indicator (encoded `Indicator`), keyed by its key.
    pub const INDICATOR: &str = "indicator";
    pub const INDEX_MODEL: &str = "index_model";
    pub const CHECKLIST: &str = "audit_checklist";
    pub const AUDIT: &str = "audit";
    pub const BENCHMARK: &str = "benchmark";
    pub const PROGRAMME: &str = "programme";
    pub const EFFECT: &str = "programme_effect";
    pub const ALERT: &str = "alert";
    /// The department responsible for a root-cause leaf, as classification last said.
    pub const LEAF_DEPARTMENT: &str = "leaf_department";
}

/// Stores a document; with `create_only`, an existing one is kept and false returned.
pub async fn put_document(
    db: &impl ConnectionTrait,
    kind: &str,
    key: &str,
    body: Vec<u8>,
    at: i64,
    now: i64,
    create_only: bool,
) -> Result<bool, DbErr> {
    let mut insert = Query::insert();
    insert
        .into_table(Document::Table)
        .columns([Document::Kind, Document::Key, Document::Body, Document::At, Document::UpdateTime])
        .values_panic([kind.into(), key.into(), body.into(), at.into(), now.into()]);
    let mut conflict = OnConflict::columns([Document::Kind, Document::Key]);
    insert.on_conflict(if create_only {
        conflict.do_nothing().to_owned()
    } else {
        conflict.update_columns([Document::Body, Document::At, Document::UpdateTime]).to_owned()
    });
    Ok(db.execute(&insert).await?.rows_affected() > 0)
}

pub async fn get_document(db: &impl ConnectionTrait, kind: &str, key: &str) -> Result<Option<Vec<u8>>, DbErr> {
    let query = Query::select()
        .column(Document::Body)
        .from(Document::Table)
        .and_where(Expr::col(Document::Kind).eq(kind))
        .and_where(Expr::col(Document::Key).eq(key))
        .to_owned();
    fetch(db, query).await?.first().map(|row| row.try_get("", "body")).transpose()
}

/// Documents of a kind (whose `at` lies in `[from, to)` when given), by `at` then key.
pub async fn list_documents(
    db: &impl ConnectionTrait,
    kind: &str,
    window: Option<(i64, i64)>,
) -> Result<Vec<(String, Vec<u8>)>, DbErr> {
    let mut query = Query::select();
    query
        .columns([Document::Key, Document::Body])
        .from(Document::Table)
        .and_where(Expr::col(Document::Kind).eq(kind))
        .order_by(Document::At, Order::Asc)
        .order_by(Document::Key, Order::Asc);
    if let Some((from, to)) = window {
        query.and_where(Expr::col(Document::At).gte(from)).and_where(Expr::col(Document::At).lt(to));
    }
    fetch(db, query).await?.iter().map(|row| Ok((row.try_get("", "key")?, row.try_get("", "body")?))).collect()
}

/// How many measures are stored, and the largest id: enough to tell the set has not changed.
pub async fn measure_summary(db: &impl ConnectionTrait) -> Result<(i64, i64), DbErr> {
    let query = Query::select()
        .expr_as(Expr::col(Measure::Id).count(), Alias::Measures)
        .expr_as(Expr::col(Measure::Id).max().if_null(0), Alias::LastMeasure)
        .from(Measure::Table)
        .to_owned();
    let rows = fetch(db, query).await?;
    let row = rows.first().ok_or_else(|| DbErr::RecordNotFound("measure summary".into()))?;
    Ok((row.try_get("", "measures")?, row.try_get("", "last_measure")?))
}

/// Every stored cell that is not empty, keyed by (measure, grain, dimension, period, value).
pub async fn all_cells(db: &impl ConnectionTrait) -> Result<Vec<((i64, i16, String, i64, String), Tally)>, DbErr> {
    let query = Query::select()
        .columns([Cell::Measure, Cell::Grain, Cell::Dimension, Cell::Period, Cell::Value, Cell::Count, Cell::Total])
        .from(Cell::Table)
        .to_owned();
    fetch(db, query)
        .await?
        .iter()
        .map(|row| {
            let key = (
                row.try_get("", "measure")?,
                row.try_get("", "grain")?,
                row.try_get("", "dimension")?,
                row.try_get("", "period")?,
                row.try_get("", "value")?,
            );
            Ok((key, Tally { count: row.try_get("", "count")?, total: row.try_get("", "total")? }))
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
