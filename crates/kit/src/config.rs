//! Configuration: built-in defaults, then the file the four services share (when
//! `CSM_SHARED_CONFIG` names one: the operator's calendar and organisation, kept once for all),
//! then the service's own optional TOML file, then environment variables.
//!
//! Environment variables start with `CSM_` and use `__` between levels, so `database.url` is set by
//! `CSM_DATABASE__URL` and `server.listen` by `CSM_SERVER__LISTEN`. The file comes from `--config`
//! or `CSM_CONFIG`. Durations are written the human way: `"500ms"`, `"10s"`, `"2m"`.

use std::{collections::BTreeMap, net::SocketAddr, path::Path, time::Duration};

use serde::{Deserialize, Serialize};

mod load;
mod show;
pub use load::{ConfigError, load, load_files};
pub use show::{Format, render};

/// A service's whole configuration: the common sections (flattened) and its own.
pub trait ServiceConfig: Serialize + serde::de::DeserializeOwned + Default {
    fn common(&self) -> &CommonSettings;
    fn common_mut(&mut self) -> &mut CommonSettings;

    /// The service's own settings it cannot run with, each naming its key.
    fn own_problems(&self) -> Vec<String> {
        Vec::new()
    }

    /// The upstreams the service calls or follows, by their key under `upstream`.
    fn upstreams(&self) -> Vec<(&'static str, &UpstreamSettings)> {
        Vec::new()
    }
}

pub use crate::auth::{AuthSettings, TokenSettings};
use crate::{
    calendar::CalendarSettings,
    tls::{ClientTlsSettings, ServerTlsSettings},
};

/// How the gRPC server listens and protects itself.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerSettings {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// Longest a unary call may run before it is cancelled (a caller's shorter `grpc-timeout` wins).
    #[serde(with = "humantime_serde")]
    pub request_timeout: Duration,
    /// Calls served at once; beyond this, calls are refused with RESOURCE_EXHAUSTED rather than
    /// queued, so a caller can back off or go to another replica.
    pub max_concurrent_requests: usize,
    /// Calls one caller may have in flight at once (a caller is its bearer token, else the address
    /// it connects from); beyond this its calls are refused with RESOURCE_EXHAUSTED, before the
    /// server-wide limit is consulted, so one busy caller cannot take every slot from the others.
    pub max_concurrent_requests_per_caller: usize,
    /// The longest request message a method takes, refused from its length prefix before it is
    /// read; methods that take bulk data (as each service's policy marks them) take up to
    /// `max_bulk_message_bytes`.
    pub max_message_bytes: usize,
    pub max_bulk_message_bytes: usize,
    /// After shutdown begins, health reports NOT_SERVING for this long before the server stops
    /// accepting calls, so load balancers stop sending traffic first.
    #[serde(with = "humantime_serde")]
    pub drain_delay: Duration,
    /// TLS (and, with a client CA, mutual TLS) for every caller; off unless one of its files is set.
    pub tls: ServerTlsSettings,
    /// A second address serving only the gRPC health service, in plain text and without a token,
    /// for Kubernetes' gRPC probes when the main address requires mutual TLS (the kubelet's probe
    /// speaks neither TLS nor presents a certificate). It reports what the main address reports,
    /// NOT_SERVING during the drain included.
    pub health_listen: Option<SocketAddr>,
}

impl ServerSettings {
    /// Settings a server cannot serve with, each naming its key: a call timeout of nothing
    /// (every call would end DEADLINE_EXCEEDED), and TLS that does not load.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if self.request_timeout.is_zero() {
            problems.push("server.request_timeout must be longer than 0s".into());
        }
        problems.extend(self.tls.problem());
        problems
    }
}

impl Default for ServerSettings {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 50051)),
            request_timeout: Duration::from_secs(10),
            max_concurrent_requests: 512,
            max_concurrent_requests_per_caller: 128,
            max_message_bytes: 1024 * 1024,
            max_bulk_message_bytes: 64 * 1024 * 1024,
            drain_delay: Duration::ZERO,
            tls: ServerTlsSettings::default(),
            health_listen: None,
        }
    }
}

impl ServerSettings {
    /// Defaults listening on `port`, for a service's own default.
    pub fn on_port(port: u16) -> Self {
        Self { listen: SocketAddr::from(([127, 0, 0, 1], port)), ..Self::default() }
    }
}

/// Where a service keeps its data.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DatabaseSettings {
    /// `sqlite://path/to/file.db` (created when missing) or `postgres://user@host:5432/database`.
    pub url: String,
    /// Pool size for reads (and for writes on PostgreSQL).
    pub max_connections: u32,
    /// On PostgreSQL, create the database when it does not exist yet.
    pub create_if_missing: bool,
    /// On SQLite, the page cache of the writing connection, in MiB.
    pub sqlite_writer_cache_mib: u32,
    /// On PostgreSQL, how long one attempt to reach the server at start-up may take.
    #[serde(with = "humantime_serde")]
    pub connect_timeout: Duration,
    /// On PostgreSQL, how many times the server is tried at start-up (each failure logged, 1 s,
    /// 2 s, ... up to 5 s apart) before the service gives up naming it.
    pub connect_attempts: u32,
}

