//! The `customer_base` table: customers per region, the `customers` of a formula.

use std::collections::HashMap;

use sea_orm::{
    ConnectionTrait, DbErr,
    sea_query::{OnConflict, Query},
};

use super::{fetch, schema::CustomerBase};

pub async fn set_customer_base(db: &impl ConnectionTrait, region: &str, customers: i64) -> Result<(), DbErr> {
    let insert = Query::insert()
        .into_table(CustomerBase::Table)
        .columns([CustomerBase::Region, CustomerBase::Customers])
        .values_panic([region.into(), customers.into()])
        .on_conflict(OnConflict::column(CustomerBase::Region).update_column(CustomerBase::Customers).to_owned())
        .to_owned();
    db.execute(&insert).await?;
    Ok(())
}

pub async fn customer_base(db: &impl ConnectionTrait) -> Result<HashMap<String, i64>, DbErr> {
    let query =
        Query::select().columns([CustomerBase::Region, CustomerBase::Customers]).from(CustomerBase::Table).to_owned();
    fetch(db, query).await?.iter().map(|row| Ok((row.try_get("", "region")?, row.try_get("", "customers")?))).collect()
}
