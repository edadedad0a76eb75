//! The closed loop (闭环) as recovery reports it: the follow-up of each dissatisfied answer
//! (`DetractorFollowUp`, published whole whenever the loop moves) and the appeal risk of cases
//! nearing or passing the regulator's answer due time (`AppealRiskRaised`, once for each step).
//!
//! Each is kept as the latest snapshot under its key, with the sequence of the event that carried
//! it: a snapshot replaces the stored one only when its sequence is higher. So a replayed event,
//! or an older snapshot arriving after a newer one, changes nothing, and the cells are the same
//! whatever order the snapshots came in.

use std::sync::Arc;

use csm_kit::{
    feed::{HandleError, carries, decode, id_from_event, time_from_event},
    names, time,
};
use csm_proto::{
    feed::v1::Event,
    intake::v1::SurveyScale,
    recovery::v1::{AppealRiskRaised, Case, DetractorFollowUp},
};
use prost::Message;
use prost_types::Timestamp;

use super::{case_path, missing, snake};
use crate::observe::{Dims, Observation, Source, scale_name};

const HOUR: i64 = 3_600_000_000;

/// How soon a detractor must be reached for the loop to count as timely (闭环及时).
pub const CONTACT_WITHIN: i64 = 48 * HOUR;

/// The kinds of closed-loop fact, as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum LoopKind {
    /// Keyed by the dissatisfied answer's id.
    Detractor,
    /// Keyed by the case's id and the step reached ("warning" or "past_due").
    AppealRisk,
}

impl LoopKind {
    pub const ALL: [LoopKind; 2] = [LoopKind::Detractor, LoopKind::AppealRisk];

    pub fn code(self) -> i16 {
        match self {
            LoopKind::Detractor => 1,
            LoopKind::AppealRisk => 2,
        }
    }

