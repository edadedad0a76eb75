//! Migrations at start-up: replicas starting together on PostgreSQL migrate once, under a lock,
//! and a database migrated by a newer version is refused rather than served. A database created
//! on PostgreSQL compares text as SQLite does.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use csm_kit::{Database, config::DatabaseSettings, feed::FeedMigration, lease::LeaseMigration};
use sea_orm::ConnectionTrait;
use sea_orm_migration::{MigrationTrait, MigratorTrait};

/// A service's first version.
struct Before;

impl MigratorTrait for Before {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![Box::new(FeedMigration)]
    }
}

/// The next version, with one migration more.
struct After;

impl MigratorTrait for After {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![Box::new(FeedMigration), Box::new(LeaseMigration)]
    }
}

/// A fresh database: on the PostgreSQL server of `CSM_TEST_POSTGRES` when set, else a SQLite file.
struct Fresh {
    url: String,
    server: Option<(String, String)>,
    _dir: tempfile::TempDir,
}

impl Fresh {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        match std::env::var("CSM_TEST_POSTGRES") {
            Ok(server) if !server.is_empty() => {
                let server = server.trim_end_matches('/').to_string();
                let name = format!("csm_t_{:016x}_kit", rand::random::<u64>());
                Self { url: format!("{server}/{name}"), server: Some((server, name)), _dir: dir }
            }
            _ => Self { url: format!("sqlite://{}", dir.path().join("svc.db").display()), server: None, _dir: dir },
        }
    }

    fn settings(&self) -> DatabaseSettings {
        DatabaseSettings { url: self.url.clone(), max_connections: 2, ..DatabaseSettings::default() }
    }

    async fn drop(self) {
        if let Some((server, name)) = self.server {
            let db = sea_orm::Database::connect(format!("{server}/postgres")).await.unwrap();
            db.execute_unprepared(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)")).await.unwrap();
            db.close().await.unwrap();
        }
    }
}

/// `replicas` replicas opening the database at once; each must start.
async fn start_together<M: MigratorTrait + 'static>(fresh: &Fresh, replicas: usize) {
    let starts: Vec<_> = (0..replicas)
        .map(|_| {
            let settings = fresh.settings();
            tokio::spawn(async move { Database::open::<M>(&settings).await })
        })
        .collect();
    for start in starts {
        start.await.unwrap().expect("every replica starts").close().await;
    }
}

#[tokio::test]
async fn a_database_migrated_by_a_newer_version_is_refused() {
    let fresh = Fresh::new();
    Database::open::<Before>(&fresh.settings()).await.unwrap().close().await;
    Database::open::<After>(&fresh.settings()).await.unwrap().close().await;
    // The upgrade is rolled back to the first version while the database stays migrated.
    let refused = Database::open::<Before>(&fresh.settings()).await.unwrap_err().to_string();
    assert!(refused.contains("newer than this version") && refused.contains("m20261124_000100_lease"), "{refused}");
    // The newer version still opens it, and re-opening applies nothing twice.
    Database::open::<After>(&fresh.settings()).await.unwrap().close().await;
    fresh.drop().await;
}

/// A database the service creates on PostgreSQL compares text byte by byte, as SQLite does,
/// whatever the server's default collation: keys compare without the locale's rules, and listings
/// page alike on either database.
#[tokio::test]
async fn a_database_created_on_postgres_orders_text_byte_by_byte() {
    let fresh = Fresh::new();
    if fresh.server.is_none() {
        return;
    }
    let db = Database::open::<Before>(&fresh.settings()).await.unwrap();
    let this_database = "FROM pg_database WHERE datname = current_database()";
    assert_eq!(texts(&db, &format!("SELECT datcollate {this_database}")).await, ["C"]);
    // From PostgreSQL 15 a server may default to ICU, whose collation would override LC_COLLATE.
    let version: i32 = texts(&db, "SELECT current_setting('server_version_num')").await[0].parse().unwrap();
    if version >= 150_000 {
        assert_eq!(texts(&db, &format!("SELECT datlocprovider::text {this_database}")).await, ["c"]);
    }
    let ordered = texts(&db, "SELECT k FROM (VALUES ('ab'), ('a-c'), ('B'), ('a'), ('b')) AS keys(k) ORDER BY k").await;
    let mut bytewise = ordered.clone();
    bytewise.sort();
    assert_eq!(ordered, bytewise);
    db.close().await;
    fresh.drop().await;
}

