//! Closed loops of dissatisfied answers, and the customer facts used to choose how to reach them.

use csm_proto::{
    StoredEnum,
    recovery::v1::{CaseStatus, DetractorRoute},
};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, IntoActiveModel, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect, sea_query::OnConflict,
};

use super::{case, customer_flag, detractor};
use crate::lifecycle::UNANSWERED;

pub async fn insert(db: &impl ConnectionTrait, row: detractor::Model) -> Result<(), DbErr> {
    detractor::Entity::insert(row.into_active_model()).exec_without_returning(db).await?;
    Ok(())
}

pub async fn by_answer(db: &impl ConnectionTrait, survey_answer_id: &str) -> Result<Option<detractor::Model>, DbErr> {
    detractor::Entity::find_by_id(survey_answer_id.to_string()).one(db).await
}

pub async fn by_care_task(db: &impl ConnectionTrait, care_task_id: &str) -> Result<Option<detractor::Model>, DbErr> {
    detractor::Entity::find().filter(detractor::Column::CareTaskId.eq(care_task_id)).one(db).await
}

/// Loops of the customer answered before `before` that no later answer has recovered yet.
pub async fn unrecovered_before(
    db: &impl ConnectionTrait,
    phone_number: &str,
    before: i64,
) -> Result<Vec<detractor::Model>, DbErr> {
    detractor::Entity::find()
        .filter(detractor::Column::PhoneNumber.eq(phone_number))
        .filter(detractor::Column::RecoverAt.is_null())
        .filter(detractor::Column::AnsweredAt.lt(before))
        .all(db)
        .await
}

/// Loops that reopened `case_id` and are still open.
pub async fn open_on_case(db: &impl ConnectionTrait, case_id: &str) -> Result<Vec<detractor::Model>, DbErr> {
    detractor::Entity::find()
        .filter(detractor::Column::CaseId.eq(case_id))
        .filter(detractor::Column::Route.eq(DetractorRoute::ReopenedCase.stored()))
        .filter(detractor::Column::CloseAt.is_null())
        .all(db)
        .await
}

pub async fn save(db: &impl ConnectionTrait, row: detractor::Model) -> Result<(), DbErr> {
    detractor::Entity::update(row.into_active_model().reset_all()).exec(db).await?;
    Ok(())
}

/// Dissatisfied answers the customer gave before.
pub async fn count_for(db: &impl ConnectionTrait, phone_number: &str) -> Result<u64, DbErr> {
    detractor::Entity::find().filter(detractor::Column::PhoneNumber.eq(phone_number)).count(db).await
}

/// Records intake's latest high-frequency status of a customer; an older change arriving after a
/// newer one changes nothing.
pub async fn set_high_frequency(
    db: &impl ConnectionTrait,
    phone_number: &str,
    high_frequency: bool,
    changed_at: i64,
) -> Result<(), DbErr> {
    let row = customer_flag::Model { phone_number: phone_number.to_string(), high_frequency, changed_at };
    customer_flag::Entity::insert(row.into_active_model())
        .on_conflict(
            OnConflict::column(customer_flag::Column::PhoneNumber)
                .update_columns([customer_flag::Column::HighFrequency, customer_flag::Column::ChangedAt])
                .action_and_where(customer_flag::Column::ChangedAt.lte(changed_at))
                .to_owned(),
        )
        .exec_without_returning(db)
        .await?;
    Ok(())
}

pub async fn is_high_frequency(db: &impl ConnectionTrait, phone_number: &str) -> Result<bool, DbErr> {
    let found = customer_flag::Entity::find_by_id(phone_number.to_string()).one(db).await?;
    Ok(found.is_some_and(|flag| flag.high_frequency))
}

/// What recovery knows of a customer's cases, newest first (at most `limit`).
pub async fn cases_of(db: &impl ConnectionTrait, phone_number: &str, limit: u64) -> Result<Vec<case::Model>, DbErr> {
    case::Entity::find()
        .filter(case::Column::PhoneNumber.eq(phone_number))
        .order_by_desc(case::Column::OpenedAt)
        .limit(limit)
        .all(db)
        .await
}

/// Whether a case of these is still awaiting the operator's answer.
pub fn unanswered(row: &case::Model) -> bool {
    UNANSWERED.contains(&CaseStatus::from_stored(&row.status))
}
