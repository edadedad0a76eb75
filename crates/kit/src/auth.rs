//! Every call has an authenticated caller and an authorised role.
//!
//! Callers present `authorization: Bearer <token>`. Tokens are configured with a subject, roles and
//! (for departments) the department; only their SHA-256 is kept in memory. Each service declares a
//! [`Policy`] naming the roles allowed on each of its methods; a method without an entry is refused,
//! and [`Policy::verify`] rejects at start-up a service whose methods are not all covered.
//! Health checks and reflection stay open so probes and stock tools work.

use std::{
    collections::{HashMap, HashSet},
    fmt,
    sync::Arc,
    task::{Context, Poll},
};

use http::{Request, Response};
use prost::Message;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tonic::Status;
use tower::{Layer, Service};

use crate::config::{AuthSettings, TokenSettings};

/// What a caller may do. A caller may hold several roles.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
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

fn parse_hex_digest(hex: &str) -> Option<[u8; 32]> {
    let bytes = hex.as_bytes();
    if bytes.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, pair) in bytes.chunks(2).enumerate() {
        let text = std::str::from_utf8(pair).ok()?;
        *out.get_mut(i)? = u8::from_str_radix(text, 16).ok()?;
    }
    Some(out)
}

/// Which roles may call which method, by gRPC path (`/package.Service/Method`), and which methods
/// are administrative changes that leave an audit record.
#[derive(Debug, Clone, Default)]
pub struct Policy {
    methods: HashMap<String, Vec<Role>>,
    audited: HashSet<String>,
}

/// Paths served without a token: health checks (Kubernetes probes) and reflection.
const OPEN_PREFIXES: [&str; 3] =
    ["/grpc.health.v1.Health/", "/grpc.reflection.v1.ServerReflection/", "/grpc.reflection.v1alpha.ServerReflection/"];

impl Policy {
    pub fn new() -> Self {
        Self::default()
    }

    /// Allows `roles` on `method` of `service` (full name, e.g. `csm.intake.v1.IntakeService`).
    pub fn allow(mut self, service: &str, method: &str, roles: &[Role]) -> Self {
        self.methods.insert(format!("/{service}/{method}"), roles.to_vec());
        self
    }

    /// As [`Policy::allow`], for an administrative change (a taxonomy published, a model put in
    /// force, a case transferred): every call, served or refused, is written to the audit log,
    /// the `csm::audit` log target, with who called, with which roles, and the outcome.
    pub fn audit(mut self, service: &str, method: &str, roles: &[Role]) -> Self {
        self.audited.insert(format!("/{service}/{method}"));
        self.allow(service, method, roles)
    }

    /// Allows the feed of a service to other services and administrators.
    pub fn allow_feed(self) -> Self {
        use csm_proto::feed::v1::feed_server::SERVICE_NAME;
        let roles = [Role::Service, Role::Administrator];
        self.allow(SERVICE_NAME, "Subscribe", &roles).allow(SERVICE_NAME, "GetFeedState", &roles)
    }

    fn is_open(path: &str) -> bool {
        OPEN_PREFIXES.iter().any(|prefix| path.starts_with(prefix))
    }

    fn check(&self, path: &str, principal: &Principal) -> Result<(), Status> {
        let allowed =
            self.methods.get(path).ok_or_else(|| Status::permission_denied(format!("no role may call {path}")))?;
        if allowed.iter().any(|role| principal.has(*role)) {
            Ok(())
        } else {
            let names: Vec<String> = allowed.iter().map(Role::to_string).collect();
            Err(Status::permission_denied(format!("{path} requires one of the roles {}", names.join(", "))))
        }
    }

    /// Fails with the uncovered methods when a method of one of `services` has no entry, so a new
    /// RPC cannot go live unguarded.
    pub fn verify(&self, descriptor_set: &[u8], services: &[&str]) -> Result<(), String> {
        let set = prost_types::FileDescriptorSet::decode(descriptor_set).map_err(|e| e.to_string())?;
        let wanted: HashSet<&str> = services.iter().copied().collect();
        let mut missing = Vec::new();
        for file in &set.file {
            for service in &file.service {
                let full = format!("{}.{}", file.package(), service.name());
                if !wanted.contains(full.as_str()) {
                    continue;
                }
                for method in &service.method {
                    let path = format!("/{full}/{}", method.name());
                    if !self.methods.contains_key(&path) {
                        missing.push(path);
                    }
                }
            }
        }
        if missing.is_empty() { Ok(()) } else { Err(format!("methods without a role policy: {}", missing.join(", "))) }
    }
}

