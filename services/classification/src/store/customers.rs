//! What classification knows about each customer, as risk-model features.

use std::collections::HashMap;

use sea_orm::{ConnectionTrait, DbErr, EntityTrait, sea_query::OnConflict};

use super::entity::customer_features;

pub async fn features_of(db: &impl ConnectionTrait, phone: &str) -> Result<Option<customer_features::Model>, DbErr> {
    customer_features::Entity::find_by_id(phone.to_string()).one(db).await
}

/// The stored features of these customers, by phone number.
pub async fn features_of_all(
    db: &impl ConnectionTrait,
    phones: &[String],
) -> Result<HashMap<String, customer_features::Model>, DbErr> {
    let query = customer_features::Entity::find();
    let rows = csm_kit::bulk::find_in(db, query, customer_features::Column::PhoneNumber, phones).await?;
    Ok(rows.into_iter().map(|row| (row.phone_number.clone(), row)).collect())
}

/// Stores many customers' features in a few statements; one row per phone number.
pub async fn save_all_features(db: &impl ConnectionTrait, rows: Vec<customer_features::Model>) -> Result<(), DbErr> {
    use customer_features::Column::*;
    let on_conflict =
        OnConflict::column(PhoneNumber).update_columns([Customer, Features, UpdatedAt, Score, FlaggedAt]).to_owned();
    let rows = rows.into_iter().map(customer_features::ActiveModel::from).collect();
    csm_kit::bulk::upsert_all(db, rows, on_conflict).await?;
    Ok(())
}
