//! Which roles may call which method, declared by each service, and which calls are audited.

use std::collections::{HashMap, HashSet};

use prost::Message;
use tonic::Status;

use super::{Principal, Role};

/// Which roles may call which method, by gRPC path (`/package.Service/Method`), and which methods
/// are administrative changes that leave an audit record.
#[derive(Debug, Clone, Default)]
pub struct Policy {
    methods: HashMap<String, Vec<Role>>,
    pub(super) audited: HashSet<String>,
    bulk: HashSet<String>,
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

    /// Marks `methods` of `service` as taking bulk data (training sets, imports): their request
    /// messages may be as large as `server.max_bulk_message_bytes`, every other method's only
    /// `server.max_message_bytes`.
    pub fn bulk(mut self, service: &str, methods: &[&str]) -> Self {
        self.bulk.extend(methods.iter().map(|method| format!("/{service}/{method}")));
        self
    }

    /// Every method this policy names, by path, with the roles allowed on it and whether calls
    /// are audited; sorted, for the security table the docs are generated from.
    pub fn entries(&self) -> Vec<(String, Vec<Role>, bool)> {
        let mut entries: Vec<(String, Vec<Role>, bool)> = self
            .methods
            .iter()
            .map(|(path, roles)| (path.clone(), roles.clone(), self.audited.contains(path)))
            .collect();
        entries.sort();
        entries
    }

    /// The paths of the methods that take bulk data.
    pub fn bulk_paths(&self) -> HashSet<String> {
        self.bulk.clone()
    }

    /// Allows the feed of a service to other services and administrators.
    pub fn allow_feed(self) -> Self {
        use csm_proto::feed::v1::feed_server::SERVICE_NAME;
        let roles = [Role::Service, Role::Administrator];
        self.allow(SERVICE_NAME, "Subscribe", &roles).allow(SERVICE_NAME, "GetFeedState", &roles)
    }

    /// Whether `path` is a method of this server: [`Policy::verify`] makes sure every method
    /// served has an entry, so a path without one is served nowhere here.
    pub(super) fn governs(&self, path: &str) -> bool {
        self.methods.contains_key(path)
    }

    pub(super) fn is_open(path: &str) -> bool {
        OPEN_PREFIXES.iter().any(|prefix| path.starts_with(prefix))
    }

    pub(super) fn check(&self, path: &str, principal: &Principal) -> Result<(), Status> {
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
