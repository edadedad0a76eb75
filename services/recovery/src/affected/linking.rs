//! Linking cases to open problems as they are dispatched: a case of a problem's leaf and region,
//! raised within its window, becomes one of its trouble tickets in the dispatch's own transaction.
//! The open problems of a batch's leaves are read in one query ([`OpenProblems`]), and the batch's
//! links are counted in one statement and recorded together when it is flushed, so linking costs
//! the dispatch path a few statements a batch; a case without a region is never linked.

use std::collections::HashMap;

use csm_kit::feed::UnitOfWork;
use sea_orm::{ConnectionTrait, DbErr};

use super::{detection, has_area, opening};
use crate::{
    rules::Context,
    store::{self, case, problems, service_problem},
};

/// The open problems of the leaves a batch of dispatches reaches, by leaf and region, read once
/// per batch: the batch opens no problem before its cases are written.
#[derive(Debug, Default)]
pub struct OpenProblems(HashMap<(String, String), Vec<service_problem::Model>>);

impl OpenProblems {
    /// The open problems of `leaves`, in every region, in one query.
    pub async fn of_leaves(db: &impl ConnectionTrait, leaves: &[String]) -> Result<Self, DbErr> {
        let mut leaves: Vec<String> = leaves.iter().filter(|leaf| !leaf.is_empty()).cloned().collect();
        leaves.sort_unstable();
        leaves.dedup();
        let mut by_area: HashMap<(String, String), Vec<service_problem::Model>> = HashMap::new();
        for problem in problems::open_for_leaves(db, &leaves).await? {
            by_area.entry((problem.leaf.clone(), problem.region.clone())).or_default().push(problem);
        }
        Ok(Self(by_area))
    }

    /// The open problem `row`, about to be dispatched, falls under: the oldest of its leaf and
    /// region whose window holds the case's open time. A case without a region or leaf has none.
    pub fn problem_for(&self, row: &case::Model) -> Option<String> {
        if !has_area(row) {
            return None;
        }
        let open = self.0.get(&(row.leaf.clone(), row.region.clone()))?;
        let within =
            |p: &&service_problem::Model| row.opened_at >= p.start_at && p.end_at.is_none_or(|end| row.opened_at < end);
        open.iter().find(within).map(|problem| problem.id.clone())
    }
}

/// A link made in this transaction, counted and announced when the batch is flushed.
#[derive(Debug, Clone)]
struct Link {
    problem_id: String,
    case: case::Model,
    actor: String,
}

/// The links a batch of dispatches made, gathered so that each problem's count is written once
/// per batch rather than once per case.
#[derive(Debug, Clone, Default)]
struct Links(Vec<Link>);

/// After the dispatch of `row` is written: its link set aside to be counted and announced with the
/// batch (see [`flush`]), or, linked to nothing, a look at whether its leaf now surges in its
/// region.
pub async fn dispatched(
    context: &Context,
    uow: &mut UnitOfWork,
    row: &case::Model,
    actor: &str,
    recent: &detection::RecentCases,
) -> Result<(), DbErr> {
    let Some(problem_id) = &row.service_problem_id else {
        return detection::check(context, uow, row, recent).await;
    };
    uow.stash::<Links>().0.push(Link { problem_id: problem_id.clone(), case: row.clone(), actor: actor.to_string() });
    Ok(())
}

/// Counts the batch's links in one statement, records them in the cases' audit trails in one
/// statement, and announces each (CaseLinkedToProblem, with the problem's count as of that case),
/// after the batch's CaseOpened events.
pub async fn flush(context: &Context, uow: &mut UnitOfWork) -> Result<(), DbErr> {
    let links = uow.take_stash::<Links>().0;
    if links.is_empty() {
        return Ok(());
    }
    let mut added: Vec<(String, usize)> = Vec::new();
    for link in &links {
        match added.iter_mut().find(|(problem, _)| *problem == link.problem_id) {
            Some((_, n)) => *n += 1,
            None => added.push((link.problem_id.clone(), 1)),
        }
    }
    let counted: HashMap<String, service_problem::Model> =
        problems::count_links(&**uow, &added).await?.into_iter().map(|p| (p.id.clone(), p)).collect();
    let mut histories = Vec::with_capacity(links.len());
    for (problem_id, n) in &added {
        let Some(problem) = counted.get(problem_id) else {
            continue;
        };
        let before = usize::try_from(problem.linked_cases).unwrap_or(0).saturating_sub(*n);
        for (i, link) in links.iter().filter(|link| link.problem_id == *problem_id).enumerate() {
            histories.push(opening::link_entry(context, &link.case, problem_id, &link.actor));
            opening::announce(uow, &link.case, problem_id, before + i + 1);
        }
        csm_kit::metrics::get().problem_links.add(*n as u64, &[]);
    }
    store::record_histories(&**uow, histories).await
}
