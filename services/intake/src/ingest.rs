//! Bulk loading: a stream of contacts, usage and product events and survey answers in, one result
//! per item out, in order. Reading and validating the next chunk overlaps with writing the last,
//! and each chunk goes through the group-commit writer as one request of at most as many items as
//! the writer commits at once (`intake.write_batch`), so a stream moves at the speed of a few
//! multi-row statements per chunk.
//!
//! An item is acknowledged only once durably stored. If storing fails for a reason that is not the
//! items' fault (the database is unavailable), the stream ends with UNAVAILABLE: every item before
//! the last result received is stored, none after it, and the caller resumes from there (retrying
//! with the same request ids is safe).

use std::pin::Pin;

use chrono::Utc;
use csm_kit::{Principal, error::Violations, group_commit::GroupCommit, telemetry::TraceContext};
use csm_proto::intake::v1::{
    FieldViolation, IngestOutcome, IngestRequest, IngestResult, ingest_request::Item as Requested,
};
use futures_util::FutureExt;
use tokio::sync::mpsc;
use tokio_stream::{Stream, wrappers::ReceiverStream};
use tonic::{Status, Streaming};

use crate::{
    validate::Rules,
    write::{IntakeWriter, Item, Refusal, Stored, Write, Written},
};

pub type ResultStream = Pin<Box<dyn Stream<Item = Result<IngestResult, Status>> + Send>>;

/// An item's place in a chunk: decided already (rejected), or waiting for its write.
enum Slot {
    Decided(IngestResult),
    Writing { item_id: String, index: i64 },
}

struct Chunk {
    slots: Vec<Slot>,
    writes: Vec<Write>,
}

pub fn start(
    writer: GroupCommit<IntakeWriter>,
    rules: Rules,
    caller: &Principal,
    requests: Streaming<IngestRequest>,
) -> ResultStream {
    // Items read before a chunk is written, at most.
    let chunk = writer.max_batch();
    let (chunks_tx, chunks_rx) = mpsc::channel::<Result<Chunk, Status>>(2);
    let (results_tx, results_rx) = mpsc::channel::<Result<IngestResult, Status>>(chunk * 2);
    // Items of the stream are traced as the Ingest call that brought them.
    let trace = TraceContext::current();
    tokio::spawn(read(requests, rules, caller.subject.clone(), trace, chunk, chunks_tx));
    tokio::spawn(write(writer, chunks_rx, results_tx));
    Box::pin(ReceiverStream::new(results_rx))
}

/// Reads and validates items, a chunk at a time.
async fn read(
    mut requests: Streaming<IngestRequest>,
    rules: Rules,
    caller: String,
    trace: TraceContext,
    chunk_size: usize,
    chunks: mpsc::Sender<Result<Chunk, Status>>,
) {
    let mut index = 0i64;
    loop {
        let first = match requests.message().await {
            Ok(Some(first)) => first,
            Ok(None) => return,
            Err(status) => {
                let _ = chunks.send(Err(status)).await;
                return;
            }
        };
        let mut chunk = Chunk { slots: Vec::new(), writes: Vec::new() };
        let now = Utc::now();
        let mut next = Some(first);
        while let Some(request) = next.take() {
            match decide(request.item.as_ref(), &rules, &caller, now) {
                Ok(item) => {
                    chunk.writes.push(Write { item, trace: trace.clone() });
                    chunk.slots.push(Slot::Writing { item_id: request.item_id, index });
                }
                Err(violations) => chunk.slots.push(Slot::Decided(rejected(request.item_id, index, &violations))),
            }
            index += 1;
            if chunk.slots.len() >= chunk_size {
                break;
            }
            next = match requests.message().now_or_never() {
                Some(Ok(Some(request))) => Some(request),
                _ => None,
            };
        }
        if chunks.send(Ok(chunk)).await.is_err() {
            return;
        }
    }
}

fn decide(
    item: Option<&Requested>,
    rules: &Rules,
    caller: &str,
    now: chrono::DateTime<Utc>,
) -> Result<Item, Violations> {
    match item {
        None => Err(Violations::one("item", "required: a contact, usage event, product event or survey answer")),
        Some(Requested::Contact(request)) => {
            Ok(Item::Contact { contact: rules.contact(request, now)?, caller: caller.to_string() })
        }
        Some(Requested::UsageEvent(request)) => Ok(Item::Usage(rules.usage_event(request, now)?)),
        Some(Requested::ProductEvent(request)) => Ok(Item::Product(rules.product_event(request, now)?)),
        Some(Requested::SurveyAnswer(request)) => Ok(Item::Survey(rules.survey_answer(request, now)?)),
    }
}

/// Writes each chunk and sends its results in order.
async fn write(
    writer: GroupCommit<IntakeWriter>,
    mut chunks: mpsc::Receiver<Result<Chunk, Status>>,
    results: mpsc::Sender<Result<IngestResult, Status>>,
) {
    while let Some(chunk) = chunks.recv().await {
        let chunk = match chunk {
            Ok(chunk) => chunk,
            Err(status) => {
                let _ = results.send(Err(status)).await;
                return;
            }
        };
        let mut outcomes = match writer.write_all(chunk.writes).await {
            Ok(outcomes) => outcomes.into_iter(),
            Err(failed) => {
                let _ = results.send(Err(failed.into_status())).await;
                return;
            }
        };
        for slot in chunk.slots {
            let result = match slot {
                Slot::Decided(result) => result,
                Slot::Writing { item_id, index } => match outcomes.next() {
                    Some(Ok(written)) => accepted(item_id, index, &written),
                    Some(Err(Refusal::RequestIdReused(id))) => rejected(
                        item_id,
                        index,
                        &Violations::one("request_id", format!("{id} was already used for a different request")),
                    ),
                    Some(Err(Refusal::Invalid(violations))) => rejected(item_id, index, &violations),
                    None => rejected(item_id, index, &Violations::one("item", "not written")),
                },
            };
            if results.send(Ok(result)).await.is_err() {
                return;
            }
        }
    }
}

fn accepted(item_id: String, index: i64, written: &Written) -> IngestResult {
    let (name, work_order) = match &written.stored {
        Stored::Contact { contact, work_order } => {
            (contact.name.clone(), work_order.as_ref().map(|o| o.name.clone()).unwrap_or_default())
        }
        Stored::Usage(event) => (event.name.clone(), String::new()),
        Stored::Product(event) => (event.name.clone(), String::new()),
        Stored::Survey(answer) => (answer.name.clone(), String::new()),
    };
    IngestResult {
        item_id,
        index,
        outcome: if written.duplicate { IngestOutcome::Duplicate } else { IngestOutcome::Accepted } as i32,
        name,
        work_order,
        violations: Vec::new(),
    }
}

fn rejected(item_id: String, index: i64, violations: &Violations) -> IngestResult {
    IngestResult {
        item_id,
        index,
        outcome: IngestOutcome::Rejected as i32,
        name: String::new(),
        work_order: String::new(),
        violations: violations
            .iter()
            .map(|v| FieldViolation { field: v.field.clone(), description: v.description.clone() })
            .collect(),
    }
}
