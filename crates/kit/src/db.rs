//! The database a service owns: SQLite (WAL, durable commits) as the embedded default, PostgreSQL
//! in production, with the same migrations and queries on both.
//!
//! SQLite allows one writer at a time, and its own busy handler waits by sleeping, which shows up
//! as latency spikes. So on SQLite writes go through a single connection, where waiting writers
//! queue in the pool (fairly, without sleeping), and reads use a separate pool that WAL never
//! blocks. On PostgreSQL both are the same pool.

use std::{
    path::{Path, PathBuf},
    sync::{
        Arc,
        atomic::{AtomicI64, Ordering},
    },
    time::Duration,
};

use sea_orm::SqliteTransactionMode;
use sea_orm::{
    ConnectOptions, ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, DbErr, Statement,
    TransactionOptions, TransactionTrait,
};
use sea_orm_migration::MigratorTrait;

use opentelemetry::KeyValue;

use crate::config::DatabaseSettings;

mod create;
mod migrations;
mod reach;

#[derive(Debug, Clone)]
pub struct Database {
    writer: DatabaseConnection,
    reader: DatabaseConnection,
    backend: DbBackend,
    /// SQLite's write-ahead log, kept short by background checkpoints (see [`checkpoint_in_background`]).
    log: Option<Arc<WriteAheadLog>>,
    /// The SQLite file and the writer's page cache in KiB, for [`Database::open_sqlite_writer`].
    sqlite_file: Option<(PathBuf, u32)>,
}

impl Database {
    /// Connects, creating the SQLite file or the PostgreSQL database when missing, and applies the
    /// service's migrations before anything else touches the data.
    pub async fn open<M: MigratorTrait>(settings: &DatabaseSettings) -> Result<Self, DbErr> {
        let url = settings.url.as_str();
        let database = if url.starts_with("sqlite:") {
            Self::open_sqlite(settings).await?
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            reach::wait_for_postgres(settings).await?;
            if settings.create_if_missing {
                create::create_postgres_database(url).await.map_err(reach::naming_server(url))?;
            }
            // A pool of none is one, as on SQLite (the driver's queue cannot be empty).
            let pool = sea_orm::Database::connect(options(url, settings.max_connections.max(1)))
                .await
                .map_err(reach::naming_server(url))?;
            Self { writer: pool.clone(), reader: pool, backend: DbBackend::Postgres, log: None, sqlite_file: None }
        } else {
            return Err(DbErr::Custom(format!(
                "database url must start with sqlite:// or postgres:// (got {})",
                url.split(':').next().unwrap_or_default()
            )));
        };
        database.migrate::<M>(settings).await?;
        Ok(database)
    }

    /// Applies the migrations this binary knows and the database lacks. Replicas starting at once
    /// on PostgreSQL take turns under an advisory lock, so each migration runs exactly once and no
    /// replica serves before the schema it needs is complete. A database already carrying a
    /// migration this binary does not know belongs to a newer version: serving it could write what
    /// that version no longer reads, so the replica refuses to start instead.
    async fn migrate<M: MigratorTrait>(&self, settings: &DatabaseSettings) -> Result<(), DbErr> {
        if self.backend != DbBackend::Postgres {
            // SQLite runs DDL in transactions, but the migrator only opens them on PostgreSQL:
            // one transaction around the whole upgrade means a process stopped half-way leaves
            // the schema as it was, never a table without the record of its migration.
            let upgrade = self.writer.begin().await?;
            migrations::apply::<M, _>(&upgrade).await?;
            return upgrade.commit().await;
        }
        migrations::apply_in_turn::<M>(options(&settings.url, 1)).await
    }

