//! What the system tests stand on: fresh databases, the four services on ephemeral ports, clients
//! that authenticate as a role, services that can be crashed and restarted, and waiting for
//! something to become true.
//!
//! Databases are SQLite files in a temporary directory, or fresh PostgreSQL databases when
//! `CSM_TEST_POSTGRES` names a server (for example `postgres://postgres@127.0.0.1:5432`); those
//! are dropped when the test ends.

pub mod desk;
pub mod isolated;

use std::{future::Future, path::PathBuf, time::Duration};

use csm_cli::{
    clients::{self, Authenticated},
    system::{RunningSystem, SystemSpec},
    tokens::DevTokens,
};
use csm_kit::config::{AuthSettings, FeedSettings};
use csm_proto::{
    classification::v1::classification_service_client::ClassificationServiceClient,
    feed::v1::{Event, GetFeedStateRequest, SubscribeRequest, feed_client::FeedClient},
    intake::v1::{
        Channel, ContactType, CreateUsageEventRequest, IngestOutcome, IngestRequest, QualitySample,
        SubmitContactRequest, UsageEvent, ingest_request, intake_service_client::IntakeServiceClient,
        usage_event::Detail,
    },
    measurement::v1::measurement_service_client::MeasurementServiceClient,
    recovery::v1::{
        Case, CaseStatus, ListCasesRequest, Transition, TransitionCaseRequest,
        recovery_service_client::RecoveryServiceClient,
    },
};
use sea_orm::ConnectionTrait;

/// Where the services of one test keep their data.
pub enum Backend {
    Sqlite(tempfile::TempDir),
    Postgres { server: String, prefix: String },
}

impl Backend {
    /// SQLite unless `CSM_TEST_POSTGRES` is set.
    pub fn from_env() -> Self {
        match std::env::var("CSM_TEST_POSTGRES") {
            Ok(server) if !server.is_empty() => Backend::Postgres {
                server: server.trim_end_matches('/').to_string(),
                prefix: format!("csm_t_{}", uuid::Uuid::new_v4().simple()),
            },
            _ => Backend::Sqlite(tempfile::tempdir().expect("temporary directory")),
        }
    }

    /// The database URL of one service.
    pub fn url(&self, service: &str) -> String {
        match self {
            Backend::Sqlite(dir) => format!("sqlite://{}", dir.path().join(format!("{service}.db")).display()),
            Backend::Postgres { server, prefix } => format!("{server}/{prefix}_{service}"),
        }
    }

    pub fn data_dir(&self) -> Option<PathBuf> {
        match self {
            Backend::Sqlite(dir) => Some(dir.path().to_path_buf()),
            Backend::Postgres { .. } => None,
        }
    }

    /// Drops the PostgreSQL databases of this test.
    pub async fn cleanup(self) {
        if let Backend::Postgres { server, prefix } = self {
            let Ok(db) = sea_orm::Database::connect(format!("{server}/postgres")).await else {
                return;
            };
            for service in ["intake", "classification", "recovery", "measurement", "tmf", "tmf_standalone"] {
                let _ = db
                    .execute_unprepared(&format!("DROP DATABASE IF EXISTS \"{prefix}_{service}\" WITH (FORCE)"))
                    .await;
            }
            let _ = db.close().await;
        }
    }
}

/// Shows warnings and errors of the services under test in the output of a failing test.
pub fn show_service_logs() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new("warn"))
            .with_test_writer()
            .try_init();
    });
}

/// Keeps the starter text models of the first classification service this test process starts
/// for the ones after it: a service frees them once it has stored them, so without a holder each
/// would train them again. Trained on a thread of its own; a service starting meanwhile waits for
/// them rather than training a second time.
pub fn keep_starter_models() {
    static KEPT: std::sync::OnceLock<Result<std::sync::Arc<csm_classification::starter::Trained>, String>> =
        std::sync::OnceLock::new();
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        std::thread::spawn(|| KEPT.get_or_init(csm_classification::starter::models));
    });
}

/// The problems `check-config` reports for `config`, or none.
pub fn config_problems<C: csm_kit::config::ServiceConfig>(config: &C) -> String {
    csm_kit::args::check(config).err().map(|error| error.to_string()).unwrap_or_default()
}

/// Feed settings that make tests quick: short polls and retries, and consumer leases that a
/// crashed replica leaves to expire within two seconds.
pub fn quick_feed() -> FeedSettings {
    FeedSettings {
        poll_interval: Duration::from_millis(200),
        retry_initial: Duration::from_millis(20),
        retry_max: Duration::from_millis(300),
        lease_term: Duration::from_millis(1500),
        ..FeedSettings::default()
    }
}

/// Tokens for every role, and the settings that accept them.
pub fn tokens() -> (DevTokens, AuthSettings) {
    let tokens = DevTokens::generate();
    let auth = AuthSettings { tokens: tokens.tokens.clone(), ..AuthSettings::default() };
    (tokens, auth)
}

