//! Linking cases to open problems as they are dispatched: a case of a problem's leaf and region,
//! raised within its window, becomes one of its trouble tickets in the dispatch's own transaction.
//! The lookup is one indexed query on the open problems of the case's leaf and region, once per
//! batch ([`OpenProblems`]), and a batch's links are counted and recorded together when it is
//! flushed, so linking costs the dispatch path little; a case without a region is never looked up.

use std::collections::{HashMap, hash_map::Entry};

use csm_kit::feed::UnitOfWork;
use sea_orm::{ConnectionTrait, DbErr};

use super::{detection, opening};
use crate::{
    rules::Context,
    store::{self, case, problems, service_problem},
};

/// The open problems of the leaves and regions a batch of dispatches reaches, each read once per
/// batch: the batch opens no problem before its cases are written.
#[derive(Debug, Default)]
pub struct OpenProblems(HashMap<(String, String), Vec<service_problem::Model>>);

impl OpenProblems {
    /// The open problem `row`, about to be dispatched, falls under: the oldest of its leaf and
    /// region whose window holds the case's open time.
    pub async fn problem_for(&mut self, db: &impl ConnectionTrait, row: &case::Model) -> Result<Option<String>, DbErr> {
        if row.region.is_empty() || row.leaf.is_empty() {
            return Ok(None);
        }
        let key = (row.leaf.clone(), row.region.clone());
        let open = match self.0.entry(key) {
            Entry::Occupied(known) => known.into_mut(),
            Entry::Vacant(unread) => unread.insert(problems::open_for(db, &row.leaf, &row.region).await?),
        };
        let within =
            |p: &&service_problem::Model| row.opened_at >= p.start_at && p.end_at.is_none_or(|end| row.opened_at < end);
        Ok(open.iter().find(within).map(|problem| problem.id.clone()))
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
pub async fn dispatched(context: &Context, uow: &mut UnitOfWork, row: &case::Model, actor: &str) -> Result<(), DbErr> {
    let Some(problem_id) = &row.service_problem_id else {
        return detection::check(context, uow, row).await;
    };
    uow.stash::<Links>().0.push(Link { problem_id: problem_id.clone(), case: row.clone(), actor: actor.to_string() });
    Ok(())
}

/// Counts the batch's links, one update per problem, records them in the cases' audit trails in
/// one statement, and announces each (CaseLinkedToProblem, with the problem's count as of that
/// case), after the batch's CaseOpened events.
pub async fn flush(context: &Context, uow: &mut UnitOfWork) -> Result<(), DbErr> {
    let links = uow.take_stash::<Links>().0;
    if links.is_empty() {
        return Ok(());
    }
    let mut problems_in_order: Vec<&str> = Vec::new();
    for link in &links {
        if !problems_in_order.contains(&link.problem_id.as_str()) {
            problems_in_order.push(&link.problem_id);
        }
    }
    let mut histories = Vec::with_capacity(links.len());
    for problem_id in problems_in_order {
        let of_problem: Vec<&Link> = links.iter().filter(|link| link.problem_id == problem_id).collect();
        let Some(problem) = problems::count_links(&**uow, problem_id, of_problem.len()).await? else {
            continue;
        };
        let before = usize::try_from(problem.linked_cases).unwrap_or(0).saturating_sub(of_problem.len());
        for (i, link) in of_problem.iter().enumerate() {
            histories.push(opening::link_entry(context, &link.case, problem_id, &link.actor));
            opening::announce(uow, &link.case, problem_id, before + i + 1);
        }
        csm_kit::metrics::get().problem_links.add(of_problem.len() as u64, &[]);
    }
    store::record_histories(&**uow, histories).await
}
