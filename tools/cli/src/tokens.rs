//! Development credentials for running the whole system on one machine: one random bearer token
//! per role (and per department of the default taxonomy), kept in `tokens.toml` in the data
//! directory so clients can read them. Production deployments bring their own tokens file.

use std::{collections::BTreeMap, path::Path};

use csm_kit::{Role, config::TokenSettings};
use serde::{Deserialize, Serialize};

/// Departments of the default taxonomy, each given a token confined to its own cases.
pub const DEPARTMENTS: [&str; 8] = [
    "billing",
    "network",
    "operations_maintenance",
    "it_systems",
    "information_security",
    "partner_management",
    "marketing",
    "service_centre",
];

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DevTokens {
    pub tokens: Vec<TokenSettings>,
}

impl DevTokens {
    /// Fresh random tokens.
    pub fn generate() -> Self {
        let mut tokens = vec![
            token("administrator", vec![Role::Administrator], None),
            token("csm-services", vec![Role::Service], None),
            token("channel-gateway", vec![Role::ChannelSystem], None),
            token("agent", vec![Role::Agent], None),
            token("analyst", vec![Role::Analyst], None),
            token("supervisor", vec![Role::Supervisor], None),
        ];
        for department in DEPARTMENTS {
            tokens.push(token(&format!("dept-{department}"), vec![Role::Department], Some(department)));
        }
        Self { tokens }
    }

    /// The tokens in `path`.
    pub fn load(path: &Path) -> std::io::Result<Self> {
        let text = std::fs::read_to_string(path)?;
        toml::from_str(&text).map_err(std::io::Error::other)
    }

    /// The tokens in `path`, creating the file with fresh tokens when it does not exist.
    pub fn load_or_create(path: &Path) -> std::io::Result<Self> {
        if path.exists() {
            return Self::load(path);
        }
        let tokens = Self::generate();
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let text = toml::to_string_pretty(&tokens).map_err(std::io::Error::other)?;
        std::fs::write(path, format!("# Development bearer tokens for `csm up`. Keep private.\n{text}"))?;
        Ok(tokens)
    }

    /// The clear token of `subject`.
    pub fn of(&self, subject: &str) -> Option<&str> {
        self.tokens.iter().find(|t| t.subject == subject).and_then(|t| t.token.as_deref())
    }

    pub fn administrator(&self) -> &str {
        self.of("administrator").unwrap_or_default()
    }

    pub fn service(&self) -> &str {
        self.of("csm-services").unwrap_or_default()
    }

    /// The token of each department, by department.
    pub fn departments(&self) -> BTreeMap<String, String> {
        self.tokens.iter().filter_map(|t| Some((t.department.clone()?, t.token.clone()?))).collect()
    }
}

/// A fresh random bearer token: 48 hex digits.
pub fn random_token() -> String {
    let secret: [u8; 24] = rand::random();
    secret.iter().map(|b| format!("{b:02x}")).collect()
}

fn token(subject: &str, roles: Vec<Role>, department: Option<&str>) -> TokenSettings {
    TokenSettings {
        token: Some(random_token()),
        token_sha256: None,
        subject: subject.to_string(),
        roles,
        department: department.map(str::to_string),
    }
}
