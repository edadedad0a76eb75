//! The spans a consumer's work shows under: one per event handled, continuing the trace of the
//! request that caused it, and one per batch read or write a handler does for a whole feed
//! transaction, each marked as failed when its work failed.

use csm_proto::feed::v1::Event;

use crate::telemetry;

/// The span of a handler's work on a whole batch (`dispatch flush`), so a slow batch read or
/// write shows in traces beside the events' own spans; `events` is the batch's size, when known.
pub(super) fn batch_span(
    service: &str,
    consumer: &str,
    work: &str,
    stage: &str,
    events: Option<usize>,
) -> tracing::Span {
    let span = tracing::info_span!(
        "feed.batch",
        otel.name = %format_args!("{work} {stage}"),
        otel.status_code = tracing::field::Empty,
        otel.status_description = tracing::field::Empty,
        csm.service = service,
        messaging.consumer.group.name = consumer,
        messaging.batch.message_count = tracing::field::Empty,
    );
    if let Some(events) = events {
        span.record("messaging.batch.message_count", i64::try_from(events).unwrap_or(i64::MAX));
    }
    span
}

/// Marks `span` as failed, with the error as its description.
pub(super) fn mark_failed(span: &tracing::Span, error: &impl std::fmt::Display) {
    span.record("otel.status_code", "ERROR");
    span.record("otel.status_description", error.to_string());
}

/// The span of handling one event: named `{work} {event type}`, kind consumer, with the
/// OpenTelemetry messaging attributes (the feed followed is the destination, the sequence the
/// message id, the consumer's cursor name the consumer group) and `csm.service`, the service
/// doing the work. It continues the trace of the request that caused the event.
pub(super) fn work_span(service: &str, consumer: &str, work: &str, event: &Event) -> tracing::Span {
    let type_name = event.payload.as_ref().map(|p| p.type_url.as_str()).unwrap_or_default();
    let short = type_name.rsplit(['/', '.']).next().unwrap_or_default();
    let span = tracing::info_span!(
        "feed.apply",
        otel.name = %format_args!("{work} {short}"),
        otel.kind = "consumer",
        otel.status_code = tracing::field::Empty,
        otel.status_description = tracing::field::Empty,
        csm.service = service,
        messaging.system = "csm.feed",
        messaging.operation.type = "process",
        messaging.destination.name = %event.source,
        messaging.message.id = %event.sequence,
        messaging.consumer.group.name = consumer,
        csm.event_type = short,
        csm.subject = %event.subject,
    );
    telemetry::continue_trace(&span, &event.traceparent, &event.tracestate);
    span
}
