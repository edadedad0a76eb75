//! Reading and writing tickets.

use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect, Select,
};

use crate::store::entity::ticket::{self, Column, Entity};

pub async fn find(db: &impl ConnectionTrait, id: &str) -> Result<Option<ticket::Model>, DbErr> {
    Entity::find_by_id(id.to_string()).one(db).await
}

pub async fn find_by_external_id(db: &impl ConnectionTrait, external: &str) -> Result<Option<ticket::Model>, DbErr> {
    Entity::find().filter(Column::ExternalId.eq(external)).one(db).await
}

pub async fn insert(db: &impl ConnectionTrait, row: ticket::Model) -> Result<(), DbErr> {
    Entity::insert(ticket::ActiveModel::from(row).reset_all()).exec_without_returning(db).await.map(|_| ())
}

/// The TMF621 attributes a creator gave, onto a ticket recovery's feed already made (the case was
/// dispatched before the create call finished).
pub async fn adopt(
    db: &impl ConnectionTrait,
    mut stored: ticket::Model,
    created: ticket::Model,
) -> Result<ticket::Model, DbErr> {
    stored.external_id = created.external_id;
    stored.severity = created.severity;
    stored.ticket_type = created.ticket_type;
    stored.name = created.name;
    stored.description = created.description;
    stored.priority = created.priority;
    stored.requested_resolution_at = created.requested_resolution_at;
    stored.notes = created.notes;
    save(db, stored.clone()).await?;
    Ok(stored)
}

/// Writes every column of `row`.
pub async fn save(db: &impl ConnectionTrait, row: ticket::Model) -> Result<(), DbErr> {
    Entity::update(ticket::ActiveModel::from(row).reset_all()).exec(db).await.map(|_| ())
}

/// One page of a filtered listing, newest first, and how many tickets match in all.
pub async fn page(
    db: &impl ConnectionTrait,
    query: Select<Entity>,
    offset: u64,
    limit: u64,
) -> Result<(Vec<ticket::Model>, u64), DbErr> {
    let total = query.clone().count(db).await?;
    let rows =
        query.order_by_desc(Column::CreatedAt).order_by_desc(Column::Id).offset(offset).limit(limit).all(db).await?;
    Ok((rows, total))
}
