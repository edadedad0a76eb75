//! Remediation programmes (整改) and their actions.

use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DbErr, EntityTrait, IntoActiveModel, QueryFilter, QueryOrder, QuerySelect,
    sea_query::Expr,
};

use super::{programme, programme_action};

pub async fn insert(
    db: &impl ConnectionTrait,
    row: programme::Model,
    actions: Vec<programme_action::Model>,
) -> Result<(), DbErr> {
    programme::Entity::insert(row.into_active_model()).exec_without_returning(db).await?;
    programme_action::Entity::insert_many(actions.into_iter().map(IntoActiveModel::into_active_model))
        .exec_without_returning(db)
        .await?;
    Ok(())
}

pub async fn by_id(db: &impl ConnectionTrait, id: &str) -> Result<Option<programme::Model>, DbErr> {
    programme::Entity::find_by_id(id.to_string()).one(db).await
}

pub async fn by_request(db: &impl ConnectionTrait, request_id: &str) -> Result<Option<programme::Model>, DbErr> {
    programme::Entity::find().filter(programme::Column::RequestId.eq(request_id)).one(db).await
}

pub async fn actions_of(db: &impl ConnectionTrait, id: &str) -> Result<Vec<programme_action::Model>, DbErr> {
    programme_action::Entity::find()
        .filter(programme_action::Column::ProgrammeId.eq(id))
        .order_by_asc(programme_action::Column::Position)
        .all(db)
        .await
}

/// Marks one action done; false when it already was.
pub async fn complete_action(
    db: &impl ConnectionTrait,
    id: &str,
    position: i32,
    note: &str,
    by: &str,
    at: i64,
) -> Result<bool, DbErr> {
    let result = programme_action::Entity::update_many()
        .col_expr(programme_action::Column::CompletedAt, Expr::value(at))
        .col_expr(programme_action::Column::CompletedBy, Expr::value(by))
        .col_expr(programme_action::Column::Note, Expr::value(note))
        .filter(programme_action::Column::ProgrammeId.eq(id))
        .filter(programme_action::Column::Position.eq(position))
        .filter(programme_action::Column::CompletedAt.is_null())
        .exec(db)
        .await?;
    Ok(result.rows_affected == 1)
}

/// Moves an open programme to `status`; false when it was not open any more.
pub async fn finish(db: &impl ConnectionTrait, id: &str, open: &str, status: &str, at: i64) -> Result<bool, DbErr> {
    let result = programme::Entity::update_many()
        .col_expr(programme::Column::Status, Expr::value(status))
        .col_expr(programme::Column::CompletedAt, Expr::value(at))
        .filter(programme::Column::Id.eq(id))
        .filter(programme::Column::Status.eq(open))
        .exec(db)
        .await?;
    Ok(result.rows_affected == 1)
}

/// Raises an open programme's escalation level from `from` to `to`; false when it moved meanwhile.
pub async fn escalate(db: &impl ConnectionTrait, id: &str, from: i32, to: i32) -> Result<bool, DbErr> {
    let result = programme::Entity::update_many()
        .col_expr(programme::Column::EscalationLevel, Expr::value(to))
        .filter(programme::Column::Id.eq(id))
        .filter(programme::Column::EscalationLevel.eq(from))
        .exec(db)
        .await?;
    Ok(result.rows_affected == 1)
}

#[derive(Debug, Clone, Default)]
pub struct ProgrammeFilter {
    pub owner_department: Option<String>,
    pub status: Option<String>,
    pub leaf: Option<String>,
}

/// By deadline, strictly after `after`.
pub async fn list(
    db: &impl ConnectionTrait,
    filter: &ProgrammeFilter,
    after: Option<(i64, String)>,
    limit: u64,
) -> Result<Vec<programme::Model>, DbErr> {
    let mut query = programme::Entity::find();
    if let Some(department) = &filter.owner_department {
        query = query.filter(programme::Column::OwnerDepartment.eq(department.as_str()));
    }
    if let Some(status) = &filter.status {
        query = query.filter(programme::Column::Status.eq(status.as_str()));
    }
    if let Some(leaf) = &filter.leaf {
        query = query.filter(programme::Column::Leaf.eq(leaf.as_str()));
    }
    if let Some((deadline, id)) = after {
        query = query.filter(
            Condition::any()
                .add(programme::Column::Deadline.gt(deadline))
                .add(Condition::all().add(programme::Column::Deadline.eq(deadline)).add(programme::Column::Id.gt(id))),
        );
    }
    query.order_by_asc(programme::Column::Deadline).order_by_asc(programme::Column::Id).limit(limit).all(db).await
}

/// Open programmes past their deadline before `before`, below escalation `level`.
pub async fn overdue(
    db: &impl ConnectionTrait,
    open: &str,
    before: i64,
    below_level: i32,
    limit: u64,
) -> Result<Vec<programme::Model>, DbErr> {
    programme::Entity::find()
        .filter(programme::Column::Status.eq(open))
        .filter(programme::Column::Deadline.lt(before))
        .filter(programme::Column::EscalationLevel.lt(below_level))
        .order_by_asc(programme::Column::Deadline)
        .limit(limit)
        .all(db)
        .await
}
