//! Serving a feed: `Subscribe` replays the outbox after the caller's cursor, in order, then follows
//! new events as they commit. A subscription is woken by commits in this process and also checks the
//! outbox every `poll_interval`, which is how it sees commits made by another replica. Woken by a
//! commit of this process, it is served from the publisher's in-memory tail ([`super::recent`])
//! when the tail holds everything it needs, so live followers cost no database reads.

use std::{pin::Pin, sync::Arc};

use csm_proto::feed::v1::{
    Event, FeedState, GetFeedStateRequest, SubscribeRequest,
    feed_server::{Feed, FeedServer},
};
use opentelemetry::KeyValue;
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use tokio::sync::{Semaphore, mpsc, watch};
use tokio_stream::{Stream, wrappers::ReceiverStream};
use tokio_util::sync::CancellationToken;
use tonic::{Request, Response, Status};

use super::{publisher::Publisher, recent::Recent, schema::outbox_event};
use crate::{
    config::FeedSettings,
    db::Database,
    error::{self, Violations},
};

/// Event types one subscription may ask for at most.
pub const MAX_EVENT_TYPES: usize = 64;
/// The longest event type name (a message's full name).
const MAX_EVENT_TYPE_CHARS: usize = 200;

/// The `csm.feed.v1.Feed` service of one publishing service.
#[derive(Debug, Clone)]
pub struct FeedService {
    db: Database,
    source: &'static str,
    head: watch::Receiver<u64>,
    recent: Recent,
    settings: FeedSettings,
    stop: CancellationToken,
    /// One permit per subscription served.
    subscribers: Arc<Semaphore>,
}

impl FeedService {
    /// Serves `publisher`'s feed until `stop` is cancelled, which ends every open subscription so a
    /// graceful shutdown is not held up by followers.
    pub fn new(publisher: &Publisher, settings: FeedSettings, stop: CancellationToken) -> Self {
        Self {
            db: publisher.database().clone(),
            source: publisher.source(),
            head: publisher.watch_head(),
            recent: publisher.recent().clone(),
            subscribers: Arc::new(Semaphore::new(settings.max_subscribers.clamp(1, Semaphore::MAX_PERMITS))),
            settings,
            stop,
        }
    }

    pub fn into_server(self) -> FeedServer<Self> {
        FeedServer::new(self)
    }
}

/// Events after `after`, oldest first, at most `limit`, optionally only of the given types.
pub async fn read_after(
    db: &impl ConnectionTrait,
    source: &str,
    after: u64,
    limit: u64,
    event_types: &[String],
) -> Result<Vec<Event>, DbErr> {
    let after = i64::try_from(after).unwrap_or(i64::MAX);
    let mut query = outbox_event::Entity::find()
        .filter(outbox_event::Column::Sequence.gt(after))
        .order_by_asc(outbox_event::Column::Sequence)
        .limit(limit);
    if !event_types.is_empty() {
        query = query.filter(outbox_event::Column::EventType.is_in(event_types.iter().cloned()));
    }
    let rows = query.all(db).await?;
    Ok(rows.into_iter().map(|row| row.into_event(source)).collect())
}

type EventStream = Pin<Box<dyn Stream<Item = Result<Event, Status>> + Send>>;

#[tonic::async_trait]
impl Feed for FeedService {
    type SubscribeStream = EventStream;

    async fn subscribe(&self, request: Request<SubscribeRequest>) -> Result<Response<EventStream>, Status> {
        let SubscribeRequest { after_sequence, event_types } = request.into_inner();
        check_event_types(&event_types)?;
        let permit = self.subscribers.clone().try_acquire_owned().map_err(|_| {
            Status::resource_exhausted(format!(
                "this replica serves {} subscriptions already; retry later or on another replica",
                self.settings.max_subscribers
            ))
        })?;
        let (tx, rx) = mpsc::channel(self.settings.read_batch.clamp(16, 4096) as usize);
        let this = self.clone();
        tokio::spawn(async move {
            let _permit = permit;
            if let Err(status) = this.follow(after_sequence, event_types, &tx).await {
                let _ = tx.send(Err(status)).await;
            }
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }

    async fn get_feed_state(&self, _: Request<GetFeedStateRequest>) -> Result<Response<FeedState>, Status> {
        let last = super::publisher::read_head(self.db.reader()).await.map_err(|e| error::database(&e))?;
        Ok(Response::new(FeedState { last_sequence: last, source: self.source.to_string() }))
    }
}

/// The event types of a subscription: a bounded list of message names.
fn check_event_types(event_types: &[String]) -> Result<(), Status> {
    if event_types.len() > MAX_EVENT_TYPES {
        return Err(Violations::one("event_types", format!("at most {MAX_EVENT_TYPES} event types")).into_status());
    }
    let mut violations = Violations::new();
    for (i, name) in event_types.iter().enumerate() {
        let well_formed = !name.is_empty()
            && name.len() <= MAX_EVENT_TYPE_CHARS
            && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_');
        if !well_formed {
            violations.add(
                format!("event_types[{i}]"),
                format!(
                    "a message name such as csm.intake.v1.WorkOrderOpened, at most {MAX_EVENT_TYPE_CHARS} characters"
                ),
            );
        }
    }
    violations.into_result().map_err(Violations::into_status)
}

impl FeedService {
    /// Sends events to one subscriber until it goes away or the service stops.
    async fn follow(
        &self,
        mut cursor: u64,
        event_types: Vec<String>,
        tx: &mpsc::Sender<Result<Event, Status>>,
    ) -> Result<(), Status> {
        let mut head = self.head.clone();
        // The first read replays from the outbox; so does every read after a poll, which is how
        // commits of other replicas are seen.
        let mut from_outbox = true;
        let attributes = |from| [KeyValue::new("service", self.source), KeyValue::new("from", from)];
        loop {
            // Mark the head seen before reading, so a commit landing during the read wakes us.
            let seen = *head.borrow_and_update();
            let limit = self.settings.read_batch;
            let in_memory = if from_outbox { None } else { self.recent.after(cursor, seen, limit, &event_types) };
            let batch = match in_memory {
                Some(batch) => {
                    crate::metrics::get().feed_reads.add(1, &attributes("memory"));
                    batch
                }
                None => {
                    crate::metrics::get().feed_reads.add(1, &attributes("outbox"));
                    read_after(self.db.reader(), self.source, cursor, limit, &event_types)
                        .await
                        .map_err(|e| error::database(&e))?
                }
            };
            let full = batch.len() as u64 >= self.settings.read_batch;
            for event in batch {
                cursor = event.sequence;
                tokio::select! {
                    sent = tx.send(Ok(event)) => if sent.is_err() { return Ok(()) },
                    () = self.stop.cancelled() => return Ok(()),
                }
            }
            if full {
                // A subscriber replaying a long history takes turns with the calls on this runtime.
                tokio::task::yield_now().await;
                continue;
            }
            // Sequences are handed out in commit order, so every event up to `seen` had committed
            // before this read began, and the read returned each of them the subscription wants.
            // A subscription to a few event types moves past the others here: otherwise a cursor
            // left behind on the last event it wanted would make every later read scan the whole
            // outbox after it, and fall outside the in-memory tail for good.
            cursor = cursor.max(seen);
            from_outbox = false;
            tokio::select! {
                changed = head.changed() => if changed.is_err() { return Ok(()) },
                () = tokio::time::sleep(self.settings.poll_interval) => from_outbox = true,
                () = tx.closed() => return Ok(()),
                () = self.stop.cancelled() => return Ok(()),
            }
        }
    }
}
