//! Data access for recovery, as functions over any connection.
//!
//! Every change of a case is a conditional update on its `version`, so two callers racing to
//! change the same case cannot both succeed, on SQLite or PostgreSQL alike.

pub mod care;
pub mod detractors;
pub mod entity;
pub mod migration;
pub mod problem_entity;
pub mod problems;
pub mod programmes;
pub mod recovery_actions;
pub mod sub_tasks;

use std::collections::HashMap;

use csm_proto::{StoredEnum, recovery::v1::CaseStatus};
use sea_orm::{
    ActiveModelTrait,
    ActiveValue::Set,
    ColumnTrait, Condition, ConnectionTrait, DbErr, EntityTrait, IntoActiveModel, Iterable, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect,
    sea_query::{Alias, Expr, ExprTrait, OnConflict},
};

pub use entity::{
    NO_DEADLINE, care_task, case, case_transition, customer_flag, detractor, programme, programme_action,
    recovery_action, sub_task,
};
pub use problem_entity::{known_customer, service_problem};

use crate::lifecycle::{CLOCK_RUNNING, UNANSWERED};

/// The advisory lock the feeds that open cases take turns under ("csm-cas" in ASCII, as the
/// kit's migration lock is "csm-mig"); locks are per database, so only recovery's feeds meet it.
const CASE_OPENERS: i64 = 0x0063_736d_2d63_6173;

/// Makes the feeds that open cases (intake's registrations, classification's dispatches) take
/// turns on PostgreSQL until the transaction ends; SQLite's single writer already does. Each reads
/// which of its work orders have a case and opens one for the rest: side by side, both could find
/// none for the same order, and the later insert broke the unique work order, rolling its whole
/// batch back to be retried after a pause (20 to 60 times in a minute at 1,000 orders/s, each
/// holding up every case behind it).
pub async fn lock_case_openers(db: &impl ConnectionTrait) -> Result<(), DbErr> {
    csm_kit::db::lock_for_transaction(db, CASE_OPENERS).await
}

pub async fn case_by_id(db: &impl ConnectionTrait, id: &str) -> Result<Option<case::Model>, DbErr> {
    case::Entity::find_by_id(id.to_string()).one(db).await
}

pub async fn case_by_work_order(db: &impl ConnectionTrait, work_order_id: &str) -> Result<Option<case::Model>, DbErr> {
    case::Entity::find().filter(case::Column::WorkOrderId.eq(work_order_id)).one(db).await
}

/// The cases of these work orders, by work order.
pub async fn cases_by_work_orders(
    db: &impl ConnectionTrait,
    work_order_ids: &[String],
) -> Result<HashMap<String, case::Model>, DbErr> {
    let rows = csm_kit::bulk::find_in(db, case::Entity::find(), case::Column::WorkOrderId, work_order_ids).await?;
    Ok(rows.into_iter().map(|row| (row.work_order_id.clone(), row)).collect())
}

/// Inserts new cases in as few statements as the database allows.
pub async fn insert_cases(db: &impl ConnectionTrait, rows: Vec<case::Model>) -> Result<(), DbErr> {
    csm_kit::bulk::insert_all(db, rows.into_iter().map(IntoActiveModel::into_active_model).collect()).await
}

pub async fn insert_case(db: &impl ConnectionTrait, row: case::Model) -> Result<(), DbErr> {
    case::Entity::insert(row.into_active_model()).exec_without_returning(db).await?;
    Ok(())
}

/// Writes `row` over the stored case if nobody changed it since it was read at `read_version`
/// (`row.version` must be the next one); false when somebody did.
pub async fn save_case(db: &impl ConnectionTrait, read_version: i64, row: case::Model) -> Result<bool, DbErr> {
    let id = row.id.clone();
    let mut model = row.into_active_model().reset_all();
    model.id = sea_orm::ActiveValue::NotSet;
    let result = case::Entity::update_many()
        .set(model)
        .filter(case::Column::Id.eq(id))
        .filter(case::Column::Version.eq(read_version))
        .exec(db)
        .await?;
    Ok(result.rows_affected == 1)
}

/// Writes each row over its stored case, in few statements, if nobody changed the case since it
/// was read (each row's `version` one past the version read; ids distinct); returns how many were
/// written, which is fewer than the rows when somebody changed one meanwhile. Every case must be
/// stored already (cases are never deleted): the rows are matched to them by id.
pub async fn save_cases(db: &impl ConnectionTrait, rows: Vec<case::Model>) -> Result<u64, DbErr> {
    let columns = case::Column::iter().filter(|column| !matches!(column, case::Column::Id));
    let on_conflict = OnConflict::column(case::Column::Id)
        .update_columns(columns)
        .action_and_where(
            Expr::col((case::Entity, case::Column::Version))
                .add(1)
                .eq(Expr::col((Alias::new("excluded"), case::Column::Version))),
        )
        .to_owned();
    csm_kit::bulk::upsert_all(db, rows.into_iter().map(IntoActiveModel::into_active_model).collect(), on_conflict).await
}

/// One entry of a case's audit trail.
#[derive(Debug, Clone)]
pub struct HistoryEntry<'a> {
    pub case_id: &'a str,
    pub from: Option<CaseStatus>,
    pub to: CaseStatus,
    pub action: &'a str,
    pub actor: &'a str,
    pub reason: &'a str,
    pub at: i64,
    pub request_id: Option<&'a str>,
}

pub async fn record_history(db: &impl ConnectionTrait, entry: HistoryEntry<'_>) -> Result<(), DbErr> {
    case_transition::Entity::insert(history_row(entry)).exec_without_returning(db).await?;
    Ok(())
}

