//! Data access for recovery, as functions over any connection.
//!
//! Status changes are conditional updates (`... WHERE status = <expected>`), so two callers racing
//! to change the same case cannot both succeed, on SQLite or PostgreSQL alike.

pub mod entity;
pub mod migration;

use csm_kit::time;
use csm_proto::recovery::v1::{Case, CaseStatus};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, sea_query::Expr,
};

pub use entity::{NO_DEADLINE, case, case_transition};

pub const CASES: &str = "cases/";
pub const WORK_ORDERS: &str = "workOrders/";

pub async fn case_by_id(db: &impl ConnectionTrait, id: &str) -> Result<Option<case::Model>, DbErr> {
    case::Entity::find_by_id(id.to_string()).one(db).await
}

pub async fn case_by_work_order(db: &impl ConnectionTrait, work_order_id: &str) -> Result<Option<case::Model>, DbErr> {
    case::Entity::find().filter(case::Column::WorkOrderId.eq(work_order_id)).one(db).await
}

pub async fn insert_case(db: &impl ConnectionTrait, row: case::Model) -> Result<(), DbErr> {
    case::Entity::insert(case::ActiveModel::from(row)).exec_without_returning(db).await?;
    Ok(())
}

/// What dispatching sets on a case.
#[derive(Debug, Clone)]
pub struct Dispatch {
    pub department: String,
    pub leaf: String,
    pub path: String,
    pub taxonomy_version: String,
    pub dispatched_at: i64,
    pub deadline: i64,
}

/// Dispatches a case awaiting dispatch; false when it was not awaiting dispatch any more.
pub async fn dispatch(db: &impl ConnectionTrait, id: &str, dispatch: Dispatch) -> Result<bool, DbErr> {
    let result = case::Entity::update_many()
        .col_expr(case::Column::Status, Expr::value(status_name(CaseStatus::Dispatched)))
        .col_expr(case::Column::Department, Expr::value(dispatch.department))
        .col_expr(case::Column::Leaf, Expr::value(dispatch.leaf))
        .col_expr(case::Column::Path, Expr::value(dispatch.path))
        .col_expr(case::Column::TaxonomyVersion, Expr::value(dispatch.taxonomy_version))
        .col_expr(case::Column::DispatchedAt, Expr::value(dispatch.dispatched_at))
        .col_expr(case::Column::Deadline, Expr::value(dispatch.deadline))
        .filter(case::Column::Id.eq(id))
        .filter(case::Column::Status.eq(status_name(CaseStatus::AwaitingDispatch)))
        .exec(db)
        .await?;
    Ok(result.rows_affected == 1)
}

/// What resolving sets on a case.
#[derive(Debug, Clone)]
pub struct Resolution {
    pub resolution: String,
    pub resolved_by: String,
    pub resolved_at: i64,
    pub on_time: bool,
    pub request_id: Option<String>,
}

/// Resolves a dispatched case; false when it was not dispatched any more.
pub async fn resolve(db: &impl ConnectionTrait, id: &str, resolution: Resolution) -> Result<bool, DbErr> {
    let result = case::Entity::update_many()
        .col_expr(case::Column::Status, Expr::value(status_name(CaseStatus::Resolved)))
        .col_expr(case::Column::Resolution, Expr::value(resolution.resolution))
        .col_expr(case::Column::ResolvedBy, Expr::value(resolution.resolved_by))
        .col_expr(case::Column::ResolvedAt, Expr::value(resolution.resolved_at))
        .col_expr(case::Column::ResolvedOnTime, Expr::value(resolution.on_time))
        .col_expr(case::Column::ResolveRequestId, Expr::value(resolution.request_id))
        .filter(case::Column::Id.eq(id))
        .filter(case::Column::Status.eq(status_name(CaseStatus::Dispatched)))
        .exec(db)
        .await?;
    Ok(result.rows_affected == 1)
}

/// Appends one entry to a case's audit trail.
pub async fn record_transition(
    db: &impl ConnectionTrait,
    case_id: &str,
    from: Option<CaseStatus>,
    to: CaseStatus,
    actor: &str,
    reason: &str,
) -> Result<(), DbErr> {
    let row = case_transition::ActiveModel {
        case_id: Set(case_id.to_string()),
        from_status: Set(from.map(status_name)),
        to_status: Set(status_name(to)),
        actor: Set(actor.to_string()),
        reason: Set(reason.to_string()),
        at: Set(time::now_micros()),
        ..Default::default()
    };
    case_transition::Entity::insert(row).exec_without_returning(db).await?;
    Ok(())
}

pub async fn transitions(db: &impl ConnectionTrait, case_id: &str) -> Result<Vec<case_transition::Model>, DbErr> {
    case_transition::Entity::find()
        .filter(case_transition::Column::CaseId.eq(case_id))
        .order_by_asc(case_transition::Column::Id)
        .all(db)
        .await
}

/// Filters of a case listing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CaseFilter {
    pub department: Option<String>,
    pub status: Option<CaseStatus>,
    pub phone_number: Option<String>,
}

/// Up to `limit` cases matching `filter`, by deadline then id, strictly after `after`.
pub async fn list_cases(
    db: &impl ConnectionTrait,
    filter: &CaseFilter,
    after: Option<(i64, String)>,
    limit: u64,
) -> Result<Vec<case::Model>, DbErr> {
    let mut query = case::Entity::find();
    if let Some(department) = &filter.department {
        query = query.filter(case::Column::Department.eq(department.as_str()));
    }
    if let Some(status) = filter.status {
        query = query.filter(case::Column::Status.eq(status_name(status)));
    }
    if let Some(phone) = &filter.phone_number {
        query = query.filter(case::Column::PhoneNumber.eq(phone.as_str()));
    }
    if let Some((deadline, id)) = after {
        query = query.filter(
            Condition::any()
                .add(case::Column::Deadline.gt(deadline))
                .add(Condition::all().add(case::Column::Deadline.eq(deadline)).add(case::Column::Id.gt(id))),
        );
    }
    query.order_by_asc(case::Column::Deadline).order_by_asc(case::Column::Id).limit(limit).all(db).await
}

pub fn status_name(status: CaseStatus) -> String {
    status.as_str_name().to_string()
}

pub fn status_of(row: &case::Model) -> CaseStatus {
    CaseStatus::from_str_name(&row.status).unwrap_or_default()
}

impl From<&case::Model> for Case {
    fn from(row: &case::Model) -> Self {
        let dispatched = row.dispatched_at.is_some();
        Case {
            name: format!("{CASES}{}", row.id),
            work_order: format!("{WORK_ORDERS}{}", row.work_order_id),
            phone_number: row.phone_number.clone(),
            status: status_of(row) as i32,
            department: row.department.clone(),
            leaf: row.leaf.clone(),
            path: if row.path.is_empty() { Vec::new() } else { row.path.split('/').map(str::to_string).collect() },
            taxonomy_version: row.taxonomy_version.clone(),
            open_time: Some(time::timestamp_from_micros(row.opened_at)),
            dispatch_time: row.dispatched_at.map(time::timestamp_from_micros),
            deadline: dispatched.then(|| time::timestamp_from_micros(row.deadline)),
            resolve_time: row.resolved_at.map(time::timestamp_from_micros),
            resolution: row.resolution.clone().unwrap_or_default(),
            resolved_by: row.resolved_by.clone().unwrap_or_default(),
            resolved_on_time: row.resolved_on_time.unwrap_or(false),
            text: row.text.clone(),
            channel: row.channel.clone(),
        }
    }
}
