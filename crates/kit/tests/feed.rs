//! The feed's guarantees, tested with a handler that is deliberately not idempotent (it appends a
//! row per application), so any event applied twice would show:
//! - no event lost and none applied twice while the consumer is killed at random points and the
//!   producer restarts mid-stream;
//! - events applied in sequence order, also when another replica of the producer commits between
//!   the commits of the one serving the feed (its live subscribers are served from memory, and
//!   what it did not commit itself must come from the outbox);
//! - an event the handler rejects becomes a dead letter, in order, and the feed goes on;
//! - a subscription to one event type among many other events reads the outbox once, then follows
//!   from memory, instead of scanning everything after the last event it wanted at every commit;
//! - a consumer behind its feed reads the next batch while applying one, and applies the same;
//! - a batch that fails is rolled back whole, counted as an interruption, and applied once when
//!   tried again, after pauses that grow while it keeps failing; an upstream restarting under the
//!   consumer is counted too, and the feed goes on.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::{
    collections::BTreeSet,
    net::SocketAddr,
    sync::{
        Arc, Mutex,
        atomic::{AtomicI64, AtomicU32, AtomicUsize, Ordering},
    },
    time::Duration,
};

use csm_kit::{
    Database, Host, Role, ServiceDefinition,
    auth::{Authenticator, Policy},
    config::{AuthSettings, DatabaseSettings, FeedSettings, ServerSettings, TokenSettings, UpstreamSettings},
    feed::{
        Consumer, EventHandler, FeedMigration, FeedService, HandleError, Publisher, UnitOfWork, decode, load_cursor,
    },
};
use csm_proto::feed::v1::{Event, FeedState, SubscribeRequest, feed_client::FeedClient};
use sea_orm::{ConnectionTrait, DbBackend, Statement};
use sea_orm_migration::{MigrationTrait, MigratorTrait};
use tokio_util::sync::CancellationToken;

struct FeedOnly;

impl MigratorTrait for FeedOnly {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![Box::new(FeedMigration)]
    }
}

const TOKEN: &str = "feed-test-token";
const EVENTS: i64 = 400;

fn settings() -> FeedSettings {
    FeedSettings {
        poll_interval: Duration::from_millis(100),
        apply_batch: 16,
        retry_initial: Duration::from_millis(10),
        retry_max: Duration::from_millis(100),
        ..FeedSettings::default()
    }
}

fn auth() -> Authenticator {
    Authenticator::from_settings(&AuthSettings {
        tokens: vec![TokenSettings {
            token: Some(TOKEN.into()),
            subject: "consumer".into(),
            roles: vec![Role::Service],
            ..TokenSettings::default()
        }],
        ..AuthSettings::default()
    })
    .unwrap()
}

/// A fresh database: SQLite in `dir`, or on the PostgreSQL server named by `CSM_TEST_POSTGRES`.
async fn open(dir: &std::path::Path, name: &str) -> (Database, Option<String>) {
    let (settings, postgres) = match std::env::var("CSM_TEST_POSTGRES") {
        Ok(server) if !server.is_empty() => {
            let database = format!("csm_t_{}_{name}", uuid_like());
            let url = format!("{}/{database}", server.trim_end_matches('/'));
            (DatabaseSettings { url, ..DatabaseSettings::default() }, Some(server))
        }
        _ => (DatabaseSettings::sqlite(dir.join(format!("{name}.db"))), None),
    };
    let db = Database::open::<FeedOnly>(&settings).await.unwrap();
    let drop_later = postgres.map(|server| format!("{}|{}", server.trim_end_matches('/'), settings.url));
    (db, drop_later)
}

fn uuid_like() -> String {
    hex::encode(rand::random::<[u8; 8]>())
}

async fn drop_database(spec: Option<String>) {
    let Some((server, url)) = spec.as_deref().and_then(|s| s.split_once('|')) else {
        return;
    };
    let name = url.rsplit('/').next().unwrap_or_default();
    let admin = sea_orm::Database::connect(format!("{server}/postgres")).await.unwrap();
    admin.execute_unprepared(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)")).await.unwrap();
}

/// Serves the producer's feed on `address` until `stop` is cancelled.
async fn serve(publisher: Publisher, address: SocketAddr, stop: CancellationToken) {
    serve_with(publisher, address, stop, settings()).await;
}