impl DatabaseSettings {
    /// A SQLite file, as the embedded default.
    pub fn sqlite(path: impl AsRef<Path>) -> Self {
        Self { url: format!("sqlite://{}", path.as_ref().display()), ..Self::default() }
    }
}

impl Default for DatabaseSettings {
    fn default() -> Self {
        Self {
            url: "sqlite://data/service.db".into(),
            max_connections: 8,
            create_if_missing: true,
            sqlite_writer_cache_mib: 32,
            connect_timeout: Duration::from_secs(5),
            connect_attempts: 3,
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

/// Logs and traces. OpenTelemetry export is switched on by `otlp_endpoint` or the standard
/// `OTEL_EXPORTER_OTLP_ENDPOINT` variable.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TelemetrySettings {
    pub log_format: LogFormat,
    /// A `tracing` filter such as `info,csm_intake=debug`; `RUST_LOG` overrides it.
    pub log_filter: String,
    /// OTLP/gRPC collector for traces and metrics, e.g. `http://otel-collector:4317`;
    /// `OTEL_EXPORTER_OTLP_ENDPOINT` is read when unset.
    pub otlp_endpoint: Option<String>,
    /// Where Prometheus scrapes `GET /metrics`, e.g. `0.0.0.0:9464`; none by default.
    pub metrics_address: Option<std::net::SocketAddr>,
    /// Whether metrics are recorded at all (true by default); off, every instrument does nothing,
    /// which is how their cost is measured.
    pub metrics: bool,
}

impl Default for TelemetrySettings {
    fn default() -> Self {
        Self {
            log_format: LogFormat::Text,
            log_filter: "info,sqlx=warn,sea_orm_migration=warn".into(),
            otlp_endpoint: None,
            metrics_address: None,
            metrics: true,
        }
    }
}

/// A service whose feed this one follows.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct UpstreamSettings {
    /// `http://host:port` of the upstream service.
    pub url: String,
    /// Bearer token with the service role at the upstream.
    pub token: String,
    /// TLS towards this upstream (its URL starting with `https://`); when empty, the service's
    /// `client_tls` applies.
    pub tls: ClientTlsSettings,
}

impl Default for UpstreamSettings {
    fn default() -> Self {
        Self { url: "http://127.0.0.1:50051".into(), token: String::new(), tls: ClientTlsSettings::default() }
    }
}

impl UpstreamSettings {
    /// The TLS this upstream is called with: its own, else `fallback` (the service's
    /// `client_tls`).
    pub fn tls_or<'a>(&'a self, fallback: &'a ClientTlsSettings) -> &'a ClientTlsSettings {
        if self.tls.is_empty() { fallback } else { &self.tls }
    }

    pub fn new(url: impl Into<String>, token: impl Into<String>) -> Self {
        Self { url: url.into(), token: token.into(), tls: ClientTlsSettings::default() }
    }
}

/// How a feed is served and followed.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FeedSettings {
    /// Events read from the outbox per query when serving a subscriber.
    pub read_batch: u64,
    /// How often a live subscription checks the outbox when no commit in this process woke it
    /// (commits by another replica of the same service are seen this way).
    #[serde(with = "humantime_serde")]
    pub poll_interval: Duration,
    /// Events a consumer applies in one transaction at most.
    pub apply_batch: usize,
    /// First and longest wait between reconnection attempts of a consumer.
    #[serde(with = "humantime_serde")]
    pub retry_initial: Duration,
    #[serde(with = "humantime_serde")]
    pub retry_max: Duration,
    /// How long a replica's hold on a consumer's (or a sweep's) lease lasts without renewal. Only
    /// the holder follows the feed; when it stops, a standby replica takes over within a third of
    /// this, and when it dies, within this and a third.
    #[serde(with = "humantime_serde")]
    pub lease_term: Duration,
    /// Subscriptions a replica serves at once; one more is refused with RESOURCE_EXHAUSTED, so
    /// replaying followers cannot crowd out the calls the service is there for.
    pub max_subscribers: usize,
}

impl FeedSettings {
    /// Settings a feed cannot run on, each naming its key: with a batch of none or a pause of
    /// nothing, a subscription or a consumer would spin without doing anything.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        for (key, none) in [("read_batch", self.read_batch == 0), ("apply_batch", self.apply_batch == 0)] {
            if none {
                problems.push(format!("feed.{key} must be at least 1"));
            }
        }
        for (key, pause) in [("poll_interval", self.poll_interval), ("retry_initial", self.retry_initial)] {
            if pause.is_zero() {
                problems.push(format!("feed.{key} must be longer than 0s"));
            }
        }
        problems
    }
}

impl Default for FeedSettings {
    fn default() -> Self {
        Self {
            read_batch: 512,
            poll_interval: Duration::from_secs(1),
            apply_batch: 256,
            retry_initial: Duration::from_millis(100),
            retry_max: Duration::from_secs(5),
            lease_term: Duration::from_secs(15),
            max_subscribers: 64,
        }
    }
}

