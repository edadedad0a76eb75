//! From upstream events to what measurement counts.
//!
//! A work order's story arrives on three feeds in any order (opened on intake's, classified and
//! corrected on classification's, resolved, reopened and called back on recovery's), so each
//! work order is kept as one fact that every event amends; its observations are recomputed from
//! the fact, and the cells move by the difference. Other events (survey answers, usage events,
//! high-frequency changes) are observations as they arrive and never change (`observed`). The
//! closed loop of a dissatisfied answer and a case's appeal risk arrive as snapshots recovery
//! publishes whole; the latest of each replaces the earlier (`closed_loop`).

mod closed_loop;
mod observed;

use std::sync::Arc;

use csm_kit::{
    feed::{HandleError, carries, decode, id_from_event, time_from_event},
    names, time,
};
use csm_proto::{
    classification::v1::{Classification, ClassificationCorrected, WorkOrderClassified},
    feed::v1::Event,
    intake::v1::{
        AppealBody, Channel, ContactType, CustomerProfile, HighFrequencyStatusChanged, SurveyAnswered,
        UsageEventRecorded, WorkOrder, WorkOrderKind, WorkOrderOpened, WorkOrderReopened,
    },
    recovery::v1::{
        AppealRiskRaised, CallbackOutcome, CallbackRecorded, Case, CaseReopened, CaseResolved, DetractorFollowUp,
        ProgrammeCompleted, ProgrammeCreated,
    },
};
use prost::Name;

pub use closed_loop::{LoopFact, LoopKey, LoopKind, LoopRecord};

use crate::observe::{Dims, Observation, Source};

/// What measurement knows of one work order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OrderFact {
    pub opened_at: Option<i64>,
    pub channel: String,
    pub region: String,
    pub segment: String,
    pub product: String,
    pub kind: String,
    pub contact_type: String,
    pub appeal: String,
    /// Root-cause path ending with the leaf; empty until classified.
    pub path: Vec<String>,
    pub department: String,
    pub corrected: bool,
    pub resolved_at: Option<i64>,
    pub on_time: Option<bool>,
    pub reopen_count: i32,
    pub callback_at: Option<i64>,
    pub callback_within_due: Option<bool>,
    pub callback_outcome: String,
    /// Whether the resolution came after the regulator's answer due time, as recovery judged it;
    /// None for a case that ran on no such clock.
    pub answered_late: Option<bool>,
}

/// One amendment to a work order's fact.
#[derive(Debug, Clone, PartialEq)]
pub enum OrderChange {
    Opened {
        opened_at: i64,
        channel: String,
        profile: Profile,
        kind: String,
        contact_type: String,
        appeal: String,
    },
    /// Intake found later that an order opened as new was a repeat of an earlier problem.
    BecameRepeat,
    Classified {
        path: Vec<String>,
        department: String,
        corrected: bool,
    },
    Resolved {
        resolved_at: i64,
        on_time: bool,
        reopen_count: i32,
        path: Vec<String>,
        department: String,
        answered_late: Option<bool>,
    },
    Reopened {
        reopen_count: i32,
    },
    CalledBack {
        at: i64,
        within_due: bool,
        outcome: String,
    },
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Profile {
    pub region: String,
    pub segment: String,
    pub product: String,
}

impl Profile {
    fn of(profile: Option<&CustomerProfile>) -> Self {
        profile.map_or_else(Profile::default, |p| Profile {
            region: p.region.clone(),
            segment: p.segment.clone(),
            product: p.products.first().cloned().unwrap_or_default(),
        })
    }
}

/// A programme's windows, from recovery's feed, for effect evaluation.
#[derive(Debug, Clone, PartialEq)]
pub struct ProgrammeWindows {
    pub programme: String,
    pub title: String,
    pub leaf: String,
    pub baseline: (i64, i64),
    pub verification: (i64, i64),
}

/// What one event says.
#[derive(Debug, Clone, PartialEq)]
pub enum Update {
    Order {
        work_order_id: String,
        changes: Vec<OrderChange>,
    },
    Observe {
        observation: Observation,
        customer: String,
    },
    Programme(ProgrammeWindows),
    /// A closed-loop snapshot, kept when it is later than the one stored.
    Loop {
        key: LoopKey,
        fact: LoopFact,
    },
    /// Nothing to count (a programme not completed yet has no verification window).
    Nothing,
}

impl OrderFact {
    pub fn apply(&mut self, change: &OrderChange) {
        match change {
            OrderChange::Opened { opened_at, channel, profile, kind, contact_type, appeal } => {
                self.opened_at = Some(*opened_at);
                self.channel.clone_from(channel);
                self.region.clone_from(&profile.region);
                self.segment.clone_from(&profile.segment);
                self.product.clone_from(&profile.product);
                // A repeat found later stays a repeat when the order is announced again.
                if self.kind != "repeat" {
                    self.kind.clone_from(kind);
                }
                self.contact_type.clone_from(contact_type);
                self.appeal.clone_from(appeal);
            }
            OrderChange::BecameRepeat => self.kind = "repeat".into(),
            OrderChange::Classified { path, department, corrected } => {
                self.path.clone_from(path);
                self.department.clone_from(department);
                self.corrected |= corrected;
            }
            OrderChange::Resolved { resolved_at, on_time, reopen_count, path, department, answered_late } => {
                self.resolved_at = Some(*resolved_at);
                self.on_time = Some(*on_time);
                self.answered_late = *answered_late;
                self.reopen_count = self.reopen_count.max(*reopen_count);
                if self.path.is_empty() {
                    self.path.clone_from(path);
                    self.department.clone_from(department);
                }
            }
            OrderChange::Reopened { reopen_count } => self.reopen_count = self.reopen_count.max(*reopen_count),
            OrderChange::CalledBack { at, within_due, outcome } => {
                self.callback_at = Some(*at);
                self.callback_within_due = Some(*within_due);
                self.callback_outcome.clone_from(outcome);
            }
        }
    }

