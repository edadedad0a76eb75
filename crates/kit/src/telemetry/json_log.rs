//! JSON log lines that name the trace they belong to, so a log search leads to the trace and back.

use std::fmt;

use opentelemetry::trace::{SpanId, TraceContextExt, TraceId};
use tracing::{Event, Subscriber};
use tracing_subscriber::{
    Registry,
    fmt::{
        FmtContext, FormatEvent, FormatFields,
        format::{Format, Json, Writer},
    },
    registry::LookupSpan,
};

/// tracing-subscriber's JSON line (fields flattened) plus `trace_id` and `span_id` (W3C hex) of
/// the innermost span around the event that has OpenTelemetry context. A line outside any span
/// carries neither.
pub(crate) struct JsonWithTrace {
    inner: Format<Json>,
}

impl JsonWithTrace {
    pub(crate) fn new() -> Self {
        Self { inner: tracing_subscriber::fmt::format().json().flatten_event(true) }
    }
}

impl<S, N> FormatEvent<S, N> for JsonWithTrace
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(&self, ctx: &FmtContext<'_, S, N>, mut writer: Writer<'_>, event: &Event<'_>) -> fmt::Result {
        let mut line = String::new();
        self.inner.format_event(ctx, Writer::new(&mut line), event)?;
        match (ids(event), line.rfind('}')) {
            (Some((trace_id, span_id)), Some(end)) => {
                writer.write_str(&line[..end])?;
                write!(writer, r#","trace_id":"{trace_id}","span_id":"{span_id}""#)?;
                writer.write_str(&line[end..])
            }
            _ => writer.write_str(&line),
        }
    }
}

/// The ids of the innermost span around `event` that OpenTelemetry knows. Looked up in the
/// registry rather than through the log layer's context, so spans the log filter hides (a `warn`
/// filter hides every `info` span) still name the trace.
fn ids(event: &Event<'_>) -> Option<(TraceId, SpanId)> {
    tracing::dispatcher::get_default(|dispatch| {
        let id = match event.parent() {
            Some(id) => id.clone(),
            None if event.is_contextual() => dispatch.current_span().id()?.clone(),
            None => return None,
        };
        let registry = dispatch.downcast_ref::<Registry>()?;
        let span = registry.span(&id)?;
        span.scope().find_map(|span| {
            let cx = tracing_opentelemetry::get_otel_context(&span.id(), dispatch)?;
            let span = cx.span();
            let context = span.span_context();
            context.is_valid().then(|| (context.trace_id(), context.span_id()))
        })
    })
}
