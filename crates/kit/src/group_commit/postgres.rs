//! Group commit on PostgreSQL through the driver's own connection.
//!
//! A sea-orm transaction keeps its connection to itself, so a batch written through it can only
//! use statements with bound parameters: a multi-row `INSERT` the server parses, plans and binds
//! value by value. Here the writer takes a connection from the service's pool and runs the batch
//! on it through the driver: reads take the batch's keys as arrays, in one statement shape
//! whatever the batch's size, and the batch's writes and events go to the database as one
//! statement ([`crate::bulk::Writes`]), or a `COPY` where a table takes many rows.
//!
//! While batches follow one another the writer keeps its connection ([`WriterConnection`]): the
//! pool tests a connection with a round trip before lending it, and under load a round trip waits
//! for a core on each side, so a batch of a few milliseconds would spend one of them on the test.

use std::{cell::Cell, future::Future};

use sea_orm::{
    DbErr,
    sqlx::{Connection as _, PgConnection, PgPool, Postgres, pool::PoolConnection},
};

use super::{BatchWriter, WriteFailed, checked};
use crate::{
    bulk::Writes,
    db::{postgres_connection_error, postgres_error},
    feed::{Outbox, Publisher},
};

/// A [`BatchWriter`] that can also write its batch on a PostgreSQL connection of the driver's own.
/// Each statement of the batch's transaction is planned once per connection and the plan kept
/// (`plan_cache_mode = force_generic_plan`), with sequential scans, hash joins and merge joins
/// off ([`BATCH_SETTINGS`]): every read and update of a batch must find its rows by key through an
/// index, one probe per key.
pub trait PostgresBatchWriter: BatchWriter {
    /// Decides `items` reading through the transaction open on `txn`, gathering their writes in
    /// `writes` and their events in `outbox`, which go to the database together in one statement
    /// after it returns; as [`BatchWriter::write`].
    fn write_postgres<'a>(
        &'a self,
        txn: &'a mut PgConnection,
        writes: &'a mut Writes,
        outbox: &'a mut Outbox,
        items: &'a [Self::Item],
    ) -> impl Future<Output = Result<Vec<Self::Output>, DbErr>> + 'a;
}

/// The writer's connection from the pool, kept from one batch to the next while batches follow
/// one another. It goes back to the pool when the queue runs dry, where the pool tests it again
/// before lending it, and after a failed batch, so that a broken connection is not used twice.
pub(super) struct WriterConnection {
    pool: PgPool,
    held: Cell<Option<PoolConnection<Postgres>>>,
}

impl WriterConnection {
    pub(super) fn new(pool: PgPool) -> Self {
        Self { pool, held: Cell::new(None) }
    }

    /// Gives the connection back to the pool: the writer has nothing queued.
    pub(super) fn release(&self) {
        self.held.take();
    }

    /// A connection from the pool, tested by it.
    async fn acquire(&self) -> Result<PoolConnection<Postgres>, WriteFailed> {
        Ok(self.pool.acquire().await.map_err(postgres_connection_error)?)
    }
}

pub(super) async fn write_postgres<W: PostgresBatchWriter>(
    publisher: &Publisher,
    writer: &W,
    connection: &WriterConnection,
    items: &[W::Item],
) -> Result<Vec<W::Output>, WriteFailed> {
    let kept = connection.held.take();
    let was_kept = kept.is_some();
    let mut held = match kept {
        Some(held) => held,
        None => connection.acquire().await?,
    };
    let mut written = write_batch(publisher, writer, &mut held, items).await;
    if was_kept && matches!(written, Err(Failed::Begin(_))) {
        // The kept connection was lost since the last batch (the database restarted, say), which
        // the pool's test would have found: the batch goes again on a connection the pool tests.
        held = connection.acquire().await?;
        written = write_batch(publisher, writer, &mut held, items).await;
    }
    match written {
        Ok(outputs) => {
            connection.held.set(Some(held));
            Ok(outputs)
        }
        Err(Failed::Begin(failed) | Failed::Batch(failed)) => Err(failed),
    }
}

/// Where a batch failed: at `BEGIN`, before anything was sent in its transaction, or later.
enum Failed {
    Begin(WriteFailed),
    Batch(WriteFailed),
}

/// How a batch's transaction plans its statements. A plan is made once per statement and
/// connection and kept, so a batch spends nothing on planning (before, each batch planned each of
/// its statements afresh, 0.07 to 0.26 ms of the database's CPU each). A kept plan is safe only if
/// it cannot depend on what the statistics say: one made while the tables were new and empty
/// (before autovacuum's first `ANALYZE`) would otherwise join a batch's keys to a whole table by a
/// hash over a sequential scan, and keep doing so once the table is large. With sequential scans
/// and hash and merge joins off, every plan reaches rows through an index, one probe per key,
/// whatever the statistics; `SET LOCAL` keeps these settings to the batch's transaction.
const BATCH_SETTINGS: &str = "BEGIN; SET LOCAL plan_cache_mode = force_generic_plan; SET LOCAL enable_seqscan = off; \
     SET LOCAL enable_hashjoin = off; SET LOCAL enable_mergejoin = off";

async fn write_batch<W: PostgresBatchWriter>(
    publisher: &Publisher,
    writer: &W,
    connection: &mut PgConnection,
    items: &[W::Item],
) -> Result<Vec<W::Output>, Failed> {
    let fail = |error: DbErr| Failed::Batch(error.into());
    // Dropping `txn` on any early return rolls the batch back.
    let mut txn = connection
        .begin_with(BATCH_SETTINGS)
        .await
        .map_err(|error| Failed::Begin(postgres_connection_error(error).into()))?;
    let mut outbox = Outbox::default();
    let mut writes = Writes::default();
    let outputs = writer.write_postgres(&mut txn, &mut writes, &mut outbox, items).await.map_err(fail)?;
    let outputs = checked(outputs, items.len()).map_err(Failed::Batch)?;
    let events = outbox.write_postgres(&mut txn, writes).await.map_err(fail)?;
    txn.commit().await.map_err(postgres_error).map_err(fail)?;
    publisher.committed(events);
    Ok(outputs)
}
