//! Data access for measurement: merging facts from the feeds, and aggregating them into series.

pub mod entity;
pub mod migration;

use sea_orm::{
    ActiveValue::{NotSet, Set},
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, ExprTrait, QueryFilter, QueryOrder, QuerySelect,
    sea_query::{Asterisk, Expr, OnConflict, SimpleExpr},
};

pub use entity::work_order_fact as fact;

/// What one upstream event tells about a work order. Every event carries when and where the
/// work order was opened, so whichever arrives first creates a complete enough row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FactUpdate {
    pub work_order_id: String,
    pub opened_at: i64,
    pub opened_day: String,
    pub channel: String,
    pub classified: Option<Classified>,
    pub resolved: Option<Resolved>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Classified {
    pub category: String,
    pub root_cause: String,
    pub department: String,
    pub deadline: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    pub resolved_at: i64,
    pub resolved_day: String,
    pub on_time: bool,
}

/// Inserts or merges a fact, writing only the columns this update knows, so events from different
/// feeds never erase each other's contribution.
pub async fn merge_fact(db: &impl ConnectionTrait, update: FactUpdate) -> Result<(), DbErr> {
    let mut columns = vec![fact::Column::OpenedAt, fact::Column::OpenedDay, fact::Column::Channel];
    let mut row = fact::ActiveModel {
        work_order_id: Set(update.work_order_id),
        opened_at: Set(update.opened_at),
        opened_day: Set(update.opened_day),
        channel: Set(update.channel),
        category: NotSet,
        root_cause: NotSet,
        department: NotSet,
        deadline: NotSet,
        resolved_at: NotSet,
        resolved_day: NotSet,
        resolved_on_time: NotSet,
    };
    if let Some(classified) = update.classified {
        row.category = Set(Some(classified.category));
        row.root_cause = Set(Some(classified.root_cause));
        row.department = Set(Some(classified.department));
        row.deadline = Set(Some(classified.deadline));
        columns.extend([
            fact::Column::Category,
            fact::Column::RootCause,
            fact::Column::Department,
            fact::Column::Deadline,
        ]);
    }
    if let Some(resolved) = update.resolved {
        row.resolved_at = Set(Some(resolved.resolved_at));
        row.resolved_day = Set(Some(resolved.resolved_day));
        row.resolved_on_time = Set(Some(resolved.on_time));
        columns.extend([fact::Column::ResolvedAt, fact::Column::ResolvedDay, fact::Column::ResolvedOnTime]);
    }
    fact::Entity::insert(row)
        .on_conflict(OnConflict::column(fact::Column::WorkOrderId).update_columns(columns).to_owned())
        .exec_without_returning(db)
        .await?;
    Ok(())
}

/// A column facts can be split by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Split {
    Category,
    RootCause,
    Channel,
    Department,
}

impl Split {
    fn column(self) -> fact::Column {
        match self {
            Split::Category => fact::Column::Category,
            Split::RootCause => fact::Column::RootCause,
            Split::Channel => fact::Column::Channel,
            Split::Department => fact::Column::Department,
        }
    }
}

/// One aggregated cell: a day, a dimension value (None when not split, or not yet known), and the
/// counts behind the value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cell {
    pub day: String,
    pub dimension: Option<String>,
    pub numerator: i64,
    pub denominator: i64,
}

/// Days are inclusive, as `YYYY-MM-DD`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DayRange {
    pub first: String,
    pub last: String,
}

/// Work orders opened per day (and split), counted.
pub async fn opened_per_day(
    db: &impl ConnectionTrait,
    days: &DayRange,
    split: Option<Split>,
) -> Result<Vec<Cell>, DbErr> {
    aggregate(db, fact::Column::OpenedDay, days, split, Expr::col(Asterisk).count(), None).await
}

/// Cases resolved per day (and split): resolved on time over all resolved.
pub async fn on_time_per_day(
    db: &impl ConnectionTrait,
    days: &DayRange,
    split: Option<Split>,
) -> Result<Vec<Cell>, DbErr> {
    let on_time = Expr::cust("SUM(CASE WHEN resolved_on_time THEN 1 ELSE 0 END)");
    aggregate(db, fact::Column::ResolvedDay, days, split, on_time, Some(Expr::col(Asterisk).count())).await
}

async fn aggregate(
    db: &impl ConnectionTrait,
    day: fact::Column,
    days: &DayRange,
    split: Option<Split>,
    numerator: SimpleExpr,
    denominator: Option<SimpleExpr>,
) -> Result<Vec<Cell>, DbErr> {
    let denominator = denominator.unwrap_or_else(|| Expr::val(0i64));
    let base = fact::Entity::find()
        .select_only()
        .column(day)
        .filter(day.gte(days.first.as_str()))
        .filter(day.lte(days.last.as_str()))
        .group_by(day)
        .order_by_asc(day);
    match split {
        None => {
            let rows: Vec<(String, i64, i64)> =
                base.expr_as(numerator, "numerator").expr_as(denominator, "denominator").into_tuple().all(db).await?;
            Ok(rows
                .into_iter()
                .map(|(day, numerator, denominator)| Cell { day, dimension: None, numerator, denominator })
                .collect())
        }
        Some(split) => {
            let column = split.column();
            let rows: Vec<(String, Option<String>, i64, i64)> = base
                .column(column)
                .expr_as(numerator, "numerator")
                .expr_as(denominator, "denominator")
                .group_by(column)
                .order_by_asc(column)
                .into_tuple()
                .all(db)
                .await?;
            Ok(rows
                .into_iter()
                .map(|(day, dimension, numerator, denominator)| Cell { day, dimension, numerator, denominator })
                .collect())
        }
    }
}