/// Records many entries with as few statements as the database allows.
pub async fn record_histories(db: &impl ConnectionTrait, rows: Vec<case_transition::ActiveModel>) -> Result<(), DbErr> {
    csm_kit::bulk::insert_all(db, rows).await
}

/// The stored form of an audit-trail entry.
pub fn history_row(entry: HistoryEntry<'_>) -> case_transition::ActiveModel {
    case_transition::ActiveModel {
        case_id: Set(entry.case_id.to_string()),
        from_status: Set(entry.from.map(StoredEnum::stored)),
        to_status: Set(entry.to.stored()),
        actor: Set(entry.actor.to_string()),
        reason: Set(entry.reason.to_string()),
        at: Set(entry.at),
        action: Set(entry.action.to_string()),
        request_id: Set(entry.request_id.map(str::to_string)),
        ..Default::default()
    }
}

pub async fn history(db: &impl ConnectionTrait, case_id: &str) -> Result<Vec<case_transition::Model>, DbErr> {
    case_transition::Entity::find()
        .filter(case_transition::Column::CaseId.eq(case_id))
        .order_by_asc(case_transition::Column::Id)
        .all(db)
        .await
}

/// Whether a change of this case already carried `request_id`.
pub async fn request_seen(db: &impl ConnectionTrait, case_id: &str, request_id: &str) -> Result<bool, DbErr> {
    let found = case_transition::Entity::find()
        .filter(case_transition::Column::CaseId.eq(case_id))
        .filter(case_transition::Column::RequestId.eq(request_id))
        .one(db)
        .await?;
    Ok(found.is_some())
}

/// Filters of a case listing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CaseFilter {
    pub department: Option<String>,
    pub status: Option<CaseStatus>,
    pub phone_number: Option<String>,
    /// Only cases whose clock runs and whose deadline is before this time.
    pub overdue_at: Option<i64>,
    /// Only unanswered cases whose answer is due at or before this time (now plus the warning).
    pub answer_due_by: Option<i64>,
    /// Soonest answer due time first, instead of soonest deadline.
    pub by_answer_due: bool,
    /// Only cases linked to this service problem (its id).
    pub service_problem: Option<String>,
}

/// Up to `limit` cases matching `filter`, by deadline (or answer due time) then id, strictly
/// after `after`.
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
        query = query.filter(case::Column::Status.eq(status.stored()));
    }
    if let Some(phone) = &filter.phone_number {
        query = query.filter(case::Column::PhoneNumber.eq(phone.as_str()));
    }
    if let Some(problem) = &filter.service_problem {
        query = query.filter(case::Column::ServiceProblemId.eq(problem.as_str()));
    }
    if let Some(now) = filter.overdue_at {
        query = query
            .filter(case::Column::Status.is_in(CLOCK_RUNNING.map(StoredEnum::stored)))
            .filter(case::Column::Deadline.lt(now));
    }
    if let Some(by) = filter.answer_due_by {
        query = query
            .filter(case::Column::Status.is_in(UNANSWERED.map(StoredEnum::stored)))
            .filter(case::Column::AnswerDue.lte(by));
    }
    let order = if filter.by_answer_due { case::Column::AnswerDue } else { case::Column::Deadline };
    if let Some((at, id)) = after {
        query = query.filter(
            Condition::any().add(order.gt(at)).add(Condition::all().add(order.eq(at)).add(case::Column::Id.gt(id))),
        );
    }
    query.order_by_asc(order).order_by_asc(case::Column::Id).limit(limit).all(db).await
}

/// Cases whose clock runs and whose deadline passed before `before`, below escalation `level`.
pub async fn overdue_cases(
    db: &impl ConnectionTrait,
    before: i64,
    below_level: i32,
    limit: u64,
) -> Result<Vec<case::Model>, DbErr> {
    case::Entity::find()
        .filter(case::Column::Status.is_in(CLOCK_RUNNING.map(StoredEnum::stored)))
        .filter(case::Column::Deadline.lt(before))
        .filter(case::Column::EscalationLevel.lt(below_level))
        .order_by_asc(case::Column::Deadline)
        .limit(limit)
        .all(db)
        .await
}

/// Unanswered cases whose regulator's clock reached a step not yet announced: within `warn`
/// (microseconds) of the answer due time below level 1, or past it below level 2.
pub async fn cases_reaching_appeal_risk(
    db: &impl ConnectionTrait,
    now: i64,
    warn: i64,
    limit: u64,
) -> Result<Vec<case::Model>, DbErr> {
    case::Entity::find()
        .filter(case::Column::Status.is_in(UNANSWERED.map(StoredEnum::stored)))
        .filter(
            Condition::any()
                .add(
                    Condition::all()
                        .add(case::Column::AppealRiskLevel.lt(1))
                        .add(case::Column::AnswerDue.lte(now.saturating_add(warn))),
                )
                .add(Condition::all().add(case::Column::AppealRiskLevel.lt(2)).add(case::Column::AnswerDue.lte(now))),
        )
        .order_by_asc(case::Column::AnswerDue)
        .limit(limit)
        .all(db)
        .await
}

/// Open cases whose deadline passed before `now`.
pub async fn count_overdue_cases(db: &impl ConnectionTrait, now: i64) -> Result<u64, DbErr> {
    case::Entity::find()
        .filter(case::Column::Status.is_in(CLOCK_RUNNING.map(StoredEnum::stored)))
        .filter(case::Column::Deadline.lt(now))
        .count(db)
        .await
}

pub fn status_of(row: &case::Model) -> CaseStatus {
    CaseStatus::from_stored(&row.status)
}
