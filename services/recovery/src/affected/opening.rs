//! Opening a problem, raised or detected: the open cases of its leaf and region raised within its
//! window are linked to it, the area's customers who have not complained are chosen for care, and
//! the problem is stored and announced with both counts, all in the caller's transaction.

use csm_kit::{feed::UnitOfWork, metrics::KeyValue, names};
use csm_proto::{
    StoredEnum,
    recovery::v1::{CaseLinkedToProblem, ServiceProblemOpened, ServiceProblemOrigin},
};
use sea_orm::DbErr;

use super::{care, view};
use crate::{
    rules::Context,
    store::{self, HistoryEntry, case, problems, service_problem},
};

/// Stores `row` as a new problem and links and cares as its window and area say; the problem as
/// stored.
pub async fn open(
    context: &Context,
    uow: &mut UnitOfWork,
    mut row: service_problem::Model,
    actor: &str,
) -> Result<service_problem::Model, DbErr> {
    let cases = problems::linkable_cases(&**uow, &row.leaf, &row.region, row.start_at, row.end_at).await?;
    let complained = cases.iter().map(|c| c.phone_number.clone()).collect();
    let limit = context.rules.service_problems.care_limit;
    let customers = care::candidates(uow, &row, &complained, limit).await?;
    row.linked_cases = i32::try_from(cases.len()).unwrap_or(i32::MAX);
    row.cared_customers = i32::try_from(customers.len()).unwrap_or(i32::MAX);
    problems::insert(&**uow, row.clone()).await?;
    let problem = view(&row);
    uow.publish(problem.name.clone(), &ServiceProblemOpened { service_problem: Some(problem) });
    link(context, uow, &row, &cases, actor).await?;
    care::open_tasks(context, uow, &row, customers).await?;
    tracing::info!(
        problem = %format!("{}{}", names::SERVICE_PROBLEMS, row.id), origin = %row.origin, leaf = %row.leaf,
        region = %row.region, linked_cases = row.linked_cases, cared_customers = row.cared_customers,
        "service problem opened"
    );
    Ok(row)
}

/// Counts an opened problem once its transaction committed.
pub fn counted(row: &service_problem::Model) {
    let origin = match ServiceProblemOrigin::from_stored(&row.origin) {
        ServiceProblemOrigin::Detected => "detected",
        _ => "raised",
    };
    let metrics = csm_kit::metrics::get();
    metrics.service_problems.add(1, &[KeyValue::new("origin", origin)]);
    metrics.problem_links.add(u64::try_from(row.linked_cases).unwrap_or(0), &[]);
}

/// Links `cases` (of one leaf and region, in the window of `problem`) to it, with an audit entry
/// each and CaseLinkedToProblem counting them up to the problem's count.
async fn link(
    context: &Context,
    uow: &mut UnitOfWork,
    problem: &service_problem::Model,
    cases: &[case::Model],
    actor: &str,
) -> Result<(), DbErr> {
    if cases.is_empty() {
        return Ok(());
    }
    let ids: Vec<String> = cases.iter().map(|c| c.id.clone()).collect();
    problems::link_cases(&**uow, &ids, &problem.id).await?;
    let already = usize::try_from(problem.linked_cases).unwrap_or(0).saturating_sub(cases.len());
    let mut history = Vec::with_capacity(cases.len());
    for (i, case) in cases.iter().enumerate() {
        history.push(link_entry(context, case, &problem.id, actor));
        announce(uow, case, &problem.id, already + i + 1);
    }
    store::record_histories(&**uow, history).await
}

/// The audit entry of `case` linked to the problem `problem_id`.
pub fn link_entry(
    context: &Context,
    case: &case::Model,
    problem_id: &str,
    actor: &str,
) -> store::case_transition::ActiveModel {
    let status = store::status_of(case);
    let reason = format!("linked to {}{problem_id}", names::SERVICE_PROBLEMS);
    store::history_row(HistoryEntry {
        case_id: &case.id,
        from: Some(status),
        to: status,
        action: "linked_to_problem",
        actor,
        reason: &reason,
        at: context.now(),
        request_id: None,
    })
}

/// Publishes CaseLinkedToProblem for `case`, the problem now counting `linked` cases.
pub fn announce(uow: &mut UnitOfWork, case: &case::Model, problem_id: &str, linked: usize) {
    let name = format!("{}{}", names::CASES, case.id);
    let event = CaseLinkedToProblem {
        case: name.clone(),
        work_order: format!("{}{}", names::WORK_ORDERS, case.work_order_id),
        service_problem: format!("{}{problem_id}", names::SERVICE_PROBLEMS),
        linked_cases: i32::try_from(linked).unwrap_or(i32::MAX),
    };
    uow.publish(name, &event);
}
