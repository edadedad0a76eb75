//! Recovery's configuration: the shared sections, the feeds it follows, and the operator's rules
//! for working time, escalation, callbacks and proactive care.

use std::{collections::BTreeMap, time::Duration};

use csm_kit::config::{CommonSettings, DatabaseSettings, ServerSettings, UpstreamSettings};
use serde::{Deserialize, Serialize};

const HOUR: u64 = 3600;
const DAY: u64 = 24 * HOUR;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct Config {
    #[serde(flatten)]
    pub common: CommonSettings,
    pub upstream: Upstreams,
    pub recovery: RecoverySettings,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Upstreams {
    pub intake: UpstreamSettings,
    pub classification: UpstreamSettings,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            common: CommonSettings {
                server: ServerSettings::on_port(50053),
                database: DatabaseSettings::sqlite("data/recovery.db"),
                ..CommonSettings::default()
            },
            upstream: Upstreams {
                intake: UpstreamSettings::new("http://127.0.0.1:50051", ""),
                classification: UpstreamSettings::new("http://127.0.0.1:50052", ""),
            },
            recovery: RecoverySettings::default(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RecoverySettings {
    /// Steps an overdue case or programme escalates through, each once it has been overdue for
    /// `after`.
    pub escalation: Vec<EscalationStep>,
    pub callback: CallbackSettings,
    /// How often overdue cases and programmes are looked for.
    #[serde(with = "humantime_serde")]
    pub sweep_interval: Duration,
    /// How long a department asked for help has, unless the owner says otherwise.
    #[serde(with = "humantime_serde")]
    pub help_time_limit: Duration,
    /// Compensation or a gift above this amount (fen) needs two approvers, neither of them the
    /// one who asked for it; at or below it, one approver other than the requester.
    pub second_approval_above: i64,
    /// The department that receives a proactive-care task when the prediction names none.
    pub care_department: String,
}

impl Default for RecoverySettings {
    fn default() -> Self {
        let step = |after: u64, to: &str| EscalationStep { after: Duration::from_secs(after), to: to.into() };
        Self {
            escalation: vec![
                step(0, "department head"),
                step(DAY, "service quality office"),
                step(3 * DAY, "general manager"),
            ],
            callback: CallbackSettings::default(),
            sweep_interval: Duration::from_secs(60),
            help_time_limit: Duration::from_secs(DAY),
            second_approval_above: 50_000,
            care_department: "service_centre".into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EscalationStep {
    #[serde(with = "humantime_serde")]
    pub after: Duration,
    /// Who is told at this step.
    pub to: String,
}

/// How soon after resolution the customer must be called back (回访).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CallbackSettings {
    #[serde(with = "humantime_serde")]
    pub within: Duration,
    /// For fault reports (障碍申告): faults are called back within 24 hours of the repair.
    #[serde(with = "humantime_serde")]
    pub fault_report_within: Duration,
    /// Per taxonomy leaf, overriding both.
    pub per_leaf: BTreeMap<String, humantime_serde::Serde<Duration>>,
}

impl Default for CallbackSettings {
    fn default() -> Self {
        Self {
            within: Duration::from_secs(2 * DAY),
            fault_report_within: Duration::from_secs(DAY),
            per_leaf: BTreeMap::new(),
        }
    }
}

impl csm_kit::config::ServiceConfig for Config {
    fn common(&self) -> &CommonSettings {
        &self.common
    }

    fn common_mut(&mut self) -> &mut CommonSettings {
        &mut self.common
    }
}
