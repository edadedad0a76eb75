//! Finding a service problem nobody raised: when a dispatch brings the cases of its leaf in its
//! region within the trailing window (`recovery.service_problems.window`) to at least `min_cases`,
//! and to at least `surge_factor` times the usual count per window over the previous seven days,
//! and no problem of that leaf and region is open or was opened within the window, recovery opens
//! one (DETECTED) and links the window's cases to it. Later cases of the surge are linked to it as
//! they are dispatched, so one surge opens one problem; the check runs in the dispatch's
//! transaction, so a replayed dispatch finds what the first one did. A batch of dispatches counts
//! the window's cases of all its leaves and regions in one query ([`count_batch`]), so a case
//! that opens nothing costs no query of its own.

use std::collections::HashMap;

use csm_kit::{feed::UnitOfWork, time};
use csm_proto::{
    StoredEnum,
    recovery::v1::{ServiceProblemOrigin, ServiceProblemStatus},
};
use sea_orm::DbErr;
use uuid::Uuid;

use super::{has_area, opening};
use crate::{
    rules::Context,
    store::{case, problems, service_problem},
};

/// The originator of a detected problem.
const DETECTOR: &str = "recovery";
const WEEK_MICROS: i64 = 7 * 86_400_000_000;
/// The priority of a detected problem: urgent, short of the most urgent a person decides on.
const DETECTED_PRIORITY: i32 = 2;

/// The cases of each leaf and region opened within the window (from `from` on), counted for a
/// batch of dispatches at once ([`count_batch`]).
#[derive(Debug, Clone)]
pub struct RecentCases {
    from: i64,
    by_area: HashMap<(String, String), u64>,
}

/// Counts the cases opened within the window for every leaf and region of `rows` that [`check`]
/// will look at, in one query, once the batch's cases are written (they count, as they did when
/// each case made its own query).
pub async fn count_batch(context: &Context, uow: &mut UnitOfWork, rows: &[case::Model]) -> Result<RecentCases, DbErr> {
    let from = window_start(context);
    if !context.rules.service_problems.detect {
        return Ok(RecentCases { from, by_area: HashMap::new() });
    }
    let mut areas: Vec<(String, String)> = rows
        .iter()
        .filter(|row| row.service_problem_id.is_none() && has_area(row))
        .map(|row| (row.leaf.clone(), row.region.clone()))
        .collect();
    areas.sort_unstable();
    areas.dedup();
    let by_area = problems::count_recent_cases_by_area(&**uow, &areas, from).await?;
    Ok(RecentCases { from, by_area })
}

fn window_start(context: &Context) -> i64 {
    let window = time::duration_micros(context.rules.service_problems.window).max(1);
    context.now().saturating_sub(window)
}

/// Opens a problem for the leaf and region of `row` if its dispatch made them surge; `recent` is
/// its batch's count.
pub async fn check(
    context: &Context,
    uow: &mut UnitOfWork,
    row: &case::Model,
    recent: &RecentCases,
) -> Result<(), DbErr> {
    let settings = &context.rules.service_problems;
    if !settings.detect || !has_area(row) {
        return Ok(());
    }
    let window = time::duration_micros(settings.window).max(1);
    let from = recent.from;
    // An area the count lacks has no case opened within the window (an order classified late).
    let count = recent.by_area.get(&(row.leaf.clone(), row.region.clone())).copied().unwrap_or(0);
    let now = context.now();
    if count < u64::from(settings.min_cases) {
        return Ok(());
    }
    let before = problems::count_cases(&**uow, &row.leaf, &row.region, from.saturating_sub(WEEK_MICROS), from).await?;
    let usual = (before as f64 * window as f64 / WEEK_MICROS as f64).max(1.0);
    if (count as f64) < settings.surge_factor * usual {
        return Ok(());
    }
    if !problems::open_for(&**uow, &row.leaf, &row.region).await?.is_empty()
        || problems::opened_since(&**uow, &row.leaf, &row.region, from).await?
    {
        return Ok(());
    }
    let minutes = settings.window.as_secs() / 60;
    let description = format!(
        "{count} complaints of {} in {} within {minutes} minutes, against {usual:.1} in a usual window: a surge",
        row.leaf, row.region
    );
    let problem = service_problem::Model {
        id: Uuid::now_v7().to_string(),
        status: ServiceProblemStatus::Submitted.stored(),
        description,
        category: "detected".into(),
        priority: DETECTED_PRIORITY,
        leaf: row.leaf.clone(),
        region: row.region.clone(),
        products: "[]".into(),
        start_at: from,
        end_at: None,
        origin: ServiceProblemOrigin::Detected.stored(),
        originator: DETECTOR.into(),
        underlying_alarms: "[]".into(),
        root_cause_service: String::new(),
        department: row.department.clone(),
        linked_cases: 0,
        cared_customers: 0,
        created_at: now,
        status_changed_at: now,
        status_change_reason: String::new(),
        resolved_at: None,
        resolution: None,
        request_id: None,
        change_request_id: None,
        version: 0,
    };
    let opened = opening::open(context, uow, problem, DETECTOR).await?;
    opening::counted(&opened);
    Ok(())
}
