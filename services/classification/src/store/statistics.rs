//! Counts per leaf and day (for common and emerging problems) and corrections (for the correction
//! rate and retraining).

use std::collections::{HashMap, HashSet};

use sea_orm::{
    ColumnTrait, ConnectionTrait, DbBackend, DbErr, EntityTrait, FromQueryResult, QueryFilter, QueryOrder, QuerySelect,
    Statement,
    sea_query::{Expr, Func, OnConflict},
};

use super::entity::{classification, correction, emerging_problem, leaf_day, leaf_day_customer};

/// One order counted towards its leaf's day (the operator's local day, numbered from 1970-01-01).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Counted {
    pub leaf: String,
    pub day: i64,
    pub phone: String,
}

/// Each of `values` once, in no set order: the keys of a batch's reads.
fn distinct<T: Eq + std::hash::Hash>(values: impl Iterator<Item = T>) -> Vec<T> {
    values.collect::<HashSet<_>>().into_iter().collect()
}

/// Counts each order, in order, towards its leaf's day; returns for each the day's orders and
/// distinct customers up to and including it. A batch costs a few statements, not a few per order:
/// the days and their customers are read at once, counted in memory and written back at once.
pub async fn count_orders(db: &impl ConnectionTrait, orders: &[Counted]) -> Result<Vec<(i64, i64)>, DbErr> {
    if orders.is_empty() {
        return Ok(Vec::new());
    }
    let leaves = distinct(orders.iter().map(|o| o.leaf.clone()));
    let days = distinct(orders.iter().map(|o| o.day));

    let mut known = counted_already(db, orders, &leaves, &days).await?;
    let query = leaf_day::Entity::find().filter(leaf_day::Column::Day.is_in(csm_kit::bulk::padded(days.clone())));
    let rows = csm_kit::bulk::find_in(db, query, leaf_day::Column::Leaf, &leaves).await?;
    let mut days_of: HashMap<(String, i64), leaf_day::Model> =
        rows.into_iter().map(|r| ((r.leaf.clone(), r.day), r)).collect();

    let mut counts = Vec::with_capacity(orders.len());
    let mut new_customers = Vec::new();
    for order in orders {
        let new_customer = known.insert(order.clone());
        if new_customer {
            new_customers.push(leaf_day_customer::ActiveModel::from(leaf_day_customer::Model {
                leaf: order.leaf.clone(),
                day: order.day,
                phone_number: order.phone.clone(),
            }));
        }
        let day = days_of.entry((order.leaf.clone(), order.day)).or_insert_with(|| leaf_day::Model {
            leaf: order.leaf.clone(),
            day: order.day,
            work_orders: 0,
            customers: 0,
        });
        day.work_orders += 1;
        day.customers += i64::from(new_customer);
        counts.push((day.work_orders, day.customers));
    }
    csm_kit::bulk::insert_all(db, new_customers).await?;
    let touched: HashSet<(&str, i64)> = orders.iter().map(|o| (o.leaf.as_str(), o.day)).collect();
    let rows: Vec<leaf_day::ActiveModel> = days_of
        .into_values()
        .filter(|r| touched.contains(&(r.leaf.as_str(), r.day)))
        .map(leaf_day::ActiveModel::from)
        .collect();
    let on_conflict = OnConflict::columns([leaf_day::Column::Leaf, leaf_day::Column::Day])
        .update_columns([leaf_day::Column::WorkOrders, leaf_day::Column::Customers])
        .to_owned();
    csm_kit::bulk::upsert_all(db, rows, on_conflict).await?;
    Ok(counts)
}

