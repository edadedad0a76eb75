//! Classification's configuration: the shared sections plus the intake feed it follows.

use csm_kit::config::{CommonSettings, DatabaseSettings, ServerSettings, UpstreamSettings};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct Config {
    #[serde(flatten)]
    pub common: CommonSettings,
    pub upstream: Upstreams,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Upstreams {
    pub intake: UpstreamSettings,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            common: CommonSettings {
                server: ServerSettings::on_port(50052),
                database: DatabaseSettings::sqlite("data/classification.db"),
                ..CommonSettings::default()
            },
            upstream: Upstreams { intake: UpstreamSettings::new("http://127.0.0.1:50051", "") },
        }
    }
}
