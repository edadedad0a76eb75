//! Every call has an authenticated caller and an authorised role.
//!
//! Callers present `authorization: Bearer <token>`. Tokens are configured with a subject, roles and
//! (for departments) the department; only their SHA-256 is kept in memory. Each service declares a
//! [`Policy`] naming the roles allowed on each of its methods; a method without an entry is refused,
//! and [`Policy::verify`] rejects at start-up a service whose methods are not all covered.
//! Health checks and reflection stay open so probes and stock tools work.

//!
//! The room: [`Role`] and [`Principal`] here; tokens and their settings in `tokens`; the
//! per-method [`Policy`] in `policy`; the tower layer that applies both in `layer`.

mod layer;
mod policy;
mod tokens;

use std::{fmt, sync::Arc};

use serde::{Deserialize, Serialize};
use tonic::Status;

pub use layer::{AuthLayer, AuthService};
pub use policy::Policy;
pub use tokens::{AuthConfigError, AuthSettings, Authenticator, TokenSettings};

/// What a caller may do. A caller may hold several roles.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// A channel system (hotline, app, store, ...) that submits contacts.
    ChannelSystem,
    /// A front-line service agent.
    Agent,
    /// A back-office department that works its own cases.
    Department,
    /// A service-quality supervisor: transfers cases between departments, approves compensation,
    /// and owns remediation programmes.
    Supervisor,
    /// A service-quality analyst reading indicators.
    Analyst,
    /// Configures the system and may act on anything.
    Administrator,
    /// Another csm service or an outside system following a feed.
    Service,
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Role::ChannelSystem => "channel_system",
            Role::Agent => "agent",
            Role::Department => "department",
            Role::Supervisor => "supervisor",
            Role::Analyst => "analyst",
            Role::Administrator => "administrator",
            Role::Service => "service",
        })
    }
}

/// The authenticated caller, available to handlers through [`Principal::of`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub subject: String,
    pub roles: Vec<Role>,
    pub department: Option<String>,
}

impl Principal {
    pub fn has(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }

    /// The caller of a request that passed the authentication layer.
    pub fn of<T>(request: &tonic::Request<T>) -> Result<Arc<Principal>, Status> {
        request
            .extensions()
            .get::<Arc<Principal>>()
            .cloned()
            .ok_or_else(|| Status::unauthenticated("no authenticated caller"))
    }

    /// The department whose data this caller is confined to: `Some` for a caller whose only
    /// reach is its department, `None` for a caller who may see every department.
    pub fn confined_department(&self) -> Option<&str> {
        let unconfined = [Role::Administrator, Role::Agent, Role::Analyst, Role::Service, Role::Supervisor];
        if unconfined.iter().any(|role| self.has(*role)) { None } else { self.department.as_deref() }
    }
}

#[cfg(test)]
mod tests;