    pub fn from_code(code: i16) -> Option<LoopKind> {
        LoopKind::ALL.into_iter().find(|k| k.code() == code)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LoopKey {
    pub kind: LoopKind,
    pub key: String,
}

/// The latest snapshot of one loop.
#[derive(Debug, Clone, PartialEq)]
pub struct LoopFact {
    /// Sequence of recovery's event that carried it.
    pub version: i64,
    /// When it counts: the answer's time for a detractor, when the risk was raised for a case.
    pub at: i64,
    pub record: LoopRecord,
}

/// What recovery said, kept as its own message (less what measurement has no use for).
#[derive(Debug, Clone, PartialEq)]
pub enum LoopRecord {
    Detractor(Box<DetractorFollowUp>),
    AppealRisk(Box<AppealRiskRaised>),
}

impl LoopFact {
    /// Whether this snapshot replaces `stored`: only a later one does.
    pub fn supersedes(&self, stored: Option<&LoopFact>) -> bool {
        stored.is_none_or(|stored| self.version > stored.version)
    }

    /// The record as stored.
    pub fn body(&self) -> Vec<u8> {
        match &self.record {
            LoopRecord::Detractor(follow_up) => follow_up.encode_to_vec(),
            LoopRecord::AppealRisk(raised) => raised.encode_to_vec(),
        }
    }

    /// A stored fact read back.
    pub fn decode(kind: LoopKind, version: i64, at: i64, body: &[u8]) -> Result<LoopFact, prost::DecodeError> {
        let record = match kind {
            LoopKind::Detractor => LoopRecord::Detractor(Box::new(DetractorFollowUp::decode(body)?)),
            LoopKind::AppealRisk => LoopRecord::AppealRisk(Box::new(AppealRiskRaised::decode(body)?)),
        };
        Ok(LoopFact { version, at, record })
    }

    /// What the loop counts for, as it now stands.
    pub fn observations(&self) -> Vec<Observation> {
        match &self.record {
            LoopRecord::Detractor(follow_up) => vec![detractor(self.at, follow_up)],
            LoopRecord::AppealRisk(raised) => vec![appeal_risk(self.at, raised)],
        }
    }
}

/// A channel or contact type carried by its enum's name ("CHANNEL_SMS"), as formulas spell it.
fn named(name: &str, prefix: &str) -> String {
    match snake(name, prefix).as_str() {
        "unspecified" => String::new(),
        spelled => spelled.to_string(),
    }
}

fn micros(timestamp: Option<&Timestamp>) -> Option<i64> {
    timestamp.and_then(time::from_timestamp).map(time::micros)
}

/// One observation per dissatisfied answer, on the day it was given: reached within 48 hours
/// (exactly 48 counts), closed, recovered, and how long each took.
fn detractor(at: i64, follow_up: &DetractorFollowUp) -> Observation {
    let answer = follow_up.answer.clone().unwrap_or_default();
    let after = |timestamp: Option<&Timestamp>| micros(timestamp).map(|t| (t - at).max(0));
    let contact = after(follow_up.contact_time.as_ref());
    let close = after(follow_up.close_time.as_ref());
    let recover = after(follow_up.recover_time.as_ref());
    let dims = Arc::new(Dims {
        region: follow_up.region.as_str().into(),
        segment: follow_up.segment.as_str().into(),
        channel: named(&answer.channel, "CHANNEL_").into(),
        product: "".into(),
        department: follow_up.department.as_str().into(),
        path: Vec::new(),
    });
    let scale = SurveyScale::from_str_name(&answer.scale).map_or("", scale_name);
    let mut observation = Observation::new(Source::Detractors, at, dims)
        .text("route", named(follow_up.route().as_str_name(), "DETRACTOR_ROUTE_"))
        .text("contact_method", named(follow_up.contact_method().as_str_name(), "CONTACT_METHOD_"))
        .text("scale", scale)
        .text("indicator", answer.indicator.as_str())
        .number("score", answer.score)
        .flag("on_work_order", !answer.work_order.is_empty())
        .flag("contacted", contact.is_some())
        .flag("contacted_within_48h", contact.is_some_and(|taken| taken <= CONTACT_WITHIN))
        .flag("closed", close.is_some())
        .flag("recovered", recover.is_some());
    for (field, taken) in [("contact_hours", contact), ("close_hours", close), ("recover_hours", recover)] {
        if let Some(taken) = taken {
            observation = observation.number(field, taken as f64 / HOUR as f64);
        }
    }
    observation
}

/// One observation per step of a case's appeal risk, on the day recovery raised it.
fn appeal_risk(at: i64, raised: &AppealRiskRaised) -> Observation {
    let case = raised.case.clone().unwrap_or_default();
    let department = if case.owner_department.is_empty() { &case.department } else { &case.owner_department };
    let dims = Arc::new(Dims {
        region: "".into(),
        segment: "".into(),
        channel: named(&case.channel, "CHANNEL_").into(),
        product: "".into(),
        department: department.as_str().into(),
        path: case_path(&case).iter().map(|p| Arc::from(p.as_str())).collect(),
    });
    Observation::new(Source::AppealRisks, at, dims)
        .flag("past_due", raised.past_due)
        .text("contact_type", named(&case.contact_type, "CONTACT_TYPE_"))
}

/// Reads a closed-loop event; None for any other event. The sequence of the event orders the
/// snapshots of one loop.
pub(super) fn read(event: &Event) -> Result<Option<(LoopKey, LoopFact)>, HandleError> {
    let version = i64::try_from(event.sequence).unwrap_or(i64::MAX);
    if carries::<DetractorFollowUp>(event) {
        let mut follow_up: DetractorFollowUp = decode(event)?;
        let answer = follow_up.answer.as_mut().ok_or_else(|| missing("answer"))?;
        let key = id_from_event(&answer.survey_answer, names::SURVEY_ANSWERS)?;
        let at = time::micros(time_from_event(answer.answer_time.as_ref(), "answer answer_time")?);
        // Measurement counts where the customer is, never how to reach them or what they said.
        answer.comment.clear();
        follow_up.phone_number.clear();
        let fact = LoopFact { version, at, record: LoopRecord::Detractor(Box::new(follow_up)) };
        return Ok(Some((LoopKey { kind: LoopKind::Detractor, key }, fact)));
    }
    if carries::<AppealRiskRaised>(event) {
        let raised: AppealRiskRaised = decode(event)?;
        let case = raised.case.ok_or_else(|| missing("case"))?;
        let id = id_from_event(&case.name, names::CASES)?;
        let at = time::micros(time_from_event(event.occurred_at.as_ref(), "event occurred_at")?);
        let step = if raised.past_due { "past_due" } else { "warning" };
        // The case as far as the cells split it; its text and the customer stay with recovery.
        let case = Case {
            name: case.name,
            work_order: case.work_order,
            department: case.department,
            owner_department: case.owner_department,
            leaf: case.leaf,
            path: case.path,
            channel: case.channel,
            contact_type: case.contact_type,
            answer_due_time: case.answer_due_time,
            ..Case::default()
        };
        let raised = AppealRiskRaised { case: Some(case), ..raised };
        let fact = LoopFact { version, at, record: LoopRecord::AppealRisk(Box::new(raised)) };
        return Ok(Some((LoopKey { kind: LoopKind::AppealRisk, key: format!("{id}/{step}") }, fact)));
    }
    Ok(None)
}
