//! Stored text and risk models. Exactly one model per view (and one risk model) is active.

use csm_kit::names::TEXT_MODELS;
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

use super::entity::{risk_model, taxonomy_version, text_model};
use crate::model::text::TextModel;

/// The stored row of a freshly trained model of `view` for `taxonomy_version`, not yet active.
pub fn text_model_row(
    model: &TextModel,
    view: &str,
    taxonomy_version: &str,
    examples: usize,
    corrections: i64,
    training_seconds: f64,
) -> Result<text_model::Model, DbErr> {
    Ok(text_model::Model {
        name: format!("{TEXT_MODELS}{}", uuid::Uuid::now_v7()),
        view: view.to_string(),
        taxonomy_version: taxonomy_version.to_string(),
        created_at: csm_kit::time::now_micros(),
        active: false,
        examples: examples as i64,
        corrections,
        features: model.feature_count() as i64,
        leaves: serde_json::to_string(&model.labels).map_err(|e| DbErr::Custom(e.to_string()))?,
        review_threshold: model.review_threshold,
        temperature: model.temperature,
        training_seconds,
        body: postcard::to_allocvec(model).map_err(|e| DbErr::Custom(e.to_string()))?,
        training_job: String::new(),
        activated_at: 0,
    })
}

pub async fn insert_text_model(db: &impl ConnectionTrait, row: text_model::Model) -> Result<(), DbErr> {
    text_model::Entity::insert(text_model::ActiveModel::from(row)).exec_without_returning(db).await?;
    Ok(())
}

pub async fn text_model(db: &impl ConnectionTrait, name: &str) -> Result<Option<text_model::Model>, DbErr> {
    text_model::Entity::find_by_id(name.to_string()).one(db).await
}

/// Models of `view` (every view when empty), newest first.
pub async fn list_text_models(db: &impl ConnectionTrait, view: &str) -> Result<Vec<text_model::Model>, DbErr> {
    let mut query = text_model::Entity::find();
    if !view.is_empty() {
        query = query.filter(text_model::Column::View.eq(view));
    }
    query.order_by_desc(text_model::Column::CreatedAt).order_by_desc(text_model::Column::Name).all(db).await
}

/// The names of the taxonomy version and the models in force, sorted: a few bytes that change
/// whenever anything is put in force, cheap enough to compare every second.
pub async fn names_in_force(db: &impl ConnectionTrait) -> Result<Vec<String>, DbErr> {
    let mut names: Vec<String> = taxonomy_version::Entity::find()
        .select_only()
        .column(taxonomy_version::Column::Name)
        .filter(taxonomy_version::Column::Active.eq(true))
        .into_tuple()
        .all(db)
        .await?;
    let text: Vec<String> = text_model::Entity::find()
        .select_only()
        .column(text_model::Column::Name)
        .filter(text_model::Column::Active.eq(true))
        .into_tuple()
        .all(db)
        .await?;
    let risk: Vec<String> = risk_model::Entity::find()
        .select_only()
        .column(risk_model::Column::Name)
        .filter(risk_model::Column::Active.eq(true))
        .into_tuple()
        .all(db)
        .await?;
    names.extend(text.into_iter().map(|name| format!("text:{name}")));
    names.extend(risk.into_iter().map(|name| format!("risk:{name}")));
    names.sort();
    Ok(names)
}

pub async fn active_text_models(db: &impl ConnectionTrait) -> Result<Vec<text_model::Model>, DbErr> {
    text_model::Entity::find().filter(text_model::Column::Active.eq(true)).all(db).await
}

/// Puts `name` in force for `view`, retiring the view's other models.
pub async fn activate_text_model(db: &impl ConnectionTrait, view: &str, name: &str) -> Result<(), DbErr> {
    text_model::Entity::update_many()
        .col_expr(text_model::Column::Active, text_model::Column::Name.eq(name))
        .filter(text_model::Column::View.eq(view))
        .exec(db)
        .await?;
    text_model::Entity::update_many()
        .col_expr(text_model::Column::ActivatedAt, csm_kit::time::now_micros().into())
        .filter(text_model::Column::Name.eq(name))
        .exec(db)
        .await?;
    Ok(())
}

/// Per view, the model of `taxonomy_version` to bring into force with it: the one last in force
/// with it, else the newest trained for it.
pub async fn models_of_version(
    db: &impl ConnectionTrait,
    taxonomy_version: &str,
) -> Result<Vec<text_model::Model>, DbErr> {
    let rows = text_model::Entity::find()
        .filter(text_model::Column::TaxonomyVersion.eq(taxonomy_version))
        .order_by_desc(text_model::Column::ActivatedAt)
        .order_by_desc(text_model::Column::CreatedAt)
        .order_by_desc(text_model::Column::Name)
        .all(db)
        .await?;
    let mut chosen: Vec<text_model::Model> = Vec::new();
    for row in rows {
        if !chosen.iter().any(|c| c.view == row.view) {
            chosen.push(row);
        }
    }
    Ok(chosen)
}

pub async fn insert_risk_model(db: &impl ConnectionTrait, row: risk_model::Model) -> Result<(), DbErr> {
    risk_model::Entity::insert(risk_model::ActiveModel::from(row)).exec_without_returning(db).await?;
    Ok(())
}

pub async fn risk_model(db: &impl ConnectionTrait, name: &str) -> Result<Option<risk_model::Model>, DbErr> {
    risk_model::Entity::find_by_id(name.to_string()).one(db).await
}

pub async fn list_risk_models(db: &impl ConnectionTrait) -> Result<Vec<risk_model::Model>, DbErr> {
    risk_model::Entity::find()
        .order_by_desc(risk_model::Column::CreatedAt)
        .order_by_desc(risk_model::Column::Name)
        .all(db)
        .await
}

pub async fn active_risk_model(db: &impl ConnectionTrait) -> Result<Option<risk_model::Model>, DbErr> {
    risk_model::Entity::find().filter(risk_model::Column::Active.eq(true)).one(db).await
}

/// Puts `name` in force and every other risk model out of it, in one statement.
pub async fn activate_risk_model(db: &impl ConnectionTrait, name: &str) -> Result<(), DbErr> {
    risk_model::Entity::update_many()
        .col_expr(risk_model::Column::Active, risk_model::Column::Name.eq(name))
        .exec(db)
        .await?;
    Ok(())
}
