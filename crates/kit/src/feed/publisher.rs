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
use sea_orm::{ActiveValue::Set, ConnectionTrait, DatabaseTransaction, DbErr, Statement};
use tokio::sync::watch;

use super::{recent::Recent, schema::outbox_event};
use crate::{db::Database, telemetry::TraceContext, time};

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

struct PendingEvent {
    subject: String,
    event_type: String,
    occurred_at: i64,
    traceparent: String,
    tracestate: String,
    payload: Vec<u8>,
}

/// Events queued by a write transaction, numbered and written just before it commits.
#[derive(Default)]
pub struct Outbox {
    pending: Vec<PendingEvent>,
}

impl std::fmt::Debug for Outbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Outbox").field("pending", &self.pending.len()).finish()
    }
}

impl PendingEvent {
    /// The outbox row of this event, numbered `sequence`.
    fn into_row(self, sequence: i64) -> outbox_event::Model {
        outbox_event::Model {
            sequence,
            subject: self.subject,
            event_type: self.event_type,
            occurred_at: self.occurred_at,
            traceparent: self.traceparent,
            tracestate: self.tracestate,
            payload: self.payload,
        }
    }
}

impl Outbox {
    /// Queues `payload` as an event about `subject`, published under `trace`.
    pub fn publish_traced<M: Name>(&mut self, trace: &TraceContext, subject: impl Into<String>, payload: &M) {
        self.pending.push(PendingEvent {
            subject: subject.into(),
            event_type: M::full_name(),
            occurred_at: time::now_micros(),
            traceparent: trace.traceparent.clone(),
            tracestate: trace.tracestate.clone(),
            payload: payload.encode_to_vec(),
        });
    }

    /// Events queued so far.
    pub fn len(&self) -> usize {
        self.pending.len()
    }

    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }

    /// Numbers and writes the queued events in `txn` (see the module's note on numbering); returns
    /// the rows written.
    async fn write(self, txn: &DatabaseTransaction) -> Result<Vec<outbox_event::Model>, DbErr> {
        if self.pending.is_empty() {
            return Ok(Vec::new());
        }
        write_events(txn, self.pending).await
    }

    /// As [`Outbox::write`], in a transaction of a synchronous SQLite connection
    /// ([`crate::group_commit::SqliteBatchWriter`]).
    pub(crate) fn write_sqlite(
        self,
        txn: &rusqlite::Transaction<'_>,
    ) -> Result<Vec<outbox_event::Model>, rusqlite::Error> {
        if self.pending.is_empty() {
            return Ok(Vec::new());
        }
        let count = i64::try_from(self.pending.len()).unwrap_or(i64::MAX);
        let last: i64 = txn
            .prepare_cached(
                "UPDATE feed_head SET last_sequence = last_sequence + ?1 WHERE id = 1 RETURNING last_sequence",
            )?
            .query_row([count], |row| row.get(0))?;
        let mut insert = txn.prepare_cached(
            "INSERT INTO outbox_event (sequence, subject, event_type, occurred_at, traceparent, tracestate, payload) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )?;
        let rows = self.numbered(last);
        for row in &rows {
            insert.execute(rusqlite::params![
                row.sequence,
                row.subject,
                row.event_type,
                row.occurred_at,
                row.traceparent,
                row.tracestate,
                row.payload,
            ])?;
        }
        Ok(rows)
    }

    /// As [`Outbox::write`], in a transaction on a PostgreSQL connection of the driver's own
    /// ([`crate::group_commit::PostgresBatchWriter`]), the events streamed with `COPY`.
    pub(crate) async fn write_postgres(
        self,
        txn: &mut sea_orm::sqlx::PgConnection,
    ) -> Result<Vec<outbox_event::Model>, DbErr> {
        if self.pending.is_empty() {
            return Ok(Vec::new());
        }
        let count = i64::try_from(self.pending.len()).map_err(|e| DbErr::Custom(e.to_string()))?;
        let last: i64 = sea_orm::sqlx::query_scalar(
            "UPDATE feed_head SET last_sequence = last_sequence + $1 WHERE id = 1 RETURNING last_sequence",
        )
        .bind(count)
        .fetch_one(&mut *txn)
        .await
        .map_err(crate::db::postgres_error)?;
        let rows = self.numbered(last);
        crate::bulk::copy_in::<outbox_event::Entity>(txn, rows.iter().cloned()).await?;
        Ok(rows)
    }

    /// The queued events as rows, numbered up to `last`, the head after this batch.
    fn numbered(self, last: i64) -> Vec<outbox_event::Model> {
        let first = last - self.pending.len() as i64 + 1;
        self.pending.into_iter().zip(first..).map(|(event, sequence)| event.into_row(sequence)).collect()
    }
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

async fn write_events(
    txn: &DatabaseTransaction,
    pending: Vec<PendingEvent>,
) -> Result<Vec<outbox_event::Model>, DbErr> {
    let count = i64::try_from(pending.len()).map_err(|e| DbErr::Custom(e.to_string()))?;
    let row = txn
        .query_one_raw(Statement::from_sql_and_values(
            txn.get_database_backend(),
            match txn.get_database_backend() {
                sea_orm::DbBackend::Postgres => {
                    "UPDATE feed_head SET last_sequence = last_sequence + $1 WHERE id = 1 RETURNING last_sequence"
                }
                _ => "UPDATE feed_head SET last_sequence = last_sequence + ? WHERE id = 1 RETURNING last_sequence",
            },
            [count.into()],
        ))
        .await?
        .ok_or_else(|| DbErr::RecordNotFound("feed_head".into()))?;
    let last: i64 = row.try_get("", "last_sequence")?;
    let first = last - count + 1;
    let rows: Vec<outbox_event::Model> =
        pending.into_iter().zip(first..).map(|(event, sequence)| event.into_row(sequence)).collect();
    let models = rows.iter().map(|row| outbox_event::ActiveModel {
        sequence: Set(row.sequence),
        subject: Set(row.subject.clone()),
        event_type: Set(row.event_type.clone()),
        occurred_at: Set(row.occurred_at),
        traceparent: Set(row.traceparent.clone()),
        tracestate: Set(row.tracestate.clone()),
        payload: Set(row.payload.clone()),
    });
    crate::bulk::insert_all(txn, models.collect()).await?;
    Ok(rows)
}
