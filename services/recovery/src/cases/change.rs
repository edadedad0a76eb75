//! Every change a case goes through is planned here, in memory, as a [`Planned`]: the steps of
//! the lifecycle table that callers and the repeat-order feed take ([`plan`]), and the changes
//! outside that table: registration and dispatch from the upstream feeds, a corrected
//! classification, escalation, and a note in the audit trail. Every [`Planned`] is written by
//! [`super::write`], the one path that saves a case with its audit entry and its feed events in
//! one transaction.

use csm_kit::{names, time};
use csm_proto::{
    StoredEnum,
    recovery::v1::{CallbackOutcome, CaseStatus, ReopenCause, Transition},
};

use crate::{
    error::Error,
    lifecycle::Step,
    rules::Context,
    store::{self, case},
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
    /// For a reopening by a dissatisfied answer: "surveyAnswers/{id}".
    pub survey_answer: String,
}

/// A feed event a change announces.
#[derive(Debug, Clone)]
pub(super) enum Announcement {
    /// CaseOpened: the case was dispatched to its first department.
    Opened,
    StatusChanged,
    Resolved,
    CallbackRecorded {
        outcome: CallbackOutcome,
        within_due_time: bool,
    },
    Reopened {
        cause: ReopenCause,
        repeat_work_order: String,
        survey_answer: String,
    },
    Escalated {
        level: i32,
    },
    /// AppealRiskRaised: the regulator's answer due time is near, or passed.
    AppealRisk {
        past_due: bool,
    },
}

/// How a planned change reaches the stored case.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Save {
    /// A case that is new.
    Insert,
    /// Conditional on the version the change was planned from.
    Update { read_version: i64 },
    /// The case stays as it is; only the audit trail records the change.
    Nothing,
}

/// A change ready to be written.
#[derive(Debug, Clone)]
pub struct Planned {
    pub(super) row: case::Model,
    pub(super) save: Save,
    /// The status before, `None` for a case that is new.
    pub(super) from: Option<CaseStatus>,
    pub(super) action: &'static str,
    pub(super) reason: String,
    pub(super) announcements: Vec<Announcement>,
}

impl Planned {
    /// `current` becoming `row` (its version moved on), outside the lifecycle table.
    fn update(current: &case::Model, mut row: case::Model, action: &'static str, reason: String) -> Self {
        row.version = current.version + 1;
        Self {
            from: Some(store::status_of(current)),
            save: Save::Update { read_version: current.version },
            row,
            action,
            reason,
            announcements: Vec::new(),
        }
    }

    /// A case registered from intake's feed, awaiting dispatch.
    pub fn registration(row: case::Model, reason: &str) -> Self {
        let reason = reason.to_string();
        Self { row, save: Save::Insert, from: None, action: "registered", reason, announcements: Vec::new() }
    }

    /// `row`, routed by [`super::routing::route`], dispatched to its department at `now`: a case
    /// registered before (`current`) or a new one. Announced with CaseOpened.
    pub fn dispatch(current: Option<&case::Model>, mut row: case::Model, now: i64, reason: String) -> Self {
        row.status = CaseStatus::Dispatched.stored();
        row.dispatched_at = Some(now);
        let mut planned = match current {
            Some(current) => Self::update(current, row, "dispatched", reason),
            None => {
                Self { row, save: Save::Insert, from: None, action: "dispatched", reason, announcements: Vec::new() }
            }
        };
        planned.announcements = vec![Announcement::Opened];
        planned
    }

    /// `current` placed under a corrected cause (and, while no department has accepted it, sent
    /// on to the department now responsible). Announced with CaseStatusChanged.
    pub fn reclassification(current: &case::Model, row: case::Model, reason: String) -> Self {
        let mut planned = Self::update(current, row, "reclassified", reason);
        planned.announcements = vec![Announcement::StatusChanged];
        planned
    }

    /// A note in the case's audit trail, the case itself unchanged.
    pub fn note(current: &case::Model, action: &'static str, reason: String) -> Self {
        Self {
            row: current.clone(),
            save: Save::Nothing,
            from: Some(store::status_of(current)),
            action,
            reason,
            announcements: Vec::new(),
        }
    }
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
        name: format!("{}{}", names::CASES, current.id),
        status: from,
        action: step.action(),
    };
    let to = step.target(from).ok_or_else(illegal)?;
    let mut row = current.clone();
    row.status = to.stored();
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
                survey_answer: input.survey_answer.clone(),
            }];
        }
        Step::Transition(Transition::Start | Transition::Close | Transition::Unspecified) => {}
        Step::Resolve | Step::ProblemResolved => {
            settle_pause(context, &mut row, now);
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
            row.callback_outcome = Some(outcome.stored());
            row.callback_at = Some(now);
            announcements = vec![Announcement::CallbackRecorded { outcome, within_due_time }];
            if dissatisfied {
                reopen(context, &mut row, now);
                announcements.push(Announcement::Reopened {
                    cause: ReopenCause::DissatisfiedCallback,
                    repeat_work_order: String::new(),
                    survey_answer: String::new(),
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
        save: Save::Update { read_version: current.version },
        from: Some(from),
        action: step.action(),
        reason: input.reason.clone(),
        announcements,
    })
}

/// Plans raising an overdue case to escalation `level`.
pub fn plan_escalation(current: &case::Model, level: i32, to: &str) -> Planned {
    let mut row = current.clone();
    row.escalation_level = level;
    let mut planned = Planned::update(current, row, "escalated", format!("overdue: escalated to {to}"));
    planned.announcements = vec![Announcement::Escalated { level }];
    planned
}

/// Plans announcing that an unanswered case came within the warning window of the regulator's
/// answer due time (`level` 1) or passed it (`level` 2).
pub fn plan_appeal_risk(current: &case::Model, level: i32, to: &str) -> Planned {
    let mut row = current.clone();
    row.appeal_risk_level = level;
    let why =
        if level >= 2 { "the regulator's answer due time passed" } else { "the regulator's answer due time is near" };
    let mut planned = Planned::update(current, row, "appeal_risk", format!("{why}: escalated to {to}"));
    planned.announcements = vec![Announcement::AppealRisk { past_due: level >= 2 }];
    planned
}