    async fn open_sqlite(settings: &DatabaseSettings) -> Result<Self, DbErr> {
        let url = settings.url.as_str();
        let in_memory = url.contains(":memory:") || url.contains("mode=memory");
        let path = url.trim_start_matches("sqlite://").trim_start_matches("sqlite:");
        let path = path.split('?').next().unwrap_or(path);
        if !in_memory && let Some(parent) = Path::new(path).parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)
                .map_err(|e| DbErr::Custom(format!("creating {}: {e}", parent.display())))?;
        }
        let sqlite = |max: u32, cache_kib: u32| {
            let mut options = options(url, max);
            options.map_sqlx_sqlite_opts(move |opts| {
                sqlite_pragmas(cache_kib)
                    .into_iter()
                    .fold(opts.create_if_missing(true).busy_timeout(SQLITE_BUSY_TIMEOUT), |opts, (name, value)| {
                        opts.pragma(name, value)
                    })
            });
            // The connection is in-process: there is nothing to test before using it.
            options.test_before_acquire(false);
            options
        };
        let naming_file = |error: DbErr| DbErr::Custom(format!("opening SQLite database {path}: {error}"));
        // The single writer keeps the pages it updates (indexes, recent rows) in memory.
        let writer_cache_kib = settings.sqlite_writer_cache_mib.saturating_mul(1024);
        let writer = sea_orm::Database::connect(sqlite(1, writer_cache_kib)).await.map_err(naming_file)?;
        // An in-memory database exists once per connection, so it is read through the writer.
        let reader = if in_memory {
            writer.clone()
        } else {
            sea_orm::Database::connect(sqlite(settings.max_connections.max(1), 8 * 1024)).await.map_err(naming_file)?
        };
        let log = (!in_memory).then(|| {
            let log = Arc::new(WriteAheadLog::default());
            tokio::spawn(checkpoint_in_background(reader.clone(), log.clone()));
            log
        });
        let sqlite_file = (!in_memory).then(|| (PathBuf::from(path), writer_cache_kib));
        Ok(Self { writer, reader, backend: DbBackend::Sqlite, log, sqlite_file })
    }

    /// For queries that only read.
    pub fn reader(&self) -> &DatabaseConnection {
        &self.reader
    }

    /// A read-only transaction whose reads all see the data as of one moment, for an answer built
    /// from several queries (a report whose Pareto and breakdowns must count the same work orders):
    /// `REPEATABLE READ` on PostgreSQL, where each statement would otherwise see every commit before
    /// it; on SQLite a transaction's reads already share the snapshot of its first one.
    pub async fn read_snapshot(&self) -> Result<DatabaseTransaction, DbErr> {
        match self.backend {
            DbBackend::Postgres => {
                let (level, mode) = (sea_orm::IsolationLevel::RepeatableRead, sea_orm::AccessMode::ReadOnly);
                self.reader.begin_with_config(Some(level), Some(mode)).await
            }
            _ => self.reader.begin().await,
        }
    }

    /// For writes outside a transaction (prefer [`Database::begin`]).
    pub fn writer(&self) -> &DatabaseConnection {
        &self.writer
    }

    pub fn backend(&self) -> DbBackend {
        self.backend
    }

    /// Starts a write transaction; on SQLite it takes the write lock at once (`BEGIN IMMEDIATE`), so
    /// a transaction that reads before it writes cannot fail halfway on a lock upgrade.
    pub async fn begin(&self) -> Result<DatabaseTransaction, DbErr> {
        match self.backend {
            DbBackend::Sqlite => {
                if let Some(log) = &self.log {
                    log.rewind_if_long(&self.writer).await?;
                }
                self.writer
                    .begin_with_options(TransactionOptions {
                        sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
                        ..TransactionOptions::default()
                    })
                    .await
            }
            _ => self.writer.begin().await,
        }
    }

    /// The service's PostgreSQL pool, for a writer that runs whole batches through the driver
    /// (see [`crate::group_commit`]). `None` on SQLite.
    pub fn postgres_pool(&self) -> Option<sea_orm::sqlx::PgPool> {
        (self.backend == DbBackend::Postgres).then(|| self.writer.get_postgres_connection_pool().clone())
    }

    /// A synchronous connection to the SQLite file, set up as the pooled writer is, for a writer
    /// that runs whole batches on a thread of its own (see [`crate::group_commit`]). `None` on
    /// PostgreSQL and for an in-memory database, which exists only inside its pool.
    pub fn open_sqlite_writer(&self) -> Option<Result<rusqlite::Connection, DbErr>> {
        let (path, cache_kib) = self.sqlite_file.as_ref()?;
        let open = || {
            let connection = rusqlite::Connection::open(path)?;
            connection.busy_timeout(SQLITE_BUSY_TIMEOUT)?;
            for (name, value) in sqlite_pragmas(*cache_kib) {
                connection.pragma_update(None, name, value)?;
            }
            // Statement journals of a batch's multi-row statements stay in memory, not in temp files.
            connection.pragma_update(None, "temp_store", "MEMORY")?;
            connection.set_prepared_statement_cache_capacity(64);
            Ok(connection)
        };
        Some(open().map_err(sqlite_error))
    }

    /// Completes the background checkpoint when the log has grown long (see [`WriteAheadLog`]),
    /// on a synchronous writer's connection, so that its next write starts the log afresh. The
    /// copy's disk flush takes milliseconds (1.8 to 5.3 ms at 2,000 submissions/s, against 0.2 ms
    /// for a commit's), which callers wait for if it runs before a batch: a writer does it when
    /// it finds nothing queued, and before a batch only once the log is four times as long, as a
    /// writer that is rarely idle must. A failing checkpoint is tried again once the background
    /// has measured the log anew (every 100 ms), not at every idle moment.
    pub(crate) fn rewind_sqlite_if_long(
        &self,
        connection: &rusqlite::Connection,
        moment: Rewind,
    ) -> Result<(), rusqlite::Error> {
        let long = match moment {
            Rewind::WhileIdle => LONG_LOG_FRAMES,
            Rewind::BeforeBatch => 4 * LONG_LOG_FRAMES,
        };
        if self.log.as_ref().is_some_and(|log| log.longer_than(long)) {
            connection.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))?;
        }
        Ok(())
    }

    /// Reports the pools' connections in use and idle as `db.client.connection.count`, labelled
    /// with `service`, the pool (`writer`, `reader`, or `pool` where one serves both) and `state`.
    pub fn observe_pools(&self, service: &'static str) {
        let pools: Vec<(&'static str, PoolUsage)> = if self.backend == DbBackend::Postgres {
            vec![("pool", usage(&self.writer, self.backend))]
        } else {
            vec![("writer", usage(&self.writer, self.backend)), ("reader", usage(&self.reader, self.backend))]
        };
        crate::metrics::observe_gauge(
            "db.client.connection.count",
            "{connection}",
            "database connections open, by pool and state (used, idle)",
            move |observe| {
                for (pool, usage) in &pools {
                    if let Some((size, idle)) = usage() {
                        let labels = |state: &'static str| {
                            [
                                KeyValue::new("service", service),
                                KeyValue::new("db.client.connection.pool.name", *pool),
                                KeyValue::new("db.client.connection.state", state),
                            ]
                        };
                        observe(idle as i64, &labels("idle"));
                        observe(i64::from(size) - idle as i64, &labels("used"));
                    }
                }
            },
        );
    }

    /// Closes both pools, waiting for connections to be returned.
    pub async fn close(self) {
        let _ = self.reader.close().await;
        let _ = self.writer.close().await;
    }
}

