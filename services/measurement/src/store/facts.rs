//! The `order_fact` table: what is known of each work order (from intake, classification and
//! recovery), kept so that a later event can move its contribution from one cell to another.

use std::collections::HashMap;

use sea_orm::{
    ConnectionTrait, DbBackend, DbErr, QueryResult,
    sea_query::{Expr, ExprTrait, OnConflict, Order, Query, SimpleExpr},
};

use super::{ROWS_PER_STATEMENT, Statements, fetch, postgres, schema::OrderFact as Fact};
use crate::facts::OrderFact;

const PATH_SEPARATOR: char = '/';

/// A path as the table stores it: one text, its segments joined.
fn path_from_text(path: &str) -> Vec<String> {
    if path.is_empty() { Vec::new() } else { path.split(PATH_SEPARATOR).map(str::to_string).collect() }
}

/// `path` as it would read back once stored: a lone empty segment or one holding the separator
/// does not survive the round trip, and a fact kept in memory must be the one a read would give.
pub fn path_as_stored(path: &mut Vec<String>) {
    if path.iter().any(|segment| segment.contains(PATH_SEPARATOR))
        || matches!(path.as_slice(), [only] if only.is_empty())
    {
        *path = path_from_text(&path.join(&PATH_SEPARATOR.to_string()));
    }
}

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
        path: path_from_text(&path),
        department: row.try_get("", "department")?,
        corrected: row.try_get("", "corrected")?,
        resolved_at: row.try_get("", "resolved_at")?,
        on_time: row.try_get("", "on_time")?,
        reopen_count: row.try_get("", "reopen_count")?,
        callback_at: row.try_get("", "callback_at")?,
        callback_within_due: row.try_get("", "callback_within_due")?,
        callback_outcome: row.try_get("", "callback_outcome")?,
        answered_late: row.try_get("", "answered_late")?,
    };
    Ok((row.try_get("", "work_order_id")?, fact))
}

/// The facts of these work orders that exist.
pub async fn load_facts(db: &impl ConnectionTrait, ids: &[String]) -> Result<HashMap<String, OrderFact>, DbErr> {
    if db.get_database_backend() == DbBackend::Postgres {
        return postgres::rows_by_key(db, "order_fact", "work_order_id", ids)
            .await?
            .iter()
            .map(fact_from_row)
            .collect();
    }
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

pub fn fact_writes(backend: DbBackend, facts: &[(&String, &OrderFact)]) -> Statements {
    if backend == DbBackend::Postgres {
        return postgres::fact_writes(facts, &PATH_SEPARATOR.to_string());
    }
    let mut writes = Statements::default();
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
        Fact::AnsweredLate,
    ];
    for chunk in facts.chunks(ROWS_PER_STATEMENT / 2) {
        let mut insert = Query::insert();
        insert.into_table(Fact::Table).columns(columns);
        for (id, fact) in chunk {
            let values: [SimpleExpr; 19] = [
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
                fact.answered_late.into(),
            ];
            insert.values_panic(values);
        }
        let [_, rest @ ..] = columns;
        insert.on_conflict(OnConflict::column(Fact::WorkOrderId).update_columns(rest).to_owned());
        writes.push(backend.build(&insert));
    }
    writes
}