/// The four services, running against fresh databases.
pub struct TestSystem {
    pub system: RunningSystem,
    pub tokens: DevTokens,
    backend: Backend,
}

impl TestSystem {
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    /// The system with `tweak` applied to its specification (the operator's calendar, say).
    pub async fn start_with(tweak: impl FnOnce(&mut SystemSpec)) -> Self {
        show_service_logs();
        keep_starter_models();
        let backend = Backend::from_env();
        let (tokens, auth) = tokens();
        let mut spec = SystemSpec::local(&backend.data_dir().unwrap_or_default(), auth, tokens.service());
        spec.databases.intake = backend.url("intake");
        spec.databases.classification = backend.url("classification");
        spec.databases.recovery = backend.url("recovery");
        spec.databases.measurement = backend.url("measurement");
        spec.databases.tmf = backend.url("tmf");
        spec.feed = quick_feed();
        spec.pool_size = 4;
        spec.measurement.sweep_interval = Duration::from_millis(200);
        tweak(&mut spec);
        let system = spec.start().await.expect("system starts");
        Self { system, tokens, backend }
    }

    /// A database of this test's backend for a service started beside the system.
    pub fn database_url(&self, service: &str) -> String {
        self.backend.url(service)
    }

    pub fn token(&self, subject: &str) -> &str {
        self.tokens.of(subject).expect("a token for every subject")
    }

    pub fn admin(&self) -> &str {
        self.tokens.administrator()
    }

    pub fn intake_as(&self, subject: &str) -> IntakeServiceClient<Authenticated> {
        clients::intake(self.system.addresses.intake, self.token(subject)).expect("client")
    }

    /// Intake as a channel system, the usual submitter.
    pub fn intake(&self) -> IntakeServiceClient<Authenticated> {
        self.intake_as("channel-gateway")
    }

    pub fn classification(&self) -> ClassificationServiceClient<Authenticated> {
        clients::classification(self.system.addresses.classification, self.admin()).expect("client")
    }

    pub fn recovery_as(&self, subject: &str) -> RecoveryServiceClient<Authenticated> {
        clients::recovery(self.system.addresses.recovery, self.token(subject)).expect("client")
    }

    pub fn recovery(&self) -> RecoveryServiceClient<Authenticated> {
        self.recovery_as("administrator")
    }

    pub fn measurement(&self) -> MeasurementServiceClient<Authenticated> {
        clients::measurement(self.system.addresses.measurement, self.token("analyst")).expect("client")
    }

    /// Waits until exactly `count` cases are dispatched and returns them, earliest deadline first.
    pub async fn dispatched_cases(&self, count: usize) -> Vec<Case> {
        eventually(&format!("{count} dispatched cases"), Duration::from_secs(20), || {
            let mut recovery = self.recovery();
            async move {
                let request = ListCasesRequest { status: CaseStatus::Dispatched as i32, ..Default::default() };
                let cases = recovery.list_cases(request).await.ok()?.into_inner().cases;
                (cases.len() == count).then_some(cases)
            }
        })
        .await
    }

    /// `subject` (a department's token) accepts the case, taking first responsibility for it.
    pub async fn accept(&self, case: &str, subject: &str) -> Case {
        let request = TransitionCaseRequest {
            name: case.to_string(),
            transition: Transition::Accept as i32,
            ..Default::default()
        };
        self.recovery_as(subject).transition_case(request).await.expect("case accepted").into_inner()
    }

    pub async fn stop(self) {
        self.system.shutdown().await.expect("clean shutdown");
        self.backend.cleanup().await;
    }
}

/// A complaint as a channel system would send it.
pub fn complaint(phone: &str, text: &str) -> SubmitContactRequest {
    SubmitContactRequest {
        request_id: uuid::Uuid::new_v4().to_string(),
        channel: Channel::HotlineAgent as i32,
        phone_number: phone.to_string(),
        contact_type: ContactType::Complaint as i32,
        text: text.to_string(),
        occurred_at: Some(csm_kit::time::to_timestamp(chrono::Utc::now())),
        ..Default::default()
    }
}

/// A usage-quality sample (a KQI such as broadband speed or call drop rate), as a network
/// monitoring system would send it.
pub fn quality_sample(phone: &str, product: &str, metric: &str, value: f64, unit: &str) -> CreateUsageEventRequest {
    CreateUsageEventRequest {
        request_id: uuid::Uuid::new_v4().to_string(),
        usage_event: Some(UsageEvent {
            phone_number: phone.into(),
            product_code: product.into(),
            occurred_at: Some(csm_kit::time::to_timestamp(chrono::Utc::now())),
            detail: Some(Detail::QualitySample(QualitySample { metric: metric.into(), value, unit: unit.into() })),
            ..Default::default()
        }),
    }
}

