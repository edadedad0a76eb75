//! The one path a planned change reaches the database by: the case saved (inserted, or updated
//! on the condition that nobody changed it since it was read), its audit entry, and the feed events
//! it announces, in the caller's transaction. Changes made through the API at the same moment
//! share that transaction (a group commit, [`CaseWriter`]), so one disk flush makes many of them
//! durable; each is still conditional on the version its caller read (the updates of distinct
//! cases written in one statement), and no caller is answered before its change is committed. A
//! batch of feed events writes its changes together ([`write_all_from_feed`]): new cases and audit
//! entries in multi-row statements.

use std::collections::{HashMap, HashSet};

use csm_kit::{
    feed::{HandleError, UnitOfWork},
    group_commit::BatchWriter,
    telemetry::TraceContext,
    time,
};
use csm_proto::recovery::v1::{
    AppealRiskRaised, CallbackDue, CallbackRecorded, CaseEscalated, CaseOpened, CaseReopened, CaseResolved,
    CaseStatusChanged,
};
use prost::Name;
use sea_orm::DbErr;

use super::{
    case_view,
    change::{Announcement, Planned, Save},
};
use crate::{
    error::Error,
    rules::Context,
    store::{self, HistoryEntry, case},
};

/// Writes a planned change in `uow`; `None` when the case changed since it was read.
pub async fn write(
    context: &Context,
    uow: &mut UnitOfWork,
    mut planned: Planned,
    actor: &str,
    request_id: Option<&str>,
) -> Result<Option<case::Model>, Error> {
    sign(&mut planned, actor, request_id);
    if save_all(uow, &[&planned]).await? != Saved::Each(vec![true]) {
        return Ok(None);
    }
    let mut history = Vec::new();
    let announced = Announced { actor, request_id, trace: None };
    let written = record(context, uow, planned, &announced, &mut history).await?;
    store::record_histories(&**uow, history).await?;
    Ok(Some(written))
}

/// A resolution records who resolved the case, and on which request.
fn sign(planned: &mut Planned, actor: &str, request_id: Option<&str>) {
    if matches!(planned.action, "resolve" | "problem_resolved") {
        planned.row.resolved_by = Some(actor.to_string());
        planned.row.resolve_request_id = request_id.map(str::to_string);
    }
}

/// Who made a change, and the trace its events continue (the current span's when `None`).
struct Announced<'a> {
    actor: &'a str,
    request_id: Option<&'a str>,
    trace: Option<&'a TraceContext>,
}

impl Announced<'_> {
    fn publish<M: Name>(&self, uow: &mut UnitOfWork, subject: String, payload: &M) {
        match self.trace {
            Some(trace) => uow.publish_traced(trace, subject, payload),
            None => uow.publish(subject, payload),
        }
    }
}

/// After a planned change is saved: its audit entry added to `history`, and the feed events it
/// announces published. What was written is what is stored: nothing is read back.
async fn record(
    context: &Context,
    uow: &mut UnitOfWork,
    planned: Planned,
    announced: &Announced<'_>,
    history: &mut Vec<store::case_transition::ActiveModel>,
) -> Result<case::Model, Error> {
    let Planned { row, save: _, from, action, reason, announcements } = planned;
    let (actor, request_id) = (announced.actor, announced.request_id);
    let now = context.now();
    let to = store::status_of(&row);
    let entry = HistoryEntry { case_id: &row.id, from, to, action, actor, reason: &reason, at: now, request_id };
    history.push(store::history_row(entry));
    let case = case_view(&row, &context.rules, now, Vec::new());
    for announcement in announcements {
        let subject = case.name.clone();
        let case = Some(case.clone());
        match announcement {
            Announcement::Opened => announced.publish(uow, subject, &CaseOpened { case }),
            Announcement::StatusChanged => announced.publish(
                uow,
                subject,
                &CaseStatusChanged {
                    case,
                    from_status: from.unwrap_or_default() as i32,
                    action: action.to_string(),
                    actor: actor.to_string(),
                    reason: reason.clone(),
                },
            ),
            Announcement::Resolved => {
                announced.publish(uow, subject.clone(), &CaseResolved { case: case.clone() });
                announced.publish(uow, subject, &CallbackDue { case });
                if row.reopen_count > 0 {
                    Box::pin(crate::closed_loop::case_answered_again(uow, &row.id, now)).await?;
                }
            }
            Announcement::CallbackRecorded { outcome, within_due_time } => {
                announced.publish(uow, subject, &CallbackRecorded { case, outcome: outcome as i32, within_due_time })
            }
            Announcement::Reopened { cause, repeat_work_order, survey_answer } => announced.publish(
                uow,
                subject,
                &CaseReopened { case, cause: cause as i32, reason: reason.clone(), repeat_work_order, survey_answer },
            ),
            Announcement::Escalated { level } => announced.publish(
                uow,
                subject,
                &CaseEscalated {
                    case,
                    level,
                    escalate_to: context.rules.escalate_to(level).to_string(),
                    overdue_since: Some(time::timestamp_from_micros(row.deadline)),
                },
            ),
            Announcement::AppealRisk { past_due } => {
                let escalate_to = context.rules.regulator.escalate_to.clone();
                announced.publish(uow, subject, &AppealRiskRaised { case, escalate_to, past_due });
            }
        }
    }
    Ok(row)
}

