//! Intake's configuration: the shared sections plus the rules of what a contact may look like.

use std::time::Duration;

use csm_kit::config::{CommonSettings, DatabaseSettings, ServerSettings};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct Config {
    #[serde(flatten)]
    pub common: CommonSettings,
    pub intake: IntakeSettings,
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
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct IntakeSettings {
    /// A normalised phone number (digits only, country prefix removed) must match this pattern.
    /// The default accepts mainland China mobile numbers: 11 digits starting 13 to 19.
    pub phone_pattern: String,
    /// Longest contact text accepted, in characters.
    pub max_text_chars: usize,
    /// How far in the future `occurred_at` may lie, to allow for channel clocks running fast.
    #[serde(with = "humantime_serde")]
    pub max_clock_skew: Duration,
}

impl Default for IntakeSettings {
    fn default() -> Self {
        Self {
            phone_pattern: "^1[3-9][0-9]{9}$".into(),
            max_text_chars: 4000,
            max_clock_skew: Duration::from_secs(300),
        }
    }
}
