//! Following another service's feed.
//!
//! A consumer applies upstream events through an [`EventHandler`] and moves its cursor in the same
//! transaction as their effects (and any events the handler publishes in turn). A crash, a restart
//! or an upstream outage therefore neither loses an event nor applies one twice: after any failure
//! the consumer resubscribes from the cursor it last committed, after a growing pause.
//!
//! Events arriving together are applied in one transaction (up to `apply_batch`), which is what
//! lets a consumer keep up with a busy upstream; a handler may also read the events waiting
//! while a batch is applied ([`EventHandler::read_ahead`]). An event the handler rejects as
//! unusable is stored as a dead letter, in order, and skipped; everything else is retried until
//! it applies.

use std::{sync::Arc, time::Duration};

use csm_proto::feed::v1::{Event, GetFeedStateRequest, SubscribeRequest, feed_client::FeedClient};
use futures_util::FutureExt;
use opentelemetry::KeyValue;
use sea_orm::{ActiveValue::Set, ConnectionTrait, DbErr, EntityTrait, QuerySelect, sea_query::OnConflict};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use super::{
    handler::{EventHandler, HandleError, READ_AHEAD_YIELD_EVERY},
    lag::Lag,
    publisher::{Publisher, UnitOfWork},
    schema::{consumer_cursor, dead_letter},
    spans::{batch_span, mark_failed, work_span},
};
use crate::{
    client::{self, CallerInterceptor},
    config::{FeedSettings, UpstreamSettings},
    time,
};

/// The cursor a consumer has committed (0 before its first event).
pub async fn load_cursor(db: &impl ConnectionTrait, consumer: &str) -> Result<u64, DbErr> {
    let row = consumer_cursor::Entity::find_by_id(consumer.to_string()).one(db).await?;
    Ok(row.map_or(0, |r| u64::try_from(r.last_sequence).unwrap_or(0)))
}

/// The cursor as this transaction sees it, locked against other writers until it ends (on
/// PostgreSQL; SQLite's write transaction already excludes them).
async fn locked_cursor(db: &impl ConnectionTrait, consumer: &str) -> Result<u64, DbErr> {
    let row = consumer_cursor::Entity::find_by_id(consumer.to_string()).lock_exclusive().one(db).await?;
    Ok(row.map_or(0, |r| u64::try_from(r.last_sequence).unwrap_or(0)))
}

async fn save_cursor(db: &impl ConnectionTrait, consumer: &str, sequence: u64) -> Result<(), DbErr> {
    let row = consumer_cursor::ActiveModel {
        consumer: Set(consumer.to_string()),
        last_sequence: Set(i64::try_from(sequence).map_err(|e| DbErr::Custom(e.to_string()))?),
        updated_at: Set(time::now_micros()),
    };
    consumer_cursor::Entity::insert(row)
        .on_conflict(
            OnConflict::column(consumer_cursor::Column::Consumer)
                .update_columns([consumer_cursor::Column::LastSequence, consumer_cursor::Column::UpdatedAt])
                .to_owned(),
        )
        .exec_without_returning(db)
        .await?;
    Ok(())
}

async fn save_dead_letter(db: &impl ConnectionTrait, consumer: &str, event: &Event, reason: &str) -> Result<(), DbErr> {
    let (event_type, payload) =
        event.payload.as_ref().map(|any| (any.type_url.clone(), any.value.clone())).unwrap_or_default();
    let row = dead_letter::ActiveModel {
        consumer: Set(consumer.to_string()),
        sequence: Set(i64::try_from(event.sequence).unwrap_or(i64::MAX)),
        event_type: Set(event_type),
        subject: Set(event.subject.clone()),
        reason: Set(reason.to_string()),
        payload: Set(payload),
        recorded_at: Set(time::now_micros()),
        ..Default::default()
    };
    dead_letter::Entity::insert(row).exec_without_returning(db).await?;
    Ok(())
}

/// Follows one upstream feed with one handler, under one cursor name.
pub struct Consumer<H> {
    name: String,
    upstream: UpstreamSettings,
    publisher: Publisher,
    handler: Arc<H>,
    settings: FeedSettings,
}

enum SessionEnd {
    Stopped,
    Disconnected(Interruption),
}

/// Why a subscription ended before it was asked to stop.
struct Interruption {
    /// What failed, as `csm.feed.consumer.interruptions` counts it: `apply`, `cursor` or `upstream`.
    cause: &'static str,
    reason: String,
}

impl Interruption {
    fn new(cause: &'static str, reason: impl ToString) -> Self {
        Self { cause, reason: reason.to_string() }
    }

