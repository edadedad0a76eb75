//! Data access for classification, as functions over any connection.

pub mod customers;
pub mod entity;
pub mod migration;
pub mod models;
pub mod outcomes;
pub mod statistics;
pub mod training;

use std::collections::HashSet;

use csm_kit::{names::WORK_ORDERS, time};
use csm_proto::{
    StoredEnum,
    classification::v1::{Classification, Method, RuleHit, ViewClassification},
};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, IntoActiveModel, QueryFilter, QueryOrder,
    QuerySelect,
};
use serde::{Deserialize, Serialize};

pub use entity::{
    classification, correction, customer_features, emerging_problem, risk_model, risk_outcome, taxonomy_version,
    text_model, training_job,
};

use crate::taxonomy::Taxonomy;

pub async fn active_taxonomy(db: &impl ConnectionTrait) -> Result<Option<taxonomy_version::Model>, DbErr> {
    taxonomy_version::Entity::find().filter(taxonomy_version::Column::Active.eq(true)).one(db).await
}

pub async fn taxonomy_by_name(db: &impl ConnectionTrait, name: &str) -> Result<Option<taxonomy_version::Model>, DbErr> {
    taxonomy_version::Entity::find_by_id(name.to_string()).one(db).await
}

/// The stored form of a validated taxonomy as version `version`.
pub fn taxonomy_row(taxonomy: &Taxonomy, version: i64, active: bool) -> Result<taxonomy_version::Model, DbErr> {
    Ok(taxonomy_version::Model {
        name: taxonomy.name.clone(),
        taxonomy_key: taxonomy.document.key.clone(),
        version,
        document: serde_json::to_string(&taxonomy.document).map_err(|e| DbErr::Custom(e.to_string()))?,
        published_at: taxonomy.published_at,
        active,
    })
}

pub async fn insert_taxonomy_version(db: &impl ConnectionTrait, row: taxonomy_version::Model) -> Result<(), DbErr> {
    taxonomy_version::Entity::insert(taxonomy_version::ActiveModel::from(row)).exec_without_returning(db).await?;
    Ok(())
}

/// Every version, newest first.
pub async fn list_taxonomies(db: &impl ConnectionTrait) -> Result<Vec<taxonomy_version::Model>, DbErr> {
    taxonomy_version::Entity::find()
        .order_by_desc(taxonomy_version::Column::PublishedAt)
        .order_by_desc(taxonomy_version::Column::Version)
        .all(db)
        .await
}

/// The next version number of taxonomy `key`.
pub async fn next_taxonomy_version(db: &impl ConnectionTrait, key: &str) -> Result<i64, DbErr> {
    let latest: Option<Option<i64>> = taxonomy_version::Entity::find()
        .select_only()
        .column_as(taxonomy_version::Column::Version.max(), "latest")
        .filter(taxonomy_version::Column::TaxonomyKey.eq(key))
        .into_tuple()
        .one(db)
        .await?;
    Ok(latest.flatten().unwrap_or(0) + 1)
}

/// Puts `name` in force and every other version out of it, in one statement.
pub async fn activate_taxonomy(db: &impl ConnectionTrait, name: &str) -> Result<(), DbErr> {
    taxonomy_version::Entity::update_many()
        .col_expr(taxonomy_version::Column::Active, taxonomy_version::Column::Name.eq(name))
        .exec(db)
        .await?;
    Ok(())
}

pub async fn update_classification(db: &impl ConnectionTrait, row: classification::Model) -> Result<(), DbErr> {
    row.into_active_model().reset_all().update(db).await?;
    Ok(())
}

pub async fn classification_of(
    db: &impl ConnectionTrait,
    work_order_id: &str,
) -> Result<Option<classification::Model>, DbErr> {
    classification::Entity::find_by_id(work_order_id.to_string()).one(db).await
}

pub async fn insert_classifications(db: &impl ConnectionTrait, rows: Vec<classification::Model>) -> Result<(), DbErr> {
    csm_kit::bulk::insert_all(db, rows.into_iter().map(classification::ActiveModel::from).collect()).await
}

/// Which of these work orders are classified already.
pub async fn classified_among(db: &impl ConnectionTrait, ids: &[String]) -> Result<HashSet<String>, DbErr> {
    let mut found = HashSet::new();
    for chunk in csm_kit::bulk::in_lists(ids) {
        let rows: Vec<String> = classification::Entity::find()
            .select_only()
            .column(classification::Column::WorkOrderId)
            .filter(classification::Column::WorkOrderId.is_in(chunk))
            .into_tuple()
            .all(db)
            .await?;
        found.extend(rows);
    }
    Ok(found)
}

/// A rule hit as stored in `classification.hits`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredHit {
    pub rule: String,
    pub matched_terms: Vec<String>,
}

/// The placement in one view, as stored in `classification.views`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredView {
    pub view: String,
    pub leaf: String,
    pub path: Vec<String>,
    pub name_zh: String,
    pub name_en: String,
    pub method: String,
    pub confidence: f64,
    pub needs_review: bool,
    pub text_model: String,
}

impl From<&StoredView> for ViewClassification {
    fn from(view: &StoredView) -> Self {
        ViewClassification {
            view: view.view.clone(),
            leaf: view.leaf.clone(),
            path: view.path.clone(),
            leaf_name_zh: view.name_zh.clone(),
            leaf_name_en: view.name_en.clone(),
            method: Method::from_stored(&view.method) as i32,
            confidence: view.confidence,
            needs_review: view.needs_review,
            text_model: view.text_model.clone(),
        }
    }
}

impl From<&classification::Model> for Classification {
    fn from(row: &classification::Model) -> Self {
        let hits: Vec<StoredHit> = serde_json::from_str(&row.hits).unwrap_or_default();
        let views: Vec<StoredView> = serde_json::from_str(&row.views).unwrap_or_default();
        Classification {
            name: format!("{WORK_ORDERS}{}/classification", row.work_order_id),
            work_order: format!("{WORK_ORDERS}{}", row.work_order_id),
            taxonomy_version: row.taxonomy_version.clone(),
            leaf: row.leaf.clone(),
            path: row.path.split('/').map(str::to_string).collect(),
            leaf_name_zh: row.leaf_name_zh.clone(),
            leaf_name_en: row.leaf_name_en.clone(),
            responsible_department: row.department.clone(),
            time_limit: Some(time::duration_to_proto(std::time::Duration::from_secs(
                u64::try_from(row.time_limit_secs).unwrap_or(0),
            ))),
            deadline: Some(time::timestamp_from_micros(row.deadline)),
            method: Method::from_stored(&row.method) as i32,
            confidence: row.confidence,
            hits: hits.into_iter().map(|h| RuleHit { rule: h.rule, matched_terms: h.matched_terms }).collect(),
            needs_review: row.needs_review,
            classify_time: Some(time::timestamp_from_micros(row.classified_at)),
            views: views.iter().map(ViewClassification::from).collect(),
        }
    }
}