async fn serve_with(publisher: Publisher, address: SocketAddr, stop: CancellationToken, settings: FeedSettings) {
    let listener = loop {
        match tokio::net::TcpListener::bind(address).await {
            Ok(listener) => break listener,
            Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
        }
    };
    let host = Host::new();
    let feed = FeedService::new(&publisher, settings, host.stop_token());
    let definition = ServiceDefinition {
        name: "producer",
        grpc_services: vec![csm_proto::feed::v1::feed_server::SERVICE_NAME],
        routes: tonic::service::Routes::new(feed.into_server()),
        policy: Policy::new().allow_feed(),
        authenticator: auth(),
        settings: ServerSettings::default(),
    };
    host.serve(definition, listener, stop.cancelled_owned()).await.unwrap();
}

/// Appends one row per event it applies; rejects every value ending in 7. With `failures`, a batch
/// holding the value they name fails (to be tried again) after recording the values before it.
#[derive(Default)]
struct Recorder {
    failures: Option<Arc<Failures>>,
}

/// The next `remaining` batches holding `value` fail.
#[derive(Default)]
struct Failures {
    value: AtomicI64,
    remaining: AtomicU32,
}

impl Failures {
    fn set(&self, value: i64, remaining: u32) {
        self.value.store(value, Ordering::SeqCst);
        self.remaining.store(remaining, Ordering::SeqCst);
    }

    fn take(&self, value: i64) -> bool {
        self.value.load(Ordering::SeqCst) == value
            && self.remaining.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok()
    }
}

impl EventHandler for Recorder {
    fn work(&self) -> &'static str {
        "record"
    }

    fn event_types(&self) -> Vec<String> {
        Vec::new()
    }

    async fn handle(&self, uow: &mut UnitOfWork, event: &Event) -> Result<(), HandleError> {
        let state: FeedState = decode(event)?;
        let value = state.last_sequence as i64;
        if self.failures.as_ref().is_some_and(|failures| failures.take(value)) {
            return Err(HandleError::Retry("the database went away".into()));
        }
        if value % 10 == 7 {
            return Err(HandleError::Reject(format!("value {value} is poison")));
        }
        let backend = uow.get_database_backend();
        let sql = match backend {
            DbBackend::Postgres => "INSERT INTO applied (sequence, value) VALUES ($1, $2)",
            _ => "INSERT INTO applied (sequence, value) VALUES (?, ?)",
        };
        uow.execute_raw(Statement::from_sql_and_values(backend, sql, [(event.sequence as i64).into(), value.into()]))
            .await?;
        Ok(())
    }
}

/// A [`Recorder`] that reads its batches ahead, noting which events were read and not yet
/// handled: how many there were at each read tells whether a batch was read while the one before
/// it was applied.
#[derive(Default)]
struct ReadsAhead {
    recorder: Recorder,
    unhandled: Mutex<BTreeSet<u64>>,
    handled: Mutex<BTreeSet<u64>>,
    /// Events handled for the first time without having been read.
    unread: Mutex<Vec<u64>>,
    most_unhandled_at_a_read: AtomicUsize,
    /// How long handling each event takes: with a pause, the consumer falls behind its feed and
    /// always has a batch read ahead.
    pause: Duration,
}

impl ReadsAhead {
    /// One that takes 5 ms an event, slower than the test's producer publishes.
    fn slow() -> Self {
        Self { pause: Duration::from_millis(5), ..Self::default() }
    }

    /// Whether it holds more events read and not yet handled than a batch: some of them were
    /// read ahead of the batch being applied.
    fn reads_ahead_of_its_batch(&self) -> bool {
        self.unhandled.lock().unwrap().len() > settings().apply_batch
    }

    /// Whether it holds events read and never handled.
    fn holds_events_read(&self) -> bool {
        !self.unhandled.lock().unwrap().is_empty()
    }
}

impl EventHandler for ReadsAhead {
    const READS_AHEAD: bool = true;

    fn work(&self) -> &'static str {
        "record"
    }

    fn event_types(&self) -> Vec<String> {
        Vec::new()
    }

    async fn read_ahead(&self, events: &[Event]) {
        let mut unhandled = self.unhandled.lock().unwrap();
        self.most_unhandled_at_a_read.fetch_max(unhandled.len(), Ordering::SeqCst);
        unhandled.extend(events.iter().map(|event| event.sequence));
    }

    async fn handle(&self, uow: &mut UnitOfWork, event: &Event) -> Result<(), HandleError> {
        if !self.pause.is_zero() {
            tokio::time::sleep(self.pause).await;
        }
        let read = self.unhandled.lock().unwrap().remove(&event.sequence);
        if self.handled.lock().unwrap().insert(event.sequence) && !read {
            self.unread.lock().unwrap().push(event.sequence);
        }
        self.recorder.handle(uow, event).await
    }
}

