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
    pub detractors: DetractorSettings,
    pub regulator: RegulatorSettings,
    pub service_problems: ServiceProblemSettings,
}

impl RecoverySettings {
    /// Rules no case could be worked by, each naming its key.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if self.escalation.iter().any(|step| step.to.trim().is_empty()) {
            problems.push("recovery.escalation: every step needs `to`".into());
        }
        if self.care_department.trim().is_empty() {
            problems.push("recovery.care_department must name a department".into());
        }
        if self.sweep_interval.is_zero() {
            problems.push("recovery.sweep_interval must be longer than 0s".into());
        }
        problems.extend(self.detractors.problems());
        if !(1..=366).contains(&self.regulator.answer_within_days) {
            problems.push("recovery.regulator.answer_within_days must be 1 to 366".into());
        }
        if self.regulator.escalate_to.trim().is_empty() {
            problems.push("recovery.regulator.escalate_to must say who is told".into());
        }
        problems.extend(self.service_problems.problems());
        problems
    }
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
            detractors: DetractorSettings::default(),
            regulator: RegulatorSettings::default(),
            service_problems: ServiceProblemSettings::default(),
        }
    }
}

/// Service problems (重大故障): finding one when a root cause surges in a region, and how many
/// customers of the area its proactive care reaches.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServiceProblemSettings {
    /// Whether recovery opens a problem itself when a leaf's complaints surge in a region.
    pub detect: bool,
    /// A surge needs at least this many cases of one leaf and region within `window`.
    pub min_cases: u32,
    /// The trailing window complaints are counted over.
    #[serde(with = "humantime_serde")]
    pub window: Duration,
    /// ... and at least this many times the average count per window of the same leaf and region
    /// over the previous seven days (an average below one counts as one).
    pub surge_factor: f64,
    /// The most proactive care tasks one problem opens.
    pub care_limit: u32,
}

impl ServiceProblemSettings {
    fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if self.min_cases == 0 {
            problems.push("min_cases must be at least 1");
        }
        if self.window.is_zero() || self.window > Duration::from_secs(7 * DAY) {
            problems.push("window must be positive and at most 7 days");
        }
        if !self.surge_factor.is_finite() || self.surge_factor < 0.0 {
            problems.push("surge_factor must be a number of at least 0");
        }
        if self.care_limit > 100_000 {
            problems.push("care_limit must be at most 100000");
        }
        problems.into_iter().map(|problem| format!("recovery.service_problems.{problem}")).collect()
    }
}

impl Default for ServiceProblemSettings {
    fn default() -> Self {
        Self { detect: true, min_cases: 20, window: Duration::from_secs(HOUR), surge_factor: 4.0, care_limit: 500 }
    }
}

/// Which survey and callback answers are dissatisfied (a detractor), and how the customer is
/// reached afterwards. A score at or beyond the threshold of its scale is dissatisfied.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DetractorSettings {
    /// 5-level Likert (1 very dissatisfied ... 5 very satisfied): at most this.
    pub likert_5_at_most: f64,
    /// CSAT 1 to 5: at most this.
    pub csat_5_at_most: f64,
    /// NPS, 0 to 10: at most this (0-6 are detractors).
    pub score_0_10_at_most: f64,
    /// 0 to 100: at most this.
    pub score_100_at_most: f64,
    /// CES 1 (very easy) to 7 (very hard): at least this is high effort.
    pub ces_7_at_least: f64,
    /// An answer on an order whose case was resolved at most this long before it reopens the case;
    /// later ones open a detractor task instead.
    #[serde(with = "humantime_serde")]
    pub reopen_within: Duration,
    /// Share of the other dissatisfied customers who are phoned; the rest are sent an SMS.
    pub phone_share: f64,
    /// Customers of at least this VIP level are always phoned (0 turns the rule off).
    pub always_phone_vip_level: i32,
    /// The department that owns an answer counting towards an indicator, when the order names no
    /// case; answers with neither go to `care_department`.
    pub indicator_owners: BTreeMap<String, String>,
}

impl DetractorSettings {
    fn problems(&self) -> Vec<String> {
        let thresholds = [
            ("likert_5_at_most", self.likert_5_at_most, 1.0, 5.0),
            ("csat_5_at_most", self.csat_5_at_most, 1.0, 5.0),
            ("score_0_10_at_most", self.score_0_10_at_most, 0.0, 10.0),
            ("score_100_at_most", self.score_100_at_most, 0.0, 100.0),
            ("ces_7_at_least", self.ces_7_at_least, 1.0, 7.0),
            ("phone_share", self.phone_share, 0.0, 1.0),
        ];
        let mut problems: Vec<String> = thresholds
            .into_iter()
            .filter(|(_, value, low, high)| !(*low..=*high).contains(value))
            .map(|(name, value, low, high)| {
                format!("recovery.detractors.{name} must be between {low} and {high}, not {value}")
            })
            .collect();
        if self.indicator_owners.values().any(|owner| owner.trim().is_empty()) {
            problems.push("recovery.detractors.indicator_owners: every indicator needs a department".into());
        }
        problems
    }
}

impl Default for DetractorSettings {
    fn default() -> Self {
        let owners = [("csat", "service_centre"), ("nps", "marketing"), ("ces", "service_centre")];
        Self {
            likert_5_at_most: 2.0,
            csat_5_at_most: 2.0,
            score_0_10_at_most: 6.0,
            score_100_at_most: 60.0,
            ces_7_at_least: 5.0,
            reopen_within: Duration::from_secs(30 * DAY),
            phone_share: 0.2,
            always_phone_vip_level: 1,
            indicator_owners: owners.into_iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        }
    }
}

/// The regulator's clock (法定答复时限): the operator must answer a complaint within so many days,
/// after which the customer may appeal to the communications administration.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RegulatorSettings {
    /// Calendar days in the operator's time zone; the day the complaint is raised does not count,
    /// and the answer is due by the end of the last day.
    pub answer_within_days: u32,
    /// How long before the answer is due an unresolved case is at appeal risk and escalates.
    #[serde(with = "humantime_serde")]
    pub warn_before: Duration,
    /// Who is told when a case comes within `warn_before` of its answer due time, or passes it.
    pub escalate_to: String,
}

impl Default for RegulatorSettings {
    fn default() -> Self {
        Self {
            answer_within_days: 15,
            warn_before: Duration::from_secs(3 * DAY),
            escalate_to: "service quality office".into(),
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

    fn own_problems(&self) -> Vec<String> {
        self.recovery.problems()
    }

    fn upstreams(&self) -> Vec<(&'static str, &UpstreamSettings)> {
        vec![("intake", &self.upstream.intake), ("classification", &self.upstream.classification)]
    }
}