/// A pool's connections open and idle, or nothing once it is closed.
type PoolUsage = Box<dyn Fn() -> Option<(u32, usize)> + Send + Sync>;

fn usage(connection: &DatabaseConnection, backend: DbBackend) -> PoolUsage {
    if backend == DbBackend::Postgres {
        let pool = connection.get_postgres_connection_pool().clone();
        Box::new(move || (!pool.is_closed()).then(|| (pool.size(), pool.num_idle())))
    } else {
        let pool = connection.get_sqlite_connection_pool().clone();
        Box::new(move || (!pool.is_closed()).then(|| (pool.size(), pool.num_idle())))
    }
}

/// How long a connection waits for SQLite's write lock before giving up.
const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// The settings every SQLite connection gets, pooled or synchronous, with `cache_kib` of page cache.
fn sqlite_pragmas(cache_kib: u32) -> [(&'static str, String); 5] {
    [
        ("journal_mode", "WAL".into()),
        // FULL: a commit is on disk before it is acknowledged, even across power loss.
        ("synchronous", "FULL".into()),
        ("foreign_keys", "ON".into()),
        // A negative cache_size is in KiB.
        ("cache_size", format!("-{cache_kib}")),
        // Checkpoints run in the background, not inside whichever commit fills the log.
        ("wal_autocheckpoint", "0".into()),
    ]
}

/// A synchronous SQLite connection's error as the database error the rest of the service handles:
/// a database locked beyond the busy timeout is unavailable for now, like a pool that cannot hand
/// out a connection.
pub fn sqlite_error(error: rusqlite::Error) -> DbErr {
    use rusqlite::ErrorCode::{CannotOpen, DatabaseBusy, DatabaseLocked};
    match error.sqlite_error_code() {
        Some(DatabaseBusy | DatabaseLocked | CannotOpen) => {
            DbErr::Conn(sea_orm::RuntimeErr::Internal(format!("sqlite: {error}")))
        }
        _ => DbErr::Custom(format!("sqlite: {error}")),
    }
}

/// A PostgreSQL driver error met while using a connection, as the database error the rest of the
/// service handles: a connection lost or a pool closed means the database is unavailable for now;
/// anything else is the statement's.
pub fn postgres_error(error: sea_orm::sqlx::Error) -> DbErr {
    use sea_orm::sqlx::Error::{Io, PoolClosed, PoolTimedOut, Tls, WorkerCrashed};
    match error {
        Io(_) | PoolClosed | PoolTimedOut | Tls(_) | WorkerCrashed => postgres_connection_error(error),
        other => DbErr::Exec(sea_orm::RuntimeErr::SqlxError(Arc::new(other))),
    }
}

/// A PostgreSQL driver error met while getting a connection or starting a transaction on it: the
/// database is unavailable for now.
pub fn postgres_connection_error(error: sea_orm::sqlx::Error) -> DbErr {
    DbErr::Conn(sea_orm::RuntimeErr::SqlxError(Arc::new(error)))
}

/// SQLite's write-ahead log. Writes append to it; checkpoints copy its pages into the database
/// file. Checkpointing inside a commit (SQLite's default) stalls that commit and every write queued
/// behind it for as long as the copy and its disk flush take, so here a background task checkpoints
/// from a reading connection instead, where it blocks no one. SQLite rewinds the log only when a
/// write begins with the log fully copied, which continuous writes rarely allow; so once the log
/// has grown long, a writer completes the checkpoint itself, cheaply since the background has
/// copied nearly everything, and its next write starts the log afresh: the pooled writer before
/// its next write, a group commit's writer when it finds nothing queued (see
/// [`Database::rewind_sqlite_if_long`]). The log's file keeps its largest size.
#[derive(Debug, Default)]
struct WriteAheadLog {
    /// Frames in the log at the last background checkpoint.
    frames: AtomicI64,
}

/// Frames (pages) after which the log is long: 8192 frames of 4 KiB, 32 MiB.
const LONG_LOG_FRAMES: i64 = 8192;

/// When a synchronous writer may rewind a long log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Rewind {
    /// With nothing queued: no caller is waiting when it starts; one arriving meanwhile waits
    /// for what is left of it.
    WhileIdle,
    /// Before a batch, with its callers waiting.
    BeforeBatch,
}

