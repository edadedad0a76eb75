//! Intake's configuration: the shared sections, the rules of what a contact may look like, and the
//! operator's rules for repeat and high-frequency complainants.

use std::time::Duration;

use csm_kit::config::{CommonSettings, DatabaseSettings, ServerSettings, UpstreamSettings};
use regex::Regex;
use serde::{Deserialize, Serialize};

const DAY: u64 = 24 * 3600;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct Config {
    #[serde(flatten)]
    pub common: CommonSettings,
    pub intake: IntakeSettings,
    pub upstream: Upstreams,
}

/// Intake follows classification's feed only to learn the root-cause leaf of its work orders,
/// which makes later complaints about the same cause recognisable as repeats. No write of intake
/// waits for it. With an empty URL intake follows nothing, and recognises repeats by problem code
/// and named earlier orders only.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Upstreams {
    pub classification: UpstreamSettings,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            common: CommonSettings {
                server: ServerSettings::on_port(50051),
                database: DatabaseSettings::sqlite("data/intake.db"),
                ..CommonSettings::default()
            },
            intake: IntakeSettings::default(),
            upstream: Upstreams { classification: UpstreamSettings::new("http://127.0.0.1:50052", "") },
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IntakeSettings {
    /// A normalised phone number (digits only, country prefix removed) must match this pattern.
    /// The default accepts mainland China mobile numbers: 11 digits starting 13 to 19.
    pub phone_pattern: String,
    /// Longest contact text accepted, in characters.
    pub max_text_chars: usize,
    /// How far in the future `occurred_at` may lie, to allow for channel clocks running fast.
    #[serde(with = "humantime_serde")]
    pub max_clock_skew: Duration,
    /// Two work orders of a customer on the same topic at most this far apart are the same problem
    /// (重复投诉): the later one is a repeat of the first.
    #[serde(with = "humantime_serde")]
    pub repeat_window: Duration,
    pub high_frequency: HighFrequencySettings,
    /// Labels refused as customer tags or notes, however written (case, spaces and punctuation
    /// are ignored). Staff must never label customers with derogatory words.
    pub derogatory_labels: Vec<String>,
    /// Most items written in one transaction, and the size of the chunks an Ingest stream is
    /// committed in: at most [`MAX_WRITE_BATCH`].
    pub write_batch: usize,
}

/// The largest `write_batch` accepted: an Ingest stream holds some four chunks in memory at once,
/// and at this size intake's peak RSS already nears its 200 MiB budget (docs/performance.md).
pub const MAX_WRITE_BATCH: usize = 16_384;

impl IntakeSettings {
    /// Settings no rule can run with, each naming its key.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if !(1..=MAX_WRITE_BATCH).contains(&self.write_batch) {
            problems.push(format!("intake.write_batch must be 1 to {MAX_WRITE_BATCH}, not {}", self.write_batch));
        }
        problems.extend(self.phone_regex().err());
        problems.extend(self.clock_skew().err());
        if self.high_frequency.sweep_interval.is_zero() {
            // A sweep every 0s would run back to back, holding the writer.
            problems.push("intake.high_frequency.sweep_interval must be longer than 0s".into());
        }
        problems
    }

    /// `phone_pattern`, compiled.
    pub fn phone_regex(&self) -> Result<Regex, String> {
        Regex::new(&self.phone_pattern).map_err(|e| format!("intake.phone_pattern is not a valid pattern: {e}"))
    }

    /// `max_clock_skew` as the validation's clock counts it.
    pub fn clock_skew(&self) -> Result<chrono::Duration, String> {
        chrono::Duration::from_std(self.max_clock_skew).map_err(|e| format!("intake.max_clock_skew: {e}"))
    }
}

impl Default for IntakeSettings {
    fn default() -> Self {
        Self {
            phone_pattern: "^1[3-9][0-9]{9}$".into(),
            max_text_chars: 4000,
            max_clock_skew: Duration::from_secs(300),
            repeat_window: Duration::from_secs(30 * DAY),
            high_frequency: HighFrequencySettings::default(),
            derogatory_labels: [
                "刁民",
                "恶意客户",
                "黑名单客户",
                "troublemaker",
                "malicious customer",
                "blacklisted customer",
            ]
            .map(str::to_string)
            .to_vec(),
            write_batch: 1024,
        }
    }
}

/// High-frequency complainants (高频次投诉客户): at least `week_complaints` complaints within
/// `week`, or at least `month_complaints` within `month`, both inclusive, by when the complaints
/// were made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HighFrequencySettings {
    #[serde(with = "humantime_serde")]
    pub week: Duration,
    pub week_complaints: usize,
    #[serde(with = "humantime_serde")]
    pub month: Duration,
    pub month_complaints: usize,
    /// A high-frequency complainant without a complaint for this long is inactive.
    #[serde(with = "humantime_serde")]
    pub inactive_after: Duration,
    /// How often active complainants are checked for inactivity.
    #[serde(with = "humantime_serde")]
    pub sweep_interval: Duration,
}

impl Default for HighFrequencySettings {
    fn default() -> Self {
        Self {
            week: Duration::from_secs(7 * DAY),
            week_complaints: 3,
            month: Duration::from_secs(30 * DAY),
            month_complaints: 8,
            inactive_after: Duration::from_secs(90 * DAY),
            sweep_interval: Duration::from_secs(600),
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
        self.intake.problems()
    }

    fn upstreams(&self) -> Vec<(&'static str, &UpstreamSettings)> {
        vec![("classification", &self.upstream.classification)]
    }
}
