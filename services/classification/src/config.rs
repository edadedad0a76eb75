//! Classification's configuration: the shared sections, the feeds it follows, and how it tells
//! common and emerging problems, flags customers at risk and learns from outcomes.

use std::time::Duration;

use csm_kit::config::{CommonSettings, DatabaseSettings, ServerSettings, UpstreamSettings};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct Config {
    #[serde(flatten)]
    pub common: CommonSettings,
    pub upstream: Upstreams,
    pub problems: ProblemSettings,
    pub risk: RiskSettings,
}

/// Classification follows intake's feed (work orders, customers), and recovery's only to learn
/// which customers turned out dissatisfied or were recovered (`outcomes`), for the risk model: no
/// write of classification waits for recovery. With an empty recovery URL it follows intake alone.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Upstreams {
    pub intake: UpstreamSettings,
    pub recovery: UpstreamSettings,
}

impl Default for Upstreams {
    fn default() -> Self {
        Self {
            intake: UpstreamSettings::new("http://127.0.0.1:50051", ""),
            recovery: UpstreamSettings::new("http://127.0.0.1:50053", ""),
        }
    }
}

/// Common (共性) versus special complaints, and sudden rises.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ProblemSettings {
    /// A leaf is common when at least this many distinct customers raise it on one day.
    pub common_customers: i64,
    /// A leaf emerges on a day with at least `emerging_min_orders` orders and at least
    /// `emerging_factor` times its mean daily orders over the preceding `emerging_window_days`.
    pub emerging_window_days: i64,
    pub emerging_factor: f64,
    pub emerging_min_orders: i64,
}

impl Default for ProblemSettings {
    fn default() -> Self {
        Self { common_customers: 10, emerging_window_days: 7, emerging_factor: 3.0, emerging_min_orders: 5 }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RiskSettings {
    /// A customer flagged at risk is not flagged again within this time.
    #[serde(with = "humantime_serde")]
    pub cooldown: Duration,
    /// Retrain the risk model from outcomes by itself once this many customers' outcomes were
    /// learned since the last such retraining was asked for; 0 (the default) leaves it to callers.
    pub retrain_after_outcomes: u64,
}

impl Default for RiskSettings {
    fn default() -> Self {
        Self { cooldown: Duration::from_secs(30 * 24 * 3600), retrain_after_outcomes: 0 }
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            common: CommonSettings {
                server: ServerSettings::on_port(50052),
                database: DatabaseSettings::sqlite("data/classification.db"),
                ..CommonSettings::default()
            },
            upstream: Upstreams::default(),
            problems: ProblemSettings::default(),
            risk: RiskSettings::default(),
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

    fn upstreams(&self) -> Vec<(&'static str, &UpstreamSettings)> {
        vec![("intake", &self.upstream.intake), ("recovery", &self.upstream.recovery)]
    }
}
