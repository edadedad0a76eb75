//! The `cell` table: each measure's count and sum per grain, dimension, period and dimension
//! value, added to as events arrive and read back for a window; and beside it `cell_bin`, a
//! binned measure's values by whole minute in the same places, for its median.

use sea_orm::{
    ConnectionTrait, DbBackend, DbErr, QueryResult,
    sea_query::{Expr, ExprTrait, OnConflict, Query, SelectStatement, UnionType},
};

use super::{
    ROWS_PER_STATEMENT, Statements, fetch, postgres,
    schema::{Cell, CellBin},
};
use crate::{calendar::Grain, cells::CellKey, formula::Tally, observe::Dimension};

/// The row an upsert would have inserted, as PostgreSQL and SQLite name it.
#[derive(sea_orm::DeriveIden)]
enum Alias {
    Excluded,
    Bin,
    Total,
}

/// Adds the deltas to the cells and their bins.
pub async fn add_to_cells(db: &impl ConnectionTrait, cells: Vec<(CellKey, Tally)>) -> Result<(), DbErr> {
    cell_writes(db.get_database_backend(), &cells).run(db).await
}

/// The statements that add the deltas to the cells and their bins.
pub fn cell_writes(backend: DbBackend, cells: &[(CellKey, Tally)]) -> Statements {
    if backend == DbBackend::Postgres {
        return postgres::cell_writes(cells);
    }
    let mut writes = Statements::default();
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
        writes.push(backend.build(&insert));
    }
    let bins: Vec<(&CellKey, i64, i64)> =
        cells.iter().flat_map(|(key, tally)| tally.bins.iter().map(move |(bin, count)| (key, *bin, *count))).collect();
    for chunk in bins.chunks(ROWS_PER_STATEMENT) {
        let mut insert = Query::insert();
        insert.into_table(CellBin::Table).columns([
            CellBin::Measure,
            CellBin::Grain,
            CellBin::Dimension,
            CellBin::Period,
            CellBin::Value,
            CellBin::Bin,
            CellBin::Count,
        ]);
        for (key, bin, count) in chunk {
            insert.values_panic([
                key.measure.into(),
                key.grain.code().into(),
                key.dimension.key().into(),
                key.period.into(),
                (*key.value).into(),
                (*bin).into(),
                (*count).into(),
            ]);
        }
        insert.on_conflict(
            OnConflict::columns([
                CellBin::Measure,
                CellBin::Grain,
                CellBin::Dimension,
                CellBin::Period,
                CellBin::Value,
                CellBin::Bin,
            ])
            .value(
                CellBin::Count,
                Expr::col((CellBin::Table, CellBin::Count)).add(Expr::col((Alias::Excluded, CellBin::Count))),
            )
            .to_owned(),
        );
        writes.push(backend.build(&insert));
    }
    writes
}

/// A row of [`read_cells`]' union: a cell (no bin) or one bin of a binned measure's cell.
fn tally_of(row: &QueryResult) -> Result<Tally, DbErr> {
    let count: i64 = row.try_get("", "count")?;
    let mut tally = Tally::new(0, 0.0);
    match row.try_get::<Option<i64>>("", "bin")? {
        Some(bin) => tally.add_to_bin(bin, count),
        None => tally = Tally::new(count, row.try_get("", "total")?),
    }
    Ok(tally)
}

/// The stored cells of several measures (an indicator's numerator and denominator, say) of one
/// dimension in `[from, to)`: (measure, period start, value, tally), a binned measure's bins as
/// tallies of their own to be added to its cell's. One statement, so the measures are read as
/// of one moment: read one by one, a batch committing in between could show a numerator without
/// the denominator it moved with, or a median without the count it moved with.
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
    // Literal SQL for the columns one side lacks, typed so that both databases agree on the
    // union's column types.
    let mut cells = Query::select();
    cells
        .columns([Cell::Measure, Cell::Period, Cell::Value, Cell::Count, Cell::Total])
        .expr_as(Expr::cust("CAST(NULL AS BIGINT)"), Alias::Bin)
        .from(Cell::Table)
        .and_where(Expr::col(Cell::Measure).is_in(measures.iter().copied()))
        .and_where(Expr::col(Cell::Grain).eq(grain.code()))
        .and_where(Expr::col(Cell::Dimension).eq(dimension.key()))
        .and_where(Expr::col(Cell::Period).gte(from))
        .and_where(Expr::col(Cell::Period).lt(to))
        // A cell every observation has left (a work order classified since) holds nothing.
        .and_where(Expr::col(Cell::Count).ne(0));
    let mut bins = Query::select();
    bins.columns([CellBin::Measure, CellBin::Period, CellBin::Value, CellBin::Count])
        .expr_as(Expr::cust("CAST(0 AS DOUBLE PRECISION)"), Alias::Total)
        .column(CellBin::Bin)
        .from(CellBin::Table)
        .and_where(Expr::col(CellBin::Measure).is_in(measures.iter().copied()))
        .and_where(Expr::col(CellBin::Grain).eq(grain.code()))
        .and_where(Expr::col(CellBin::Dimension).eq(dimension.key()))
        .and_where(Expr::col(CellBin::Period).gte(from))
        .and_where(Expr::col(CellBin::Period).lt(to))
        .and_where(Expr::col(CellBin::Count).ne(0));
    if let Some(value) = only {
        cells.and_where(Expr::col(Cell::Value).eq(value));
        bins.and_where(Expr::col(CellBin::Value).eq(value));
    }
    let query: SelectStatement = cells.union(UnionType::All, bins).to_owned();
    fetch(db, query)
        .await?
        .iter()
        .map(|row| {
            Ok((row.try_get("", "measure")?, row.try_get("", "period")?, row.try_get("", "value")?, tally_of(row)?))
        })
        .collect()
}

/// Every stored cell and bin, keyed by (measure, grain, dimension, period, value); a binned
/// cell's bins come as tallies of their own, to be added to its cell's.
pub async fn all_cells(db: &impl ConnectionTrait) -> Result<Vec<((i64, i16, String, i64, String), Tally)>, DbErr> {
    let cells = Query::select()
        .columns([Cell::Measure, Cell::Grain, Cell::Dimension, Cell::Period, Cell::Value, Cell::Count, Cell::Total])
        .expr_as(Expr::cust("CAST(NULL AS BIGINT)"), Alias::Bin)
        .from(Cell::Table)
        .to_owned();
    let bins = Query::select()
        .columns([
            CellBin::Measure,
            CellBin::Grain,
            CellBin::Dimension,
            CellBin::Period,
            CellBin::Value,
            CellBin::Count,
        ])
        .expr_as(Expr::cust("CAST(0 AS DOUBLE PRECISION)"), Alias::Total)
        .column(CellBin::Bin)
        .from(CellBin::Table)
        .to_owned();
    let mut rows = fetch(db, cells).await?;
    rows.extend(fetch(db, bins).await?);
    rows.iter()
        .map(|row| {
            let key = (
                row.try_get("", "measure")?,
                row.try_get("", "grain")?,
                row.try_get("", "dimension")?,
                row.try_get("", "period")?,
                row.try_get("", "value")?,
            );
            Ok((key, tally_of(row)?))
        })
        .collect()
}
