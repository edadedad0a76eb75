//! Group commit on a synchronous SQLite connection.
//!
//! Through the pool, each statement of a batch is a hand-off from the writer's thread to the
//! driver's and back, and on a busy machine each hand-off waits for a core: a small batch of a
//! dozen statements spends more time waiting than working, and the waits are what a caller sees as
//! latency. Here the writer's thread owns a connection of its own and runs the whole batch on it
//! (prepared statements, outbox, commit) without a hand-off. The connection is set up as the pooled
//! writer is (WAL, durable commits); the pool's writer still serves the service's other, rarer
//! writes, and SQLite's write lock keeps the two apart.

use std::future::Future;

use sea_orm::DbErr;

use super::{BatchWriter, WriteFailed, checked};
use crate::{
    db::{Rewind, sqlite_error},
    feed::{Outbox, Publisher},
};

/// A [`BatchWriter`] that can also write its batch on a synchronous SQLite connection.
pub trait SqliteBatchWriter: BatchWriter {
    /// Writes `items` in `txn`, queueing their events in `outbox`; as [`BatchWriter::write`].
    fn write_sqlite<'a>(
        &'a self,
        txn: &'a rusqlite::Transaction<'a>,
        outbox: &'a mut Outbox,
        items: &'a [Self::Item],
    ) -> impl Future<Output = Result<Vec<Self::Output>, DbErr>> + 'a;
}

pub(super) async fn write_sqlite<W: SqliteBatchWriter>(
    publisher: &Publisher,
    writer: &W,
    connection: &rusqlite::Connection,
    items: &[W::Item],
) -> Result<Vec<W::Output>, WriteFailed> {
    publisher.database().rewind_sqlite_if_long(connection, Rewind::BeforeBatch).map_err(sqlite_error)?;
    // IMMEDIATE takes the write lock at once, so reads made before the writes cannot go stale.
    let txn = rusqlite::Transaction::new_unchecked(connection, rusqlite::TransactionBehavior::Immediate)
        .map_err(sqlite_error)?;
    let mut outbox = Outbox::default();
    // Dropping `txn` on any early return rolls the batch back.
    let outputs = checked(writer.write_sqlite(&txn, &mut outbox, items).await?, items.len())?;
    let events = outbox.write_sqlite(&txn).map_err(sqlite_error)?;
    txn.commit().map_err(sqlite_error)?;
    publisher.committed(events);
    Ok(outputs)
}

/// Rewinds a long log while the writer has nothing queued (see
/// [`crate::Database::rewind_sqlite_if_long`]); a failure is left for the next batch to meet.
pub(super) fn rewind_while_idle(publisher: &Publisher, connection: &rusqlite::Connection) {
    if let Err(error) = publisher.database().rewind_sqlite_if_long(connection, Rewind::WhileIdle) {
        tracing::warn!(%error, "the write-ahead log could not be rewound");
    }
}
