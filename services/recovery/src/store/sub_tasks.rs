//! Sub-tasks: help the owner of a case asked another department for.

use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DbErr, EntityTrait, IntoActiveModel, JoinType, QueryFilter, QueryOrder,
    QuerySelect, RelationDef, sea_query::Expr,
};

use super::{case, sub_task};

pub async fn insert(db: &impl ConnectionTrait, row: sub_task::Model) -> Result<(), DbErr> {
    sub_task::Entity::insert(row.into_active_model()).exec_without_returning(db).await?;
    Ok(())
}

pub async fn by_id(db: &impl ConnectionTrait, id: &str) -> Result<Option<sub_task::Model>, DbErr> {
    sub_task::Entity::find_by_id(id.to_string()).one(db).await
}

pub async fn by_request(
    db: &impl ConnectionTrait,
    case_id: &str,
    request_id: &str,
) -> Result<Option<sub_task::Model>, DbErr> {
    sub_task::Entity::find()
        .filter(sub_task::Column::CaseId.eq(case_id))
        .filter(sub_task::Column::RequestId.eq(request_id))
        .one(db)
        .await
}

/// The case `id` with its sub-tasks, oldest first, in one query (a case is read this way before
/// each change, and the sub-tasks are part of the answer).
pub async fn case_with_sub_tasks(
    db: &impl ConnectionTrait,
    id: &str,
) -> Result<Option<(case::Model, Vec<sub_task::Model>)>, DbErr> {
    let of_case = sub_task::Entity::belongs_to(case::Entity).from(sub_task::Column::CaseId).to(case::Column::Id);
    let rows = case::Entity::find_by_id(id.to_string())
        .select_also(sub_task::Entity)
        .join(JoinType::LeftJoin, RelationDef::from(of_case).rev())
        .order_by_asc(sub_task::Column::CreatedAt)
        .order_by_asc(sub_task::Column::Id)
        .all(db)
        .await?;
    let mut rows = rows.into_iter();
    let Some((case, first)) = rows.next() else {
        return Ok(None);
    };
    let tasks = first.into_iter().chain(rows.filter_map(|(_, task)| task)).collect();
    Ok(Some((case, tasks)))
}

/// Marks a sub-task done; false when it already was.
pub async fn complete(db: &impl ConnectionTrait, id: &str, reply: &str, by: &str, at: i64) -> Result<bool, DbErr> {
    let result = sub_task::Entity::update_many()
        .col_expr(sub_task::Column::CompletedAt, Expr::value(at))
        .col_expr(sub_task::Column::Reply, Expr::value(reply))
        .col_expr(sub_task::Column::CompletedBy, Expr::value(by))
        .filter(sub_task::Column::Id.eq(id))
        .filter(sub_task::Column::CompletedAt.is_null())
        .exec(db)
        .await?;
    Ok(result.rows_affected == 1)
}

/// A department's sub-tasks by deadline, strictly after `after`.
pub async fn queue(
    db: &impl ConnectionTrait,
    department: Option<&str>,
    include_completed: bool,
    after: Option<(i64, String)>,
    limit: u64,
) -> Result<Vec<sub_task::Model>, DbErr> {
    let mut query = sub_task::Entity::find();
    if let Some(department) = department {
        query = query.filter(sub_task::Column::Department.eq(department));
    }
    if !include_completed {
        query = query.filter(sub_task::Column::CompletedAt.is_null());
    }
    if let Some((deadline, id)) = after {
        query = query.filter(
            Condition::any()
                .add(sub_task::Column::Deadline.gt(deadline))
                .add(Condition::all().add(sub_task::Column::Deadline.eq(deadline)).add(sub_task::Column::Id.gt(id))),
        );
    }
    query.order_by_asc(sub_task::Column::Deadline).order_by_asc(sub_task::Column::Id).limit(limit).all(db).await
}
