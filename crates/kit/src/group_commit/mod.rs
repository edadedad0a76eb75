//! Group commit: many small writes share one durable transaction.
//!
//! A durable commit costs a disk flush, so committing each call on its own caps a service at a few
//! thousand writes a second. Here concurrent callers queue their items; one writer task takes
//! whatever has queued (whole requests, up to `max_batch` items), writes it all in one transaction
//! through a [`BatchWriter`], commits, and only then answers each caller. Nothing is acknowledged
//! before it is durable, and a caller waiting behind a commit waits for one commit, not for
//! everyone's.
//!
//! If a batch fails, each request in it is retried alone, so one bad item cannot fail the items it
//! happened to share a transaction with.
//!
//! A writer that also implements [`SqliteBatchWriter`] and [`PostgresBatchWriter`], started with
//! [`GroupCommit::start`], writes through the driver itself: on an SQLite file on a synchronous
//! connection of its own ([`sqlite`]), on PostgreSQL on a pooled connection where it can stream
//! rows with `COPY` ([`postgres`]).

mod postgres;
mod sqlite;

use std::{future::Future, sync::Arc};

use sea_orm::DbErr;
use tokio::sync::{mpsc, oneshot};

use crate::feed::{Publisher, UnitOfWork};

pub use postgres::PostgresBatchWriter;
pub use sqlite::SqliteBatchWriter;

/// Writes a batch of items in the caller's transaction.
pub trait BatchWriter: Send + Sync + 'static {
    type Item: Send + Sync + 'static;
    type Output: Send + 'static;

    /// Writes `items` in order, returning one output per item. Later items see the writes of earlier
    /// ones. An error fails the whole batch: nothing of it is committed.
    fn write<'a>(
        &'a self,
        uow: &'a mut UnitOfWork,
        items: &'a [Self::Item],
    ) -> impl Future<Output = Result<Vec<Self::Output>, DbErr>> + Send + 'a;
}

/// Why a write was not done. Nothing of it was stored.
#[derive(Debug, Clone, thiserror::Error)]
pub enum WriteFailed {
    #[error("database: {0}")]
    Database(Arc<DbErr>),
    #[error("the writer has stopped")]
    Stopped,
}

impl From<DbErr> for WriteFailed {
    fn from(error: DbErr) -> Self {
        WriteFailed::Database(Arc::new(error))
    }
}

impl WriteFailed {
    pub fn into_status(self) -> tonic::Status {
        match self {
            WriteFailed::Database(error) => crate::error::database(&error),
            WriteFailed::Stopped => tonic::Status::unavailable("service is shutting down; retry elsewhere"),
        }
    }
}

struct Request<W: BatchWriter> {
    items: Vec<W::Item>,
    reply: oneshot::Sender<Result<Vec<W::Output>, WriteFailed>>,
}

/// The queue into a writer task. Cloning is cheap; the task ends when every clone is dropped.
pub struct GroupCommit<W: BatchWriter> {
    queue: mpsc::Sender<Request<W>>,
    max_batch: usize,
}

impl<W: BatchWriter> Clone for GroupCommit<W> {
    fn clone(&self) -> Self {
        Self { queue: self.queue.clone(), max_batch: self.max_batch }
    }
}

impl<W: BatchWriter> std::fmt::Debug for GroupCommit<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GroupCommit").finish_non_exhaustive()
    }
}

impl<W: BatchWriter> GroupCommit<W> {
    /// The queue, and a future to await (where the service waits for its tasks) that completes when
    /// the writer has stopped.
    ///
    /// The writer runs on a thread of its own with a single-threaded runtime: its work is one long
    /// serial chain (statements, commit, the next batch), and there it neither waits behind
    /// request handlers for a turn on the shared runtime nor makes them wait. Connections it
    /// returns to the pool are tidied on that thread too, so the next batch's transaction can start
    /// at once.
    pub fn new(publisher: Publisher, writer: W, max_batch: usize) -> (Self, impl Future<Output = ()> + Send) {
        Self::spawn(max_batch, move |requests, max_batch| run_pooled(publisher, writer, requests, max_batch))
    }

