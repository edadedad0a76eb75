//! Group commit on a synchronous SQLite connection.
//!
//! Through the pool, each statement of a batch is a hand-off from the writer's thread to the
//! driver's and back, and on a busy machine each hand-off waits for a core: a small batch of a
//! dozen statements spends more time waiting than working, and the waits are what a caller sees as
//! latency. Here the writer's thread owns a connection of its own and runs the whole batch on it
//! (prepared statements, outbox, commit) without a hand-off. The connection is set up as the pooled
//! writer is (WAL, durable commits); the pool's writer still serves the service's other, rarer
//! writes, and SQLite's write lock keeps the two apart.

use std::{future::Future, sync::Arc};

use sea_orm::DbErr;
use tokio::sync::mpsc;

use super::{BatchWriter, GroupCommit, Request, WriteFailed, checked, run, run_pooled};
use crate::{
    db::sqlite_error,
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

impl<W: SqliteBatchWriter> GroupCommit<W> {
    /// As [`GroupCommit::new`], writing on a synchronous connection of its own when the service's
    /// database is an SQLite file.
    pub fn start(publisher: Publisher, writer: W, max_batch: usize) -> (Self, impl Future<Output = ()> + Send) {
        Self::spawn(max_batch, move |requests, max_batch| async move {
            match publisher.database().open_sqlite_writer() {
                Some(Ok(connection)) => {
                    run(requests, max_batch, async |items: &[W::Item]| {
                        write_sqlite(&publisher, &writer, &connection, items).await
                    })
                    .await;
                }
                Some(Err(error)) => {
                    tracing::error!(%error, "SQLite writer could not open its connection");
                    fail_all(requests, &WriteFailed::Database(Arc::new(error))).await;
                }
                None => run_pooled(publisher, writer, requests, max_batch).await,
            }
        })
    }
}

/// Answers every request with `failed` until the queue closes.
async fn fail_all<W: BatchWriter>(mut requests: mpsc::Receiver<Request<W>>, failed: &WriteFailed) {
    while let Some(request) = requests.recv().await {
        let _ = request.reply.send(Err(failed.clone()));
    }
}

async fn write_sqlite<W: SqliteBatchWriter>(
    publisher: &Publisher,
    writer: &W,
    connection: &rusqlite::Connection,
    items: &[W::Item],
) -> Result<Vec<W::Output>, WriteFailed> {
    let fail = |error: DbErr| WriteFailed::Database(Arc::new(error));
    publisher.database().rewind_sqlite_if_long(connection).map_err(sqlite_error).map_err(fail)?;
    // IMMEDIATE takes the write lock at once, so reads made before the writes cannot go stale.
    let txn = rusqlite::Transaction::new_unchecked(connection, rusqlite::TransactionBehavior::Immediate)
        .map_err(sqlite_error)
        .map_err(fail)?;
    let mut outbox = Outbox::default();
    // Dropping `txn` on any early return rolls the batch back.
    let outputs = checked(writer.write_sqlite(&txn, &mut outbox, items).await.map_err(fail)?, items.len())?;
    let last = outbox.write_sqlite(&txn).map_err(sqlite_error).map_err(fail)?;
    txn.commit().map_err(sqlite_error).map_err(fail)?;
    if let Some(last) = last {
        publisher.advance(last);
    }
    Ok(outputs)
}
