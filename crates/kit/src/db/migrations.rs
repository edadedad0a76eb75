//! Applying a service's migrations at start-up. On PostgreSQL, replicas starting together take
//! turns under an advisory lock, so each migration runs once and no replica serves before the
//! schema it needs is complete.

use std::time::Duration;

use sea_orm::{ConnectOptions, ConnectionTrait, DatabaseConnection, DbBackend, DbErr, Statement};
use sea_orm_migration::MigratorTrait;

/// The advisory lock key migrations run under ("csm-mig" in ASCII); locks are per database, so
/// every service's database has its own.
const MIGRATION_LOCK: i64 = 0x0063_736d_2d6d_6967;

/// How often a replica waiting for another's migrations asks for the lock again.
const MIGRATION_LOCK_RETRY: Duration = Duration::from_millis(250);

/// Applies what is pending on PostgreSQL in this replica's turn. Advisory locks belong to a
/// session, so the lock, the migrations and the unlock share one connection of their own, kept
/// however long the migrations take (a pool would replace a connection past its lifetime, and
/// the lock with it).
pub(super) async fn apply_in_turn<M: MigratorTrait>(mut session_options: ConnectOptions) -> Result<(), DbErr> {
    session_options.max_lifetime(None).idle_timeout(None);
    let session = sea_orm::Database::connect(session_options).await?;
    let migrated = async {
        take_turn(&session).await?;
        let migrated = apply::<M, _>(&session).await;
        let unlocked = session.execute_unprepared(&format!("SELECT pg_advisory_unlock({MIGRATION_LOCK})")).await;
        migrated.and(unlocked.map(drop))
    }
    .await;
    let _ = session.close().await;
    migrated
}

/// Waits for this session's turn to migrate. It asks again and again rather than blocking in
/// `pg_advisory_lock`: a replica blocked there is running a statement, so it holds a snapshot, and
/// an index built `CONCURRENTLY` by the replica migrating waits for every older snapshot to end,
/// while the blocked one waits for that replica's lock; PostgreSQL would end one of them as a
/// deadlock. Between tries a waiting replica holds nothing.
async fn take_turn(session: &DatabaseConnection) -> Result<(), DbErr> {
    let try_lock = format!("SELECT pg_try_advisory_lock({MIGRATION_LOCK})");
    let mut waiting = false;
    loop {
        let row = session
            .query_one_raw(Statement::from_string(DbBackend::Postgres, try_lock.clone()))
            .await?
            .ok_or_else(|| DbErr::Custom("pg_try_advisory_lock returned no row".into()))?;
        if row.try_get_by_index::<bool>(0)? {
            return Ok(());
        }
        if !waiting {
            tracing::info!("waiting for another replica's migrations to finish");
            waiting = true;
        }
        tokio::time::sleep(MIGRATION_LOCK_RETRY).await;
    }
}

/// Refuses a schema from a newer version, then applies what is pending.
pub(super) async fn apply<M: MigratorTrait, C>(db: &C) -> Result<(), DbErr>
where
    C: ConnectionTrait,
    for<'c> &'c C: sea_orm::IntoDatabaseExecutor<'c>,
{
    M::install(db).await?;
    let known: Vec<String> = M::migrations().iter().map(|m| m.name().to_string()).collect();
    let unknown: Vec<String> =
        M::get_migration_models(db).await?.into_iter().map(|m| m.version).filter(|v| !known.contains(v)).collect();
    if !unknown.is_empty() {
        return Err(DbErr::Custom(format!(
            "the database schema is newer than this version of the service (it has migrations {} that this \
             binary does not know); run the newer version, or restore the database from before the upgrade",
            unknown.join(", ")
        )));
    }
    M::up(db, None).await
}