/// Tower layer that authenticates and authorises every call before it reaches a service.
#[derive(Debug, Clone)]
pub struct AuthLayer {
    authenticator: Arc<Authenticator>,
    policy: Arc<Policy>,
}

impl AuthLayer {
    pub fn new(authenticator: Authenticator, policy: Policy) -> Self {
        Self { authenticator: Arc::new(authenticator), policy: Arc::new(policy) }
    }
}

impl<S> Layer<S> for AuthLayer {
    type Service = AuthService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        AuthService { inner, layer: self.clone() }
    }
}

#[derive(Debug, Clone)]
pub struct AuthService<S> {
    inner: S,
    layer: AuthLayer,
}

impl<S, B, ResBody> Service<Request<B>> for AuthService<S>
where
    S: Service<Request<B>, Response = Response<ResBody>>,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    ResBody: Default + Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = futures_util::future::BoxFuture<'static, Result<Response<ResBody>, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        let path = request.uri().path().to_string();
        if Policy::is_open(&path) {
            return Box::pin(self.inner.call(request));
        }
        let decision =
            self.layer.authenticator.authenticate(request.headers().get(http::header::AUTHORIZATION)).and_then(
                |principal| {
                    self.layer.policy.check(&path, &principal)?;
                    Ok(principal)
                },
            );
        let audited = self.layer.policy.audited.contains(&path);
        match decision {
            Ok(principal) => {
                tracing::Span::current().record("enduser.id", principal.subject.as_str());
                request.extensions_mut().insert(principal.clone());
                let response = self.inner.call(request);
                if !audited {
                    return Box::pin(response);
                }
                Box::pin(async move {
                    let response = response.await;
                    let code = match &response {
                        Ok(response) => grpc_code(response.headers()),
                        Err(_) => "UNKNOWN".into(),
                    };
                    write_audit(&path, Some(&principal), &code);
                    response
                })
            }
            Err(status) => {
                tracing::debug!(path, code = ?status.code(), "call refused: {}", status.message());
                if audited {
                    write_audit(&path, None, &format!("{:?}", status.code()));
                }
                Box::pin(std::future::ready(Ok(status.into_http())))
            }
        }
    }
}

/// The outcome of a unary call as its response headers tell it: an error travels there, a success
/// in the trailers after the body.
fn grpc_code(headers: &http::HeaderMap) -> String {
    match headers.get("grpc-status").and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<i32>().ok()) {
        None | Some(0) => "Ok".into(),
        Some(code) => format!("{:?}", tonic::Code::from_i32(code)),
    }
}