/// `csm_feed_consumer_interruptions_total` of `consumer` by `cause`, from the process's metrics.
fn interruptions(consumer: &str, cause: &str) -> u64 {
    counted(
        "csm_feed_consumer_interruptions_total",
        &[format!("consumer=\"{consumer}\""), format!("cause=\"{cause}\"")],
    )
}

/// The sum of the process's series of the counter `metric` whose labels include all of `labels`.
fn counted(metric: &str, labels: &[String]) -> u64 {
    let series = format!("{metric}{{");
    csm_kit::metrics::get()
        .render()
        .lines()
        .filter(|line| line.starts_with(&series) && labels.iter().all(|l| line.contains(l.as_str())))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .map(|value| value as u64)
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_batch_and_a_restarted_upstream_are_counted_as_interruptions_and_nothing_is_applied_twice() {
    let dir = tempfile::tempdir().unwrap();
    let ((producer_db, producer_cleanup), (consumer_db, consumer_cleanup)) = producer_and_consumer(dir.path()).await;
    let producer = Publisher::new(producer_db.clone(), "producer").await.unwrap();
    publish_values(&producer, &[1, 2, 3, 4, 5]).await;

    // The consumer meets a batch that fails once, then its upstream restarts.
    let address = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap().local_addr().unwrap();
    let server_stop = CancellationToken::new();
    let server = tokio::spawn(serve(producer.clone(), address, server_stop.clone()));
    let upstream = UpstreamSettings::new(format!("http://{address}"), TOKEN);
    let consumer_publisher = Publisher::new(consumer_db.clone(), "consumer").await.unwrap();
    let failures = Arc::new(Failures::default());
    failures.set(3, 1);
    let handler = Recorder { failures: Some(failures.clone()) };
    let consumer = Consumer::new("flaky-producer", upstream, consumer_publisher, handler, settings());
    let consumer_stop = CancellationToken::new();
    let consumer = tokio::spawn({
        let stop = consumer_stop.clone();
        async move { consumer.run(stop).await }
    });
    let caught_up = |sequence: u64| wait_for_cursor(&consumer_db, "flaky-producer", sequence, Duration::from_secs(20));
    caught_up(5).await;
    assert_eq!(interruptions("flaky-producer", "apply"), 1);
    assert_eq!(interruptions("flaky-producer", "upstream"), 0);
    // The failed batch's first values were rolled back with it, and applied once on the retry.
    let applied = column(&consumer_db, "SELECT value FROM applied ORDER BY id").await;
    assert_eq!(applied, [1, 2, 3, 4, 5]);

    server_stop.cancel();
    server.await.unwrap();
    wait_until("the upstream's restart to be counted", Duration::from_secs(20), async || {
        interruptions("flaky-producer", "upstream") > 0
    })
    .await;
    let server_stop = CancellationToken::new();
    let server = tokio::spawn(serve(producer.clone(), address, server_stop.clone()));
    publish_values(&producer, &[6]).await;
    caught_up(6).await;
    let applied = column(&consumer_db, "SELECT value FROM applied ORDER BY id").await;
    assert_eq!(applied, [1, 2, 3, 4, 5, 6]);
    assert_eq!(interruptions("flaky-producer", "apply"), 1);

    // A batch that keeps failing is tried again ever more slowly (pauses of 10 ms doubling to
    // 100 ms: about a dozen attempts in a second; 61 when every attempt paused 10 ms).
    failures.set(8, u32::MAX);
    publish_values(&producer, &[8]).await;
    wait_until("the failing batch to be tried", Duration::from_secs(20), async || {
        interruptions("flaky-producer", "apply") >= 2
    })
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let attempts = interruptions("flaky-producer", "apply") - 1;
    assert!((3..=20).contains(&attempts), "{attempts} attempts in a second");
    failures.set(8, 0);
    caught_up(7).await;
    let applied = column(&consumer_db, "SELECT value FROM applied ORDER BY id").await;
    assert_eq!(applied, [1, 2, 3, 4, 5, 6, 8]);

    consumer_stop.cancel();
    consumer.await.unwrap();
    server_stop.cancel();
    server.await.unwrap();
    close_and_drop([(producer_db, producer_cleanup), (consumer_db, consumer_cleanup)]).await;
}

/// Publishes one event carrying each of `values`, in one transaction.
async fn publish_values(producer: &Publisher, values: &[u64]) {
    let mut uow = producer.begin().await.unwrap();
    for &value in values {
        uow.publish(format!("items/{value}"), &FeedState { last_sequence: value, source: "test".into() });
    }
    uow.commit().await.unwrap();
}

/// Polls `ready` every 10 ms until it holds; fails the test, saying it waited for `what`, after
/// `limit`.
async fn wait_until(what: &str, limit: Duration, mut ready: impl AsyncFnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + limit;
    while !ready().await {
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Waits until the cursor of `consumer` in `db` has reached `sequence`.
async fn wait_for_cursor(db: &Database, consumer: &str, sequence: u64, limit: Duration) {
    let what = format!("{consumer} to reach {sequence}");
    wait_until(&what, limit, async || load_cursor(db.reader(), consumer).await.unwrap() >= sequence).await;
}

/// The producer's database and the consumer's, with the table [`Recorder`] appends to.
async fn producer_and_consumer(dir: &std::path::Path) -> ((Database, Option<String>), (Database, Option<String>)) {
    let producer = open(dir, "producer").await;
    let (consumer_db, consumer_cleanup) = open(dir, "consumer").await;
    let id = match consumer_db.backend() {
        DbBackend::Postgres => "id BIGSERIAL PRIMARY KEY",
        _ => "id INTEGER PRIMARY KEY AUTOINCREMENT",
    };
    let table = format!("CREATE TABLE applied ({id}, sequence BIGINT, value BIGINT)");
    consumer_db.writer().execute_unprepared(&table).await.unwrap();
    (producer, (consumer_db, consumer_cleanup))
}

/// Closes the databases of a test and drops those it made on PostgreSQL.
async fn close_and_drop(databases: [(Database, Option<String>); 2]) {
    for (db, cleanup) in databases {
        db.close().await;
        drop_database(cleanup).await;
    }
}

async fn column(db: &Database, sql: &str) -> Vec<i64> {
    db.reader()
        .query_all_raw(Statement::from_string(db.backend(), sql))
        .await
        .unwrap()
        .iter()
        .map(|row| row.try_get_by_index::<i64>(0).unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crashes_and_restarts_lose_nothing_and_apply_nothing_twice() {
    crashes_and_restarts_with(|| Arc::new(Recorder::default()), Stop::Kill).await;
}

/// The same with a consumer that reads ahead: killed while it holds a batch read ahead, or while
/// its stream breaks under that reading, it still applies every event once, in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crashes_and_restarts_lose_nothing_and_apply_nothing_twice_when_reading_ahead() {
    crashes_and_restarts_with(|| Arc::new(ReadsAhead::default()), Stop::Kill).await;
}

/// A consumer reading ahead and asked to stop (a rolling restart's SIGTERM), in every other round
/// while it holds events read ahead of the batch it applies and otherwise at random points of its
/// work, stops after the batch it is applying at most, and every event is applied once, in order,
/// across its restarts: what it read ahead and dropped is read again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stops_asked_for_while_reading_ahead_are_prompt_and_lose_nothing() {
    crashes_and_restarts_with(
        || Arc::new(ReadsAhead::slow()),
        Stop::Graceful { ready: ReadsAhead::reads_ahead_of_its_batch, held: ReadsAhead::holds_events_read },
    )
    .await;
}

/// How the consumer is stopped between its runs.
enum Stop<H> {
    /// Its task aborted wherever it is, as a crash would.
    Kill,
    /// Its shutdown token cancelled, in every other round once `ready` says so of its handler,
    /// and its run awaited: it must end within 10 s, having applied no more than the batch it was
    /// applying (and one committed as the cursor was read). `held` says whether its handler was
    /// left with events read and never applied; all but one of the stops made when `ready` must
    /// leave some, so that what a stop drops is read again after it.
    Graceful { ready: fn(&H) -> bool, held: fn(&H) -> bool },
}

/// Events published through two replicas of the producer while the consumer, with a handler made
/// by `handler`, is stopped at random points and the producer's server restarts under it.
async fn crashes_and_restarts_with<H: EventHandler>(handler: impl Fn() -> Arc<H>, stop: Stop<H>) {
    let dir = tempfile::tempdir().unwrap();
    let ((producer_db, producer_cleanup), (consumer_db, consumer_cleanup)) = producer_and_consumer(dir.path()).await;
    let producer = Publisher::new(producer_db.clone(), "producer").await.unwrap();
    let consumer_publisher = Publisher::new(consumer_db.clone(), "consumer").await.unwrap();

    let address = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap().local_addr().unwrap();
    let mut server_stop = CancellationToken::new();
    let mut server = tokio::spawn(serve(producer.clone(), address, server_stop.clone()));

    // A second replica of the producer, on the same database, whose feed is not served.
    let replica = Publisher::new(producer_db.clone(), "producer").await.unwrap();

    // Publish in transactions of one to five events, as a service would, through either replica.
    let writer = {
        let producer = producer.clone();
        tokio::spawn(async move {
            let mut value = 1;
            while value <= EVENTS {
                let publisher = if rand::random_range(0..4) == 0 { &replica } else { &producer };
                let mut uow = publisher.begin().await.unwrap();
                for _ in 0..rand::random_range(1..=5) {
                    if value <= EVENTS {
                        uow.publish(
                            format!("items/{value}"),
                            &FeedState { last_sequence: value as u64, source: "test".into() },
                        );
                        value += 1;
                    }
                }
                uow.commit().await.unwrap();
                tokio::time::sleep(Duration::from_micros(rand::random_range(0..1500))).await;
            }
        })
    };

    let upstream = UpstreamSettings::new(format!("http://{address}"), TOKEN);
    let start_consumer = || {
        let handler = handler();
        let shared = SharedHandler(handler.clone());
        let consumer = Consumer::new("producer", upstream.clone(), consumer_publisher.clone(), shared, settings());
        let shutdown = CancellationToken::new();
        let run = shutdown.clone();
        (tokio::spawn(async move { consumer.run(run).await }), shutdown, handler)
    };
    let (mut consumer, mut shutdown, mut running) = start_consumer();
    let (mut stops_when_ready, mut stops_leaving_events) = (0, 0);
    for round in 0..8 {
        tokio::time::sleep(Duration::from_millis(rand::random_range(20..90))).await;
        match stop {
            // Kill the consumer wherever it is, mid-transaction or not.
            Stop::Kill => {
                consumer.abort();
                let _ = consumer.await;
            }
            Stop::Graceful { ready, held } => {
                let when_ready = round % 2 == 0;
                if when_ready {
                    let waited = tokio::time::timeout(Duration::from_secs(10), async {
                        while !ready(&running) {
                            tokio::time::sleep(Duration::from_millis(1)).await;
                        }
                    });
                    assert!(waited.await.is_ok(), "the consumer was never ready to be stopped in round {round}");
                }
                // Asked before the cursor is read, so that the consumer stops while it holds what
                // `ready` saw; a cursor read after the request only tightens the bound below.
                shutdown.cancel();
                let at_stop = load_cursor(consumer_db.reader(), "producer").await.unwrap();
                let stopped = tokio::time::timeout(Duration::from_secs(10), consumer).await;
                let Ok(ended) = stopped else {
                    panic!("a consumer asked to stop in round {round} was still running after 10 s");
                };
                assert!(ended.is_ok(), "the consumer's task panicked in round {round}");
                let after = load_cursor(consumer_db.reader(), "producer").await.unwrap();
                let most = 2 * settings().apply_batch as u64;
                assert!(
                    after - at_stop <= most,
                    "asked to stop at {at_stop}, the consumer went on to {after} (round {round})"
                );
                if when_ready {
                    stops_when_ready += 1;
                    stops_leaving_events += usize::from(held(&running));
                }
            }
        }
        (consumer, shutdown, running) = start_consumer();
        if round == 3 {
            // And restart the producer's server under it.
            server_stop.cancel();
            server.await.unwrap();
            server_stop = CancellationToken::new();
            server = tokio::spawn(serve(producer.clone(), address, server_stop.clone()));
        }
    }
    writer.await.unwrap();
    if matches!(stop, Stop::Graceful { .. }) {
        assert!(
            stops_leaving_events + 1 >= stops_when_ready,
            "only {stops_leaving_events} of {stops_when_ready} stops left events read ahead"
        );
    }

    wait_for_cursor(&consumer_db, "producer", EVENTS as u64, Duration::from_secs(60)).await;

    // Event n carries value n, so the applied values are every non-poison value, once, in order.
    let applied = column(&consumer_db, "SELECT value FROM applied ORDER BY id").await;
    let expected: Vec<i64> = (1..=EVENTS).filter(|v| v % 10 != 7).collect();
    let repeated: Vec<i64> = applied.windows(2).filter(|w| w[1] <= w[0]).map(|w| w[1]).collect();
    assert!(repeated.is_empty(), "applied again or out of order: {repeated:?}");
    assert_eq!(applied, expected);
    let sequences = column(&consumer_db, "SELECT sequence FROM applied ORDER BY id").await;
    assert_eq!(sequences, expected, "sequence n carries value n");
    let dead = column(&consumer_db, "SELECT sequence FROM dead_letter ORDER BY id").await;
    let poison: Vec<i64> = (1..=EVENTS).filter(|v| v % 10 == 7).collect();
    assert_eq!(dead, poison);

    consumer.abort();
    let _ = consumer.await;
    server_stop.cancel();
    server.await.unwrap();
    close_and_drop([(producer_db, producer_cleanup), (consumer_db, consumer_cleanup)]).await;
}

/// A consumer far behind its feed reads each batch while the one before is applied, and that
/// changes nothing in what it applies: every value once, in order, poison kept as dead letters.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consumer_behind_reads_the_next_batch_while_applying_one() {
    let dir = tempfile::tempdir().unwrap();
    let ((producer_db, producer_cleanup), (consumer_db, consumer_cleanup)) = producer_and_consumer(dir.path()).await;
    let producer = Publisher::new(producer_db.clone(), "producer").await.unwrap();
    let values: Vec<u64> = (1..=EVENTS as u64).collect();
    publish_values(&producer, &values).await;

    let address = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap().local_addr().unwrap();
    let server_stop = CancellationToken::new();
    let server = tokio::spawn(serve(producer.clone(), address, server_stop.clone()));
    let upstream = UpstreamSettings::new(format!("http://{address}"), TOKEN);
    let consumer_publisher = Publisher::new(consumer_db.clone(), "consumer").await.unwrap();
    let handler = Arc::new(ReadsAhead::default());
    let consumer = Consumer::new("behind", upstream, consumer_publisher, SharedHandler(handler.clone()), settings());
    let consumer_stop = CancellationToken::new();
    let consumer = tokio::spawn({
        let stop = consumer_stop.clone();
        async move { consumer.run(stop).await }
    });
    wait_for_cursor(&consumer_db, "behind", EVENTS as u64, Duration::from_secs(60)).await;

    let applied = column(&consumer_db, "SELECT value FROM applied ORDER BY id").await;
    let expected: Vec<i64> = (1..=EVENTS).filter(|v| v % 10 != 7).collect();
    assert_eq!(applied, expected);
    let dead = column(&consumer_db, "SELECT sequence FROM dead_letter ORDER BY id").await;
    assert_eq!(dead, (1..=EVENTS).filter(|v| v % 10 == 7).collect::<Vec<_>>());
    assert_eq!(*handler.unread.lock().unwrap(), Vec::<u64>::new(), "handled before being read");
    let most = handler.most_unhandled_at_a_read.load(Ordering::SeqCst);
    assert!(most > 0, "no batch was read while the one before was applied");

    consumer_stop.cancel();
    consumer.await.unwrap();
    server_stop.cancel();
    server.await.unwrap();
    close_and_drop([(producer_db, producer_cleanup), (consumer_db, consumer_cleanup)]).await;
}

/// A handler the test keeps a hand on while the consumer owns it.
struct SharedHandler<H>(Arc<H>);

impl<H: EventHandler> EventHandler for SharedHandler<H> {
    const READS_AHEAD: bool = H::READS_AHEAD;

    fn work(&self) -> &'static str {
        self.0.work()
    }

    fn event_types(&self) -> Vec<String> {
        self.0.event_types()
    }

    async fn read_ahead(&self, events: &[Event]) {
        self.0.read_ahead(events).await;
    }

    async fn handle(&self, uow: &mut UnitOfWork, event: &Event) -> Result<(), HandleError> {
        self.0.handle(uow, event).await
    }
}

/// Outbox reads the subscriptions of `service`'s feed made so far, from the process's metrics.
fn outbox_reads(service: &str) -> u64 {
    counted("csm_feed_reads_total", &[format!("service=\"{service}\""), "from=\"outbox\"".to_string()])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscription_to_a_rare_event_type_follows_from_memory() {
    let dir = tempfile::tempdir().unwrap();
    let (db, cleanup) = open(dir.path(), "sparse").await;
    let producer = Publisher::new(db.clone(), "sparse").await.unwrap();
    let other = |n: u64| FeedState { last_sequence: n, source: "other".into() };
    // More events than the in-memory tail holds, none of the type the subscriber wants.
    let mut uow = producer.begin().await.unwrap();
    for n in 0..10_000 {
        uow.publish(format!("items/{n}"), &other(n));
    }
    uow.commit().await.unwrap();

    let address = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap().local_addr().unwrap();
    let stop = CancellationToken::new();
    // No poll within the test: every read after the first is woken by a commit.
    let settings = FeedSettings { poll_interval: Duration::from_secs(600), ..settings() };
    let server = tokio::spawn(serve_with(producer.clone(), address, stop.clone(), settings));
    let channel = csm_kit::client::channel(&format!("http://{address}")).unwrap();
    let mut client = FeedClient::with_interceptor(channel, csm_kit::client::CallerInterceptor::new(TOKEN).unwrap());
    let wanted = <SubscribeRequest as prost::Name>::full_name();
    let request = SubscribeRequest { after_sequence: 0, event_types: vec![wanted] };
    let mut events = loop {
        match client.subscribe(request.clone()).await {
            Ok(response) => break response.into_inner(),
            // The server may not be listening yet.
            Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
        }
    };
    // The subscription has read the outbox once it is waiting; give it that moment.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let before = outbox_reads("sparse");

    for n in 0..30 {
        let mut uow = producer.begin().await.unwrap();
        uow.publish(format!("items/more-{n}"), &other(n));
        uow.commit().await.unwrap();
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let mut uow = producer.begin().await.unwrap();
    uow.publish("requests/1", &SubscribeRequest { after_sequence: 42, event_types: Vec::new() });
    let last = uow.commit().await.unwrap().unwrap();
    let event = tokio::time::timeout(Duration::from_secs(10), events.message()).await.unwrap().unwrap().unwrap();
    assert_eq!(event.sequence, last, "the one wanted event, after 10,030 others");
    let rereads = outbox_reads("sparse") - before;
    assert!(rereads <= 1, "31 commits after the first read made {rereads} more outbox reads");

    stop.cancel();
    server.await.unwrap();
    db.close().await;
    drop_database(cleanup).await;
}

/// On PostgreSQL a batch's writes go as one statement of arrays ([`Writes`]), or by `COPY` when a
/// table takes many rows: text and bytes that need escaping in one form or the other are stored
/// exactly either way, updates and upserts change only the columns they name, and the parts of a
/// statement are written all or none, also outside a transaction. Nothing to check on SQLite.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_batch_writes_store_values_exactly_and_all_or_none() {
    use csm_kit::{
        bulk::{Writes, copy_in},
        feed::schema::outbox_event::{Column, Entity, Model},
    };
    use sea_orm::{EntityTrait, QueryOrder, sqlx::Connection as _};

    let dir = tempfile::tempdir().unwrap();
    let (db, cleanup) = open(dir.path(), "writes").await;
    let Some(pool) = db.postgres_pool() else {
        return;
    };
    const AWKWARD: [&str; 6] = ["tab\there", "line\nbreak\r\n", "back\\slash \\t", "\\N", "\\.", "网速慢 😠,(\"x\")"];
    let rows = |first: i64| -> Vec<Model> {
        AWKWARD
            .iter()
            .zip(first..)
            .map(|(text, sequence)| Model {
                sequence,
                subject: (*text).to_string(),
                event_type: format!("{text}{sequence}"),
                occurred_at: -sequence,
                traceparent: String::new(),
                tracestate: "{\"a\",NULL}".into(),
                payload: vec![0, b'\\', b'\t', b'\n', 0xff, sequence as u8],
            })
            .collect()
    };
    let mut connection = pool.acquire().await.unwrap();

    let mut txn = connection.begin().await.unwrap();
    copy_in::<Entity>(&mut txn, rows(1)).await.unwrap();
    let mut writes = Writes::default();
    writes.insert::<Entity>(rows(101)).unwrap();
    let changed = Model { subject: "changed\n".into(), event_type: "not written".into(), ..rows(1)[0].clone() };
    writes.update::<Entity>([changed], Column::Sequence, &[Column::Subject]).unwrap();
    let upserted = Model { payload: Vec::new(), subject: "not written".into(), ..rows(1)[1].clone() };
    writes.upsert::<Entity>([upserted], Column::Sequence, &[Column::Payload]).unwrap();
    writes.insert::<Entity>(Vec::new()).unwrap();
    writes.execute(&mut txn).await.unwrap();
    txn.commit().await.unwrap();

    let mut expected: Vec<Model> = rows(1).into_iter().chain(rows(101)).collect();
    expected[0].subject = "changed\n".into();
    expected[1].payload = Vec::new();
    let stored = || async { Entity::find().order_by_asc(Column::Sequence).all(db.reader()).await.unwrap() };
    assert_eq!(stored().await, expected);

    // A new row and one whose key is taken, in one statement on a connection in autocommit: had
    // the parts been statements of their own, the first would have stayed.
    let mut writes = Writes::default();
    writes.insert::<Entity>(rows(201)).unwrap();
    writes.insert::<Entity>(rows(1).into_iter().take(1)).unwrap();
    let error = writes.execute(&mut connection).await.unwrap_err().to_string();
    assert!(error.contains("duplicate key"), "{error}");
    assert_eq!(stored().await, expected);

    drop(connection);
    db.close().await;
    drop_database(cleanup).await;
}

/// Reports how the batch's transaction would run an update of rows found by key, the shape of the
/// batch writers' updates ([`csm_kit::bulk::Writes::update`]), for twenty keys.
struct ExplainsUpdate;

const UPDATE_BY_KEY: &str = "EXPLAIN UPDATE keyed AS o SET n = r.n \
                             FROM (SELECT unnest($1::text[]), unnest($2::int8[])) AS r(id, n) WHERE o.id = r.id";

fn twenty_keys() -> (Vec<String>, Vec<i64>) {
    ((0..20).map(|n| format!("key-{n}")).collect(), (0..20).collect())
}

impl csm_kit::group_commit::BatchWriter for ExplainsUpdate {
    type Item = ();
    type Output = String;

    async fn write(&self, _: &mut UnitOfWork, items: &[()]) -> Result<Vec<String>, sea_orm::DbErr> {
        Ok(vec![String::new(); items.len()])
    }
}

impl csm_kit::group_commit::SqliteBatchWriter for ExplainsUpdate {
    async fn write_sqlite(
        &self,
        _: &rusqlite::Transaction<'_>,
        _: &mut csm_kit::feed::Outbox,
        items: &[()],
    ) -> Result<Vec<String>, sea_orm::DbErr> {
        Ok(vec![String::new(); items.len()])
    }
}

impl csm_kit::group_commit::PostgresBatchWriter for ExplainsUpdate {
    async fn write_postgres(
        &self,
        txn: &mut sea_orm::sqlx::PgConnection,
        _: &mut csm_kit::bulk::Writes,
        _: &mut csm_kit::feed::Outbox,
        items: &[()],
    ) -> Result<Vec<String>, sea_orm::DbErr> {
        let (keys, values) = twenty_keys();
        let lines: Vec<(String,)> = sea_orm::sqlx::query_as(UPDATE_BY_KEY)
            .bind(keys)
            .bind(values)
            .fetch_all(txn)
            .await
            .map_err(csm_kit::db::postgres_error)?;
        let plan: Vec<String> = lines.into_iter().map(|(line,)| line).collect();
        Ok(vec![plan.join("\n"); items.len()])
    }
}

/// A group commit on PostgreSQL keeps each statement's plan from one batch to the next, so a plan
/// made while a table is new and empty (no statistics yet) must not depend on that: in a batch an
/// update of rows by key probes the table's index for each key, where the planner left to itself
/// hashes the keys and scans the whole table (here for twenty keys; a kept plan, made for no
/// values in particular, does so for any number), and a kept plan would go on doing so once the
/// table is large. Nothing to check on SQLite.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_batch_plans_probe_indexes_even_on_new_empty_tables() {
    let dir = tempfile::tempdir().unwrap();
    let (db, cleanup) = open(dir.path(), "plans").await;
    if db.postgres_pool().is_none() {
        return;
    }
    db.writer().execute_unprepared("CREATE TABLE keyed (id TEXT PRIMARY KEY, n BIGINT)").await.unwrap();
    let publisher = Publisher::new(db.clone(), "test").await.unwrap();
    let (writes, task) = csm_kit::group_commit::GroupCommit::start(publisher, ExplainsUpdate, 16).unwrap();
    let writer = tokio::spawn(task);

    for _ in 0..3 {
        let plan = writes.write(()).await.unwrap();
        assert!(plan.contains("Index Scan using keyed_pkey"), "{plan}");
        assert!(!plan.contains("Seq Scan") && !plan.contains("Hash Join"), "{plan}");
    }
    // The same update outside a batch: what the check above guards against.
    let (keys, values) = twenty_keys();
    let outside = db
        .writer()
        .query_all_raw(Statement::from_sql_and_values(DbBackend::Postgres, UPDATE_BY_KEY, [keys.into(), values.into()]))
        .await
        .unwrap();
    let outside: Vec<String> = outside.iter().map(|row| row.try_get_by_index::<String>(0).unwrap()).collect();
    assert!(outside.iter().any(|line| line.contains("Seq Scan on keyed")), "{outside:?}");

    drop(writes);
    writer.await.unwrap();
    db.close().await;
    drop_database(cleanup).await;
}
