//! The reads a batch needs before it can decide anything, each one query per (chunk of a) batch,
//! never one per item.

use std::collections::HashMap;

use csm_proto::intake::v1::ContactType;
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

use crate::store::{contact, customer, work_order};

/// Keys per `IN (...)` list: well under the bind limits of SQLite and PostgreSQL.
const CHUNK: usize = 500;

fn chunks(keys: &[String]) -> impl Iterator<Item = Vec<String>> + '_ {
    keys.chunks(CHUNK).map(<[String]>::to_vec)
}

/// Rows of entity `E` stored under any of these request ids, by request id.
pub async fn by_request<E>(
    db: &impl ConnectionTrait,
    column: E::Column,
    request_ids: &[String],
    request_id_of: fn(&E::Model) -> Option<&String>,
) -> Result<HashMap<String, E::Model>, DbErr>
where
    E: EntityTrait,
    E::Model: Send + Sync,
{
    let mut found = HashMap::new();
    for chunk in chunks(request_ids) {
        for row in E::find().filter(column.is_in(chunk)).all(db).await? {
            if let Some(request_id) = request_id_of(&row).cloned() {
                found.insert(request_id, row);
            }
        }
    }
    Ok(found)
}

pub async fn work_orders(
    db: &impl ConnectionTrait,
    ids: &[String],
) -> Result<HashMap<String, work_order::Model>, DbErr> {
    let mut found = HashMap::new();
    for chunk in chunks(ids) {
        for row in work_order::Entity::find().filter(work_order::Column::Id.is_in(chunk)).all(db).await? {
            found.insert(row.id.clone(), row);
        }
    }
    Ok(found)
}

pub async fn customers_by_phone(
    db: &impl ConnectionTrait,
    phones: &[String],
) -> Result<HashMap<String, customer::Model>, DbErr> {
    let mut found = HashMap::new();
    for chunk in chunks(phones) {
        for row in customer::Entity::find().filter(customer::Column::PhoneNumber.is_in(chunk)).all(db).await? {
            found.insert(row.phone_number.clone(), row);
        }
    }
    Ok(found)
}

/// Orders of these customers on these topics opened at or after `since`: what new orders may
/// repeat.
pub async fn orders_on_topics(
    db: &impl ConnectionTrait,
    customer_ids: &[String],
    topics: &[String],
    since: i64,
) -> Result<Vec<work_order::Model>, DbErr> {
    let mut found = Vec::new();
    for chunk in chunks(customer_ids) {
        let rows = work_order::Entity::find()
            .filter(work_order::Column::CustomerId.is_in(chunk))
            .filter(work_order::Column::Topic.is_in(topics.to_vec()))
            .filter(work_order::Column::OpenedAt.gte(since))
            .all(db)
            .await?;
        found.extend(rows);
    }
    Ok(found)
}

/// Complaint times of these customers within `[from, to]`, per customer, ascending.
pub async fn complaint_times(
    db: &impl ConnectionTrait,
    customer_ids: &[String],
    from: i64,
    to: i64,
) -> Result<HashMap<String, Vec<i64>>, DbErr> {
    let mut found: HashMap<String, Vec<i64>> = HashMap::new();
    for chunk in chunks(customer_ids) {
        let rows: Vec<(String, i64)> = contact::Entity::find()
            .select_only()
            .column(contact::Column::CustomerId)
            .column(contact::Column::OccurredAt)
            .filter(contact::Column::CustomerId.is_in(chunk))
            .filter(contact::Column::ContactType.eq(ContactType::Complaint.as_str_name()))
            .filter(contact::Column::OccurredAt.between(from, to))
            .order_by_asc(contact::Column::OccurredAt)
            .into_tuple()
            .all(db)
            .await?;
        for (customer_id, at) in rows {
            found.entry(customer_id).or_default().push(at);
        }
    }
    Ok(found)
}
