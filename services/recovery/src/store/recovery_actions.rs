//! Service-recovery actions (服务补救) per customer.

use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DbErr, EntityTrait, IntoActiveModel, QueryFilter,
    QueryOrder, QuerySelect,
};

use super::recovery_action;

pub async fn insert(db: &impl ConnectionTrait, row: recovery_action::Model) -> Result<(), DbErr> {
    recovery_action::Entity::insert(row.into_active_model()).exec_without_returning(db).await?;
    Ok(())
}

pub async fn by_id(db: &impl ConnectionTrait, id: &str) -> Result<Option<recovery_action::Model>, DbErr> {
    recovery_action::Entity::find_by_id(id.to_string()).one(db).await
}

pub async fn by_request(db: &impl ConnectionTrait, request_id: &str) -> Result<Option<recovery_action::Model>, DbErr> {
    recovery_action::Entity::find().filter(recovery_action::Column::RequestId.eq(request_id)).one(db).await
}

/// Writes `row` if the action is still in `expected_status`; false when it was changed meanwhile.
pub async fn save_from(
    db: &impl ConnectionTrait,
    expected_status: &str,
    row: recovery_action::Model,
) -> Result<bool, DbErr> {
    save_if(db, expected_status, None, row).await
}

/// [`save_from`], also on the condition that the first approval is still as `first_approver`
/// was read, so two approvers deciding at once cannot both count as the first.
pub async fn save_decision(
    db: &impl ConnectionTrait,
    expected_status: &str,
    first_approver: Option<&str>,
    row: recovery_action::Model,
) -> Result<bool, DbErr> {
    save_if(db, expected_status, Some(first_approver), row).await
}

async fn save_if(
    db: &impl ConnectionTrait,
    expected_status: &str,
    first_approver: Option<Option<&str>>,
    row: recovery_action::Model,
) -> Result<bool, DbErr> {
    let id = row.id.clone();
    let mut model = row.into_active_model().reset_all();
    model.id = sea_orm::ActiveValue::NotSet;
    let mut update = recovery_action::Entity::update_many()
        .set(model)
        .filter(recovery_action::Column::Id.eq(id))
        .filter(recovery_action::Column::Status.eq(expected_status));
    update = match first_approver {
        None => update,
        Some(None) => update.filter(recovery_action::Column::FirstApprovedBy.is_null()),
        Some(Some(first)) => update.filter(recovery_action::Column::FirstApprovedBy.eq(first)),
    };
    Ok(update.exec(db).await?.rows_affected == 1)
}

/// Which actions a listing returns.
#[derive(Debug, Clone, Default)]
pub struct ActionFilter {
    pub phone_number: Option<String>,
    pub case_id: Option<String>,
    pub department: Option<String>,
}

/// Newest first, strictly before `before` (created_at, id).
pub async fn list(
    db: &impl ConnectionTrait,
    filter: &ActionFilter,
    before: Option<(i64, String)>,
    limit: u64,
) -> Result<Vec<recovery_action::Model>, DbErr> {
    let mut query = recovery_action::Entity::find();
    if let Some(phone) = &filter.phone_number {
        query = query.filter(recovery_action::Column::PhoneNumber.eq(phone.as_str()));
    }
    if let Some(case_id) = &filter.case_id {
        query = query.filter(recovery_action::Column::CaseId.eq(case_id.as_str()));
    }
    if let Some(department) = &filter.department {
        query = query.filter(recovery_action::Column::Department.eq(department.as_str()));
    }
    if let Some((at, id)) = before {
        query = query.filter(Condition::any().add(recovery_action::Column::CreatedAt.lt(at)).add(
            Condition::all().add(recovery_action::Column::CreatedAt.eq(at)).add(recovery_action::Column::Id.lt(id)),
        ));
    }
    query
        .order_by_desc(recovery_action::Column::CreatedAt)
        .order_by_desc(recovery_action::Column::Id)
        .limit(limit)
        .all(db)
        .await
}
