//! The one path a planned change reaches the database by: the case saved (inserted, or updated
//! on the condition that nobody changed it since it was read), its audit entry, and the feed events
//! it announces, in the caller's transaction. Changes made through the API at the same moment
//! share that transaction (a group commit, [`CaseWriter`]), so one disk flush makes many of them
//! durable; each is still conditional on the version its caller read, and no caller is answered
//! before its change is committed.

use csm_kit::{
    feed::{HandleError, UnitOfWork},
    group_commit::BatchWriter,
    time,
};
use csm_proto::recovery::v1::{
    AppealRiskRaised, CallbackDue, CallbackRecorded, CaseEscalated, CaseOpened, CaseReopened, CaseResolved,
    CaseStatusChanged,
};
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
    planned: Planned,
    actor: &str,
    request_id: Option<&str>,
) -> Result<Option<case::Model>, Error> {
    let mut history = Vec::new();
    let written = write_leaving_history(context, uow, planned, actor, request_id, &mut history).await?;
    store::record_histories(&**uow, history).await?;
    Ok(written)
}

/// [`write`], adding the audit entry to `history` for the caller to store (with others, in one
/// statement) before the transaction commits.
async fn write_leaving_history(
    context: &Context,
    uow: &mut UnitOfWork,
    planned: Planned,
    actor: &str,
    request_id: Option<&str>,
    history: &mut Vec<store::case_transition::ActiveModel>,
) -> Result<Option<case::Model>, Error> {
    let Planned { mut row, save, from, action, reason, announcements } = planned;
    let now = context.now();
    if matches!(action, "resolve" | "problem_resolved") {
        row.resolved_by = Some(actor.to_string());
        row.resolve_request_id = request_id.map(str::to_string);
    }
    match save {
        Save::Insert => store::insert_case(&**uow, row.clone()).await?,
        Save::Update { read_version } => {
            if !store::save_case(&**uow, read_version, row.clone()).await? {
                return Ok(None);
            }
        }
        Save::Nothing => {}
    }
    let to = store::status_of(&row);
    let entry = HistoryEntry { case_id: &row.id, from, to, action, actor, reason: &reason, at: now, request_id };
    history.push(store::history_row(entry));
    // What was written is what is stored: no need to read it back.
    let case = case_view(&row, &context.rules, now, Vec::new());
    for announcement in announcements {
        let subject = case.name.clone();
        let case = Some(case.clone());
        match announcement {
            Announcement::Opened => uow.publish(subject, &CaseOpened { case }),
            Announcement::StatusChanged => uow.publish(
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
                uow.publish(subject.clone(), &CaseResolved { case: case.clone() });
                uow.publish(subject, &CallbackDue { case });
                if row.reopen_count > 0 {
                    Box::pin(crate::closed_loop::case_answered_again(uow, &row.id, now)).await?;
                }
            }
            Announcement::CallbackRecorded { outcome, within_due_time } => {
                uow.publish(subject, &CallbackRecorded { case, outcome: outcome as i32, within_due_time })
            }
            Announcement::Reopened { cause, repeat_work_order, survey_answer } => uow.publish(
                subject,
                &CaseReopened { case, cause: cause as i32, reason: reason.clone(), repeat_work_order, survey_answer },
            ),
            Announcement::Escalated { level } => uow.publish(
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
                uow.publish(subject, &AppealRiskRaised { case, escalate_to, past_due });
            }
        }
    }
    Ok(Some(row))
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
        let mut written = Vec::with_capacity(items.len());
        let mut history = Vec::with_capacity(items.len());
        for item in items {
            let (planned, actor, request_id) = (item.planned.clone(), &item.actor, item.request_id.as_deref());
            let outcome = write_leaving_history(&self.context, uow, planned, actor, request_id, &mut history).await;
            written.push(outcome.map_err(as_db_error)?);
        }
        store::record_histories(&**uow, history).await?;
        Ok(written)
    }
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
        Ok(None) => Err(HandleError::Retry(format!("case {id} changed while the event was applied"))),
        Err(Error::Database(error)) => Err(error.into()),
        Err(error) => Err(HandleError::Retry(error.to_string())),
    }
}
