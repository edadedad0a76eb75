//! Logs, traces and the metrics provider: `tracing` everywhere, OpenTelemetry spans exported over OTLP/gRPC when an
//! endpoint is configured, and W3C trace context carried across gRPC calls and inside feed events,
//! so one complaint can be followed through all four services.

use std::collections::HashMap;

use opentelemetry::{
    Context,
    propagation::{Extractor, Injector, TextMapPropagator},
    trace::TracerProvider as _,
};
use opentelemetry_sdk::{
    Resource,
    propagation::TraceContextPropagator,
    trace::{SdkTracerProvider, SpanExporter, TracerProviderBuilder},
};
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::{EnvFilter, Layer, filter::LevelFilter, layer::SubscriberExt, util::SubscriberInitExt};

use crate::config::{LogFormat, TelemetrySettings};

mod json_log;
mod services;

pub use services::SERVICE_FIELD;

/// Flushes and stops trace export when dropped; keep it alive for the life of the process.
#[derive(Debug)]
pub struct TelemetryGuard {
    providers: Vec<SdkTracerProvider>,
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        crate::metrics::get().flush();
        for provider in &self.providers {
            if let Err(error) = provider.shutdown() {
                eprintln!("trace export did not shut down cleanly: {error}");
            }
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    #[error("OTLP exporter: {0}")]
    Exporter(#[from] opentelemetry_otlp::ExporterBuildError),
    #[error(transparent)]
    Metrics(#[from] crate::metrics::MetricsError),
    #[error("log filter: {0}")]
    Filter(#[from] tracing_subscriber::filter::ParseError),
}

/// Installs the process-wide subscriber of a process that is one service: every span carries its
/// `service_name`. Must run inside the Tokio runtime (the OTLP exporter needs it). Spans always
/// carry OpenTelemetry context, so trace context propagates even when nothing is exported. Calling
/// it again in the same process keeps the first subscriber.
pub fn init(service_name: &str, settings: &TelemetrySettings) -> Result<TelemetryGuard, TelemetryError> {
    init_services(service_name, &[], settings)
}

/// [`init`] for a process running several services (`csm up`): `services` pairs the name a service
/// runs under (its feed's name, "intake") with the `service.name` its spans are exported with
/// ("csm-intake"); spans of no service (see [`SERVICE_FIELD`]) carry `process_name`.
pub fn init_services(
    process_name: &str,
    services: &[(&str, &str)],
    settings: &TelemetrySettings,
) -> Result<TelemetryGuard, TelemetryError> {
    let endpoint = settings
        .otlp_endpoint
        .clone()
        .or_else(|| std::env::var("OTEL_EXPORTER_OTLP_ENDPOINT").ok())
        .filter(|e| !e.is_empty());
    crate::metrics::install(process_name, endpoint.as_deref(), settings.metrics)?;
    let export = |builder: TracerProviderBuilder| -> Result<TracerProviderBuilder, TelemetryError> {
        let Some(endpoint) = &endpoint else { return Ok(builder) };
        use opentelemetry_otlp::WithExportConfig;
        let exporter =
            opentelemetry_otlp::SpanExporter::builder().with_tonic().with_endpoint(endpoint.clone()).build()?;
        Ok(builder.with_batch_exporter(exporter))
    };
    install(process_name, services, settings, export, endpoint.as_deref().unwrap_or("off"))
}

/// [`init_services`] exporting every span to a clone of `exporter` as soon as it ends, one clone
/// per service told its service's resource: for tests that look at the spans.
pub fn init_with_exporter<E: SpanExporter + Clone + 'static>(
    process_name: &str,
    services: &[(&str, &str)],
    settings: &TelemetrySettings,
    exporter: E,
) -> Result<TelemetryGuard, TelemetryError> {
    let export = |builder: TracerProviderBuilder| Ok(builder.with_simple_exporter(exporter.clone()));
    install(process_name, services, settings, export, "in process")
}

fn install(
    process_name: &str,
    services: &[(&str, &str)],
    settings: &TelemetrySettings,
    export: impl Fn(TracerProviderBuilder) -> Result<TracerProviderBuilder, TelemetryError>,
    export_to: &str,
) -> Result<TelemetryGuard, TelemetryError> {
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());

    let provider = |service_name: &str| -> Result<SdkTracerProvider, TelemetryError> {
        let resource = Resource::builder().with_service_name(service_name.to_string()).build();
        Ok(export(SdkTracerProvider::builder().with_resource(resource))?.build())
    };
    let own = provider(process_name)?;
    let mut providers = vec![own.clone()];
    let mut tracers = Vec::new();
    for (service, service_name) in services {
        let provider = provider(service_name)?;
        tracers.push((service.to_string(), provider.tracer(service_name.to_string())));
        providers.push(provider);
    }
    opentelemetry::global::set_tracer_provider(own.clone());
    let tracer = services::ServiceTracer::new(own.tracer(process_name.to_string()), tracers);
    let otel = tracing_opentelemetry::layer().with_tracer(tracer);

    // The log filter decides what is printed; spans reach OpenTelemetry regardless, so quiet logs
    // never break trace propagation across services.
    let filter = match std::env::var("RUST_LOG") {
        Ok(value) if !value.is_empty() => EnvFilter::try_new(value)?,
        _ => EnvFilter::try_new(&settings.log_filter)?,
    };
    let otel = otel.with_filter(LevelFilter::INFO);
    let registry = tracing_subscriber::registry().with(otel);
    let installed = match settings.log_format {
        LogFormat::Text => registry.with(tracing_subscriber::fmt::layer().with_filter(filter)).try_init(),
        LogFormat::Json => registry.with(json_log::layer(std::io::stdout).with_filter(filter)).try_init(),
    };
    if installed.is_ok() {
        tracing::info!(service = process_name, otlp = export_to, "telemetry ready");
    }
    Ok(TelemetryGuard { providers })
}

/// W3C trace context, as carried in events: empty when the cause was not traced.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TraceContext {
    pub traceparent: String,
    pub tracestate: String,
}

impl TraceContext {
    /// The context of the current span, to hand to work done elsewhere (another task, a batch).
    pub fn current() -> Self {
        let mut carrier = HashMap::new();
        TraceContextPropagator::new().inject_context(&tracing::Span::current().context(), &mut carrier);
        Self {
            traceparent: carrier.remove("traceparent").unwrap_or_default(),
            tracestate: carrier.remove("tracestate").unwrap_or_default(),
        }
    }
}

/// The context a `traceparent` / `tracestate` pair describes, to continue a trace from an event.
pub fn context_from(traceparent: &str, tracestate: &str) -> Context {
    let mut carrier = HashMap::new();
    if !traceparent.is_empty() {
        carrier.insert("traceparent".to_string(), traceparent.to_string());
    }
    if !tracestate.is_empty() {
        carrier.insert("tracestate".to_string(), tracestate.to_string());
    }
    TraceContextPropagator::new().extract(&carrier)
}

/// Makes `span` a child of the trace in `traceparent`, when there is one.
pub fn continue_trace(span: &tracing::Span, traceparent: &str, tracestate: &str) {
    if !traceparent.is_empty() {
        // A span that has already started cannot be re-parented; callers pass fresh spans.
        let _ = span.set_parent(context_from(traceparent, tracestate));
    }
}

/// The trace context in incoming HTTP/2 headers.
pub fn extract_from_headers(headers: &http::HeaderMap) -> Context {
    TraceContextPropagator::new().extract(&HeaderExtractor(headers))
}

/// Adds the current span's trace context to outgoing gRPC metadata.
pub fn inject_into_metadata(metadata: &mut tonic::metadata::MetadataMap) {
    TraceContextPropagator::new().inject_context(&tracing::Span::current().context(), &mut MetadataInjector(metadata));
}

struct HeaderExtractor<'a>(&'a http::HeaderMap);

impl Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(http::HeaderName::as_str).collect()
    }
}

struct MetadataInjector<'a>(&'a mut tonic::metadata::MetadataMap);

impl Injector for MetadataInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        if let (Ok(key), Ok(value)) = (
            tonic::metadata::MetadataKey::from_bytes(key.as_bytes()),
            tonic::metadata::MetadataValue::try_from(value.as_str()),
        ) {
            self.0.insert(key, value);
        }
    }
}
