//! [`Store`] on a PostgreSQL connection of the driver's own: reads by key taking the batch's keys
//! as one array, and every write gathered into the one statement the batch sends with its feed
//! events ([`Writes`]), but for a table taking many rows, which go by `COPY` at once. Every
//! statement has one shape whatever the batch's size, so each is prepared once per connection, and
//! the server neither plans nor binds per row.
//!
//! Each read is written as one index probe per key ([`csm_kit::bulk::rows_by_key_sql`] says why).
//! The group commit's transaction keeps each statement's plan, made with sequential scans and hash
//! and merge joins off so that a plan made while a table was empty still probes its index, see
//! [`csm_kit::group_commit::PostgresBatchWriter`].

use std::collections::HashMap;

use csm_kit::{
    bulk::{Writes, copy_in, rows_by_key_sql},
    db::postgres_error,
};
use csm_proto::intake::v1::ContactType;
use sea_orm::{
    DbErr, FromQueryResult, IdenStatic, QueryResult,
    sqlx::{PgConnection, postgres::PgRow},
};
use tokio::sync::Mutex;

use super::store_ops::{CUSTOMER_UPDATES, Store, Table};
use crate::store::{customer, work_order};

/// Rows of one table from which a batch streams them with `COPY` rather than adding them to its
/// one statement: an array costs PostgreSQL more per row than `COPY`'s text (about 1 µs, +12 % of
/// its CPU per contact during an ingest of 1,000-contact batches), and `COPY` costs two round
/// trips (docs/performance.md).
const COPY_FROM_ROWS: usize = 512;

/// The batch's transaction. [`Store`] reads and writes through a shared reference; the connection
/// takes one statement at a time, so it sits behind a lock no one else contends for.
pub struct PostgresStore<'c> {
    txn: Mutex<&'c mut PgConnection>,
    writes: std::sync::Mutex<&'c mut Writes>,
}

impl<'c> PostgresStore<'c> {
    pub fn new(txn: &'c mut PgConnection, writes: &'c mut Writes) -> Self {
        Self { txn: Mutex::new(txn), writes: std::sync::Mutex::new(writes) }
    }

    /// The batch's writes, to add to; never held across an `await`.
    fn writes(&self) -> std::sync::MutexGuard<'_, &'c mut Writes> {
        // A panic while adding to them fails the batch anyway; what they hold is dropped with it.
        self.writes.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    async fn fetch<M: FromQueryResult>(
        &self,
        query: sea_orm::sqlx::query::Query<'_, sea_orm::sqlx::Postgres, sea_orm::sqlx::postgres::PgArguments>,
    ) -> Result<Vec<M>, DbErr> {
        let mut txn = self.txn.lock().await;
        let rows: Vec<PgRow> = query.fetch_all(&mut **txn).await.map_err(postgres_error)?;
        rows.into_iter().map(|row| M::from_query_result(&QueryResult::from(row), "")).collect()
    }
}

impl Store for PostgresStore<'_> {
    async fn find<E: Table>(&self, column: E::Column, keys: &[String]) -> Result<Vec<E::Model>, DbErr> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        // A key given twice would find its row twice.
        let mut keys: Vec<&str> = keys.iter().map(String::as_str).collect();
        keys.sort_unstable();
        keys.dedup();
        let sql = rows_by_key_sql(E::default().table_name(), column.as_str());
        self.fetch(sea_orm::sqlx::query(sea_orm::sqlx::AssertSqlSafe(sql)).bind(keys)).await
    }

    async fn orders_on_topics(
        &self,
        customer_ids: &[String],
        topics: &[String],
        since: i64,
    ) -> Result<Vec<work_order::Model>, DbErr> {
        if customer_ids.is_empty() || topics.is_empty() {
            return Ok(Vec::new());
        }
        // The topics are checked on the few orders each customer has: inside the probe, each
        // customer would be a descent of the index per topic.
        let query = sea_orm::sqlx::query(
            "SELECT o.* FROM (SELECT unnest($1::text[])) AS c(id) CROSS JOIN LATERAL (SELECT * FROM work_order \
             WHERE customer_id = c.id AND opened_at >= $2 OFFSET 0) AS o WHERE o.topic = ANY($3)",
        );
        self.fetch(query.bind(customer_ids).bind(since).bind(topics)).await
    }

    async fn complaint_times(
        &self,
        customer_ids: &[String],
        from: i64,
        to: i64,
    ) -> Result<HashMap<String, Vec<i64>>, DbErr> {
        let mut found: HashMap<String, Vec<i64>> = HashMap::new();
        if customer_ids.is_empty() {
            return Ok(found);
        }
        let rows: Vec<(String, i64)> = sea_orm::sqlx::query_as(
            "SELECT c.id, t.occurred_at FROM (SELECT unnest($1::text[])) AS c(id) CROSS JOIN LATERAL \
             (SELECT occurred_at FROM contact WHERE customer_id = c.id AND contact_type = $2 \
             AND occurred_at BETWEEN $3 AND $4 OFFSET 0) AS t ORDER BY t.occurred_at",
        )
        .bind(customer_ids)
        .bind(ContactType::Complaint.as_str_name())
        .bind(from)
        .bind(to)
        .fetch_all(&mut **self.txn.lock().await)
        .await
        .map_err(postgres_error)?;
        for (customer_id, at) in rows {
            found.entry(customer_id).or_default().push(at);
        }
        Ok(found)
    }

    async fn upsert_customers(&self, rows: Vec<customer::Model>) -> Result<(), DbErr> {
        self.writes().upsert::<customer::Entity>(rows, customer::Column::Id, &CUSTOMER_UPDATES)
    }

    async fn insert<E: Table>(&self, rows: Vec<E::Model>) -> Result<(), DbErr> {
        if rows.len() >= COPY_FROM_ROWS {
            copy_in::<E>(&mut **self.txn.lock().await, rows).await?;
            return Ok(());
        }
        self.writes().insert::<E>(rows)
    }

    async fn reopen(&self, orders: Vec<work_order::Model>) -> Result<(), DbErr> {
        use work_order::Column;
        self.writes().update::<work_order::Entity>(
            orders,
            Column::Id,
            &[Column::Status, Column::ReopenCount, Column::ReopenedAt],
        )
    }
}