/// The first column of each row `query` returns, as text.
async fn texts(db: &Database, query: &str) -> Vec<String> {
    let statement = sea_orm::Statement::from_string(sea_orm::DbBackend::Postgres, query);
    let rows = db.reader().query_all_raw(statement).await.unwrap();
    rows.iter().map(|row| row.try_get_by_index(0).unwrap()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn replicas_starting_together_on_postgres_migrate_once() {
    let fresh = Fresh::new();
    if fresh.server.is_none() {
        // One SQLite file is served by one process; only PostgreSQL has replicas racing.
        return;
    }
    start_together::<After>(&fresh, 4).await;
    let db = Database::open::<After>(&fresh.settings()).await.unwrap();
    let applied = After::get_applied_migrations(db.writer()).await.unwrap();
    assert_eq!(applied.len(), 2);
    db.close().await;
    fresh.drop().await;
}

/// A migration that creates its table and then fails, as a process killed between the two would
/// leave it.
struct HalfDone;

impl sea_orm_migration::MigrationName for HalfDone {
    fn name(&self) -> &str {
        "m20991231_000000_half_done"
    }
}

#[sea_orm_migration::async_trait::async_trait]
impl MigrationTrait for HalfDone {
    async fn up(&self, manager: &sea_orm_migration::SchemaManager) -> Result<(), sea_orm::DbErr> {
        manager.get_connection().execute_unprepared("CREATE TABLE half_done (id INTEGER PRIMARY KEY)").await?;
        Err(sea_orm::DbErr::Custom("stopped half-way".into()))
    }
}

/// The same version, stopped half-way through its migrations.
struct Interrupted;

impl MigratorTrait for Interrupted {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![Box::new(FeedMigration), Box::new(LeaseMigration), Box::new(HalfDone)]
    }
}

#[tokio::test]
async fn a_start_stopped_half_way_through_its_migrations_leaves_a_database_that_starts() {
    let fresh = Fresh::new();
    let stopped = Database::open::<Interrupted>(&fresh.settings()).await.unwrap_err().to_string();
    assert!(stopped.contains("stopped half-way"), "{stopped}");
    // Nothing of the interrupted start is left: the next start applies every migration afresh.
    let db = Database::open::<After>(&fresh.settings()).await.unwrap();
    assert_eq!(After::get_applied_migrations(db.writer()).await.unwrap().len(), 2);
    let leftover = db.writer().execute_unprepared("SELECT * FROM half_done").await;
    assert!(leftover.is_err(), "the half-done migration's table was rolled back");
    db.close().await;
    fresh.drop().await;
}

/// A migration that indexes a table without blocking its writers, as PostgreSQL allows only
/// outside a transaction.
struct IndexedConcurrently;

impl sea_orm_migration::MigrationName for IndexedConcurrently {
    fn name(&self) -> &str {
        "m20991231_000001_indexed_concurrently"
    }
}

#[sea_orm_migration::async_trait::async_trait]
impl MigrationTrait for IndexedConcurrently {
    fn use_transaction(&self) -> Option<bool> {
        Some(false)
    }

    async fn up(&self, manager: &sea_orm_migration::SchemaManager) -> Result<(), sea_orm::DbErr> {
        let db = manager.get_connection();
        db.execute_unprepared("CREATE TABLE IF NOT EXISTS indexed (id BIGINT PRIMARY KEY, tag TEXT)").await?;
        db.execute_unprepared("CREATE INDEX CONCURRENTLY IF NOT EXISTS indexed_by_tag ON indexed (tag)").await?;
        Ok(())
    }
}

struct WithConcurrentIndex;

impl MigratorTrait for WithConcurrentIndex {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![Box::new(FeedMigration), Box::new(IndexedConcurrently)]
    }
}

/// An index built concurrently waits for every older snapshot in the database to end; replicas
/// waiting for their turn to migrate hold none, so every one of them starts, none ended as a
/// deadlock.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn replicas_starting_together_wait_without_holding_up_an_index_built_concurrently() {
    let fresh = Fresh::new();
    if fresh.server.is_none() {
        return;
    }
    start_together::<WithConcurrentIndex>(&fresh, 4).await;
    let db = Database::open::<WithConcurrentIndex>(&fresh.settings()).await.unwrap();
    assert_eq!(WithConcurrentIndex::get_applied_migrations(db.writer()).await.unwrap().len(), 2);
    db.close().await;
    fresh.drop().await;
}