impl WriteAheadLog {
    /// Whether the log was longer than `frames` when the background last measured it. A `true`
    /// forgets the length, so that whether or not the checkpoint the caller then runs completes,
    /// the next is tried once the background has measured the log anew, not at every write.
    fn longer_than(&self, frames: i64) -> bool {
        self.frames.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |now| (now > frames).then_some(0)).is_ok()
    }

    async fn rewind_if_long(&self, writer: &DatabaseConnection) -> Result<(), DbErr> {
        if self.longer_than(LONG_LOG_FRAMES) {
            writer.execute_unprepared("PRAGMA wal_checkpoint(PASSIVE)").await?;
        }
        Ok(())
    }
}

/// Checkpoints every 100 ms until the pool is closed, recording how long the log is.
async fn checkpoint_in_background(reader: DatabaseConnection, log: Arc<WriteAheadLog>) {
    let checkpoint = Statement::from_string(DbBackend::Sqlite, "PRAGMA wal_checkpoint(PASSIVE)");
    loop {
        tokio::time::sleep(Duration::from_millis(100)).await;
        match reader.query_one_raw(checkpoint.clone()).await {
            Ok(Some(row)) => {
                let frames: i64 = row.try_get_by_index(1).unwrap_or(0);
                log.frames.store(frames, Ordering::Relaxed);
            }
            Ok(None) => {}
            Err(DbErr::ConnectionAcquire(_)) => return,
            Err(error) => {
                if reader.ping().await.is_err() {
                    return;
                }
                tracing::warn!(%error, "checkpoint failed; retrying");
            }
        }
    }
}

/// Makes the transaction `db` wait for the advisory lock `key` on PostgreSQL and hold it to its end,
/// so writers taking one key take turns (as all of SQLite's do); each database has its own keys.
pub async fn lock_for_transaction(db: &impl ConnectionTrait, key: i64) -> Result<(), DbErr> {
    if db.get_database_backend() == DbBackend::Postgres {
        let lock = format!("SELECT pg_advisory_xact_lock({key})");
        db.execute_raw(Statement::from_string(DbBackend::Postgres, lock)).await?;
    }
    Ok(())
}

fn options(url: &str, max_connections: u32) -> ConnectOptions {
    let mut options = ConnectOptions::new(url.to_string());
    options
        .max_connections(max_connections)
        .min_connections(0)
        .connect_timeout(Duration::from_secs(10))
        .acquire_timeout(Duration::from_secs(30))
        .sqlx_logging(false);
    options
}
