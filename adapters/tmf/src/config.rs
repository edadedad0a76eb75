//! The adapter's configuration: the shared sections, the two services it calls (intake, to turn a
//! ticket into a complaint; recovery, for cases, service problems and its feed), and how hub
//! notifications are delivered.

use std::time::Duration;

use csm_kit::config::{CommonSettings, DatabaseSettings, ServerSettings, UpstreamSettings};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct Config {
    #[serde(flatten)]
    pub common: CommonSettings,
    pub upstream: Upstreams,
    pub tmf: TmfSettings,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Upstreams {
    pub intake: UpstreamSettings,
    pub recovery: UpstreamSettings,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            common: CommonSettings {
                server: ServerSettings::on_port(8621),
                database: DatabaseSettings::sqlite("data/tmf.db"),
                ..CommonSettings::default()
            },
            upstream: Upstreams {
                intake: UpstreamSettings::new("http://127.0.0.1:50051", ""),
                recovery: UpstreamSettings::new("http://127.0.0.1:50053", ""),
            },
            tmf: TmfSettings::default(),
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
        self.tmf.problems()
    }

    fn upstreams(&self) -> Vec<(&'static str, &UpstreamSettings)> {
        vec![("intake", &self.upstream.intake), ("recovery", &self.upstream.recovery)]
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TmfSettings {
    /// The address clients reach the adapter at (for example `https://csm.example.com`), from
    /// which every `href` is written; empty takes the scheme-less `Host` of each request.
    pub public_url: String,
    /// Tickets a listing returns when the caller gives no `limit`, and the most it may ask for.
    pub default_limit: u32,
    pub max_limit: u32,
    pub delivery: DeliverySettings,
}

impl TmfSettings {
    /// Settings no listing or delivery can run on, each naming its key.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if self.max_limit == 0 {
            problems.push("tmf.max_limit must be at least 1".to_string());
        }
        if self.max_limit > 0 && !(1..=self.max_limit).contains(&self.default_limit) {
            problems.push(format!(
                "tmf.default_limit must be 1 to tmf.max_limit ({}), not {}",
                self.max_limit, self.default_limit
            ));
        }
        let delivery = &self.delivery;
        for (key, pause) in [
            ("timeout", delivery.timeout),
            ("retry_initial", delivery.retry_initial),
            ("poll_interval", delivery.poll_interval),
        ] {
            if pause.is_zero() {
                problems.push(format!("tmf.delivery.{key} must be longer than 0s"));
            }
        }
        problems
    }
}

impl Default for TmfSettings {
    fn default() -> Self {
        Self { public_url: String::new(), default_limit: 100, max_limit: 1000, delivery: DeliverySettings::default() }
    }
}

/// How hub notifications reach listeners: at least once, in order per listener (so in order per
/// ticket), retried with a growing pause that survives a restart, each listener on its own so
/// one that is down holds up no other.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DeliverySettings {
    /// How long a callback may take to answer.
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
    /// The pause after a first failure, doubled after each further one up to `retry_max`.
    #[serde(with = "humantime_serde")]
    pub retry_initial: Duration,
    #[serde(with = "humantime_serde")]
    pub retry_max: Duration,
    /// A notification still undelivered this long after it was due is dropped (and counted).
    #[serde(with = "humantime_serde")]
    pub give_up_after: Duration,
    /// How often waiting notifications are looked for when nothing new arrives.
    #[serde(with = "humantime_serde")]
    pub poll_interval: Duration,
    /// Notifications one listener is sent in a row before the others' turn is checked.
    pub batch: u32,
}

impl Default for DeliverySettings {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(5),
            retry_initial: Duration::from_secs(1),
            retry_max: Duration::from_secs(300),
            give_up_after: Duration::from_secs(3 * 24 * 3600),
            poll_interval: Duration::from_millis(500),
            batch: 100,
        }
    }
}
