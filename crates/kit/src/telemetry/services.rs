//! One service identity per service, even when several services share a process (`csm up`, the
//! system tests).
//!
//! OpenTelemetry names the service in the *resource* of a tracer provider, not in a span, so each
//! service gets an [`SdkTracerProvider`] of its own with `service.name` set (`csm-intake`, ...).
//! tracing-opentelemetry 0.34 drives exactly one [`Tracer`] per layer, and routing *layers* would
//! not do: the layer's span extension (`OtelData`) and the context it hands to
//! `OpenTelemetrySpanExt::context()` are found by downcasting the subscriber to one layer type, so
//! a span could be started by another layer's tracer. Instead the one layer gets a
//! [`ServiceTracer`] that picks the provider for each span when the span is started:
//!
//! - a span carrying the field `csm.service` (the server span of every call and the consumer
//!   span of every feed event; see [`SERVICE_FIELD`]) belongs to that service;
//! - any other span belongs to the service of its parent span in this process, looked up by span
//!   id among the spans still alive (tracing-opentelemetry starts a parent before its children
//!   and a parent outlives them, so the parent is always found);
//! - a span with neither (background tasks outside any call or event, and spans whose parent is
//!   remote) belongs to the process's own identity, the first provider.
//!
//! With one identity (a service binary) there is nothing to route: every span goes to the one
//! provider and the table of live spans is never touched.

use std::{
    borrow::Cow,
    collections::HashMap,
    sync::{Arc, Mutex},
    time::SystemTime,
};

use opentelemetry::{
    Context, KeyValue,
    trace::{Span as _, SpanBuilder, SpanContext, SpanId, Status, TraceContextExt, Tracer},
};
use opentelemetry_sdk::trace::{SdkTracer, Span as SdkSpan};

/// The span field naming the service (as its feed is named: "intake", ...) a span's work belongs to.
pub const SERVICE_FIELD: &str = "csm.service";

/// Starts each span with the tracer of the service it belongs to.
#[derive(Debug, Clone)]
pub(crate) struct ServiceTracer {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    /// The process's own tracer first, then one per service.
    tracers: Vec<SdkTracer>,
    /// The `csm.service` value of `tracers[i + 1]`.
    services: Vec<String>,
    /// The tracer index of every routed span not yet dropped.
    live: Mutex<HashMap<SpanId, usize>>,
}

impl ServiceTracer {
    /// `default` serves spans of no known service; `services` pairs a `csm.service` value with its
    /// tracer.
    pub(crate) fn new(default: SdkTracer, services: Vec<(String, SdkTracer)>) -> Self {
        let (names, tracers): (Vec<_>, Vec<_>) = services.into_iter().unzip();
        let tracers = std::iter::once(default).chain(tracers).collect();
        Self { shared: Arc::new(Shared { tracers, services: names, live: Mutex::new(HashMap::new()) }) }
    }

    fn route(&self, builder: &SpanBuilder, parent_cx: &Context) -> usize {
        let named = builder
            .attributes
            .iter()
            .flatten()
            .find(|kv| kv.key.as_str() == SERVICE_FIELD)
            .and_then(|kv| self.shared.services.iter().position(|s| *s == kv.value.as_str()))
            .map(|i| i + 1);
        named
            .or_else(|| {
                let parent = parent_cx.span().span_context().span_id();
                if parent == SpanId::INVALID {
                    return None;
                }
                self.shared.live.lock().ok().and_then(|live| live.get(&parent).copied())
            })
            .unwrap_or(0)
    }
}

impl Tracer for ServiceTracer {
    type Span = ServiceSpan;

    fn build_with_context(&self, builder: SpanBuilder, parent_cx: &Context) -> ServiceSpan {
        if self.shared.services.is_empty() {
            let span = self.shared.tracers[0].build_with_context(builder, parent_cx);
            return ServiceSpan { span, routed: None };
        }
        let index = self.route(&builder, parent_cx);
        let span = self.shared.tracers[index].build_with_context(builder, parent_cx);
        let id = span.span_context().span_id();
        if let Ok(mut live) = self.shared.live.lock() {
            live.insert(id, index);
        }
        ServiceSpan { span, routed: Some(self.shared.clone()) }
    }
}

/// An SDK span that leaves the table of live spans when it is dropped (a child started after its
/// parent ended, but while the parent's context is still held, still finds it).
#[derive(Debug)]
pub(crate) struct ServiceSpan {
    span: SdkSpan,
    routed: Option<Arc<Shared>>,
}

impl Drop for ServiceSpan {
    fn drop(&mut self) {
        if let Some(shared) = &self.routed
            && let Ok(mut live) = shared.live.lock()
        {
            live.remove(&self.span.span_context().span_id());
        }
    }
}

impl opentelemetry::trace::Span for ServiceSpan {
    fn add_event_with_timestamp<T>(&mut self, name: T, timestamp: SystemTime, attributes: Vec<KeyValue>)
    where
        T: Into<Cow<'static, str>>,
    {
        self.span.add_event_with_timestamp(name, timestamp, attributes);
    }

    fn span_context(&self) -> &SpanContext {
        self.span.span_context()
    }

    fn is_recording(&self) -> bool {
        self.span.is_recording()
    }

    fn set_attribute(&mut self, attribute: KeyValue) {
        self.span.set_attribute(attribute);
    }

    fn set_status(&mut self, status: Status) {
        self.span.set_status(status);
    }

    fn update_name<T>(&mut self, new_name: T)
    where
        T: Into<Cow<'static, str>>,
    {
        self.span.update_name(new_name);
    }

    fn add_link(&mut self, span_context: SpanContext, attributes: Vec<KeyValue>) {
        self.span.add_link(span_context, attributes);
    }

    fn end_with_timestamp(&mut self, timestamp: SystemTime) {
        self.span.end_with_timestamp(timestamp);
    }
}