    fn upstream(reason: impl ToString) -> Self {
        Self::new("upstream", reason)
    }
}

impl<H: EventHandler> Consumer<H> {
    /// `name` keys the cursor in this service's database (for example "intake").
    pub fn new(
        name: impl Into<String>,
        upstream: UpstreamSettings,
        publisher: Publisher,
        handler: H,
        settings: FeedSettings,
    ) -> Self {
        Self { name: name.into(), upstream, publisher, handler: Arc::new(handler), settings }
    }

    /// Runs until `stop` is cancelled. A batch being applied when `stop` arrives is finished first.
    /// It can be run again afterwards (by a replica taking its lease back), resuming from the cursor.
    pub async fn run(&self, stop: CancellationToken) {
        let mut pause = self.settings.retry_initial;
        let mut failures = 0u32;
        let mut last_cause = "";
        loop {
            let (end, progressed) = self.session(&stop).await;
            let (cause, reason) = match end {
                SessionEnd::Stopped => {
                    // Another replica follows from here on (or none, when stopping); a lag this
                    // one reported last must not linger in its metrics.
                    Lag::new(self.publisher.source(), &self.name).record(None, 0);
                    return;
                }
                SessionEnd::Disconnected(Interruption { cause, reason }) => {
                    let [service, consumer] = self.attributes();
                    crate::metrics::get()
                        .feed_interruptions
                        .add(1, &[service, consumer, KeyValue::new("cause", cause)]);
                    (cause, reason)
                }
            };
            if progressed {
                pause = self.settings.retry_initial;
            }
            // A new kind of failure is warned of at once, however many of another came before.
            if progressed || cause != last_cause {
                failures = 0;
            }
            last_cause = cause;
            failures += 1;
            if failures.is_power_of_two() {
                tracing::warn!(consumer = %self.name, upstream = %self.upstream.url, failures, "feed interrupted, resuming from the stored cursor: {reason}");
            } else {
                tracing::debug!(consumer = %self.name, failures, "feed interrupted: {reason}");
            }
            let jitter = Duration::from_millis(rand::random_range(0..=pause.as_millis() as u64 / 4 + 1));
            tokio::select! {
                () = tokio::time::sleep(pause.saturating_add(jitter)) => {}
                () = stop.cancelled() => return,
            }
            pause = pause.saturating_mul(2).min(self.settings.retry_max);
        }
    }

