//! [`Store`] on a synchronous SQLite connection: one prepared statement per kind of read or write,
//! run once per key or row. SQLite answers each from its page cache in microseconds, so a batch
//! costs its rows, not its round trips. Rows are read into the entities through serde, by column
//! name, and written from them by position, in the entity's column order.

use std::{
    cell::RefCell,
    collections::{HashMap, HashSet},
    rc::Rc,
};

use csm_kit::db::sqlite_error;
use csm_proto::intake::v1::ContactType;
use rusqlite::Transaction;
use rusqlite::types::Value as SqlValue;
use sea_orm::{ActiveModelTrait, DbErr, EntityName, IdenStatic, IntoActiveModel, Iterable, Value};

use super::store_ops::{CUSTOMER_UPDATES, Store, Table};
use crate::store::{customer, work_order};

fn serde_error(error: serde_rusqlite::Error) -> DbErr {
    DbErr::Custom(format!("sqlite row: {error}"))
}

fn column_names<E: Table>() -> Vec<String> {
    E::Column::iter().map(|column| column.as_str().to_string()).collect()
}

/// A statement's text by what it does, on which table, by which column.
type SqlKey = (&'static str, &'static str, &'static str);

thread_local! {
    /// The text of each statement the writer runs, built once per thread (the group commit's own)
    /// rather than for every batch: at a few submissions per commit, building them would be a
    /// tenth of the writer's time (docs/performance.md). The keys are a fixed few.
    static SQL: RefCell<HashMap<SqlKey, Rc<str>>> = RefCell::new(HashMap::new());
}

/// The text `build` makes for `key`, built on this thread's first use.
fn sql(key: SqlKey, build: impl FnOnce() -> String) -> Rc<str> {
    SQL.with_borrow_mut(|texts| texts.entry(key).or_insert_with(|| build().into()).clone())
}

impl Store for Transaction<'_> {
    async fn find<E: Table>(&self, column: E::Column, keys: &[String]) -> Result<Vec<E::Model>, DbErr> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let (table, column) = (E::default().table_name(), column.as_str());
        let sql = sql(("find", table, column), || format!("SELECT * FROM \"{table}\" WHERE \"{column}\" = ?1"));
        let mut statement = self.prepare_cached(&sql).map_err(sqlite_error)?;
        let columns = serde_rusqlite::columns_from_statement(&statement);
        let mut found = Vec::new();
        for key in keys {
            let mut rows = statement.query([key]).map_err(sqlite_error)?;
            while let Some(row) = rows.next().map_err(sqlite_error)? {
                found.push(serde_rusqlite::from_row_with_columns::<E::Model>(row, &columns).map_err(serde_error)?);
            }
        }
        Ok(found)
    }

    async fn orders_on_topics(
        &self,
        customer_ids: &[String],
        topics: &[String],
        since: i64,
    ) -> Result<Vec<work_order::Model>, DbErr> {
        let topics: HashSet<&str> = topics.iter().map(String::as_str).collect();
        let mut statement = self
            .prepare_cached("SELECT * FROM work_order WHERE customer_id = ?1 AND opened_at >= ?2")
            .map_err(sqlite_error)?;
        let columns = serde_rusqlite::columns_from_statement(&statement);
        let mut found = Vec::new();
        for customer_id in customer_ids {
            let mut rows = statement.query(rusqlite::params![customer_id, since]).map_err(sqlite_error)?;
            while let Some(row) = rows.next().map_err(sqlite_error)? {
                let order =
                    serde_rusqlite::from_row_with_columns::<work_order::Model>(row, &columns).map_err(serde_error)?;
                if order.topic.as_deref().is_some_and(|topic| topics.contains(topic)) {
                    found.push(order);
                }
            }
        }
        Ok(found)
    }

    async fn complaint_times(
        &self,
        customer_ids: &[String],
        from: i64,
        to: i64,
    ) -> Result<HashMap<String, Vec<i64>>, DbErr> {
        let mut statement = self
            .prepare_cached(
                "SELECT occurred_at FROM contact WHERE customer_id = ?1 AND contact_type = ?2 \
                 AND occurred_at BETWEEN ?3 AND ?4 ORDER BY occurred_at",
            )
            .map_err(sqlite_error)?;
        let mut found = HashMap::new();
        for customer_id in customer_ids {
            let times = statement
                .query_map(rusqlite::params![customer_id, ContactType::Complaint.as_str_name(), from, to], |row| {
                    row.get::<_, i64>(0)
                })
                .map_err(sqlite_error)?
                .collect::<Result<Vec<i64>, _>>()
                .map_err(sqlite_error)?;
            if !times.is_empty() {
                found.insert(customer_id.clone(), times);
            }
        }
        Ok(found)
    }

    async fn upsert_customers(&self, rows: Vec<customer::Model>) -> Result<(), DbErr> {
        let upsert = || {
            let updates: Vec<String> =
                CUSTOMER_UPDATES.iter().map(|column| format!("\"{0}\" = excluded.\"{0}\"", column.as_str())).collect();
            format!("{} ON CONFLICT (\"id\") DO UPDATE SET {}", insert_sql::<customer::Entity>(), updates.join(", "))
        };
        write_rows::<customer::Entity>(self, ("upsert", customer::Entity.table_name(), "id"), upsert, rows)
    }

    async fn insert<E: Table>(&self, rows: Vec<E::Model>) -> Result<(), DbErr> {
        write_rows::<E>(self, ("insert", E::default().table_name(), ""), insert_sql::<E>, rows)
    }

    async fn reopen(&self, orders: Vec<work_order::Model>) -> Result<(), DbErr> {
        if orders.is_empty() {
            return Ok(());
        }
        let mut statement = self
            .prepare_cached("UPDATE work_order SET status = ?2, reopen_count = ?3, reopened_at = ?4 WHERE id = ?1")
            .map_err(sqlite_error)?;
        for order in orders {
            statement
                .execute(rusqlite::params![order.id, order.status, order.reopen_count, order.reopened_at])
                .map_err(sqlite_error)?;
        }
        Ok(())
    }
}

