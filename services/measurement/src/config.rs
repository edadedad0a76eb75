//! Measurement's configuration: the shared sections (the operator's calendar, whose time zone
//! periods are cut in, among them), the feeds it follows, and its sweep.

use csm_kit::config::{CommonSettings, DatabaseSettings, FeedSettings, ServerSettings, UpstreamSettings};
use std::time::Duration;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct Config {
    #[serde(flatten)]
    pub common: CommonSettings,
    pub upstream: Upstreams,
    pub measurement: MeasurementSettings,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Upstreams {
    pub intake: UpstreamSettings,
    pub classification: UpstreamSettings,
    pub recovery: UpstreamSettings,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MeasurementSettings {
    /// How often indicator alerts and ended programmes are checked.
    #[serde(with = "humantime_serde")]
    pub sweep_interval: Duration,
}

impl MeasurementSettings {
    /// Settings the sweep cannot run on, each naming its key.
    pub fn problems(&self) -> Vec<String> {
        // A sweep every 0s would run back to back.
        let zero = self.sweep_interval.is_zero();
        zero.then(|| "measurement.sweep_interval must be longer than 0s".to_string()).into_iter().collect()
    }
}

impl Default for MeasurementSettings {
    fn default() -> Self {
        Self { sweep_interval: Duration::from_secs(60) }
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            common: CommonSettings {
                server: ServerSettings::on_port(50054),
                database: DatabaseSettings::sqlite("data/measurement.db"),
                // Bigger batches fold more events into each cell write: 8,192 absorbs about 8 %
                // faster than 2,048 in `csm-bench measurement absorb`.
                feed: FeedSettings { apply_batch: 8192, ..FeedSettings::default() },
                ..CommonSettings::default()
            },
            upstream: Upstreams {
                intake: UpstreamSettings::new("http://127.0.0.1:50051", ""),
                classification: UpstreamSettings::new("http://127.0.0.1:50052", ""),
                recovery: UpstreamSettings::new("http://127.0.0.1:50053", ""),
            },
            measurement: MeasurementSettings::default(),
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
        self.measurement.problems()
    }

    fn upstreams(&self) -> Vec<(&'static str, &UpstreamSettings)> {
        vec![
            ("intake", &self.upstream.intake),
            ("classification", &self.upstream.classification),
            ("recovery", &self.upstream.recovery),
        ]
    }
}