    /// Starts the writer task on a thread of its own: `work` receives the queue.
    fn spawn<F, Fut>(max_batch: usize, work: F) -> (Self, impl Future<Output = ()> + Send)
    where
        F: FnOnce(mpsc::Receiver<Request<W>>, usize) -> Fut + Send + 'static,
        Fut: Future<Output = ()>,
    {
        // The limit the writer keeps and the one bulk callers read, the same.
        let max_batch = max_batch.max(1);
        let (queue, requests) = mpsc::channel(4096);
        let (stopped, done) = oneshot::channel::<()>();
        let thread = std::thread::Builder::new().name("group-commit".into()).spawn(move || {
            match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                Ok(runtime) => runtime.block_on(work(requests, max_batch)),
                Err(error) => tracing::error!(%error, "group-commit writer could not start"),
            }
            let _ = stopped.send(());
        });
        if let Err(error) = thread {
            tracing::error!(%error, "group-commit writer thread could not start");
        }
        (Self { queue, max_batch }, async move {
            let _ = done.await;
        })
    }

    /// Most items the writer commits in one transaction, but for a single larger request: how much
    /// a bulk caller should hand it at once.
    pub fn max_batch(&self) -> usize {
        self.max_batch
    }

    /// Writes one item and returns its output once committed.
    pub async fn write(&self, item: W::Item) -> Result<W::Output, WriteFailed> {
        let mut outputs = self.write_all(vec![item]).await?;
        outputs.pop().ok_or(WriteFailed::Stopped)
    }

    /// Writes items (in one transaction when possible) and returns their outputs once committed.
    pub async fn write_all(&self, items: Vec<W::Item>) -> Result<Vec<W::Output>, WriteFailed> {
        if items.is_empty() {
            return Ok(Vec::new());
        }
        let (reply, answer) = oneshot::channel();
        self.queue.send(Request { items, reply }).await.map_err(|_| WriteFailed::Stopped)?;
        answer.await.map_err(|_| WriteFailed::Stopped)?
    }
}

impl<W: SqliteBatchWriter + PostgresBatchWriter> GroupCommit<W> {
    /// As [`GroupCommit::new`], writing through the driver on an SQLite file or PostgreSQL (see the
    /// module's note); through sea-orm on an in-memory database. The SQLite connection is opened
    /// here, so a service that cannot have it fails to start rather than failing every write.
    pub fn start(
        publisher: Publisher,
        writer: W,
        max_batch: usize,
    ) -> Result<(Self, impl Future<Output = ()> + Send), DbErr> {
        let sqlite = publisher.database().open_sqlite_writer().transpose()?;
        let postgres = publisher.database().postgres_pool();
        Ok(Self::spawn(max_batch, move |requests, max_batch| async move {
            match (sqlite, postgres) {
                (Some(connection), _) => {
                    let write =
                        async |items: &[W::Item]| sqlite::write_sqlite(&publisher, &writer, &connection, items).await;
                    run(requests, max_batch, write, || sqlite::rewind_while_idle(&publisher, &connection)).await;
                }
                (None, Some(pool)) => {
                    let connection = postgres::WriterConnection::new(pool);
                    let write = async |items: &[W::Item]| {
                        postgres::write_postgres(&publisher, &writer, &connection, items).await
                    };
                    run(requests, max_batch, write, || connection.release()).await;
                }
                (None, None) => run_pooled(publisher, writer, requests, max_batch).await,
            }
        }))
    }
}