/// One change a caller takes on a case, queued for the group commit.
#[derive(Debug)]
pub struct CaseChange {
    pub(super) planned: Planned,
    pub(super) actor: String,
    pub(super) request_id: Option<String>,
}

/// Writes the changes queued at the same moment in one transaction, in their order. A change
/// whose case another one in the batch (or any other writer) changed first is not written, and its
/// caller plans it again from the case as it now is.
#[derive(Debug, Clone)]
pub struct CaseWriter {
    context: Context,
}

impl CaseWriter {
    pub fn new(context: Context) -> Self {
        Self { context }
    }
}

impl BatchWriter for CaseWriter {
    type Item = CaseChange;
    type Output = Option<case::Model>;

    async fn write(&self, uow: &mut UnitOfWork, items: &[CaseChange]) -> Result<Vec<Option<case::Model>>, DbErr> {
        let as_db_error = |error| match error {
            Error::Database(error) => error,
            other => DbErr::Custom(other.to_string()),
        };
        let mut plans: Vec<Planned> = items.iter().map(|item| item.planned.clone()).collect();
        plans.iter_mut().zip(items).for_each(|(planned, item)| sign(planned, &item.actor, item.request_id.as_deref()));
        let Saved::Each(saved) = save_all(uow, &plans.iter().collect::<Vec<_>>()).await? else {
            // The group commit tries each change alone, and each caller learns of its own.
            return Err(DbErr::Custom("a case changed while a batch of changes was written".into()));
        };
        let mut written = Vec::with_capacity(items.len());
        let mut history = Vec::with_capacity(items.len());
        for ((planned, item), saved) in plans.into_iter().zip(items).zip(saved) {
            if !saved {
                written.push(None);
                continue;
            }
            let announced = Announced { actor: &item.actor, request_id: item.request_id.as_deref(), trace: None };
            written
                .push(Some(record(&self.context, uow, planned, &announced, &mut history).await.map_err(as_db_error)?));
        }
        store::record_histories(&**uow, history).await?;
        Ok(written)
    }
}

/// What [`save_all`] did.
#[derive(Debug, PartialEq)]
enum Saved {
    /// For each change, whether it was written (not when its case changed since it was read).
    Each(Vec<bool>),
    /// A statement that wrote several cases found one of them changed meanwhile. Which one is not
    /// known, so the transaction must be abandoned and the changes tried again apart.
    Refused,
}

/// Saves the planned changes in their order. Updates of distinct cases side by side are written
/// in one statement: at 64 callers a group commit holds dozens, each an `UPDATE` of its own
/// before. A case that comes again starts a new statement, since one statement cannot change a
/// row twice and the later change must find the earlier one written; a later change planned from
/// the version before an earlier one (two callers at once) is refused without a statement.
async fn save_all(uow: &UnitOfWork, plans: &[&Planned]) -> Result<Saved, DbErr> {
    let mut saved = vec![false; plans.len()];
    // The updates of the current run: each change's index and the version its caller read.
    let (mut run, mut in_run): (Vec<(usize, i64)>, HashSet<&str>) = Default::default();
    // The version each case of a finished run was written at.
    let mut written: HashMap<&str, i64> = HashMap::new();
    for (index, planned) in plans.iter().enumerate() {
        let id = planned.row.id.as_str();
        let Save::Update { read_version } = planned.save else {
            // A new case cannot be in a run yet: nothing before it could change it.
            if planned.save == Save::Insert {
                store::insert_case(&**uow, planned.row.clone()).await?;
            }
            saved[index] = true;
            continue;
        };
        if in_run.contains(id) {
            if !save_run(uow, plans, &std::mem::take(&mut run), &mut saved, &mut written).await? {
                return Ok(Saved::Refused);
            }
            in_run.clear();
        }
        if written.get(id).is_none_or(|&version| version == read_version) {
            run.push((index, read_version));
            in_run.insert(id);
        }
    }
    Ok(if save_run(uow, plans, &run, &mut saved, &mut written).await? { Saved::Each(saved) } else { Saved::Refused })
}

