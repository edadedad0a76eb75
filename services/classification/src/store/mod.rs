//! Data access for classification, as functions over any connection.

pub mod entity;
pub mod migration;

use csm_kit::time;
use csm_proto::classification::v1::{Classification, Method, RuleHit};
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter};
use serde::{Deserialize, Serialize};

pub use entity::{classification, taxonomy_version};

use crate::taxonomy::duration_to_proto;

pub async fn active_taxonomy(db: &impl ConnectionTrait) -> Result<Option<taxonomy_version::Model>, DbErr> {
    taxonomy_version::Entity::find().filter(taxonomy_version::Column::Active.eq(true)).one(db).await
}

pub async fn taxonomy_by_name(db: &impl ConnectionTrait, name: &str) -> Result<Option<taxonomy_version::Model>, DbErr> {
    taxonomy_version::Entity::find_by_id(name.to_string()).one(db).await
}

pub async fn insert_taxonomy_version(db: &impl ConnectionTrait, row: taxonomy_version::Model) -> Result<(), DbErr> {
    taxonomy_version::Entity::insert(taxonomy_version::ActiveModel::from(row)).exec_without_returning(db).await?;
    Ok(())
}

pub async fn classification_of(
    db: &impl ConnectionTrait,
    work_order_id: &str,
) -> Result<Option<classification::Model>, DbErr> {
    classification::Entity::find_by_id(work_order_id.to_string()).one(db).await
}

pub async fn insert_classification(db: &impl ConnectionTrait, row: classification::Model) -> Result<(), DbErr> {
    classification::Entity::insert(classification::ActiveModel::from(row)).exec_without_returning(db).await?;
    Ok(())
}

/// A rule hit as stored in `classification.hits`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredHit {
    pub rule: String,
    pub matched_terms: Vec<String>,
}

pub const WORK_ORDERS: &str = "workOrders/";

impl From<&classification::Model> for Classification {
    fn from(row: &classification::Model) -> Self {
        let hits: Vec<StoredHit> = serde_json::from_str(&row.hits).unwrap_or_default();
        Classification {
            name: format!("{WORK_ORDERS}{}/classification", row.work_order_id),
            work_order: format!("{WORK_ORDERS}{}", row.work_order_id),
            taxonomy_version: row.taxonomy_version.clone(),
            leaf: row.leaf.clone(),
            path: row.path.split('/').map(str::to_string).collect(),
            leaf_name_zh: row.leaf_name_zh.clone(),
            leaf_name_en: row.leaf_name_en.clone(),
            responsible_department: row.department.clone(),
            time_limit: Some(duration_to_proto(std::time::Duration::from_secs(
                u64::try_from(row.time_limit_secs).unwrap_or(0),
            ))),
            deadline: Some(time::timestamp_from_micros(row.deadline)),
            method: Method::from_str_name(&row.method).unwrap_or_default() as i32,
            confidence: row.confidence,
            hits: hits.into_iter().map(|h| RuleHit { rule: h.rule, matched_terms: h.matched_terms }).collect(),
            needs_review: row.needs_review,
            classify_time: Some(time::timestamp_from_micros(row.classified_at)),
        }
    }
}
