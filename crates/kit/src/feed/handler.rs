//! What a consumer asks of the service following a feed: an [`EventHandler`] applies each event
//! in the consumer's transaction, and says with a [`HandleError`] whether one that failed is to be
//! tried again or kept as a dead letter. The helpers read an event's payload, names and times,
//! rejecting what cannot be applied.

use std::future::Future;

use csm_proto::feed::v1::Event;
use prost::Name;
use sea_orm::DbErr;

use super::publisher::UnitOfWork;
use crate::time;

/// Events read ahead between two yields to the batch applied beside them, by the consumer's own
/// decoding and by [`EventHandler::read_ahead`]: each answer to the batch's statements waits for
/// the next yield. Every 256 cost measurement's absorption on PostgreSQL about a sixteenth of its
/// rate against every 32.
pub const READ_AHEAD_YIELD_EVERY: usize = 32;

/// Why an event was not applied.
#[derive(Debug, thiserror::Error)]
pub enum HandleError {
    /// Temporary (the database was unreachable, ...): roll back and try again later.
    #[error("{0}")]
    Retry(String),
    /// The event can never be applied (it does not decode, it breaks an invariant): keep it as a
    /// dead letter and go on.
    #[error("{0}")]
    Reject(String),
}

impl From<DbErr> for HandleError {
    fn from(error: DbErr) -> Self {
        HandleError::Retry(error.to_string())
    }
}

/// Applies one upstream event inside the consumer's transaction.
pub trait EventHandler: Send + Sync + 'static {
    /// Full names of the payload types to receive; the subscription filters on them.
    fn event_types(&self) -> Vec<String>;

    /// What handling an event does, in one verb ("classify", "dispatch", "absorb"): each event's
    /// span is named `{work} {event type}`.
    fn work(&self) -> &'static str;

    /// Called once a transaction's events are known, before any is handled: a handler that reads
    /// something for each event (the order it names, the customer's record) reads them all here in
    /// one query and keeps them in the stash (see [`UnitOfWork::stash`]) for
    /// [`EventHandler::handle`], which still decides each event's fate, rejection included. An
    /// error here is retried with the whole batch.
    fn prepare<'a>(
        &'a self,
        uow: &'a mut UnitOfWork,
        events: &'a [Event],
    ) -> impl Future<Output = Result<(), HandleError>> + Send + 'a {
        let _ = (uow, events);
        std::future::ready(Ok(()))
    }

    /// Whether every event goes through [`EventHandler::read_ahead`] before the transaction that
    /// first handles it. The events already waiting when a batch starts to apply are then taken
    /// off the stream and read beside it; once it commits, they are topped up with what has come
    /// since (up to `apply_batch`, as a batch gathered then would be), and those are read before
    /// the next transaction begins. Off by default: there is nothing to gain without work to do
    /// there.
    const READS_AHEAD: bool = false;

    /// With [`EventHandler::READS_AHEAD`], the work on events that needs nothing stored (decoding
    /// their payloads, say), done before their transaction begins, and for the events already
    /// waiting beside the batch before while that one's statements run, so that the database and
    /// the handler work at the same time instead of taking turns. What it finds is the handler's
    /// to keep for [`EventHandler::handle`], which must still work without it: events read may
    /// never be handled (the session failed first, or they were already applied and are
    /// skipped), and an event handled again (a dead letter's replay) is not read again. Long
    /// work should yield to the statements beside it every [`READ_AHEAD_YIELD_EVERY`] events.
    fn read_ahead<'a>(&'a self, events: &'a [Event]) -> impl Future<Output = ()> + Send + 'a {
        let _ = events;
        std::future::ready(())
    }

    /// Applies `event`. Writes go through `uow`; events published on it commit with the cursor.
    fn handle<'a>(
        &'a self,
        uow: &'a mut UnitOfWork,
        event: &'a Event,
    ) -> impl Future<Output = Result<(), HandleError>> + Send + 'a;

    /// Called once a transaction's events are handled, before the cursor moves past them: a
    /// handler that gathered them (see [`UnitOfWork::stash`]) writes them here, at once. An
    /// error here is retried with the whole batch.
    fn flush<'a>(&'a self, uow: &'a mut UnitOfWork) -> impl Future<Output = Result<(), HandleError>> + Send + 'a {
        let _ = uow;
        std::future::ready(Ok(()))
    }
}

/// True when the event carries a payload of type `M`.
pub fn carries<M: Name>(event: &Event) -> bool {
    event.payload.as_ref().is_some_and(|any| any.type_url.rsplit('/').next() == Some(M::full_name().as_str()))
}

/// The payload as `M`; an event of another type or with undecodable bytes is rejected.
pub fn decode<M: Name + Default>(event: &Event) -> Result<M, HandleError> {
    let any = event.payload.as_ref().ok_or_else(|| HandleError::Reject("event has no payload".into()))?;
    if !carries::<M>(event) {
        return Err(HandleError::Reject(format!("expected {}, got {}", M::full_name(), any.type_url)));
    }
    M::decode(any.value.as_slice()).map_err(|e| HandleError::Reject(format!("undecodable {}: {e}", M::full_name())))
}

/// The id in a resource name carried by an event (`{collection}{id}`); an event naming something
/// else cannot be applied and is rejected.
pub fn id_from_event(name: &str, collection: &str) -> Result<String, HandleError> {
    crate::names::id_in("name", name, collection)
        .map(str::to_string)
        .map_err(|_| HandleError::Reject(format!("{name:?} is not a name in {collection}")))
}

/// A time an event must carry; `what` names it in the rejection.
pub fn time_from_event(
    timestamp: Option<&prost_types::Timestamp>,
    what: &str,
) -> Result<chrono::DateTime<chrono::Utc>, HandleError> {
    timestamp
        .and_then(time::from_timestamp)
        .ok_or_else(|| HandleError::Reject(format!("{what} missing or out of range")))
}
