//! JSON log lines that name the trace they belong to, so a log search leads to the trace and back.

use std::{
    fmt,
    sync::{Arc, OnceLock},
};

use opentelemetry::trace::{SpanId, TraceContextExt, TraceId};
use tracing::{Dispatch, Event, Subscriber, dispatcher::WeakDispatch};
use tracing_subscriber::{
    Layer, Registry,
    fmt::{
        FmtContext, FormatEvent, FormatFields, MakeWriter,
        format::{Format, Json, Writer},
    },
    registry::LookupSpan,
};

/// The log layer writing JSON lines: tracing-subscriber's line (fields flattened) plus `trace_id`
/// and `span_id` (W3C hex) of the innermost span around the event that has OpenTelemetry context.
/// A line outside any span carries neither. Lines go to `writer` (standard output in a service).
pub(crate) fn layer<S, W>(writer: W) -> impl Layer<S>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let dispatch = Arc::new(OnceLock::new());
    let format = JsonWithTrace {
        inner: tracing_subscriber::fmt::format().json().flatten_event(true),
        dispatch: dispatch.clone(),
    };
    tracing_subscriber::fmt::layer().json().event_format(format).with_writer(writer).and_then(KeepDispatch(dispatch))
}

/// Keeps the subscriber the log layer is part of: the OpenTelemetry context of a span is read
/// through it, and `tracing::dispatcher::get_default` answers no subscriber while an event is
/// being dispatched.
struct KeepDispatch(Arc<OnceLock<WeakDispatch>>);

impl<S: Subscriber> Layer<S> for KeepDispatch {
    fn on_register_dispatch(&self, subscriber: &Dispatch) {
        let _ = self.0.set(subscriber.downgrade());
    }
}

struct JsonWithTrace {
    inner: Format<Json>,
    dispatch: Arc<OnceLock<WeakDispatch>>,
}

impl<S, N> FormatEvent<S, N> for JsonWithTrace
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(&self, ctx: &FmtContext<'_, S, N>, mut writer: Writer<'_>, event: &Event<'_>) -> fmt::Result {
        let mut line = String::new();
        self.inner.format_event(ctx, Writer::new(&mut line), event)?;
        let dispatch = self.dispatch.get().and_then(WeakDispatch::upgrade);
        match (dispatch.and_then(|dispatch| ids(&dispatch, event)), line.rfind('}')) {
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
fn ids(dispatch: &Dispatch, event: &Event<'_>) -> Option<(TraceId, SpanId)> {
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
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::{
        io,
        sync::{Arc, Mutex},
    };

    use opentelemetry::trace::{TraceContextExt, TracerProvider as _};
    use opentelemetry_sdk::trace::SdkTracerProvider;
    use tracing_opentelemetry::OpenTelemetrySpanExt;
    use tracing_subscriber::{Layer, filter::LevelFilter, layer::SubscriberExt};

    use crate::telemetry::services::ServiceTracer;

    #[derive(Clone, Default)]
    struct Lines(Arc<Mutex<Vec<u8>>>);

    impl io::Write for Lines {
        fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_line_names_the_innermost_traced_span_around_it_and_one_outside_any_span_names_none() {
        let provider = SdkTracerProvider::builder().build();
        let tracer = ServiceTracer::new(provider.tracer("test"), Vec::new());
        let lines = Lines::default();
        let writer = lines.clone();
        let subscriber = tracing_subscriber::registry()
            .with(tracing_opentelemetry::layer().with_tracer(tracer).with_filter(LevelFilter::INFO))
            .with(super::layer(move || writer.clone()));
        let (trace_id, span_id) = tracing::subscriber::with_default(subscriber, || {
            tracing::info!("outside");
            let span = tracing::info_span!("work");
            let _entered = span.enter();
            let debug = tracing::debug_span!("detail");
            let _detail = debug.enter();
            tracing::info!(order = 7, "inside");
            let cx = span.context();
            let context = cx.span().span_context().clone();
            (context.trace_id().to_string(), context.span_id().to_string())
        });
        let text = String::from_utf8(lines.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<serde_json::Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(lines.len(), 2, "{text}");
        assert_eq!(lines[0]["message"], "outside");
        assert!(lines[0].get("trace_id").is_none(), "{text}");
        assert_eq!(lines[1]["message"], "inside");
        assert_eq!(lines[1]["order"], 7);
        assert_eq!(lines[1]["trace_id"], trace_id.as_str(), "{text}");
        assert_eq!(lines[1]["span_id"], span_id.as_str(), "{text}");
    }
}
