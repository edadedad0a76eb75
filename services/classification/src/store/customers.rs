//! What classification knows about each customer, as risk-model features.

use sea_orm::{ConnectionTrait, DbErr, EntityTrait, sea_query::OnConflict};

use super::entity::customer_features;

pub async fn features_of(db: &impl ConnectionTrait, phone: &str) -> Result<Option<customer_features::Model>, DbErr> {
    customer_features::Entity::find_by_id(phone.to_string()).one(db).await
}

pub async fn save_features(db: &impl ConnectionTrait, row: customer_features::Model) -> Result<(), DbErr> {
    use customer_features::Column::*;
    customer_features::Entity::insert(customer_features::ActiveModel::from(row))
        .on_conflict(
            OnConflict::column(PhoneNumber)
                .update_columns([Customer, Features, UpdatedAt, Score, FlaggedAt])
                .to_owned(),
        )
        .exec_without_returning(db)
        .await?;
    Ok(())
}