/// Which of the orders' (leaf, day, customer) are counted already. Every column of the primary
/// key is constrained, so this reads the index, never the whole table. PostgreSQL probes it once
/// per order ([`csm_kit::bulk::rows_by_keys_sql`]): given a list of values per column, it probes
/// every combination of them (a batch's leaves times its customers: 1.9 ms a batch at a thousand
/// orders a second, against 0.11 ms for the orders' own keys).
async fn counted_already(
    db: &impl ConnectionTrait,
    orders: &[Counted],
    leaves: &[String],
    days: &[i64],
) -> Result<HashSet<Counted>, DbErr> {
    let counted = |r: leaf_day_customer::Model| Counted { leaf: r.leaf, day: r.day, phone: r.phone_number };
    if db.get_database_backend() != DbBackend::Postgres {
        let phones = distinct(orders.iter().map(|o| o.phone.clone()));
        let query = leaf_day_customer::Entity::find()
            .filter(leaf_day_customer::Column::Leaf.is_in(csm_kit::bulk::padded(leaves.to_vec())))
            .filter(leaf_day_customer::Column::Day.is_in(csm_kit::bulk::padded(days.to_vec())));
        let rows = csm_kit::bulk::find_in(db, query, leaf_day_customer::Column::PhoneNumber, &phones).await?;
        return Ok(rows.into_iter().map(counted).collect());
    }
    let keys: HashSet<&Counted> = orders.iter().collect();
    let (mut leaves, mut days, mut phones) = (Vec::new(), Vec::new(), Vec::new());
    for key in keys {
        leaves.push(key.leaf.clone());
        days.push(key.day);
        phones.push(key.phone.clone());
    }
    let sql = csm_kit::bulk::rows_by_keys_sql(
        "leaf_day_customer",
        &[("leaf", "text"), ("day", "int8"), ("phone_number", "text")],
    );
    let statement =
        Statement::from_sql_and_values(DbBackend::Postgres, sql, [leaves.into(), days.into(), phones.into()]);
    let rows = db.query_all_raw(statement).await?;
    rows.iter().map(|row| leaf_day_customer::Model::from_query_result(row, "").map(counted)).collect()
}

/// Mean daily orders of `leaf` over the `window` days before `day` (days without orders count).
pub async fn baseline(db: &impl ConnectionTrait, leaf: &str, day: i64, window: i64) -> Result<f64, DbErr> {
    let rows = leaf_day::Entity::find()
        .filter(leaf_day::Column::Leaf.eq(leaf))
        .filter(leaf_day::Column::Day.gte(day - window))
        .filter(leaf_day::Column::Day.lt(day))
        .all(db)
        .await?;
    Ok(rows.iter().map(|r| r.work_orders).sum::<i64>() as f64 / window.max(1) as f64)
}

/// Which of these leaves' days an emerging problem was recorded for.
pub async fn emerged_on(
    db: &impl ConnectionTrait,
    days: &HashSet<(String, i64)>,
) -> Result<HashSet<(String, i64)>, DbErr> {
    if days.is_empty() {
        return Ok(HashSet::new());
    }
    let leaves: HashSet<&String> = days.iter().map(|(leaf, _)| leaf).collect();
    let numbers: HashSet<i64> = days.iter().map(|(_, day)| *day).collect();
    let rows: Vec<(String, i64)> = emerging_problem::Entity::find()
        .select_only()
        .column(emerging_problem::Column::Leaf)
        .column(emerging_problem::Column::Day)
        .filter(emerging_problem::Column::Leaf.is_in(csm_kit::bulk::padded(leaves.into_iter().cloned().collect())))
        .filter(emerging_problem::Column::Day.is_in(csm_kit::bulk::padded(numbers.into_iter().collect())))
        .into_tuple()
        .all(db)
        .await?;
    Ok(rows.into_iter().filter(|key| days.contains(key)).collect())
}

/// Records an emerging problem; false when one was already recorded for the leaf and day.
pub async fn record_emerging(db: &impl ConnectionTrait, row: emerging_problem::Model) -> Result<bool, DbErr> {
    let inserted = emerging_problem::Entity::insert(emerging_problem::ActiveModel::from(row))
        .on_conflict(
            OnConflict::columns([emerging_problem::Column::Leaf, emerging_problem::Column::Day])
                .do_nothing()
                .to_owned(),
        )
        .exec_without_returning(db)
        .await?;
    Ok(inserted > 0)
}

/// Per leaf over days `[from, to)`: orders, distinct customers, the most distinct customers on one
/// day, and whether it emerged.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LeafPeriod {
    pub work_orders: i64,
    pub distinct_customers: i64,
    pub busiest_day_customers: i64,
    pub emerging: bool,
}

