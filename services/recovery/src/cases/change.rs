//! Every change a case goes through: planned in memory from the lifecycle table, then written
//! as one conditional update together with its audit entry and its feed events, in one
//! transaction. The same path serves the API, the repeat-order feed handler and the escalation
//! sweep. Changes made through the API at the same moment share that transaction (a group commit,
//! [`CaseWriter`]), so one disk flush makes many of them durable; each is still conditional on the
//! version its caller read, and no caller is answered before its change is committed.

use csm_kit::{Masked, Principal, error::Violations, feed::UnitOfWork, group_commit::BatchWriter, time};
use csm_proto::recovery::v1::{
    CallbackDue, CallbackOutcome, CallbackRecorded, Case, CaseEscalated, CaseReopened, CaseResolved, CaseStatus,
    CaseStatusChanged, RecordCallbackRequest, ReopenCause, ResolveCaseRequest, TransferCaseRequest, Transition,
    TransitionCaseRequest,
};
use sea_orm::DbErr;

use super::{Cases, case_view};
use crate::{
    error::Error,
    lifecycle::Step,
    rules::Context,
    store::{self, HistoryEntry, case},
    validate,
};

/// What a step needs beyond the case itself.
#[derive(Debug, Clone, Default)]
pub struct StepInput {
    pub reason: String,
    pub promised_at: Option<i64>,
    pub resolution: String,
    pub callback_outcome: Option<CallbackOutcome>,
    pub transfer_to: String,
    pub reopen_cause: Option<ReopenCause>,
    pub repeat_work_order: String,
}

/// A feed event a change announces.
#[derive(Debug, Clone)]
enum Announcement {
    StatusChanged,
    Resolved,
    CallbackRecorded { outcome: CallbackOutcome, within_due_time: bool },
    Reopened { cause: ReopenCause, repeat_work_order: String },
    Escalated { level: i32 },
}

/// A change ready to be written.
#[derive(Debug, Clone)]
pub struct Planned {
    row: case::Model,
    read_version: i64,
    from: CaseStatus,
    action: &'static str,
    reason: String,
    announcements: Vec<Announcement>,
}

/// Moves the deadline on by the counted time the case spent pending on the customer.
fn settle_pause(context: &Context, row: &mut case::Model, now: i64) {
    if let Some(paused_at) = row.paused_at.take() {
        let calendar = context.rules.calendar.hours_of(&row.department);
        row.deadline = calendar.add(row.deadline, calendar.between(paused_at, now));
        row.pause_reason = None;
    }
}

/// Back to work with a fresh time limit, from now.
fn reopen(context: &Context, row: &mut case::Model, now: i64) {
    row.paused_at = None;
    row.pause_reason = None;
    row.reopen_count += 1;
    row.escalation_level = 0;
    row.resolved_at = None;
    row.resolution = None;
    row.resolved_by = None;
    row.resolved_on_time = None;
    row.callback_due = None;
    if row.time_limit > 0 {
        row.deadline = context.rules.calendar.deadline(&row.department, now, row.time_limit);
    }
}