/// `INSERT INTO e (every column) VALUES (?1, ...)`, the columns in the entity's order.
fn insert_sql<E: Table>() -> String {
    let columns = column_names::<E>();
    let names: Vec<String> = columns.iter().map(|name| format!("\"{name}\"")).collect();
    let params: Vec<String> = (1..=columns.len()).map(|n| format!("?{n}")).collect();
    format!("INSERT INTO \"{}\" ({}) VALUES ({})", E::default().table_name(), names.join(", "), params.join(", "))
}

/// Runs the statement `key` names (its text made by `build`, once per thread) once per row, binding
/// the row's values by position in the entity's column order: a row's values are moved out of it,
/// not copied, and no parameter is looked up by name. No rows, no statement and no text.
fn write_rows<E: Table>(
    txn: &Transaction<'_>,
    key: SqlKey,
    build: impl FnOnce() -> String,
    rows: Vec<E::Model>,
) -> Result<(), DbErr> {
    if rows.is_empty() {
        return Ok(());
    }
    let mut statement = txn.prepare_cached(&sql(key, build)).map_err(sqlite_error)?;
    let columns: Vec<E::Column> = E::Column::iter().collect();
    for row in rows {
        let mut row = row.into_active_model();
        let values =
            columns.iter().map(|column| sql_value(row.take(*column).into_value())).collect::<Result<Vec<_>, _>>()?;
        statement.execute(rusqlite::params_from_iter(values)).map_err(sqlite_error)?;
    }
    Ok(())
}

/// A column's value as SQLite stores it; `None` (a column the row does not set) is NULL.
fn sql_value(value: Option<Value>) -> Result<SqlValue, DbErr> {
    fn or_null<T>(value: Option<T>, into: impl FnOnce(T) -> SqlValue) -> SqlValue {
        value.map_or(SqlValue::Null, into)
    }
    Ok(match value {
        None => SqlValue::Null,
        Some(Value::Bool(v)) => or_null(v, |v| SqlValue::Integer(v.into())),
        Some(Value::TinyInt(v)) => or_null(v, |v| SqlValue::Integer(v.into())),
        Some(Value::SmallInt(v)) => or_null(v, |v| SqlValue::Integer(v.into())),
        Some(Value::Int(v)) => or_null(v, |v| SqlValue::Integer(v.into())),
        Some(Value::BigInt(v)) => or_null(v, SqlValue::Integer),
        Some(Value::TinyUnsigned(v)) => or_null(v, |v| SqlValue::Integer(v.into())),
        Some(Value::SmallUnsigned(v)) => or_null(v, |v| SqlValue::Integer(v.into())),
        Some(Value::Unsigned(v)) => or_null(v, |v| SqlValue::Integer(v.into())),
        Some(Value::Float(v)) => or_null(v, |v| SqlValue::Real(v.into())),
        Some(Value::Double(v)) => or_null(v, SqlValue::Real),
        Some(Value::String(v)) => or_null(v, SqlValue::Text),
        Some(Value::Bytes(v)) => or_null(v, SqlValue::Blob),
        Some(other) => return Err(DbErr::Type(format!("no SQLite form for {other:?}"))),
    })
}