    /// What this work order counts for, as it now stands. Nothing before intake's (or
    /// classification's) announcement of it has told when it was opened.
    pub fn observations(&self) -> Vec<Observation> {
        let Some(opened_at) = self.opened_at else {
            return Vec::new();
        };
        let dims = Arc::new(Dims {
            region: self.region.as_str().into(),
            segment: self.segment.as_str().into(),
            channel: self.channel.as_str().into(),
            product: self.product.as_str().into(),
            department: self.department.as_str().into(),
            path: self.path.iter().map(|p| Arc::from(p.as_str())).collect(),
        });
        let mut observations = vec![
            Observation::new(Source::WorkOrders, opened_at, dims.clone())
                .text("kind", self.kind.as_str())
                .text("contact_type", self.contact_type.as_str())
                .text("appeal", self.appeal.as_str())
                .flag("classified", !self.path.is_empty())
                .flag("corrected", self.corrected),
        ];
        if let (Some(resolved_at), Some(on_time)) = (self.resolved_at, self.on_time) {
            let hours = (resolved_at - opened_at).max(0) as f64 / 3_600_000_000.0;
            observations.push(
                Observation::new(Source::Cases, resolved_at, dims.clone())
                    .flag("on_time", on_time)
                    .flag("reopened", self.reopen_count > 0)
                    .number("handling_hours", hours)
                    .flag("regulator_clock", self.answered_late.is_some())
                    .flag("answered_late", self.answered_late == Some(true))
                    .text("contact_type", self.contact_type.as_str())
                    .text("kind", self.kind.as_str())
                    .text("appeal", self.appeal.as_str()),
            );
        }
        if let (Some(at), Some(within_due)) = (self.callback_at, self.callback_within_due) {
            observations.push(
                Observation::new(Source::Callbacks, at, dims)
                    .flag("within_due", within_due)
                    .text("outcome", self.callback_outcome.as_str())
                    .text("contact_type", self.contact_type.as_str()),
            );
        }
        observations
    }
}

/// The payload types measurement reads from each upstream feed.
pub fn event_types(feed: Feed) -> Vec<String> {
    match feed {
        Feed::Intake => vec![
            WorkOrderOpened::full_name(),
            WorkOrderReopened::full_name(),
            SurveyAnswered::full_name(),
            UsageEventRecorded::full_name(),
            HighFrequencyStatusChanged::full_name(),
        ],
        Feed::Classification => vec![WorkOrderClassified::full_name(), ClassificationCorrected::full_name()],
        Feed::Recovery => vec![
            CaseResolved::full_name(),
            CaseReopened::full_name(),
            CallbackRecorded::full_name(),
            ProgrammeCreated::full_name(),
            ProgrammeCompleted::full_name(),
            DetractorFollowUp::full_name(),
            AppealRiskRaised::full_name(),
        ],
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Feed {
    Intake,
    Classification,
    Recovery,
}

/// An enum value's name as formulas spell it: without its prefix, in lower case.
fn snake(name: &str, prefix: &str) -> String {
    name.strip_prefix(prefix).unwrap_or(name).to_ascii_lowercase()
}

fn opened(work_order: &WorkOrder) -> Result<(String, OrderChange), HandleError> {
    let id = id_from_event(&work_order.name, names::WORK_ORDERS)?;
    let open_time = time_from_event(work_order.open_time.as_ref(), "work order open_time")?;
    let kind = WorkOrderKind::try_from(work_order.kind).unwrap_or_default();
    let appeal = match AppealBody::try_from(work_order.appeal).unwrap_or_default() {
        AppealBody::Unspecified => String::new(),
        other => snake(other.as_str_name(), "APPEAL_BODY_"),
    };
    let change = OrderChange::Opened {
        opened_at: time::micros(open_time),
        channel: snake(Channel::try_from(work_order.channel).unwrap_or_default().as_str_name(), "CHANNEL_"),
        profile: Profile::of(work_order.customer_profile.as_ref()),
        kind: snake(kind.as_str_name(), "WORK_ORDER_KIND_"),
        contact_type: snake(
            ContactType::try_from(work_order.contact_type).unwrap_or_default().as_str_name(),
            "CONTACT_TYPE_",
        ),
        appeal,
    };
    Ok((id, change))
}

fn classified(classification: &Classification, corrected: bool) -> OrderChange {
    OrderChange::Classified {
        path: classification.path.clone(),
        department: classification.responsible_department.clone(),
        corrected,
    }
}

fn case_id(case: &Case) -> Result<String, HandleError> {
    id_from_event(&case.work_order, names::WORK_ORDERS)
}

fn case_path(case: &Case) -> Vec<String> {
    if case.path.is_empty() && !case.leaf.is_empty() { vec![case.leaf.clone()] } else { case.path.clone() }
}

fn missing(what: &str) -> HandleError {
    HandleError::Reject(format!("{what} missing"))
}

/// Reads one event; an event that cannot be understood is rejected (and kept as a dead letter).
pub fn read(event: &Event) -> Result<Update, HandleError> {
    if carries::<WorkOrderOpened>(event) {
        let work_order = decode::<WorkOrderOpened>(event)?.work_order.ok_or_else(|| missing("work_order"))?;
        let (work_order_id, change) = opened(&work_order)?;
        return Ok(Update::Order { work_order_id, changes: vec![change] });
    }
    if carries::<WorkOrderReopened>(event) {
        let repeat =
            decode::<WorkOrderReopened>(event)?.repeat_work_order.ok_or_else(|| missing("repeat_work_order"))?;
        let (work_order_id, change) = opened(&repeat)?;
        return Ok(Update::Order { work_order_id, changes: vec![change, OrderChange::BecameRepeat] });
    }
    if carries::<WorkOrderClassified>(event) {
        let classified_order: WorkOrderClassified = decode(event)?;
        let work_order = classified_order.work_order.ok_or_else(|| missing("work_order"))?;
        let classification = classified_order.classification.ok_or_else(|| missing("classification"))?;
        let (work_order_id, opened) = opened(&work_order)?;
        return Ok(Update::Order { work_order_id, changes: vec![opened, classified(&classification, false)] });
    }
    if carries::<ClassificationCorrected>(event) {
        let after = decode::<ClassificationCorrected>(event)?.after.ok_or_else(|| missing("after"))?;
        let work_order_id = id_from_event(&after.work_order, names::WORK_ORDERS)?;
        return Ok(Update::Order { work_order_id, changes: vec![classified(&after, true)] });
    }
    if carries::<CaseResolved>(event) {
        let case = decode::<CaseResolved>(event)?.case.ok_or_else(|| missing("case"))?;
        let resolved_at = time_from_event(case.resolve_time.as_ref(), "case resolve_time")?;
        let change = OrderChange::Resolved {
            resolved_at: time::micros(resolved_at),
            on_time: case.resolved_on_time,
            reopen_count: case.reopen_count,
            path: case_path(&case),
            department: case.department.clone(),
            answered_late: case.answer_due_time.is_some().then_some(case.answered_late),
        };
        return Ok(Update::Order { work_order_id: case_id(&case)?, changes: vec![change] });
    }
    if carries::<CaseReopened>(event) {
        let case = decode::<CaseReopened>(event)?.case.ok_or_else(|| missing("case"))?;
        let change = OrderChange::Reopened { reopen_count: case.reopen_count.max(1) };
        return Ok(Update::Order { work_order_id: case_id(&case)?, changes: vec![change] });
    }
    if carries::<CallbackRecorded>(event) {
        let recorded: CallbackRecorded = decode(event)?;
        let case = recorded.case.ok_or_else(|| missing("case"))?;
        let at = time_from_event(case.callback_time.as_ref(), "case callback_time")?;
        let outcome = CallbackOutcome::try_from(recorded.outcome).unwrap_or_default();
        let change = OrderChange::CalledBack {
            at: time::micros(at),
            within_due: recorded.within_due_time,
            outcome: snake(outcome.as_str_name(), "CALLBACK_OUTCOME_"),
        };
        return Ok(Update::Order { work_order_id: case_id(&case)?, changes: vec![change] });
    }
    if carries::<ProgrammeCreated>(event) || carries::<ProgrammeCompleted>(event) {
        let programme = if carries::<ProgrammeCreated>(event) {
            decode::<ProgrammeCreated>(event)?.programme
        } else {
            decode::<ProgrammeCompleted>(event)?.programme
        }
        .ok_or_else(|| missing("programme"))?;
        let at = |ts: Option<&prost_types::Timestamp>| ts.and_then(time::from_timestamp).map(time::micros);
        let windows = (
            at(programme.baseline_start.as_ref()),
            at(programme.baseline_end.as_ref()),
            at(programme.verification_start.as_ref()),
            at(programme.verification_end.as_ref()),
        );
        let (Some(b0), Some(b1), Some(v0), Some(v1)) = windows else {
            return Ok(Update::Nothing);
        };
        return Ok(Update::Programme(ProgrammeWindows {
            programme: programme.name.clone(),
            title: programme.title.clone(),
            leaf: programme.leaf.clone(),
            baseline: (b0, b1),
            verification: (v0, v1),
        }));
    }
    if let Some((key, fact)) = closed_loop::read(event)? {
        return Ok(Update::Loop { key, fact });
    }
    observed::observation(event)
}