    /// One subscription, from the stored cursor until it fails or `stop` arrives. Reports whether it
    /// applied any events or stayed subscribed for `retry_max`, either of which resets the pause
    /// between attempts: a batch that fails every time is tried again after a pause that keeps
    /// growing, not at once, while a quiet feed whose upstream restarts now and then resubscribes
    /// after the shortest pause.
    async fn session(&self, stop: &CancellationToken) -> (SessionEnd, bool) {
        let mut progressed = false;
        let mut subscribed_at = None;
        let end = async {
            let mut cursor = load_cursor(self.publisher.database().reader(), &self.name)
                .await
                .map_err(|e| Interruption::new("cursor", format!("reading cursor: {e}")))?;
            let channel = client::upstream_channel(&self.upstream).map_err(Interruption::upstream)?;
            let interceptor = CallerInterceptor::new(&self.upstream.token).map_err(Interruption::upstream)?;
            let mut client = FeedClient::with_interceptor(channel, interceptor).max_decoding_message_size(64 << 20);
            let request = SubscribeRequest { after_sequence: cursor, event_types: self.handler.event_types() };
            let mut lag = Lag::new(self.publisher.source(), &self.name);
            let mut stream = tokio::select! {
                response = client.subscribe(request) => response.map_err(Interruption::upstream)?.into_inner(),
                () = stop.cancelled() => return Ok(SessionEnd::Stopped),
            };
            subscribed_at = Some(tokio::time::Instant::now());
            let mut ahead: Option<Gathered> = None;
            loop {
                let Gathered { mut batch, busy, broken } = match ahead.take() {
                    // Read while the batch before applied: topped up with what has come since, as
                    // a batch gathered now would be, and those read too.
                    Some(Gathered { batch, broken: None, .. }) => {
                        let read = batch.len();
                        let gathered = gather(batch, &mut stream, self.settings.apply_batch);
                        self.read_ahead(&gathered.batch[read..]).await;
                        gathered
                    }
                    Some(broken) => broken,
                    None => {
                        // A stop asked for is honoured before another batch is taken, however many
                        // events are waiting: a rolling restart waits for one batch at most.
                        let first = tokio::select! {
                            biased;
                            () = stop.cancelled() => return Ok(SessionEnd::Stopped),
                            message = stream.message() => message.map_err(Interruption::upstream)?,
                        };
                        let Some(first) = first else {
                            return Ok(SessionEnd::Disconnected(Interruption::upstream("upstream ended the stream")));
                        };
                        let gathered = gather(vec![first], &mut stream, self.settings.apply_batch);
                        self.read_ahead(&gathered.batch).await;
                        gathered
                    }
                };
                // A correct upstream never repeats itself; this keeps a faulty one from doing harm.
                batch.retain(|event| event.sequence > cursor);
                if let Some(last) = batch.last() {
                    // The events already waiting are read while this batch applies.
                    let read_next = H::READS_AHEAD && broken.is_none();
                    let next = async {
                        if !read_next {
                            return None;
                        }
                        let gathered = gather_beside(&mut stream, self.settings.apply_batch).await;
                        if !gathered.batch.is_empty() {
                            self.read_ahead(&gathered.batch).await;
                            let read = gathered.batch.len() as u64;
                            crate::metrics::get().feed_read_ahead.add(read, &self.attributes());
                        }
                        Some(gathered)
                    };
                    let (applied, next) = tokio::join!(biased; self.apply(&batch), next);
                    applied.map_err(|e| Interruption::new("apply", format!("applying events: {e}")))?;
                    ahead = next.filter(|gathered| !gathered.batch.is_empty() || gathered.broken.is_some());
                    cursor = last.sequence;
                    progressed = true;
                    if busy && lag.head_is_stale() {
                        let head = client.get_feed_state(GetFeedStateRequest {}).await;
                        lag.head_read(head.ok().map(|state| state.into_inner().last_sequence));
                    }
                    lag.record(busy.then_some(last), cursor);
                }
                if let Some(reason) = broken {
                    return Ok(SessionEnd::Disconnected(Interruption::upstream(reason)));
                }
                if ahead.is_some() && stop.is_cancelled() {
                    return Ok(SessionEnd::Stopped);
                }
            }
        }
        .await;
        let lasted = subscribed_at.is_some_and(|at| at.elapsed() >= self.settings.retry_max);
        (end.unwrap_or_else(SessionEnd::Disconnected), progressed || lasted)
    }

    /// Applies `events` and moves the cursor past them in one transaction. The transaction first
    /// reads the cursor (locking it on PostgreSQL) and skips what it already covers: events applied
    /// by a transaction that was still committing when this session read its starting point, or by
    /// another replica. A rejected event is replaced by a dead letter: the events before it are
    /// applied again in a fresh transaction (the first attempt was rolled back with the
    /// rejection), then the dead letter is stored.
    async fn apply(&self, events: &[Event]) -> Result<(), HandleError> {
        let mut rest = events;
        loop {
            let mut uow = self.publisher.begin().await?;
            let applied = locked_cursor(&*uow, &self.name).await?;
            rest = &rest[rest.iter().take_while(|e| e.sequence <= applied).count()..];
            if rest.is_empty() {
                uow.rollback().await?;
                return Ok(());
            }
            self.prepare(&mut uow, rest).await?;
            let mut rejected = None;
            for (offset, event) in rest.iter().enumerate() {
                match self.handle_one(&mut uow, event).await {
                    Ok(()) => {}
                    Err(HandleError::Reject(reason)) => {
                        rejected = Some((offset, reason));
                        break;
                    }
                    Err(retry) => return Err(retry),
                }
            }
            let Some((offset, reason)) = rejected else {
                self.flush(&mut uow).await?;
                if let Some(last) = rest.last() {
                    save_cursor(&*uow, &self.name, last.sequence).await?;
                }
                uow.commit().await?;
                crate::metrics::get().feed_applied.add(rest.len() as u64, &self.attributes());
                return Ok(());
            };
            uow.rollback().await?;

            let mut uow = self.publisher.begin().await?;
            if locked_cursor(&*uow, &self.name).await? != applied {
                // Someone else moved the cursor meanwhile; start over from where it now stands.
                uow.rollback().await?;
                continue;
            }
            self.prepare(&mut uow, &rest[..offset]).await?;
            for event in &rest[..offset] {
                if let Err(error) = self.handle_one(&mut uow, event).await {
                    return Err(HandleError::Retry(format!("event {} failed on replay: {error}", event.sequence)));
                }
            }
            let Some(dead) = rest.get(offset) else {
                return Err(HandleError::Retry("rejected event out of range".into()));
            };
            self.flush(&mut uow).await?;
            tracing::error!(consumer = %self.name, sequence = dead.sequence, subject = %dead.subject, "event kept as a dead letter: {reason}");
            save_dead_letter(&*uow, &self.name, dead, &reason).await?;
            save_cursor(&*uow, &self.name, dead.sequence).await?;
            uow.commit().await?;
            let metrics = crate::metrics::get();
            metrics.feed_applied.add(offset as u64, &self.attributes());
            metrics.feed_dead_letters.add(1, &self.attributes());
            rest = &rest[offset + 1..];
            if rest.is_empty() {
                return Ok(());
            }
        }
    }

