//! Bearer tokens: configured with a subject, roles and (for departments) the department, inline
//! or in a mounted file; only their SHA-256 is kept in memory.

use std::{collections::HashMap, path::PathBuf, sync::Arc};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tonic::Status;

use super::{Principal, Role};

/// Who may call: bearer tokens with their roles, inline or in a separate file (for a mounted
/// Kubernetes Secret). A token is given either in clear or as its SHA-256 in hex.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthSettings {
    pub tokens: Vec<TokenSettings>,
    /// A TOML file with a `[[tokens]]` array of the same shape.
    pub tokens_file: Option<PathBuf>,
    /// Start even with no token configured (every call but health is then refused). Without it,
    /// a service with no tokens refuses to start: nobody could call it, which is a mistake in
    /// production.
    pub development: bool,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TokenSettings {
    /// The bearer token in clear.
    pub token: Option<String>,
    /// Or its SHA-256, hex-encoded, so the configuration need not hold the secret.
    pub token_sha256: Option<String>,
    /// Who the caller is, as recorded in audit trails.
    pub subject: String,
    pub roles: Vec<Role>,
    /// The department of a caller with the department role.
    pub department: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum AuthConfigError {
    #[error("token for {subject}: give exactly one of `token` and `token_sha256`")]
    TokenForm { subject: String },
    #[error("token for {subject}: `token_sha256` must be 64 hex digits")]
    BadDigest { subject: String },
    #[error("token for {subject}: a caller with the department role needs its `department`")]
    MissingDepartment { subject: String },
    #[error("token for {subject}: no roles")]
    NoRoles { subject: String },
    #[error(
        "no bearer tokens configured: set auth.tokens or auth.tokens_file (CSM_AUTH__TOKENS_FILE), or ask for \
         development mode explicitly with auth.development = true (--development)"
    )]
    NoTokens,
    #[error("two tokens are identical (subjects {0} and {1})")]
    Duplicate(String, String),
    #[error("reading tokens file {path}: {source}")]
    File {
        path: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

/// Resolves bearer tokens to callers.
#[derive(Debug, Clone, Default)]
pub struct Authenticator {
    by_digest: HashMap<[u8; 32], Arc<Principal>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TokensFile {
    #[serde(default)]
    tokens: Vec<TokenSettings>,
}

impl Authenticator {
    pub fn from_settings(settings: &AuthSettings) -> Result<Self, AuthConfigError> {
        let mut tokens = settings.tokens.clone();
        if let Some(path) = &settings.tokens_file {
            let file_error = |source: Box<dyn std::error::Error + Send + Sync>| AuthConfigError::File {
                path: path.display().to_string(),
                source,
            };
            let text = std::fs::read_to_string(path).map_err(|e| file_error(e.into()))?;
            let file: TokensFile = toml::from_str(&text).map_err(|e| file_error(e.into()))?;
            tokens.extend(file.tokens);
        }
        let mut by_digest = HashMap::new();
        for spec in tokens {
            let digest = digest_of(&spec)?;
            if spec.roles.is_empty() {
                return Err(AuthConfigError::NoRoles { subject: spec.subject });
            }
            if spec.roles.contains(&Role::Department) && spec.department.is_none() {
                return Err(AuthConfigError::MissingDepartment { subject: spec.subject });
            }
            let principal =
                Arc::new(Principal { subject: spec.subject, roles: spec.roles, department: spec.department });
            if let Some(existing) = by_digest.insert(digest, principal.clone()) {
                return Err(AuthConfigError::Duplicate(existing.subject.clone(), principal.subject.clone()));
            }
        }
        if by_digest.is_empty() && !settings.development {
            return Err(AuthConfigError::NoTokens);
        }
        if by_digest.is_empty() {
            tracing::warn!("development mode: no bearer tokens configured, every call but health will be refused");
        }
        Ok(Self { by_digest })
    }

    /// The caller behind an `authorization` header value.
    pub fn authenticate(&self, header: Option<&http::HeaderValue>) -> Result<Arc<Principal>, Status> {
        let header = header.ok_or_else(|| Status::unauthenticated("missing bearer token"))?;
        let value = header.to_str().map_err(|_| Status::unauthenticated("malformed authorization header"))?;
        let token = value
            .strip_prefix("Bearer ")
            .or_else(|| value.strip_prefix("bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| Status::unauthenticated("authorization must be `Bearer <token>`"))?;
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        self.by_digest.get(&digest).cloned().ok_or_else(|| Status::unauthenticated("unknown bearer token"))
    }
}

fn digest_of(spec: &TokenSettings) -> Result<[u8; 32], AuthConfigError> {
    match (&spec.token, &spec.token_sha256) {
        (Some(token), None) if !token.is_empty() => Ok(Sha256::digest(token.as_bytes()).into()),
        (None, Some(hex)) => {
            parse_hex_digest(hex).ok_or_else(|| AuthConfigError::BadDigest { subject: spec.subject.clone() })
        }
        _ => Err(AuthConfigError::TokenForm { subject: spec.subject.clone() }),
    }
}

fn parse_hex_digest(digits: &str) -> Option<[u8; 32]> {
    let mut out = [0u8; 32];
    hex::decode_to_slice(digits, &mut out).ok()?;
    Some(out)
}