/// Polls `check` every 20 ms until it returns `Some`, failing the test after `limit`.
pub async fn eventually<T, F, Fut>(what: &str, limit: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The last sequence of a service's feed.
pub async fn feed_head(feed: &mut FeedClient<Authenticated>) -> u64 {
    feed.get_feed_state(GetFeedStateRequest {}).await.expect("feed state").into_inner().last_sequence
}

/// The first `count` events of a feed with a payload of type `M`, from the beginning.
pub async fn read_feed<M: prost::Name>(feed: &mut FeedClient<Authenticated>, count: usize) -> Vec<Event> {
    let mut stream = feed
        .subscribe(SubscribeRequest { after_sequence: 0, event_types: vec![M::full_name()] })
        .await
        .expect("subscribe")
        .into_inner();
    let mut events = Vec::with_capacity(count);
    while events.len() < count {
        let next = tokio::time::timeout(Duration::from_secs(10), stream.message())
            .await
            .expect("feed keeps flowing")
            .expect("feed stream healthy")
            .expect("feed stream open");
        events.push(next);
    }
    events
}

/// Intake alone, with settings of the test's choosing, following no other service.
pub struct StandaloneIntake {
    pub address: std::net::SocketAddr,
    pub tokens: DevTokens,
    stop: tokio_util::sync::CancellationToken,
    task: tokio::task::JoinHandle<Result<(), csm_kit::RunError>>,
    backend: Backend,
}

impl StandaloneIntake {
    pub async fn start(tweak: impl FnOnce(&mut csm_intake::config::IntakeSettings)) -> Self {
        Self::start_with(|config| tweak(&mut config.intake)).await
    }

    /// Intake with the whole configuration of the test's choosing (an upstream to follow, say).
    pub async fn start_with(tweak: impl FnOnce(&mut csm_intake::Config)) -> Self {
        show_service_logs();
        let backend = Backend::from_env();
        let (tokens, auth) = tokens();
        let mut config = csm_intake::Config::default();
        config.common.database =
            csm_kit::config::DatabaseSettings { url: backend.url("intake"), max_connections: 4, ..Default::default() };
        config.common.auth = auth;
        config.common.feed = quick_feed();
        config.upstream.classification.url = String::new();
        tweak(&mut config);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let address = listener.local_addr().expect("address");
        let stop = tokio_util::sync::CancellationToken::new();
        let task = tokio::spawn(csm_intake::run(config, listener, stop.clone().cancelled_owned()));
        Self { address, tokens, stop, task, backend }
    }

    pub fn client(&self, subject: &str) -> IntakeServiceClient<Authenticated> {
        clients::intake(self.address, self.tokens.of(subject).expect("token")).expect("client")
    }

    /// Intake's own database, for what no API shows (how its tables are laid out).
    pub fn database_url(&self) -> String {
        self.backend.url("intake")
    }

    /// As a channel system.
    pub fn intake(&self) -> IntakeServiceClient<Authenticated> {
        self.client("channel-gateway")
    }

    pub fn feed(&self) -> FeedClient<Authenticated> {
        clients::feed(self.address, self.tokens.administrator()).expect("client")
    }

    pub async fn stop(self) {
        self.stop.cancel();
        self.task.await.expect("task").expect("intake stops cleanly");
        self.backend.cleanup().await;
    }
}

/// A complaint made `days_ago` days before now (fractions allowed).
pub fn complaint_days_ago(phone: &str, text: &str, days_ago: f64) -> SubmitContactRequest {
    complaint_days_before(chrono::Utc::now(), phone, text, days_ago)
}

/// A complaint made `days` days before `base`, for tests that need exact distances between
/// complaints.
pub fn complaint_days_before(
    base: chrono::DateTime<chrono::Utc>,
    phone: &str,
    text: &str,
    days: f64,
) -> SubmitContactRequest {
    let mut request = complaint(phone, text);
    let at = base - chrono::Duration::milliseconds((days * 86_400_000.0) as i64);
    request.occurred_at = Some(csm_kit::time::to_timestamp(at));
    request
}

/// Sends items through intake's bulk ingest, in order, and checks every one was accepted.
pub async fn ingest(t: &TestSystem, items: Vec<ingest_request::Item>) {
    let count = items.len();
    let requests: Vec<IngestRequest> = items
        .into_iter()
        .enumerate()
        .map(|(i, item)| IngestRequest { item_id: format!("item-{i}"), item: Some(item) })
        .collect();
    let mut results = t.intake().ingest(tokio_stream::iter(requests)).await.unwrap().into_inner();
    let mut accepted = 0;
    while let Some(result) = results.message().await.unwrap() {
        assert_eq!(result.outcome(), IngestOutcome::Accepted, "{result:?}");
        accepted += 1;
    }
    assert_eq!(accepted, count);
}