/// One record of the audit log of administrative changes.
fn write_audit(method: &str, principal: Option<&Principal>, outcome: &str) {
    match principal {
        Some(p) => {
            let roles: Vec<String> = p.roles.iter().map(Role::to_string).collect();
            tracing::info!(target: "csm::audit", method, subject = %p.subject, roles = %roles.join(","), department = p.department.as_deref().unwrap_or(""), outcome, "administrative call");
        }
        None => tracing::info!(target: "csm::audit", method, subject = "", outcome, "administrative call refused"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(token: &str, roles: Vec<Role>, department: Option<&str>) -> AuthSettings {
        AuthSettings {
            tokens: vec![TokenSettings {
                token: Some(token.into()),
                token_sha256: None,
                subject: "caller".into(),
                roles,
                department: department.map(str::to_string),
            }],
            tokens_file: None,
        }
    }

    fn bearer(token: &str) -> http::HeaderValue {
        http::HeaderValue::from_str(&format!("Bearer {token}")).unwrap()
    }

    #[test]
    fn known_token_authenticates_and_unknown_does_not() {
        let auth = Authenticator::from_settings(&settings("s3cret", vec![Role::Agent], None)).unwrap();
        assert_eq!(auth.authenticate(Some(&bearer("s3cret"))).unwrap().subject, "caller");
        let refused = auth.authenticate(Some(&bearer("other"))).unwrap_err();
        assert_eq!(refused.code(), tonic::Code::Unauthenticated);
        assert_eq!(auth.authenticate(None).unwrap_err().code(), tonic::Code::Unauthenticated);
    }

    #[test]
    fn digest_form_matches_the_clear_token() {
        let hex: String = Sha256::digest(b"s3cret").iter().map(|b| format!("{b:02x}")).collect();
        let mut config = settings("unused", vec![Role::Agent], None);
        config.tokens[0].token = None;
        config.tokens[0].token_sha256 = Some(hex);
        let auth = Authenticator::from_settings(&config).unwrap();
        assert!(auth.authenticate(Some(&bearer("s3cret"))).is_ok());
    }

    #[test]
    fn department_role_requires_a_department() {
        let error = Authenticator::from_settings(&settings("t", vec![Role::Department], None)).unwrap_err();
        assert!(matches!(error, AuthConfigError::MissingDepartment { .. }));
    }

    #[test]
    fn policy_denies_roles_not_listed_and_methods_not_declared() {
        let policy = Policy::new().allow("a.B", "Do", &[Role::Agent]);
        let agent = Principal { subject: "x".into(), roles: vec![Role::Agent], department: None };
        let analyst = Principal { subject: "y".into(), roles: vec![Role::Analyst], department: None };
        assert!(policy.check("/a.B/Do", &agent).is_ok());
        assert_eq!(policy.check("/a.B/Do", &analyst).unwrap_err().code(), tonic::Code::PermissionDenied);
        assert_eq!(policy.check("/a.B/Other", &agent).unwrap_err().code(), tonic::Code::PermissionDenied);
    }

    #[test]
    fn verify_names_uncovered_methods() {
        let policy = Policy::new().allow_feed();
        assert!(policy.verify(csm_proto::FILE_DESCRIPTOR_SET, &["csm.feed.v1.Feed"]).is_ok());
        let missing = policy.verify(csm_proto::FILE_DESCRIPTOR_SET, &["csm.intake.v1.IntakeService"]).unwrap_err();
        assert!(missing.contains("/csm.intake.v1.IntakeService/SubmitContact"), "{missing}");
    }

    /// What a call through the auth layer wrote to the audit log.
    async fn audit_log_of(policy: &Policy, auth: &Authenticator, path: &str, token: &str) -> String {
        use std::sync::Mutex;

        #[derive(Clone, Default)]
        struct Capture(Arc<Mutex<Vec<u8>>>);
        impl std::io::Write for Capture {
            fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(bytes);
                Ok(bytes.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let capture = Capture::default();
        let writer = capture.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_env_filter("csm::audit=info")
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish();
        let _default = tracing::subscriber::set_default(subscriber);
        let inner = tower::service_fn(|_: Request<()>| async { Ok::<_, std::convert::Infallible>(Response::new(())) });
        let mut service = AuthLayer::new(auth.clone(), policy.clone()).layer(inner);
        let request = Request::builder().uri(path).header("authorization", format!("Bearer {token}")).body(()).unwrap();
        service.call(request).await.unwrap();
        String::from_utf8(capture.0.lock().unwrap().clone()).unwrap()
    }

    #[tokio::test(flavor = "current_thread")]
    async fn administrative_calls_are_written_to_the_audit_log_served_or_refused() {
        let policy = Policy::new().audit("a.B", "Publish", &[Role::Administrator]).allow("a.B", "Read", &[Role::Agent]);
        let mut config = settings("admin-token", vec![Role::Administrator], None);
        config.tokens.push(TokenSettings {
            token: Some("agent-token".into()),
            subject: "agent-7".into(),
            roles: vec![Role::Agent],
            ..TokenSettings::default()
        });
        let auth = Authenticator::from_settings(&config).unwrap();

        let served = audit_log_of(&policy, &auth, "/a.B/Publish", "admin-token").await;
        assert!(served.contains("method=\"/a.B/Publish\"") && served.contains("subject=caller"), "{served}");
        assert!(served.contains("outcome=\"Ok\""), "{served}");
        let refused = audit_log_of(&policy, &auth, "/a.B/Publish", "agent-token").await;
        assert!(refused.contains("PermissionDenied"), "{refused}");
        let unaudited = audit_log_of(&policy, &auth, "/a.B/Read", "agent-token").await;
        assert!(unaudited.is_empty(), "{unaudited}");
    }
}