/// The operator's organisation as every service names it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OrganisationSettings {
    /// The departments work can be owned by (部门), by the keys taxonomies, tokens and indicators
    /// use. The default is the departments of the shipped taxonomy.
    pub departments: Vec<String>,
    /// The departments' names in the operator's languages, by key, for what people read (the
    /// report); a department without one is shown by its key. Taxonomies name departments by key
    /// only, so the names are kept once here.
    pub names: BTreeMap<String, DepartmentNames>,
}

/// A department's names in Chinese and English.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DepartmentNames {
    pub zh: String,
    pub en: String,
}

impl Default for OrganisationSettings {
    fn default() -> Self {
        let departments = [
            ("billing", "计费部", "Billing"),
            ("information_security", "信息安全部", "Information security"),
            ("it_systems", "IT 系统部", "IT systems"),
            ("marketing", "市场部", "Marketing"),
            ("network", "网络部", "Network"),
            ("operations_maintenance", "运维部", "Operations and maintenance"),
            ("partner_management", "合作伙伴管理部", "Partner management"),
            ("service_centre", "客户服务中心", "Service centre"),
        ];
        Self {
            departments: departments.iter().map(|(key, _, _)| key.to_string()).collect(),
            names: departments
                .iter()
                .map(|(key, zh, en)| (key.to_string(), DepartmentNames { zh: zh.to_string(), en: en.to_string() }))
                .collect(),
        }
    }
}

impl OrganisationSettings {
    pub fn knows(&self, department: &str) -> bool {
        self.departments.iter().any(|known| known == department)
    }
}

/// The sections every service's configuration has.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct CommonSettings {
    pub server: ServerSettings,
    pub database: DatabaseSettings,
    pub auth: AuthSettings,
    pub telemetry: TelemetrySettings,
    pub feed: FeedSettings,
    /// The operator's calendar: time zone, holidays and departments' working time, shared by
    /// every service for deadlines and for cutting days.
    pub calendar: CalendarSettings,
    pub organisation: OrganisationSettings,
    /// TLS for calls to every upstream with an `https://` URL (CA, and this service's own
    /// certificate for servers requiring mutual TLS).
    pub client_tls: ClientTlsSettings,
}

impl CommonSettings {
    /// The shared settings no service can run with, each naming its key. Values that only
    /// make no sense (a limit of none) are raised to the least that works where they are used.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = self.feed.problems();
        problems.extend(self.server.problems());
        problems
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Role;

    #[derive(Debug, Default, Serialize, Deserialize)]
    #[serde(default)]
    struct Sample {
        #[serde(flatten)]
        common: CommonSettings,
        extra: String,
    }

    #[test]
    fn file_values_override_defaults_and_durations_read_as_text() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("svc.toml");
        std::fs::write(
            &file,
            r#"
            extra = "x"
            [server]
            listen = "0.0.0.0:6000"
            request_timeout = "250ms"
            [[auth.tokens]]
            token = "t"
            subject = "ops"
            roles = ["administrator"]
            "#,
        )
        .unwrap();
        let sample: Sample = load(Some(&file)).unwrap();
        assert_eq!(sample.common.server.listen.port(), 6000);
        assert_eq!(sample.common.server.request_timeout, Duration::from_millis(250));
        assert_eq!(sample.common.auth.tokens[0].roles, vec![Role::Administrator]);
        assert_eq!(sample.extra, "x");
        assert_eq!(sample.common.feed.apply_batch, 256);
    }

    #[test]
    fn the_shared_file_gives_every_service_one_calendar_and_a_service_file_still_wins() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/k8s/base/config");
        let shared = root.join("shared.toml");
        let dir = tempfile::tempdir().unwrap();
        let own = dir.path().join("svc.toml");
        std::fs::write(&own, "[server]\nrequest_timeout = \"3s\"\n").unwrap();
        let sample: Sample = load_files(Some(&shared), Some(&own)).unwrap();
        assert_eq!(sample.common.calendar.time_zone, "Asia/Shanghai");
        assert!(sample.common.organisation.knows("operations_maintenance"));
        let organisation = &sample.common.organisation;
        for department in &organisation.departments {
            assert!(organisation.names.contains_key(department), "{department} has names");
        }
        assert_eq!(sample.common.server.request_timeout, Duration::from_secs(3));
        crate::calendar::OperatorCalendar::from_settings(&sample.common.calendar).unwrap();

        std::fs::write(&own, "[calendar]\ntime_zone = \"Europe/Berlin\"\n").unwrap();
        let sample: Sample = load_files(Some(&shared), Some(&own)).unwrap();
        assert_eq!(sample.common.calendar.time_zone, "Europe/Berlin");
        // Each service's own file is loaded with its own configuration by the system tests (startup.rs).
    }

    #[test]
    fn a_missing_file_is_an_error() {
        let result: Result<Sample, _> = load(Some(Path::new("/nonexistent/csm.toml")));
        assert!(result.is_err());
    }
}
