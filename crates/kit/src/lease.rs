//! Leases: background work that one replica at a time must do (following a feed under one cursor,
//! sweeping for overdue cases) runs only on the replica holding that work's lease, and the others
//! stand by.
//!
//! A lease is a row in the service's own database: who holds it and until when. The holder renews
//! it every third of its term; a replica that stops releases it, so a standby takes over within a
//! third of a term, and a replica that dies leaves it to expire, so a standby takes over within a
//! term and a third. A holder that cannot renew for two thirds of a term stops the work before
//! anyone else could take the lease. Correctness never rests on the lease alone: a consumer also
//! locks its cursor in each transaction, so even two replicas briefly active at once apply nothing
//! twice; the lease is what keeps them from doing the work twice over.

use std::{future::Future, pin::pin, time::Duration};

use sea_orm::{ConnectionTrait, DbErr, sea_query::OnConflict};
use sea_orm_migration::{prelude::*, schema::*};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::{db::Database, time};

/// One named lease in a service's database, as seen by one contender.
#[derive(Debug, Clone)]
pub struct Lease {
    db: Database,
    name: String,
    holder: String,
    term: Duration,
}

impl Lease {
    /// A contender for the lease `name`, holding it for `term` per renewal. Each contender has an
    /// identity of its own: the pod's host name (when set) and a random part, so two processes on
    /// one host, or a restarted one, never mistake each other's lease for their own.
    pub fn new(db: Database, name: impl Into<String>, term: Duration) -> Self {
        let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "local".into());
        let holder = format!("{host}/{}/{:08x}", std::process::id(), rand::random::<u32>());
        Self { db, name: name.into(), holder, term: term.max(Duration::from_millis(300)) }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn holder(&self) -> &str {
        &self.holder
    }

    /// Takes the lease when it is free, expired or already this contender's, and extends it by a
    /// term. Returns whether this contender holds it now.
    pub async fn try_acquire(&self) -> Result<bool, DbErr> {
        let now = time::now_micros();
        let until = now.saturating_add(time::duration_micros(self.term));
        let statement = Query::insert()
            .into_table(LeaseTable::Table)
            .columns([LeaseTable::Name, LeaseTable::Holder, LeaseTable::ExpiresAt])
            .values_panic([self.name.clone().into(), self.holder.clone().into(), until.into()])
            .on_conflict(
                OnConflict::column(LeaseTable::Name)
                    .update_columns([LeaseTable::Holder, LeaseTable::ExpiresAt])
                    .action_and_where(
                        Expr::col((LeaseTable::Table, LeaseTable::Holder)).eq(self.holder.clone()).or(Expr::col((
                            LeaseTable::Table,
                            LeaseTable::ExpiresAt,
                        ))
                        .lt(now)),
                    )
                    .to_owned(),
            )
            .to_owned();
        let writer = self.db.writer();
        let result = writer.execute(&statement).await?;
        Ok(result.rows_affected() == 1)
    }

    /// Gives the lease up, if this contender holds it, so a standby can take it at once.
    pub async fn release(&self) -> Result<(), DbErr> {
        let statement = Query::update()
            .table(LeaseTable::Table)
            .value(LeaseTable::ExpiresAt, 0i64)
            .and_where(Expr::col(LeaseTable::Name).eq(self.name.clone()))
            .and_where(Expr::col(LeaseTable::Holder).eq(self.holder.clone()))
            .to_owned();
        self.db.writer().execute(&statement).await?;
        Ok(())
    }
}

/// The holder of lease `name` and when its hold ends (microseconds since the epoch), if it was
/// ever taken.
pub async fn current_holder(db: &impl ConnectionTrait, name: &str) -> Result<Option<(String, i64)>, DbErr> {
    let statement = Query::select()
        .columns([LeaseTable::Holder, LeaseTable::ExpiresAt])
        .from(LeaseTable::Table)
        .and_where(Expr::col(LeaseTable::Name).eq(name))
        .to_owned();
    let Some(row) = db.query_one(&statement).await? else {
        return Ok(None);
    };
    Ok(Some((row.try_get("", "holder")?, row.try_get("", "expires_at")?)))
}

/// Runs `work` only while holding `lease`, until `stop` is cancelled.
///
/// Stands by until the lease can be taken, then starts `work` with a token that is cancelled when
/// the lease is lost or `stop` arrives, and renews the lease while the work runs. When the lease is
/// lost the work is waited for and the replica stands by again; on `stop` the lease is released
/// once the work has finished.
pub async fn exclusively<F, Fut>(lease: Lease, stop: CancellationToken, mut work: F)
where
    F: FnMut(CancellationToken) -> Fut,
    Fut: Future<Output = ()>,
{
    let renew_every = lease.term / 3;
    loop {
        // Standing by.
        loop {
            match lease.try_acquire().await {
                Ok(true) => break,
                Ok(false) => {}
                Err(error) => tracing::warn!(lease = %lease.name, %error, "cannot reach the lease; standing by"),
            }
            tokio::select! {
                () = tokio::time::sleep(renew_every) => {}
                () = stop.cancelled() => return,
            }
        }
        tracing::info!(lease = %lease.name, holder = %lease.holder, "lease taken: this replica is active");
        let held = stop.child_token();
        let running = work(held.clone());
        // The renewals run beside the work, not inside it: polled by the work's own task, a
        // renewal waiting for a connection the work holds (SQLite has one writer) would never get it.
        let renewing = async {
            let mut renewed = Instant::now();
            loop {
                tokio::time::sleep(renew_every).await;
                // A renewal stuck on an unreachable database must not outlast the term.
                let renewal = tokio::time::timeout(renew_every, lease.try_acquire())
                    .await
                    .unwrap_or_else(|_| Err(DbErr::Custom("lease renewal timed out".into())));
                match renewal {
                    Ok(true) => renewed = Instant::now(),
                    Ok(false) => {
                        tracing::warn!(lease = %lease.name, "lease taken over by another replica; standing by");
                        return;
                    }
                    Err(error) if renewed.elapsed() >= renew_every * 2 => {
                        tracing::warn!(lease = %lease.name, %error, "lease not renewed in time; standing by");
                        return;
                    }
                    Err(error) => tracing::debug!(lease = %lease.name, %error, "lease renewal failed; retrying"),
                }
            }
        };
        let mut running = pin!(running);
        tokio::select! {
            () = &mut running => {}
            () = renewing => {
                held.cancel();
                running.await;
            }
        }
        if stop.is_cancelled() {
            if let Err(error) = lease.release().await {
                tracing::debug!(lease = %lease.name, %error, "lease not released; it will expire");
            }
            return;
        }
    }
}

#[derive(DeriveIden)]
enum LeaseTable {
    #[sea_orm(iden = "lease")]
    Table,
    Name,
    Holder,
    ExpiresAt,
}

/// Creates the lease table; every service lists it in its migrator.
pub struct LeaseMigration;

impl MigrationName for LeaseMigration {
    fn name(&self) -> &str {
        "m20261124_000100_lease"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for LeaseMigration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(LeaseTable::Table)
                    .col(text(LeaseTable::Name).primary_key())
                    .col(text(LeaseTable::Holder))
                    .col(big_integer(LeaseTable::ExpiresAt))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(LeaseTable::Table).to_owned()).await
    }
}