/// Plans `step` on `current` at `now`, or refuses it when it is not legal from the case's status.
pub fn plan(
    context: &Context,
    current: &case::Model,
    step: Step,
    input: &StepInput,
    now: i64,
) -> Result<Planned, Error> {
    let from = store::status_of(current);
    let illegal = || Error::IllegalTransition {
        name: format!("{}{}", store::CASES, current.id),
        status: from,
        action: step.action(),
    };
    let to = step.target(from).ok_or_else(illegal)?;
    let mut row = current.clone();
    row.status = store::status_name(to);
    row.version += 1;
    let mut announcements = vec![Announcement::StatusChanged];
    match step {
        Step::Transition(Transition::Accept) => {
            row.owner_department = Some(row.department.clone());
            row.promised_at = input.promised_at;
        }
        Step::Transition(Transition::PendOnCustomer) => {
            row.paused_at = Some(now);
            row.pause_reason = Some(input.reason.clone());
        }
        Step::Transition(Transition::Hold | Transition::Resume | Transition::Cancel) => {
            settle_pause(context, &mut row, now);
        }
        Step::Transition(Transition::Reopen) => {
            reopen(context, &mut row, now);
            announcements = vec![Announcement::Reopened {
                cause: input.reopen_cause.unwrap_or(ReopenCause::Manual),
                repeat_work_order: input.repeat_work_order.clone(),
            }];
        }
        Step::Transition(Transition::Start | Transition::Close | Transition::Unspecified) => {}
        Step::Resolve => {
            let within = context.rules.callback_within(&row.leaf, &row.contact_type);
            row.resolved_at = Some(now);
            row.resolution = Some(input.resolution.clone());
            row.resolved_on_time = Some(now <= row.deadline);
            row.callback_due = Some(now.saturating_add(time::duration_micros(within)));
            row.callback_outcome = None;
            row.callback_at = None;
            announcements = vec![Announcement::Resolved];
        }
        Step::Callback { dissatisfied } => {
            let outcome = input.callback_outcome.unwrap_or_default();
            let within_due_time = row.callback_due.is_none_or(|due| now <= due);
            row.callback_outcome = Some(outcome.as_str_name().to_string());
            row.callback_at = Some(now);
            announcements = vec![Announcement::CallbackRecorded { outcome, within_due_time }];
            if dissatisfied {
                reopen(context, &mut row, now);
                announcements.push(Announcement::Reopened {
                    cause: ReopenCause::DissatisfiedCallback,
                    repeat_work_order: String::new(),
                });
            }
        }
        Step::Transfer => {
            settle_pause(context, &mut row, now);
            row.department = input.transfer_to.clone();
            row.owner_department = None;
            row.dispatched_at = Some(now);
        }
    }
    Ok(Planned {
        row,
        read_version: current.version,
        from,
        action: step.action(),
        reason: input.reason.clone(),
        announcements,
    })
}

/// Plans raising an overdue case to escalation `level`.
pub fn plan_escalation(current: &case::Model, level: i32, to: &str) -> Planned {
    let mut row = current.clone();
    row.escalation_level = level;
    row.version += 1;
    Planned {
        from: store::status_of(current),
        read_version: current.version,
        row,
        action: "escalated",
        reason: format!("overdue: escalated to {to}"),
        announcements: vec![Announcement::Escalated { level }],
    }
}

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
    let Planned { mut row, read_version, from, action, reason, announcements } = planned;
    let now = context.now();
    if action == "resolve" {
        row.resolved_by = Some(actor.to_string());
        row.resolve_request_id = request_id.map(str::to_string);
    }
    if !store::save_case(&**uow, read_version, row.clone()).await? {
        return Ok(None);
    }
    let to = store::status_of(&row);
    let entry =
        HistoryEntry { case_id: &row.id, from: Some(from), to, action, actor, reason: &reason, at: now, request_id };
    history.push(store::history_row(entry));
    // What was written is what is stored: no need to read it back.
    let case = case_view(&row, now, Vec::new());
    for announcement in announcements {
        let subject = case.name.clone();
        let case = Some(case.clone());
        match announcement {
            Announcement::StatusChanged => uow.publish(
                subject,
                &CaseStatusChanged {
                    case,
                    from_status: from as i32,
                    action: action.to_string(),
                    actor: actor.to_string(),
                    reason: reason.clone(),
                },
            ),
            Announcement::Resolved => {
                uow.publish(subject.clone(), &CaseResolved { case: case.clone() });
                uow.publish(subject, &CallbackDue { case });
            }
            Announcement::CallbackRecorded { outcome, within_due_time } => {
                uow.publish(subject, &CallbackRecorded { case, outcome: outcome as i32, within_due_time })
            }
            Announcement::Reopened { cause, repeat_work_order } => uow.publish(
                subject,
                &CaseReopened { case, cause: cause as i32, reason: reason.clone(), repeat_work_order },
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
        }
    }
    Ok(Some(row))
}

