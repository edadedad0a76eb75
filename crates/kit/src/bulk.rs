//! Inserting many rows. Multi-row INSERTs save round trips, but every distinct row count is a new
//! statement to prepare, and preparing a large statement costs more than running it. So rows go in
//! full statements of a fixed size and the rest in powers of two: a handful of statement shapes per
//! table, all kept in the connection's statement cache, whatever the batch size. On PostgreSQL
//! the rows of an insert go as one statement of arrays instead ([`arrays`]), one shape for any
//! number of rows.

mod arrays;
mod copy;
mod writes;

pub use copy::copy_in;
pub use writes::Writes;
pub(crate) use writes::{column_arrays, quoted_names};

use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbBackend, DbErr, EntityTrait, QueryFilter, Select, Statement,
    Value, sea_query::OnConflict,
};

/// Rows per full statement: SQLite is in-process, where smaller statements prepare faster;
/// PostgreSQL is a round trip away, where fewer statements win. Both stay within the bind limits
/// of their database for tables of up to 60 columns.
fn full_statement(backend: DbBackend) -> usize {
    match backend {
        DbBackend::Sqlite => 64,
        _ => 512,
    }
}

/// Keys per `IN (...)` list: well under the bind limits of SQLite and PostgreSQL.
pub const IN_LIST: usize = 512;

/// `keys` in lists of at most [`IN_LIST`], each to be bound as one `IN (...)` and [`padded`].
pub fn in_lists<T: Clone>(keys: &[T]) -> impl Iterator<Item = Vec<T>> + '_ {
    keys.chunks(IN_LIST).map(|chunk| padded(chunk.to_vec()))
}

/// `keys` made as long as the next power of two by repeating the last, which an `IN (...)` list
/// does not notice. Every distinct length is a distinct statement, prepared and planned afresh:
/// a batch reading its rows by a list of as many keys as it has orders made a few hundred shapes
/// of one query, more than the connection's statement cache holds, so each read was parsed and
/// planned again (on PostgreSQL a third of the read's time). Padded, a query has ten shapes.
pub fn padded<T: Clone>(mut keys: Vec<T>) -> Vec<T> {
    if let Some(last) = keys.last().cloned() {
        keys.resize(keys.len().next_power_of_two(), last);
    }
    keys
}

/// How many rows each statement of an insert of `rows` rows takes.
pub fn statement_sizes(rows: usize, full: usize) -> Vec<usize> {
    let mut sizes = vec![full; rows / full];
    let mut rest = rows % full;
    let mut size = full.next_power_of_two();
    while rest > 0 {
        size /= 2;
        if rest >= size && size > 0 {
            sizes.push(size);
            rest -= size;
        }
    }
    sizes
}

/// PostgreSQL: a `FROM` item yielding one row per element of `arrays` (placeholders such as
/// `$1::text[]`, all as long), the arrays read side by side; the caller names it and its columns
/// (`{rows} AS r(id, n)`).
///
/// `UNNEST($1, $2, ...)` in `FROM` yields the same rows, but copies every array into a tuple
/// store of its own before reading any; set-returning functions in a select list are read in
/// step, with no copy. On PostgreSQL 15, yielding 8,192 rows of 19 arrays took 4 ms this way and
/// 20 ms as `UNNEST` in `FROM`, a quarter of an upsert of those rows (docs/performance.md).
pub fn arrays_as_rows<S: AsRef<str>>(arrays: &[S]) -> String {
    let read: Vec<String> = arrays.iter().map(|array| format!("unnest({})", array.as_ref())).collect();
    format!("(SELECT {})", read.join(", "))
}

/// Placeholders of arrays of `types`, bound in that order from `$1`: `$1::text[]`, `$2::int8[]`.
pub fn array_parameters(types: &[&str]) -> Vec<String> {
    types.iter().zip(1..).map(|(kind, n)| format!("${n}::{kind}[]")).collect()
}

/// PostgreSQL: every row of `table` whose `column` equals one of the keys bound as `$1` (a text
/// array), read as one index probe per key (the keys unnested, `LATERAL` the rows of a key,
/// `OFFSET 0` so the planner cannot merge the two into a join). Given the keys as `= ANY($1)`, the
/// planner estimates how many rows match from the table's statistics, which a new database has
/// none of until autovacuum's first `ANALYZE`: with default guesses it took a thousand keys for
/// most of the table and scanned all of it (8 ms a batch on 200,000 contacts). A probe per key
/// uses the index whatever the statistics say. A key bound twice finds its rows twice.
pub fn rows_by_key_sql(table: &str, column: &str) -> String {
    rows_by_keys_sql(table, &[(column, "text")])
}

/// PostgreSQL: as [`rows_by_key_sql`], for a key of several columns, each `(column, type)` bound
/// as one array (`$1`, `$2`, ...) of that type, the arrays read side by side: one probe per key,
/// where a list of values per column would probe every combination of them.
pub fn rows_by_keys_sql(table: &str, columns: &[(&str, &str)]) -> String {
    let arrays = array_parameters(&columns.iter().map(|(_, kind)| *kind).collect::<Vec<_>>());
    let names: Vec<String> = (1..=columns.len()).map(|n| format!("key{n}")).collect();
    let matches: Vec<String> =
        columns.iter().zip(&names).map(|((column, _), name)| format!("\"{column}\" = k.{name}")).collect();
    format!(
        "SELECT r.* FROM {} AS k({}) CROSS JOIN LATERAL \
         (SELECT * FROM \"{table}\" WHERE {} OFFSET 0) AS r",
        arrays_as_rows(&arrays),
        names.join(", "),
        matches.join(" AND ")
    )
}