pub async fn leaf_periods(db: &impl ConnectionTrait, from: i64, to: i64) -> Result<HashMap<String, LeafPeriod>, DbErr> {
    let mut periods: HashMap<String, LeafPeriod> = HashMap::new();
    let days = leaf_day::Entity::find()
        .filter(leaf_day::Column::Day.gte(from))
        .filter(leaf_day::Column::Day.lt(to))
        .all(db)
        .await?;
    for row in days {
        let period = periods.entry(row.leaf).or_default();
        period.work_orders += row.work_orders;
        period.busiest_day_customers = period.busiest_day_customers.max(row.customers);
    }
    let distinct: Vec<(String, i64)> = leaf_day_customer::Entity::find()
        .select_only()
        .column(leaf_day_customer::Column::Leaf)
        .column_as(Expr::from(Func::count_distinct(Expr::col(leaf_day_customer::Column::PhoneNumber))), "customers")
        .filter(leaf_day_customer::Column::Day.gte(from))
        .filter(leaf_day_customer::Column::Day.lt(to))
        .group_by(leaf_day_customer::Column::Leaf)
        .into_tuple()
        .all(db)
        .await?;
    for (leaf, customers) in distinct {
        periods.entry(leaf).or_default().distinct_customers = customers;
    }
    let emerging = emerging_problem::Entity::find()
        .filter(emerging_problem::Column::Day.gte(from))
        .filter(emerging_problem::Column::Day.lt(to))
        .all(db)
        .await?;
    for row in emerging {
        periods.entry(row.leaf).or_default().emerging = true;
    }
    Ok(periods)
}

pub async fn insert_correction(db: &impl ConnectionTrait, row: correction::Model) -> Result<(), DbErr> {
    correction::Entity::insert(correction::ActiveModel::from(row)).exec_without_returning(db).await?;
    Ok(())
}

/// The latest correction of each order and view for a taxonomy version, to train on.
pub async fn corrections_for(
    db: &impl ConnectionTrait,
    taxonomy_version: &str,
) -> Result<Vec<correction::Model>, DbErr> {
    let rows = correction::Entity::find()
        .filter(correction::Column::TaxonomyVersion.eq(taxonomy_version))
        .order_by_asc(correction::Column::CorrectedAt)
        .all(db)
        .await?;
    let mut latest: HashMap<(String, String), correction::Model> = HashMap::new();
    for row in rows {
        latest.insert((row.work_order_id.clone(), row.view.clone()), row);
    }
    let mut rows: Vec<correction::Model> = latest.into_values().collect();
    rows.sort_by(|a, b| a.corrected_at.cmp(&b.corrected_at).then_with(|| a.id.cmp(&b.id)));
    Ok(rows)
}

/// Classifications made in `[from, to)` (microseconds), by first method: (method, total, corrected).
pub async fn correction_counts(
    db: &impl ConnectionTrait,
    from: i64,
    to: i64,
) -> Result<Vec<(String, i64, i64)>, DbErr> {
    let grouped = |corrected_only: bool| {
        let mut query = classification::Entity::find()
            .select_only()
            .column(classification::Column::FirstMethod)
            .column_as(classification::Column::WorkOrderId.count(), "n")
            .filter(classification::Column::ClassifiedAt.gte(from))
            .filter(classification::Column::ClassifiedAt.lt(to));
        if corrected_only {
            query = query.filter(classification::Column::Corrected.eq(true));
        }
        query.group_by(classification::Column::FirstMethod).into_tuple::<(String, i64)>()
    };
    let totals = grouped(false).all(db).await?;
    let corrected: HashMap<String, i64> = grouped(true).all(db).await?.into_iter().collect();
    let mut counts: Vec<(String, i64, i64)> = totals
        .into_iter()
        .map(|(method, total)| {
            let fixed = corrected.get(&method).copied().unwrap_or(0);
            (method, total, fixed)
        })
        .collect();
    counts.sort();
    Ok(counts)
}
