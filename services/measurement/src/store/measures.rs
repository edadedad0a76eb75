//! The `measure` table: every aggregate a formula reads, stored once under its canonical
//! spelling, with the id its cells are keyed by.

use std::collections::HashMap;

use sea_orm::{
    ConnectionTrait, DbErr,
    sea_query::{Expr, ExprTrait, Query},
};

use super::{fetch, schema::Measure};

/// Names of the summary's computed columns.
#[derive(sea_orm::DeriveIden)]
enum Alias {
    Measures,
    LastMeasure,
}

pub async fn load_measures(db: &impl ConnectionTrait) -> Result<Vec<(i64, String)>, DbErr> {
    let query = Query::select().columns([Measure::Id, Measure::Expression]).from(Measure::Table).to_owned();
    fetch(db, query).await?.iter().map(|row| Ok((row.try_get("", "id")?, row.try_get("", "expression")?))).collect()
}

/// Ids of the measures spelt `expressions`, adding those not yet stored; reports which are new.
pub async fn ensure_measures(db: &impl ConnectionTrait, expressions: &[String]) -> Result<Vec<(i64, bool)>, DbErr> {
    let known: HashMap<String, i64> = load_measures(db).await?.into_iter().map(|(id, e)| (e, id)).collect();
    let mut ids = Vec::with_capacity(expressions.len());
    for expression in expressions {
        if let Some(id) = known.get(expression) {
            ids.push((*id, false));
            continue;
        }
        let insert = Query::insert()
            .into_table(Measure::Table)
            .columns([Measure::Expression])
            .values_panic([expression.as_str().into()])
            .returning_col(Measure::Id)
            .to_owned();
        let row = db.query_one(&insert).await?;
        let id: i64 = row.ok_or_else(|| DbErr::RecordNotInserted)?.try_get("", "id")?;
        ids.push((id, true));
    }
    Ok(ids)
}

/// How many measures are stored, and the largest id: enough to tell the set has not changed.
pub async fn measure_summary(db: &impl ConnectionTrait) -> Result<(i64, i64), DbErr> {
    let query = Query::select()
        .expr_as(Expr::col(Measure::Id).count(), Alias::Measures)
        .expr_as(Expr::col(Measure::Id).max().if_null(0), Alias::LastMeasure)
        .from(Measure::Table)
        .to_owned();
    let rows = fetch(db, query).await?;
    let row = rows.first().ok_or_else(|| DbErr::RecordNotFound("measure summary".into()))?;
    Ok((row.try_get("", "measures")?, row.try_get("", "last_measure")?))
}
