//! The operator's rules recovery applies, checked once at start-up, and what every part of the
//! service shares: its feed publisher (and through it the database) and its clock.

use std::{sync::Arc, time::Duration};

use csm_kit::{
    calendar::OperatorCalendar,
    feed::Publisher,
    time::{Clock, duration_micros},
};

use csm_proto::intake::v1::SurveyScale;

use crate::config::{
    CallbackSettings, DetractorSettings, EscalationStep, RecoverySettings, RegulatorSettings, ServiceProblemSettings,
};

#[derive(Debug)]
pub struct Rules {
    /// The operator's calendar, from the common settings: departments' working hours.
    pub calendar: OperatorCalendar,
    pub escalation: Vec<EscalationStep>,
    pub callback: CallbackSettings,
    pub help_time_limit: Duration,
    pub second_approval_above: i64,
    pub care_department: String,
    pub detractors: DetractorSettings,
    pub regulator: RegulatorSettings,
    pub service_problems: ServiceProblemSettings,
}

impl Rules {
    /// The rules of `settings`, which the service's start has checked
    /// ([`RecoverySettings::problems`]).
    pub fn from_settings(settings: &RecoverySettings, calendar: OperatorCalendar) -> Self {
        let mut escalation = settings.escalation.clone();
        escalation.sort_by_key(|step| step.after);
        Self {
            service_problems: settings.service_problems.clone(),
            detractors: settings.detractors.clone(),
            regulator: settings.regulator.clone(),
            calendar,
            escalation,
            callback: settings.callback.clone(),
            help_time_limit: settings.help_time_limit,
            second_approval_above: settings.second_approval_above,
            care_department: settings.care_department.clone(),
        }
    }

    /// How many escalation steps a deadline passed at `deadline` has reached at `now`.
    pub fn escalation_level(&self, deadline: i64, now: i64) -> i32 {
        if now <= deadline {
            return 0;
        }
        let overdue = now - deadline;
        let reached = self.escalation.iter().filter(|step| duration_micros(step.after) < overdue).count();
        i32::try_from(reached).unwrap_or(i32::MAX)
    }

    /// Who is told at escalation `level` (from 1).
    pub fn escalate_to(&self, level: i32) -> &str {
        usize::try_from(level - 1).ok().and_then(|i| self.escalation.get(i)).map_or("", |step| step.to.as_str())
    }

    /// How long past its deadline an item reaches escalation `level` (from 1).
    pub fn step_delay(&self, level: i32) -> i64 {
        usize::try_from(level - 1)
            .ok()
            .and_then(|i| self.escalation.get(i))
            .map_or(i64::MAX, |step| duration_micros(step.after))
    }

    pub fn ladder_len(&self) -> i32 {
        i32::try_from(self.escalation.len()).unwrap_or(i32::MAX)
    }

    /// By when a complaint raised at `opened_at` must be answered (the regulator's clock).
    pub fn answer_due(&self, opened_at: i64) -> i64 {
        self.calendar.days().end_of_days_after(opened_at, self.regulator.answer_within_days)
    }

    /// From when a case due to be answered at `answer_due` is at appeal risk.
    pub fn appeal_risk_from(&self, answer_due: i64) -> i64 {
        answer_due.saturating_sub(duration_micros(self.regulator.warn_before))
    }

    /// Whether `score` on `scale` is a dissatisfied answer; `None` when the scale is unknown.
    pub fn dissatisfied(&self, scale: SurveyScale, score: f64) -> Option<bool> {
        let d = &self.detractors;
        match scale {
            SurveyScale::Likert5 => Some(score <= d.likert_5_at_most),
            SurveyScale::Csat5 => Some(score <= d.csat_5_at_most),
            SurveyScale::Score010 => Some(score <= d.score_0_10_at_most),
            SurveyScale::Score100 => Some(score <= d.score_100_at_most),
            SurveyScale::Ces7 => Some(score >= d.ces_7_at_least),
            SurveyScale::Unspecified => None,
        }
    }

    /// How long after resolution the callback is due, for a case of `leaf` and `contact_type`.
    pub fn callback_within(&self, leaf: &str, contact_type: &str) -> Duration {
        if let Some(within) = self.callback.per_leaf.get(leaf) {
            return **within;
        }
        if contact_type == "CONTACT_TYPE_FAULT_REPORT" {
            return self.callback.fault_report_within;
        }
        self.callback.within
    }
}

/// What every part of recovery works with.
#[derive(Debug, Clone)]
pub struct Context {
    pub publisher: Publisher,
    pub clock: Clock,
    pub rules: Arc<Rules>,
}

impl Context {
    pub fn now(&self) -> i64 {
        self.clock.now_micros()
    }

    pub fn db(&self) -> &csm_kit::Database {
        self.publisher.database()
    }
}
