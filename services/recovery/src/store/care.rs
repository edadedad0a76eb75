//! Care tasks: proactive care of predicted dissatisfaction, and detractor follow-ups.

use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DbErr, EntityTrait, IntoActiveModel, QueryFilter, QueryOrder, QuerySelect,
    sea_query::Expr,
};

use csm_proto::{StoredEnum, recovery::v1::CareReason};

use super::care_task;

pub async fn insert(db: &impl ConnectionTrait, row: care_task::Model) -> Result<(), DbErr> {
    care_task::Entity::insert(row.into_active_model()).exec_without_returning(db).await?;
    Ok(())
}

pub async fn by_id(db: &impl ConnectionTrait, id: &str) -> Result<Option<care_task::Model>, DbErr> {
    care_task::Entity::find_by_id(id.to_string()).one(db).await
}

/// The customer's predicted-risk care task still open, if any.
pub async fn open_predicted_for(
    db: &impl ConnectionTrait,
    phone_number: &str,
) -> Result<Option<care_task::Model>, DbErr> {
    care_task::Entity::find()
        .filter(care_task::Column::PhoneNumber.eq(phone_number))
        .filter(care_task::Column::Reason.eq(CareReason::PredictedRisk.stored()))
        .filter(care_task::Column::CompletedAt.is_null())
        .one(db)
        .await
}

pub async fn mark_recovered(db: &impl ConnectionTrait, id: &str, at: i64) -> Result<(), DbErr> {
    care_task::Entity::update_many()
        .col_expr(care_task::Column::RecoverAt, Expr::value(at))
        .filter(care_task::Column::Id.eq(id))
        .exec(db)
        .await?;
    Ok(())
}

/// Refreshes an open task with a newer prediction.
pub async fn refresh(
    db: &impl ConnectionTrait,
    id: &str,
    score: f64,
    factors: &str,
    model_version: &str,
) -> Result<(), DbErr> {
    care_task::Entity::update_many()
        .col_expr(care_task::Column::RiskScore, Expr::value(score))
        .col_expr(care_task::Column::Factors, Expr::value(factors))
        .col_expr(care_task::Column::ModelVersion, Expr::value(model_version))
        .filter(care_task::Column::Id.eq(id))
        .exec(db)
        .await?;
    Ok(())
}

/// The outcome of a task as recorded.
#[derive(Debug, Clone, Copy)]
pub struct Completion<'a> {
    pub outcome: &'a str,
    pub note: &'a str,
    pub by: &'a str,
    pub at: i64,
    pub follow_up_at: Option<i64>,
}

/// Records the outcome of an open task; false when it was already done.
pub async fn complete(db: &impl ConnectionTrait, id: &str, done: Completion<'_>) -> Result<bool, DbErr> {
    let result = care_task::Entity::update_many()
        .col_expr(care_task::Column::Outcome, Expr::value(done.outcome))
        .col_expr(care_task::Column::Note, Expr::value(done.note))
        .col_expr(care_task::Column::CompletedBy, Expr::value(done.by))
        .col_expr(care_task::Column::CompletedAt, Expr::value(done.at))
        .col_expr(care_task::Column::FollowUpAt, Expr::value(done.follow_up_at))
        .filter(care_task::Column::Id.eq(id))
        .filter(care_task::Column::CompletedAt.is_null())
        .exec(db)
        .await?;
    Ok(result.rows_affected == 1)
}

#[derive(Debug, Clone, Default)]
pub struct CareFilter {
    pub department: Option<String>,
    pub include_completed: bool,
    pub phone_number: Option<String>,
    /// The CareReason name.
    pub reason: Option<String>,
}

/// By time opened, strictly after `after`.
pub async fn list(
    db: &impl ConnectionTrait,
    filter: &CareFilter,
    after: Option<(i64, String)>,
    limit: u64,
) -> Result<Vec<care_task::Model>, DbErr> {
    let mut query = care_task::Entity::find();
    if let Some(department) = &filter.department {
        query = query.filter(care_task::Column::Department.eq(department.as_str()));
    }
    if !filter.include_completed {
        query = query.filter(care_task::Column::CompletedAt.is_null());
    }
    if let Some(phone) = &filter.phone_number {
        query = query.filter(care_task::Column::PhoneNumber.eq(phone.as_str()));
    }
    if let Some(reason) = &filter.reason {
        query = query.filter(care_task::Column::Reason.eq(reason.as_str()));
    }
    if let Some((at, id)) = after {
        query = query.filter(
            Condition::any()
                .add(care_task::Column::CreatedAt.gt(at))
                .add(Condition::all().add(care_task::Column::CreatedAt.eq(at)).add(care_task::Column::Id.gt(id))),
        );
    }
    query.order_by_asc(care_task::Column::CreatedAt).order_by_asc(care_task::Column::Id).limit(limit).all(db).await
}
