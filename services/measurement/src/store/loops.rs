//! The `loop_fact` table: the latest snapshot of each closed loop (a detractor's follow-up, a
//! step of a case's appeal risk), kept so that a later snapshot can move the loop's contribution
//! from one cell to another, and a measure added later can count it.

use std::collections::HashMap;

use sea_orm::{
    ConnectionTrait, DbErr, QueryResult,
    sea_query::{Expr, ExprTrait, OnConflict, Order, Query},
};

use super::{ROWS_PER_STATEMENT, fetch, schema::LoopFact as Table};
use crate::facts::{LoopFact, LoopKey, LoopKind};

fn fact_from_row(kind: LoopKind, row: &QueryResult) -> Result<(String, LoopFact), DbErr> {
    let key: String = row.try_get("", "key")?;
    let body: Vec<u8> = row.try_get("", "body")?;
    let fact = LoopFact::decode(kind, row.try_get("", "version")?, row.try_get("", "at")?, &body)
        .map_err(|e| DbErr::Custom(format!("the stored loop {key} does not decode: {e}")))?;
    Ok((key, fact))
}

/// The stored facts of these loops that exist.
pub async fn load_loop_facts(db: &impl ConnectionTrait, keys: &[LoopKey]) -> Result<HashMap<LoopKey, LoopFact>, DbErr> {
    let mut facts = HashMap::with_capacity(keys.len());
    for kind in LoopKind::ALL {
        let of_kind: Vec<&str> = keys.iter().filter(|k| k.kind == kind).map(|k| k.key.as_str()).collect();
        for chunk in of_kind.chunks(ROWS_PER_STATEMENT) {
            let query = Query::select()
                .columns([Table::Key, Table::Version, Table::At, Table::Body])
                .from(Table::Table)
                .and_where(Expr::col(Table::Kind).eq(kind.code()))
                .and_where(Expr::col(Table::Key).is_in(chunk.iter().copied()))
                .to_owned();
            for row in fetch(db, query).await? {
                let (key, fact) = fact_from_row(kind, &row)?;
                facts.insert(LoopKey { kind, key }, fact);
            }
        }
    }
    Ok(facts)
}

/// Facts of one kind in key order after `after`, for counting measures from scratch.
pub async fn scan_loop_facts(
    db: &impl ConnectionTrait,
    kind: LoopKind,
    after: &str,
    limit: u64,
) -> Result<Vec<(String, LoopFact)>, DbErr> {
    let query = Query::select()
        .columns([Table::Key, Table::Version, Table::At, Table::Body])
        .from(Table::Table)
        .and_where(Expr::col(Table::Kind).eq(kind.code()))
        .and_where(Expr::col(Table::Key).gt(after))
        .order_by(Table::Key, Order::Asc)
        .limit(limit)
        .to_owned();
    fetch(db, query).await?.iter().map(|row| fact_from_row(kind, row)).collect()
}

pub async fn save_loop_facts(db: &impl ConnectionTrait, facts: &[(&LoopKey, &LoopFact)]) -> Result<(), DbErr> {
    for chunk in facts.chunks(ROWS_PER_STATEMENT / 2) {
        let mut insert = Query::insert();
        insert.into_table(Table::Table).columns([Table::Kind, Table::Key, Table::Version, Table::At, Table::Body]);
        for (key, fact) in chunk {
            insert.values_panic([
                key.kind.code().into(),
                key.key.as_str().into(),
                fact.version.into(),
                fact.at.into(),
                fact.body().into(),
            ]);
        }
        insert.on_conflict(
            OnConflict::columns([Table::Kind, Table::Key])
                .update_columns([Table::Version, Table::At, Table::Body])
                .to_owned(),
        );
        db.execute(&insert).await?;
    }
    Ok(())
}