    fn attributes(&self) -> [KeyValue; 2] {
        [KeyValue::new("service", self.publisher.source()), KeyValue::new("consumer", self.name.clone())]
    }

    async fn prepare(&self, uow: &mut UnitOfWork, events: &[Event]) -> Result<(), HandleError> {
        let span = batch_span(self.publisher.source(), &self.name, self.handler.work(), "prepare", Some(events.len()));
        let result = self.handler.prepare(uow, events).instrument(span.clone()).await;
        batch_outcome(&span, result, "reading for the batch")
    }

    async fn read_ahead(&self, events: &[Event]) {
        if !H::READS_AHEAD || events.is_empty() {
            return;
        }
        let span =
            batch_span(self.publisher.source(), &self.name, self.handler.work(), "read ahead", Some(events.len()));
        self.handler.read_ahead(events).instrument(span).await;
    }

    async fn flush(&self, uow: &mut UnitOfWork) -> Result<(), HandleError> {
        let span = batch_span(self.publisher.source(), &self.name, self.handler.work(), "flush", None);
        let result = self.handler.flush(uow).instrument(span.clone()).await;
        batch_outcome(&span, result, "writing the batch")
    }

    /// Runs the handler for one event inside a consumer span named for the work (`classify
    /// WorkOrderOpened`) that continues the event's trace; see [`work_span`].
    async fn handle_one(&self, uow: &mut UnitOfWork, event: &Event) -> Result<(), HandleError> {
        let span = work_span(self.publisher.source(), &self.name, self.handler.work(), event);
        let result = self.handler.handle(uow, event).instrument(span.clone()).await;
        if let Err(error) = &result {
            mark_failed(&span, error);
        }
        result
    }
}

/// Events taken from the stream for one transaction.
struct Gathered {
    batch: Vec<Event>,
    /// Whether more events were already waiting when the batch was cut (or the stream broke).
    busy: bool,
    /// Why the stream broke while the batch was taken, if it did.
    broken: Option<String>,
}

/// `batch` topped up with the events already waiting on `stream`, up to `limit`, without waiting
/// for more.
fn gather(mut batch: Vec<Event>, stream: &mut tonic::Streaming<Event>, limit: usize) -> Gathered {
    while batch.len() < limit {
        match stream.message().now_or_never() {
            Some(Ok(Some(event))) => batch.push(event),
            Some(Ok(None)) | None => return Gathered { batch, busy: false, broken: None },
            Some(Err(status)) => return Gathered { batch, busy: true, broken: Some(status.to_string()) },
        }
    }
    Gathered { batch, busy: true, broken: None }
}

/// As [`gather`] from nothing, beside a batch being applied: yielding every
/// [`READ_AHEAD_YIELD_EVERY`] events decoded, so that the batch's statements are answered at once.
async fn gather_beside(stream: &mut tonic::Streaming<Event>, limit: usize) -> Gathered {
    let mut gathered = gather(Vec::new(), stream, limit.min(READ_AHEAD_YIELD_EVERY));
    while gathered.busy && gathered.broken.is_none() && gathered.batch.len() < limit {
        tokio::task::yield_now().await;
        let more = (gathered.batch.len() + READ_AHEAD_YIELD_EVERY).min(limit);
        gathered = gather(gathered.batch, stream, more);
    }
    gathered
}

/// A rejection of the whole batch is retried, as nothing in it can be kept as a dead letter; an
/// error marks the batch's span as failed.
fn batch_outcome(span: &tracing::Span, result: Result<(), HandleError>, doing: &str) -> Result<(), HandleError> {
    let result = match result {
        Err(HandleError::Reject(reason)) => Err(HandleError::Retry(format!("{doing}: {reason}"))),
        other => other,
    };
    if let Err(error) = &result {
        mark_failed(span, error);
    }
    result
}
