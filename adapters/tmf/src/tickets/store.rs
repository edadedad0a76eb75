//! Reading and writing tickets.

use sea_orm::{
    ActiveModelTrait,
    ActiveValue::{Set, Unchanged},
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, Select,
    sea_query::OnConflict,
};

use crate::store::entity::ticket::{self, Column, Entity};

pub async fn find(db: &impl ConnectionTrait, id: &str) -> Result<Option<ticket::Model>, DbErr> {
    Entity::find_by_id(id.to_string()).one(db).await
}

pub async fn find_by_external_id(db: &impl ConnectionTrait, external: &str) -> Result<Option<ticket::Model>, DbErr> {
    Entity::find().filter(Column::ExternalId.eq(external)).one(db).await
}

/// Inserts `row` unless a ticket with its id exists (recovery's feed made it meanwhile); whether it
/// was inserted.
pub async fn insert_new(db: &impl ConnectionTrait, row: ticket::Model) -> Result<bool, DbErr> {
    let inserted = Entity::insert(ticket::ActiveModel::from(row).reset_all())
        .on_conflict(OnConflict::column(Column::Id).do_nothing().to_owned())
        .exec_without_returning(db)
        .await?;
    Ok(inserted > 0)
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
    save_attributes(db, &stored).await?;
    Ok(stored)
}

/// Writes the attributes callers own (TMF621's own: severity, type, name, description, priority,
/// requested date, notes, external id) and nothing recovery's feed writes, so a change through the
/// API and a change learned from the feed never undo each other.
pub async fn save_attributes(db: &impl ConnectionTrait, row: &ticket::Model) -> Result<(), DbErr> {
    let active = ticket::ActiveModel {
        id: Unchanged(row.id.clone()),
        external_id: Set(row.external_id.clone()),
        severity: Set(row.severity.clone()),
        ticket_type: Set(row.ticket_type.clone()),
        name: Set(row.name.clone()),
        description: Set(row.description.clone()),
        priority: Set(row.priority.clone()),
        requested_resolution_at: Set(row.requested_resolution_at),
        notes: Set(row.notes.clone()),
        updated_at: Set(row.updated_at),
        ..Default::default()
    };
    Entity::update(active).exec(db).await.map(drop)
}

/// Writes what recovery's feed tells of the ticket's case (status, dates, department, case and
/// problem) and nothing a caller owns.
pub async fn save_case_view(db: &impl ConnectionTrait, row: &ticket::Model) -> Result<(), DbErr> {
    let active = ticket::ActiveModel {
        id: Unchanged(row.id.clone()),
        case_name: Set(row.case_name.clone()),
        status: Set(row.status.clone()),
        status_changed_at: Set(row.status_changed_at),
        status_change_reason: Set(row.status_change_reason.clone()),
        department: Set(row.department.clone()),
        expected_resolution_at: Set(row.expected_resolution_at),
        resolved_at: Set(row.resolved_at),
        service_problem: Set(row.service_problem.clone()),
        updated_at: Set(row.updated_at),
        ..Default::default()
    };
    Entity::update(active).exec(db).await.map(drop)
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
