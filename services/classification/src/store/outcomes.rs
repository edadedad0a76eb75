//! Labelled outcomes: the latest thing recovery found of each customer, one row per phone number.

use sea_orm::{
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, sea_query::OnConflict,
};

use super::entity::risk_outcome;

pub async fn of(db: &impl ConnectionTrait, phone: &str) -> Result<Option<risk_outcome::Model>, DbErr> {
    risk_outcome::Entity::find_by_id(phone.to_string()).one(db).await
}

/// Stores `row` as the customer's outcome, replacing the one before.
pub async fn save(db: &impl ConnectionTrait, row: risk_outcome::Model) -> Result<(), DbErr> {
    use risk_outcome::Column::*;
    risk_outcome::Entity::insert(risk_outcome::ActiveModel::from(row))
        .on_conflict(
            OnConflict::column(PhoneNumber)
                .update_columns([Dissatisfied, Source, Subject, Sequence, LabelledAt, Features, LearnedAt])
                .to_owned(),
        )
        .exec_without_returning(db)
        .await?;
    Ok(())
}

/// Every customer's outcome, by phone number.
pub async fn all(db: &impl ConnectionTrait) -> Result<Vec<risk_outcome::Model>, DbErr> {
    risk_outcome::Entity::find().order_by_asc(risk_outcome::Column::PhoneNumber).all(db).await
}

/// Labelled customers, and how many of them were dissatisfied.
pub async fn counts(db: &impl ConnectionTrait) -> Result<(u64, u64), DbErr> {
    let all = risk_outcome::Entity::find().count(db).await?;
    let dissatisfied =
        risk_outcome::Entity::find().filter(risk_outcome::Column::Dissatisfied.eq(true)).count(db).await?;
    Ok((all, dissatisfied))
}

/// Customers whose outcome was learned (or learned again) after `after`.
pub async fn learned_after(db: &impl ConnectionTrait, after: i64) -> Result<u64, DbErr> {
    risk_outcome::Entity::find().filter(risk_outcome::Column::LearnedAt.gt(after)).count(db).await
}