/// Takes whatever has queued, whole requests of at most `max_batch` items in all (a larger request
/// alone), and commits it with `write`, until every queue handle is dropped; calls `idle` each time
/// the queue is found empty, before waiting. A request that would take a batch past the limit
/// starts the next one.
async fn run<W: BatchWriter>(
    mut requests: mpsc::Receiver<Request<W>>,
    max_batch: usize,
    mut write: impl AsyncFnMut(&[W::Item]) -> Result<Vec<W::Output>, WriteFailed>,
    mut idle: impl FnMut(),
) {
    let mut carried: Option<Request<W>> = None;
    loop {
        let first = match carried.take().map(Ok).unwrap_or_else(|| requests.try_recv()) {
            Ok(first) => first,
            Err(mpsc::error::TryRecvError::Disconnected) => break,
            Err(mpsc::error::TryRecvError::Empty) => {
                idle();
                match requests.recv().await {
                    Some(first) => first,
                    None => break,
                }
            }
        };
        let mut batch = vec![first];
        let mut size = batch[0].items.len();
        while size < max_batch {
            match requests.try_recv() {
                Ok(next) if size + next.items.len() > max_batch => {
                    carried = Some(next);
                    break;
                }
                Ok(next) => {
                    size += next.items.len();
                    batch.push(next);
                }
                Err(_) => break,
            }
        }
        commit_batch(batch, &mut write).await;
    }
}

/// [`run`] with each batch written in a transaction from the service's pool.
async fn run_pooled<W: BatchWriter>(
    publisher: Publisher,
    writer: W,
    requests: mpsc::Receiver<Request<W>>,
    max_batch: usize,
) {
    run(requests, max_batch, async |items: &[W::Item]| write_once(&publisher, &writer, items).await, || ()).await;
}

async fn commit_batch<W: BatchWriter>(
    batch: Vec<Request<W>>,
    write: &mut impl AsyncFnMut(&[W::Item]) -> Result<Vec<W::Output>, WriteFailed>,
) {
    let mut items = Vec::new();
    let mut waiters = Vec::with_capacity(batch.len());
    for request in batch {
        waiters.push((request.items.len(), request.reply));
        items.extend(request.items);
    }
    let started = std::time::Instant::now();
    let outcome = write(&items).await;
    let metrics = crate::metrics::get();
    metrics.group_commit_batch.record(items.len() as u64, &[]);
    metrics.group_commit_duration.record(started.elapsed().as_secs_f64(), &[]);
    match outcome {
        Ok(outputs) => {
            let mut outputs = outputs.into_iter();
            for (count, reply) in waiters {
                let _ = reply.send(Ok(outputs.by_ref().take(count).collect()));
            }
        }
        Err(failed) if waiters.len() == 1 => {
            for (_, reply) in waiters {
                let _ = reply.send(Err(failed.clone()));
            }
        }
        Err(_) => {
            // Retry each request alone so a bad one fails only itself.
            let mut start = 0;
            for (count, reply) in waiters {
                let mine = &items[start..start + count];
                start += count;
                let _ = reply.send(write(mine).await);
            }
        }
    }
}

/// A writer must answer every item; one that does not has a bug, and its batch is rolled back.
fn checked<T>(outputs: Vec<T>, items: usize) -> Result<Vec<T>, WriteFailed> {
    if outputs.len() == items {
        return Ok(outputs);
    }
    Err(WriteFailed::from(DbErr::Custom(format!("writer returned {} outputs for {items} items", outputs.len()))))
}

async fn write_once<W: BatchWriter>(
    publisher: &Publisher,
    writer: &W,
    items: &[W::Item],
) -> Result<Vec<W::Output>, WriteFailed> {
    let mut uow = publisher.begin().await?;
    let outputs =
        match writer.write(&mut uow, items).await.map_err(WriteFailed::from).and_then(|o| checked(o, items.len())) {
            Ok(outputs) => outputs,
            Err(failed) => {
                let _ = uow.rollback().await;
                return Err(failed);
            }
        };
    uow.commit().await?;
    Ok(outputs)
}
