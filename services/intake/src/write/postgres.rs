//! [`Store`] on a PostgreSQL connection of the driver's own: new rows streamed with `COPY`, the
//! customers' upsert as one `INSERT ... SELECT FROM UNNEST` of column arrays, and reads by key
//! taking the batch's keys as one array. Every statement has one shape whatever the batch's size,
//! so each is prepared once per connection, and the server neither plans nor binds per row.
//!
//! Each read is written as one index probe per key ([`csm_kit::bulk::rows_by_key_sql`] says why).
//! A plan cached while a table was empty is the other trap; the group commit's transaction plans
//! each statement afresh, see [`csm_kit::group_commit::PostgresBatchWriter`].

use std::collections::HashMap;

use csm_kit::{
    bulk::{copy_in, rows_by_key_sql},
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

/// The batch's transaction. [`Store`] reads and writes through a shared reference; the connection
/// takes one statement at a time, so it sits behind a lock no one else contends for.
pub struct PostgresStore<'c> {
    txn: Mutex<&'c mut PgConnection>,
}

impl<'c> PostgresStore<'c> {
    pub fn new(txn: &'c mut PgConnection) -> Self {
        Self { txn: Mutex::new(txn) }
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
            "SELECT o.* FROM UNNEST($1::text[]) AS c(id) CROSS JOIN LATERAL (SELECT * FROM work_order \
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
            "SELECT c.id, t.occurred_at FROM UNNEST($1::text[]) AS c(id) CROSS JOIN LATERAL \
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
        if rows.is_empty() {
            return Ok(());
        }
        let columns = Customers::from(rows);
        let mut txn = self.txn.lock().await;
        sea_orm::sqlx::query(sea_orm::sqlx::AssertSqlSafe(customer_upsert()))
            .bind(columns.id)
            .bind(columns.phone_number)
            .bind(columns.segment)
            .bind(columns.vip_level)
            .bind(columns.region)
            .bind(columns.products)
            .bind(columns.first_contact_at)
            .bind(columns.last_contact_at)
            .bind(columns.last_complaint_at)
            .bind(columns.hf_status)
            .bind(columns.hf_qualified_at)
            .bind(columns.hf_rule)
            .bind(columns.hf_window_start)
            .bind(columns.hf_window_end)
            .bind(columns.hf_window_complaints)
            .execute(&mut **txn)
            .await
            .map_err(postgres_error)?;
        Ok(())
    }

    async fn insert<E: Table>(&self, rows: Vec<E::Model>) -> Result<(), DbErr> {
        if rows.is_empty() {
            return Ok(());
        }
        copy_in::<E>(&mut **self.txn.lock().await, rows).await?;
        Ok(())
    }

    async fn reopen(&self, orders: Vec<work_order::Model>) -> Result<(), DbErr> {
        if orders.is_empty() {
            return Ok(());
        }
        // One statement for the batch's reopenings: each would otherwise be a round trip.
        let (mut ids, mut statuses, mut counts, mut times) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for order in orders {
            ids.push(order.id);
            statuses.push(order.status);
            counts.push(order.reopen_count);
            times.push(order.reopened_at);
        }
        sea_orm::sqlx::query(
            "UPDATE work_order AS o SET status = r.status, reopen_count = r.reopen_count, \
             reopened_at = r.reopened_at FROM UNNEST($1::text[], $2::text[], $3::int4[], $4::int8[]) \
             AS r(id, status, reopen_count, reopened_at) WHERE o.id = r.id",
        )
        .bind(ids)
        .bind(statuses)
        .bind(counts)
        .bind(times)
        .execute(&mut **self.txn.lock().await)
        .await
        .map_err(postgres_error)?;
        Ok(())
    }
}

/// `INSERT INTO customer ... SELECT FROM UNNEST(one array per column) ON CONFLICT (id) DO UPDATE`,
/// the columns in [`Customers`]' order.
fn customer_upsert() -> String {
    let updates: Vec<String> =
        CUSTOMER_UPDATES.iter().map(|column| format!("\"{0}\" = excluded.\"{0}\"", column.as_str())).collect();
    format!(
        "INSERT INTO customer (id, phone_number, segment, vip_level, region, products, first_contact_at, \
         last_contact_at, last_complaint_at, hf_status, hf_qualified_at, hf_rule, hf_window_start, hf_window_end, \
         hf_window_complaints) SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::int4[], $5::text[], \
         $6::text[], $7::int8[], $8::int8[], $9::int8[], $10::text[], $11::int8[], $12::text[], $13::int8[], \
         $14::int8[], $15::int8[]) ON CONFLICT (id) DO UPDATE SET {}",
        updates.join(", ")
    )
}

/// Customers column by column, each column one array parameter.
#[derive(Default)]
struct Customers {
    id: Vec<String>,
    phone_number: Vec<String>,
    segment: Vec<Option<String>>,
    vip_level: Vec<Option<i32>>,
    region: Vec<Option<String>>,
    products: Vec<Option<String>>,
    first_contact_at: Vec<i64>,
    last_contact_at: Vec<i64>,
    last_complaint_at: Vec<Option<i64>>,
    hf_status: Vec<String>,
    hf_qualified_at: Vec<Option<i64>>,
    hf_rule: Vec<Option<String>>,
    hf_window_start: Vec<Option<i64>>,
    hf_window_end: Vec<Option<i64>>,
    hf_window_complaints: Vec<Option<i64>>,
}

impl From<Vec<customer::Model>> for Customers {
    fn from(rows: Vec<customer::Model>) -> Self {
        let mut columns = Customers::default();
        for row in rows {
            // Destructured, so a column added to the table cannot be forgotten here.
            let customer::Model {
                id,
                phone_number,
                segment,
                vip_level,
                region,
                products,
                first_contact_at,
                last_contact_at,
                last_complaint_at,
                hf_status,
                hf_qualified_at,
                hf_rule,
                hf_window_start,
                hf_window_end,
                hf_window_complaints,
            } = row;
            columns.id.push(id);
            columns.phone_number.push(phone_number);
            columns.segment.push(segment);
            columns.vip_level.push(vip_level);
            columns.region.push(region);
            columns.products.push(products);
            columns.first_contact_at.push(first_contact_at);
            columns.last_contact_at.push(last_contact_at);
            columns.last_complaint_at.push(last_complaint_at);
            columns.hf_status.push(hf_status);
            columns.hf_qualified_at.push(hf_qualified_at);
            columns.hf_rule.push(hf_rule);
            columns.hf_window_start.push(hf_window_start);
            columns.hf_window_end.push(hf_window_end);
            columns.hf_window_complaints.push(hf_window_complaints);
        }
        columns
    }
}