/// One change a caller takes on a case, queued for the group commit.
#[derive(Debug)]
pub struct CaseChange {
    planned: Planned,
    actor: String,
    request_id: Option<String>,
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

/// How often a change is retried when another caller changed the case at the same moment.
const ATTEMPTS: usize = 3;

impl Cases {
    /// Takes `step` on the case `name` for `caller`.
    async fn take(
        &self,
        name: &str,
        caller: &Principal,
        step: Step,
        input: StepInput,
        request_id: Option<&str>,
    ) -> Result<Case, Error> {
        let context = self.context();
        for _ in 0..ATTEMPTS {
            // The sub-tasks read with the case are part of the answer; a change of the case does
            // not touch them.
            let (current, tasks) = self.visible_case_and_sub_tasks(name, caller).await?;
            if let Some(key) = request_id
                && store::request_seen(context.db().reader(), &current.id, key).await?
            {
                return Ok(self.view(&current, &tasks));
            }
            if !step.allowed(caller, &current.department, current.owner_department.as_deref()) {
                return Err(Error::PermissionDenied(format!("{} may not {} {name}", caller.subject, step.action())));
            }
            let planned = plan(context, &current, step, &input, context.now())?;
            let change =
                CaseChange { planned, actor: caller.subject.clone(), request_id: request_id.map(str::to_string) };
            match self.changes().write(change).await? {
                Some(updated) => {
                    tracing::info!(
                        case = %name,
                        phone = %Masked(&updated.phone_number),
                        action = step.action(),
                        status = %updated.status,
                        by = %caller.subject,
                        "case changed"
                    );
                    return Ok(self.view(&updated, &tasks));
                }
                None => continue,
            }
        }
        Err(Error::Conflict(name.to_string()))
    }

    pub async fn transition(&self, request: &TransitionCaseRequest, caller: &Principal) -> Result<Case, Error> {
        let mut violations = Violations::new();
        let transition = validate::required(
            &mut violations,
            "transition",
            request.transition,
            Transition::try_from,
            "name the transition: accept, start, pend, hold, resume, close, cancel or reopen",
        );
        let needs_reason = matches!(
            transition,
            Transition::PendOnCustomer | Transition::Hold | Transition::Cancel | Transition::Reopen
        );
        let reason = validate::text(&mut violations, "reason", &request.reason, needs_reason).to_string();
        let promised_at = match &request.promised_time {
            None => None,
            Some(_) if transition != Transition::Accept => {
                violations.add("promised_time", "only recorded when accepting a case");
                None
            }
            Some(ts) => match time::from_timestamp(ts) {
                Some(at) if time::micros(at) >= self.context().now() => Some(time::micros(at)),
                _ => {
                    violations.add("promised_time", "a time not in the past");
                    None
                }
            },
        };
        let request_id = validate::request_id(&mut violations, &request.request_id);
        violations.into_result()?;
        let input = StepInput { reason, promised_at, ..StepInput::default() };
        self.take(&request.name, caller, Step::Transition(transition), input, request_id).await
    }

    pub async fn resolve(&self, request: &ResolveCaseRequest, caller: &Principal) -> Result<Case, Error> {
        let mut violations = Violations::new();
        let resolution = validate::text(&mut violations, "resolution", &request.resolution, true).to_string();
        let request_id = validate::request_id(&mut violations, &request.request_id);
        violations.into_result()?;
        let input = StepInput { reason: resolution.clone(), resolution, ..StepInput::default() };
        self.take(&request.name, caller, Step::Resolve, input, request_id).await
    }

    pub async fn record_callback(&self, request: &RecordCallbackRequest, caller: &Principal) -> Result<Case, Error> {
        let mut violations = Violations::new();
        let outcome = validate::required(
            &mut violations,
            "outcome",
            request.outcome,
            CallbackOutcome::try_from,
            "satisfied, basically satisfied, dissatisfied or unreachable",
        );
        let note = validate::text(&mut violations, "note", &request.note, false).to_string();
        let request_id = validate::request_id(&mut violations, &request.request_id);
        violations.into_result()?;
        let dissatisfied = outcome == CallbackOutcome::Dissatisfied;
        let reason = if note.is_empty() { outcome.as_str_name().to_string() } else { note };
        let input = StepInput { reason, callback_outcome: Some(outcome), ..StepInput::default() };
        self.take(&request.name, caller, Step::Callback { dissatisfied }, input, request_id).await
    }

    pub async fn transfer(&self, request: &TransferCaseRequest, caller: &Principal) -> Result<Case, Error> {
        let mut violations = Violations::new();
        let to = validate::department(&mut violations, "department", &request.department).to_string();
        let reason = validate::text(&mut violations, "reason", &request.reason, true).to_string();
        let request_id = validate::request_id(&mut violations, &request.request_id);
        violations.into_result()?;
        let current = self.visible_case(&request.name, caller).await?;
        if current.department == to && request_id.is_none() {
            return Err(Violations::one("department", format!("the case is already with {to}")).into());
        }
        let input = StepInput { reason, transfer_to: to, ..StepInput::default() };
        self.take(&request.name, caller, Step::Transfer, input, request_id).await
    }
}
