//! Writing a state change and the events that report it in one transaction.
//!
//! Events are numbered when the transaction commits its outbox rows: the unit of work increments
//! the single `feed_head` row, whose row lock is held until commit. A second writer waits on that
//! lock, so sequences are handed out in commit order and a reader can never see event N+1 before
//! event N. (Numbering from an auto-increment would not do: on PostgreSQL a transaction holding
//! sequence 5 can commit after one holding 6, and a follower that already moved past 6 would miss 5
//! for ever.) The events are added last, just before commit, so the lock is held only briefly.

use std::ops::Deref;

use prost::Name;
use sea_orm::{ConnectionTrait, DatabaseTransaction, DbErr, Statement};
use tokio::sync::watch;

use super::{outbox::Outbox, recent::Recent, schema::outbox_event};
use crate::{db::Database, telemetry::TraceContext};

/// Publishes a service's events. Cloning is cheap; all clones share the head watch that wakes live
/// subscribers after each commit.
#[derive(Debug, Clone)]
pub struct Publisher {
    db: Database,
    source: &'static str,
    head: watch::Sender<u64>,
    recent: Recent,
}

impl Publisher {
    /// A publisher for the service `source` (for example "intake"), starting from the stored head.
    pub async fn new(db: Database, source: &'static str) -> Result<Self, DbErr> {
        let last = read_head(db.reader()).await?;
        Ok(Self { db, source, head: watch::Sender::new(last), recent: Recent::default() })
    }

    pub fn database(&self) -> &Database {
        &self.db
    }

    pub fn source(&self) -> &'static str {
        self.source
    }

    /// Notified with the last committed sequence after every commit that published.
    pub fn watch_head(&self) -> watch::Receiver<u64> {
        self.head.subscribe()
    }

    /// The events this process committed last, for live subscribers.
    pub(crate) fn recent(&self) -> &Recent {
        &self.recent
    }

    /// Keeps the events of a transaction that committed (its numbered outbox rows) for live
    /// subscribers, then wakes them.
    pub(crate) fn committed(&self, rows: Vec<outbox_event::Model>) {
        let Some(last) = rows.last().and_then(|row| u64::try_from(row.sequence).ok()) else {
            return;
        };
        self.recent.committed(rows.into_iter().map(|row| row.into_event(self.source)).collect());
        self.advance(last);
    }

    /// Wakes live subscribers once events up to `last` are committed.
    fn advance(&self, last: u64) {
        self.head.send_if_modified(|head| {
            let advanced = last > *head;
            *head = (*head).max(last);
            advanced
        });
        let head = *self.head.borrow();
        crate::metrics::get().feed_head.record(head, &[opentelemetry::KeyValue::new("service", self.source)]);
    }

    /// Starts a write transaction that can publish events.
    pub async fn begin(&self) -> Result<UnitOfWork, DbErr> {
        Ok(UnitOfWork {
            txn: self.db.begin().await?,
            outbox: Outbox::default(),
            publisher: self.clone(),
            stash: http::Extensions::new(),
        })
    }
}

/// The last sequence committed to the feed.
pub async fn read_head(db: &impl ConnectionTrait) -> Result<u64, DbErr> {
    let row = db
        .query_one_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT last_sequence FROM feed_head WHERE id = 1",
        ))
        .await?
        .ok_or_else(|| DbErr::RecordNotFound("feed_head".into()))?;
    let last: i64 = row.try_get("", "last_sequence")?;
    Ok(u64::try_from(last).unwrap_or(0))
}

/// A write transaction plus the events it will publish. Dereferences to the transaction, so data
/// access functions taking `&impl ConnectionTrait` accept `&*uow`. Dropping it without
/// [`UnitOfWork::commit`] rolls everything back, events included.
pub struct UnitOfWork {
    txn: DatabaseTransaction,
    outbox: Outbox,
    publisher: Publisher,
    stash: http::Extensions,
}

impl std::fmt::Debug for UnitOfWork {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UnitOfWork").field("pending", &self.outbox.len()).finish()
    }
}

impl Deref for UnitOfWork {
    type Target = DatabaseTransaction;

    fn deref(&self) -> &DatabaseTransaction {
        &self.txn
    }
}

impl UnitOfWork {
    /// Scratch space living as long as the transaction: a feed handler gathers a batch's work
    /// here and writes it at once in [`EventHandler::flush`](super::EventHandler::flush). A
    /// rolled-back transaction takes it along, so a retried batch starts clean.
    pub fn stash<T: Default + Clone + Send + Sync + 'static>(&mut self) -> &mut T {
        self.stash.get_or_insert_default::<T>()
    }

    /// Takes what [`UnitOfWork::stash`] gathered, leaving nothing.
    pub fn take_stash<T: Default + Clone + Send + Sync + 'static>(&mut self) -> T {
        self.stash.remove::<T>().unwrap_or_default()
    }

    /// Queues `payload` as an event about `subject`, to be written with the transaction. The trace
    /// context of the current span travels with it.
    pub fn publish<M: Name>(&mut self, subject: impl Into<String>, payload: &M) {
        self.publish_traced(&TraceContext::current(), subject, payload);
    }

    /// As [`UnitOfWork::publish`], for work done on behalf of a request traced elsewhere (a batch
    /// written by another task carries each item's own trace).
    pub fn publish_traced<M: Name>(&mut self, trace: &TraceContext, subject: impl Into<String>, payload: &M) {
        self.outbox.publish_traced(trace, subject, payload);
    }

    /// The transaction and its queued events, to write through one and queue into the other.
    pub fn parts(&mut self) -> (&DatabaseTransaction, &mut Outbox) {
        (&self.txn, &mut self.outbox)
    }

    /// Events queued so far.
    pub fn pending_events(&self) -> usize {
        self.outbox.len()
    }

    /// Numbers and writes the queued events, commits, then wakes live subscribers. Returns the last
    /// sequence published, if any.
    pub async fn commit(self) -> Result<Option<u64>, DbErr> {
        let Self { txn, outbox, publisher, .. } = self;
        let rows = outbox.write(&txn).await?;
        txn.commit().await?;
        let last = rows.last().and_then(|row| u64::try_from(row.sequence).ok());
        publisher.committed(rows);
        Ok(last)
    }

    pub async fn rollback(self) -> Result<(), DbErr> {
        self.txn.rollback().await
    }
}
