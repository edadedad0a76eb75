//! Finding a service problem nobody raised: when a dispatch brings the cases of its leaf in its
//! region within the trailing window (`recovery.service_problems.window`) to at least `min_cases`,
//! and to at least `surge_factor` times the usual count per window over the previous seven days,
//! and no problem of that leaf and region is open or was opened within the window, recovery opens
//! one (DETECTED) and links the window's cases to it. Later cases of the surge are linked to it as
//! they are dispatched, so one surge opens one problem; the check runs in the dispatch's
//! transaction, so a replayed dispatch finds what the first one did.

use csm_kit::{feed::UnitOfWork, time};
use csm_proto::{
    StoredEnum,
    recovery::v1::{ServiceProblemOrigin, ServiceProblemStatus},
};
use sea_orm::DbErr;
use uuid::Uuid;

use super::opening;
use crate::{
    rules::Context,
    store::{case, problems, service_problem},
};

/// The originator of a detected problem.
const DETECTOR: &str = "recovery";
const WEEK_MICROS: i64 = 7 * 86_400_000_000;
/// The priority of a detected problem: urgent, short of the most urgent a person decides on.
const DETECTED_PRIORITY: i32 = 2;

/// Opens a problem for the leaf and region of `row` if its dispatch made them surge.
pub async fn check(context: &Context, uow: &mut UnitOfWork, row: &case::Model) -> Result<(), DbErr> {
    let settings = &context.rules.service_problems;
    if !settings.detect || row.region.is_empty() || row.leaf.is_empty() {
        return Ok(());
    }
    let now = context.now();
    let window = time::duration_micros(settings.window).max(1);
    let from = now.saturating_sub(window);
    let count = problems::count_cases(&**uow, &row.leaf, &row.region, from, i64::MAX).await?;
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