/// The rows `query` finds whose `column` is one of `keys`, read in as many `IN (...)` lists as
/// the keys need.
pub async fn find_in<E, V>(
    db: &impl ConnectionTrait,
    query: Select<E>,
    column: impl ColumnTrait,
    keys: &[V],
) -> Result<Vec<E::Model>, DbErr>
where
    E: EntityTrait,
    V: Into<Value> + Clone,
{
    let mut found = Vec::new();
    for chunk in in_lists(keys) {
        found.extend(query.clone().filter(column.is_in(chunk)).all(db).await?);
    }
    Ok(found)
}

/// Inserts `rows` in as few statements as the shapes above allow.
pub async fn insert_all<E, A>(db: &impl ConnectionTrait, rows: Vec<A>) -> Result<(), DbErr>
where
    E: EntityTrait,
    A: ActiveModelTrait<Entity = E> + Send,
{
    if let Some(statement) = as_arrays(db, &rows, None) {
        db.execute_raw(statement).await?;
        return Ok(());
    }
    for chunk in statements(db, rows) {
        E::insert_many(chunk).exec_without_returning(db).await?;
    }
    Ok(())
}

/// Inserts `rows`, or on `on_conflict` updates what is stored, in as few statements as the shapes
/// above allow; returns the rows inserted or updated (an update its condition refused is not
/// counted). A batch of changes to existing rows goes this way too, each row matched by its key:
/// one statement instead of one `UPDATE` a row. One statement cannot change a row twice, so the
/// rows' keys must be distinct.
pub async fn upsert_all<E, A>(db: &impl ConnectionTrait, rows: Vec<A>, on_conflict: OnConflict) -> Result<u64, DbErr>
where
    E: EntityTrait,
    A: ActiveModelTrait<Entity = E> + Send,
{
    if let Some(statement) = as_arrays(db, &rows, Some(&on_conflict)) {
        return Ok(db.execute_raw(statement).await?.rows_affected());
    }
    let mut written = 0;
    for chunk in statements(db, rows) {
        written += E::insert_many(chunk).on_conflict(on_conflict.clone()).exec_without_returning(db).await?;
    }
    Ok(written)
}

/// `rows` as one statement of arrays, on PostgreSQL when their columns allow.
fn as_arrays<E, A>(db: &impl ConnectionTrait, rows: &[A], on_conflict: Option<&OnConflict>) -> Option<Statement>
where
    E: EntityTrait,
    A: ActiveModelTrait<Entity = E>,
{
    if db.get_database_backend() != DbBackend::Postgres {
        return None;
    }
    arrays::unnest_insert::<E, A>(rows, on_conflict)
}

/// `rows` cut into the statements [`statement_sizes`] gives for the database.
fn statements<A>(db: &impl ConnectionTrait, rows: Vec<A>) -> impl Iterator<Item = Vec<A>> {
    let sizes = statement_sizes(rows.len(), full_statement(db.get_database_backend()));
    let mut rows = rows.into_iter();
    sizes.into_iter().map(move |size| rows.by_ref().take(size).collect())
}

#[cfg(test)]
mod tests {
    use super::{IN_LIST, in_lists, rows_by_keys_sql, statement_sizes};

    #[test]
    fn rows_split_into_full_statements_then_powers_of_two() {
        assert_eq!(statement_sizes(0, 64), Vec::<usize>::new());
        assert_eq!(statement_sizes(64, 64), vec![64]);
        assert_eq!(statement_sizes(200, 64), vec![64, 64, 64, 8]);
        assert_eq!(statement_sizes(7, 64), vec![4, 2, 1]);
        assert_eq!(statement_sizes(1025, 512), vec![512, 512, 1]);
        assert_eq!(statement_sizes(63, 64).iter().sum::<usize>(), 63);
    }

    #[test]
    fn in_lists_take_a_power_of_two_of_keys_repeating_the_last() {
        let lists = |n: usize| in_lists(&(0..n).collect::<Vec<_>>()).collect::<Vec<_>>();
        assert!(lists(0).is_empty());
        assert_eq!(lists(1), vec![vec![0]]);
        assert_eq!(lists(3), vec![vec![0, 1, 2, 2]]);
        assert_eq!(lists(4), vec![vec![0, 1, 2, 3]]);
        let long = lists(IN_LIST + 5);
        assert_eq!(long.iter().map(Vec::len).collect::<Vec<_>>(), vec![IN_LIST, 8]);
        assert_eq!(long[1], vec![512, 513, 514, 515, 516, 516, 516, 516]);
    }

    #[test]
    fn a_key_of_several_columns_is_probed_as_arrays_side_by_side() {
        assert_eq!(
            rows_by_keys_sql("day_customer", &[("day", "int8"), ("phone", "text")]),
            "SELECT r.* FROM (SELECT unnest($1::int8[]), unnest($2::text[])) AS k(key1, key2) CROSS JOIN LATERAL \
             (SELECT * FROM \"day_customer\" WHERE \"day\" = k.key1 AND \"phone\" = k.key2 OFFSET 0) AS r"
        );
    }
}