/// Writes the updates of `run` (distinct cases), noting the versions written; false when several
/// were written in one statement and one of them was refused.
async fn save_run<'a>(
    uow: &UnitOfWork,
    plans: &[&'a Planned],
    run: &[(usize, i64)],
    saved: &mut [bool],
    written: &mut HashMap<&'a str, i64>,
) -> Result<bool, DbErr> {
    match run {
        [] => {}
        [(index, read_version)] => {
            saved[*index] = store::save_case(&**uow, *read_version, plans[*index].row.clone()).await?;
        }
        _ => {
            let rows = run.iter().map(|&(index, _)| plans[index].row.clone()).collect();
            if store::save_cases(&**uow, rows).await? != run.len() as u64 {
                return Ok(false);
            }
            run.iter().for_each(|&(index, _)| saved[index] = true);
        }
    }
    for &(index, _) in run.iter().filter(|&&(index, _)| saved[index]) {
        written.insert(plans[index].row.id.as_str(), plans[index].row.version);
    }
    Ok(true)
}

/// Writes a change a feed event brings, on the consumer's transaction: a case changed by someone
/// else since it was read is tried again with the event.
pub async fn write_from_feed(
    context: &Context,
    uow: &mut UnitOfWork,
    planned: Planned,
    actor: &str,
) -> Result<case::Model, HandleError> {
    let id = planned.row.id.clone();
    match write(context, uow, planned, actor, None).await {
        Ok(Some(row)) => Ok(row),
        Ok(None) => Err(changed_meanwhile(&id)),
        Err(error) => Err(feed_error(error)),
    }
}

/// Writes the changes a batch of feed events brings, in their order, on the consumer's
/// transaction: the new cases in a few multi-row statements, each update on the condition that
/// nobody changed the case since it was read, the audit entries in one statement, and each
/// change's events continuing the trace of the event it came from. A case changed by someone else
/// meanwhile sends the whole batch round again.
pub async fn write_all_from_feed(
    context: &Context,
    uow: &mut UnitOfWork,
    mut changes: Vec<(Planned, TraceContext)>,
    actor: &str,
) -> Result<Vec<case::Model>, HandleError> {
    changes.iter_mut().for_each(|(planned, _)| sign(planned, actor, None));
    let inserts = changes.iter().filter(|(planned, _)| planned.save == Save::Insert);
    store::insert_cases(&**uow, inserts.map(|(planned, _)| planned.row.clone()).collect()).await?;
    let updates: Vec<&Planned> = changes
        .iter()
        .map(|(planned, _)| planned)
        .filter(|planned| matches!(planned.save, Save::Update { .. }))
        .collect();
    if !matches!(save_all(uow, &updates).await?, Saved::Each(saved) if !saved.contains(&false)) {
        return Err(HandleError::Retry("a case changed while the batch was applied".into()));
    }
    let mut history = Vec::with_capacity(changes.len());
    let mut written = Vec::with_capacity(changes.len());
    for (planned, trace) in changes {
        let announced = Announced { actor, request_id: None, trace: Some(&trace) };
        written.push(record(context, uow, planned, &announced, &mut history).await.map_err(feed_error)?);
    }
    store::record_histories(&**uow, history).await?;
    Ok(written)
}

fn changed_meanwhile(id: &str) -> HandleError {
    HandleError::Retry(format!("case {id} changed while the event was applied"))
}

fn feed_error(error: Error) -> HandleError {
    match error {
        Error::Database(error) => error.into(),
        other => HandleError::Retry(other.to_string()),
    }
}
