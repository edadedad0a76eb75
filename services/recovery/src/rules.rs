//! The operator's rules recovery applies, checked once at start-up, and what every part of the
//! service shares: its feed publisher (and through it the database) and its clock.

use std::{sync::Arc, time::Duration};

use csm_kit::{
    RunError,
    calendar::OperatorCalendar,
    feed::Publisher,
    time::{Clock, duration_micros},
};

use crate::config::{CallbackSettings, EscalationStep, RecoverySettings};

#[derive(Debug)]
pub struct Rules {
    /// The operator's calendar, from the common settings: departments' working hours.
    pub calendar: OperatorCalendar,
    pub escalation: Vec<EscalationStep>,
    pub callback: CallbackSettings,
    pub help_time_limit: Duration,
    pub second_approval_above: i64,
    pub care_department: String,
}

impl Rules {
    pub fn from_settings(settings: &RecoverySettings, calendar: OperatorCalendar) -> Result<Self, RunError> {
        let mut escalation = settings.escalation.clone();
        escalation.sort_by_key(|step| step.after);
        if escalation.iter().any(|step| step.to.trim().is_empty()) {
            return Err(RunError::Config("recovery.escalation: every step needs `to`".into()));
        }
        if settings.care_department.trim().is_empty() {
            return Err(RunError::Config("recovery.care_department must name a department".into()));
        }
        if settings.sweep_interval.is_zero() {
            return Err(RunError::Config("recovery.sweep_interval must be positive".into()));
        }
        Ok(Self {
            calendar,
            escalation,
            callback: settings.callback.clone(),
            help_time_limit: settings.help_time_limit,
            second_approval_above: settings.second_approval_above,
            care_department: settings.care_department.clone(),
        })
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
