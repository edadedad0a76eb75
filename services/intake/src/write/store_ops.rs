//! The reads and writes a batch needs, behind a trait: through sea-orm in a pooled transaction
//! (an in-memory SQLite database), where each is one statement per (chunk of a) batch, never one
//! per item; on a synchronous SQLite connection ([`super::sqlite`]), where a prepared statement per
//! key or row costs less than building one large statement; or on a PostgreSQL connection of the
//! driver's own ([`super::postgres`]), with `COPY` and array parameters.

use std::collections::HashMap;

use csm_kit::bulk;
use csm_proto::intake::v1::ContactType;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, DatabaseTransaction, DbErr, EntityTrait, IntoActiveModel,
    QueryFilter, QueryOrder, QuerySelect, sea_query::OnConflict,
};
use serde::de::DeserializeOwned;

use crate::store::{contact, customer, work_order};

/// A table a batch reads by key and inserts into.
pub trait Table:
    EntityTrait<Model: DeserializeOwned + IntoActiveModel<Self::ActiveModel> + Send + Sync, ActiveModel: Send>
{
}

impl<E> Table for E
where
    E: EntityTrait<ActiveModel: Send>,
    E::Model: DeserializeOwned + IntoActiveModel<E::ActiveModel> + Send + Sync,
{
}

/// Where a batch is read from and written to: one transaction.
#[allow(async_fn_in_trait)] // Implemented and called within this crate only.
pub trait Store {
    /// Rows of `E` whose `column` (a key: unique, or indexed) holds one of `keys`.
    async fn find<E: Table>(&self, column: E::Column, keys: &[String]) -> Result<Vec<E::Model>, DbErr>;

    /// Orders of these customers on these topics opened at or after `since`: what new orders may
    /// repeat.
    async fn orders_on_topics(
        &self,
        customer_ids: &[String],
        topics: &[String],
        since: i64,
    ) -> Result<Vec<work_order::Model>, DbErr>;

    /// Complaint times of these customers within `[from, to]`, per customer, ascending.
    async fn complaint_times(
        &self,
        customer_ids: &[String],
        from: i64,
        to: i64,
    ) -> Result<HashMap<String, Vec<i64>>, DbErr>;

    /// Inserts customers, or updates everything but the id and phone number of those stored.
    async fn upsert_customers(&self, rows: Vec<customer::Model>) -> Result<(), DbErr>;

    async fn insert<E: Table>(&self, rows: Vec<E::Model>) -> Result<(), DbErr>;

    /// Stores reopened orders' status, reopen count and reopening time.
    async fn reopen(&self, orders: Vec<work_order::Model>) -> Result<(), DbErr>;
}

/// The customer columns an upsert updates.
pub const CUSTOMER_UPDATES: [customer::Column; 13] = [
    customer::Column::Segment,
    customer::Column::VipLevel,
    customer::Column::Region,
    customer::Column::Products,
    customer::Column::FirstContactAt,
    customer::Column::LastContactAt,
    customer::Column::LastComplaintAt,
    customer::Column::HfStatus,
    customer::Column::HfQualifiedAt,
    customer::Column::HfRule,
    customer::Column::HfWindowStart,
    customer::Column::HfWindowEnd,
    customer::Column::HfWindowComplaints,
];

impl Store for DatabaseTransaction {
    async fn find<E: Table>(&self, column: E::Column, keys: &[String]) -> Result<Vec<E::Model>, DbErr> {
        csm_kit::bulk::find_in(self, E::find(), column, keys).await
    }

    async fn orders_on_topics(
        &self,
        customer_ids: &[String],
        topics: &[String],
        since: i64,
    ) -> Result<Vec<work_order::Model>, DbErr> {
        let query = work_order::Entity::find()
            .filter(work_order::Column::Topic.is_in(csm_kit::bulk::padded(topics.to_vec())))
            .filter(work_order::Column::OpenedAt.gte(since));
        csm_kit::bulk::find_in(self, query, work_order::Column::CustomerId, customer_ids).await
    }

    async fn complaint_times(
        &self,
        customer_ids: &[String],
        from: i64,
        to: i64,
    ) -> Result<HashMap<String, Vec<i64>>, DbErr> {
        let mut found: HashMap<String, Vec<i64>> = HashMap::new();
        for chunk in csm_kit::bulk::in_lists(customer_ids) {
            let rows: Vec<(String, i64)> = contact::Entity::find()
                .select_only()
                .column(contact::Column::CustomerId)
                .column(contact::Column::OccurredAt)
                .filter(contact::Column::CustomerId.is_in(chunk))
                .filter(contact::Column::ContactType.eq(ContactType::Complaint.as_str_name()))
                .filter(contact::Column::OccurredAt.between(from, to))
                .order_by_asc(contact::Column::OccurredAt)
                .into_tuple()
                .all(self)
                .await?;
            for (customer_id, at) in rows {
                found.entry(customer_id).or_default().push(at);
            }
        }
        Ok(found)
    }

    async fn upsert_customers(&self, rows: Vec<customer::Model>) -> Result<(), DbErr> {
        let rows = rows.into_iter().map(|row| row.into_active_model().reset_all()).collect();
        let on_conflict = OnConflict::column(customer::Column::Id).update_columns(CUSTOMER_UPDATES).to_owned();
        bulk::upsert_all(self, rows, on_conflict).await?;
        Ok(())
    }

    async fn insert<E: Table>(&self, rows: Vec<E::Model>) -> Result<(), DbErr> {
        bulk::insert_all(self, rows.into_iter().map(|row| row.into_active_model().reset_all()).collect()).await
    }

    async fn reopen(&self, orders: Vec<work_order::Model>) -> Result<(), DbErr> {
        for order in orders {
            work_order::ActiveModel {
                id: Set(order.id),
                status: Set(order.status),
                reopen_count: Set(order.reopen_count),
                reopened_at: Set(order.reopened_at),
                ..Default::default()
            }
            .update(self)
            .await?;
        }
        Ok(())
    }
}
