//! The `cell` table: each measure's count and sum per grain, dimension, period and dimension
//! value, added to as events arrive and read back for a window.

use sea_orm::{
    ConnectionTrait, DbErr,
    sea_query::{Expr, ExprTrait, OnConflict, Query},
};

use super::{ROWS_PER_STATEMENT, fetch, schema::Cell};
use crate::{calendar::Grain, cells::CellKey, formula::Tally, observe::Dimension};

/// The row an upsert would have inserted, as PostgreSQL and SQLite name it.
#[derive(sea_orm::DeriveIden)]
enum Alias {
    Excluded,
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
