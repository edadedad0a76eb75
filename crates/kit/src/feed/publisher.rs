//! Writing a state change and the events that report it in one transaction.
//!
//! Events are numbered when the transaction commits its outbox rows: the unit of work increments
//! the single `feed_head` row, whose row lock is held until commit. A second writer waits on that
//! lock, so sequences are handed out in commit order and a reader can never see event N+1 before
//! event N. (Numbering from an auto-increment would not do: on PostgreSQL a transaction holding
//! sequence 5 can commit after one holding 6, and a follower that already moved past 6 would miss 5
//! for ever.) The events are added last, just before commit, so the lock is held only briefly.

use std::ops::Deref;

use csm_proto::feed::v1::Event;
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

    /// Keeps the events of a transaction that committed for live subscribers, then wakes them.
    pub(crate) fn committed(&self, mut events: Vec<Event>) {
        let Some(last) = events.last().map(|e| e.sequence) else {
            return;
        };
        for event in &mut events {
            event.source = self.source.to_string();
        }
        self.recent.committed(events);
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
    /// The event as subscribers receive it, numbered `sequence` (its source is the publisher's).
    fn to_event(&self, sequence: i64) -> Event {
        Event {
            sequence: u64::try_from(sequence).unwrap_or(0),
            source: String::new(),
            occurred_at: Some(time::timestamp_from_micros(self.occurred_at)),
            subject: self.subject.clone(),
            traceparent: self.traceparent.clone(),
            tracestate: self.tracestate.clone(),
            payload: Some(prost_types::Any {
                type_url: format!("type.googleapis.com/{}", self.event_type),
                value: self.payload.clone(),
            }),
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
    /// them as numbered.
    async fn write(self, txn: &DatabaseTransaction) -> Result<Vec<Event>, DbErr> {
        if self.pending.is_empty() {
            return Ok(Vec::new());
        }
        write_events(txn, self.pending).await
    }

    /// As [`Outbox::write`], in a transaction of a synchronous SQLite connection
    /// ([`crate::group_commit::SqliteBatchWriter`]).
    pub(crate) fn write_sqlite(self, txn: &rusqlite::Transaction<'_>) -> Result<Vec<Event>, rusqlite::Error> {
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
        let mut events = Vec::with_capacity(self.pending.len());
        for (event, sequence) in self.pending.into_iter().zip(last - count + 1..) {
            insert.execute(rusqlite::params![
                sequence,
                event.subject,
                event.event_type,
                event.occurred_at,
                event.traceparent,
                event.tracestate,
                event.payload,
            ])?;
            events.push(event.to_event(sequence));
        }
        Ok(events)
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
        let events = outbox.write(&txn).await?;
        txn.commit().await?;
        let last = events.last().map(|e| e.sequence);
        publisher.committed(events);
        Ok(last)
    }

    pub async fn rollback(self) -> Result<(), DbErr> {
        self.txn.rollback().await
    }
}

async fn write_events(txn: &DatabaseTransaction, pending: Vec<PendingEvent>) -> Result<Vec<Event>, DbErr> {
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
    let events = pending.iter().zip(first..).map(|(event, sequence)| event.to_event(sequence)).collect();
    let rows = pending.into_iter().zip(first..).map(|(event, sequence)| outbox_event::ActiveModel {
        sequence: Set(sequence),
        subject: Set(event.subject),
        event_type: Set(event.event_type),
        occurred_at: Set(event.occurred_at),
        traceparent: Set(event.traceparent),
        tracestate: Set(event.tracestate),
        payload: Set(event.payload),
    });
    crate::bulk::insert_all(txn, rows.collect()).await?;
    Ok(events)
}
