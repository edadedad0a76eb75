//! Linking cases to open problems as they are dispatched: a case of a problem's leaf and region,
//! raised within its window, becomes one of its trouble tickets in the dispatch's own transaction.
//! The lookup is one indexed query on the open problems of the case's leaf and region, so linking
//! costs the dispatch path little; a case without a region is never looked up.

use csm_kit::feed::UnitOfWork;
use sea_orm::{ConnectionTrait, DbErr};

use super::{detection, opening};
use crate::{
    rules::Context,
    store::{self, case, problems, service_problem},
};

/// The open problem `row`, about to be dispatched, falls under: the oldest of its leaf and region
/// whose window holds the case's open time.
pub async fn problem_for(
    db: &impl ConnectionTrait,
    row: &case::Model,
) -> Result<Option<service_problem::Model>, DbErr> {
    if row.region.is_empty() || row.leaf.is_empty() {
        return Ok(None);
    }
    let open = problems::open_for(db, &row.leaf, &row.region).await?;
    Ok(open.into_iter().find(|p| row.opened_at >= p.start_at && p.end_at.is_none_or(|end| row.opened_at < end)))
}

/// After the dispatch of `row` is written: its link counted and announced, or, linked to nothing,
/// a look at whether its leaf now surges in its region.
pub async fn dispatched(context: &Context, uow: &mut UnitOfWork, row: &case::Model, actor: &str) -> Result<(), DbErr> {
    let Some(problem_id) = &row.service_problem_id else {
        return detection::check(context, uow, row).await;
    };
    let Some(problem) = problems::count_link(&**uow, problem_id).await? else {
        return Ok(());
    };
    store::record_histories(&**uow, vec![opening::link_entry(context, row, problem_id, actor)]).await?;
    opening::announce(uow, row, problem_id, usize::try_from(problem.linked_cases).unwrap_or(0));
    csm_kit::metrics::get().problem_links.add(1, &[]);
    Ok(())
}
