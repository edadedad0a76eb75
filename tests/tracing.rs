//! One complaint can be followed across all four services: the trace context of the call that
//! submitted it travels in every event it causes, and the spans say what happened where.
//!
//! This binary owns the process-wide subscriber: every span of every service is captured in memory,
//! with the `service.name` of the provider that exported it.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "system/support/mod.rs"]
#[allow(dead_code)]
mod support;

use std::{
    future::Future,
    sync::{Arc, Mutex, OnceLock},
    time::Duration,
};

use csm_cli::{clients, system::TRACE_IDENTITIES};
use csm_kit::{config::TelemetrySettings, feed::decode};
use csm_proto::{feed::v1::SubscribeRequest, recovery::v1::CaseOpened};
use opentelemetry::{
    Key, Value,
    trace::{SpanId, SpanKind, Status},
};
use opentelemetry_sdk::{
    Resource,
    error::OTelSdkResult,
    trace::{SpanData, SpanExporter},
};
use support::{TestSystem, complaint};

/// Keeps every ended span with the `service.name` of the resource it was exported with.
#[derive(Debug, Clone, Default)]
struct Captured {
    service: String,
    spans: Arc<Mutex<Vec<(String, SpanData)>>>,
}

impl SpanExporter for Captured {
    fn export(&self, batch: Vec<SpanData>) -> impl Future<Output = OTelSdkResult> + Send {
        let mut spans = self.spans.lock().unwrap();
        spans.extend(batch.into_iter().map(|span| (self.service.clone(), span)));
        std::future::ready(Ok(()))
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.service = resource.get(&Key::new("service.name")).map(|v| v.to_string()).unwrap_or_default();
    }
}

/// The spans of every test in this binary, captured from the first call on.
fn captured() -> &'static Captured {
    static CAPTURED: OnceLock<Captured> = OnceLock::new();
    CAPTURED.get_or_init(|| {
        let captured = Captured::default();
        let settings = TelemetrySettings { log_filter: "warn".into(), ..TelemetrySettings::default() };
        let guard = csm_kit::telemetry::init_with_exporter("csm-tests", &TRACE_IDENTITIES, &settings, captured.clone())
            .unwrap();
        // Spans are exported as each ends; nothing is left to flush when the process exits.
        std::mem::forget(guard);
        captured
    })
}

/// The captured spans of one trace: (service.name, span).
fn trace(trace_id: &str) -> Vec<(String, SpanData)> {
    let spans = captured().spans.lock().unwrap();
    spans.iter().filter(|(_, span)| span.span_context.trace_id().to_string() == trace_id).cloned().collect()
}

/// Waits until the spans of `trace_id` satisfy `done`, and returns them.
async fn wait_for_trace(trace_id: &str, done: impl Fn(&[(String, SpanData)]) -> bool) -> Vec<(String, SpanData)> {
    let waited = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            let spans = trace(trace_id);
            if done(&spans) {
                return spans;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    waited.unwrap_or_else(|_| {
        let names: Vec<_> =
            trace(trace_id).into_iter().map(|(service, span)| format!("{service}: {}", span.name)).collect();
        panic!("trace {trace_id} never completed; it has {names:#?}")
    })
}

fn attribute(span: &SpanData, key: &str) -> Option<Value> {
    span.attributes.iter().find(|kv| kv.key.as_str() == key).map(|kv| kv.value.clone())
}

fn named<'a>(spans: &'a [(String, SpanData)], name: &str) -> Option<&'a (String, SpanData)> {
    spans.iter().find(|(_, span)| span.name == name)
}

fn traced<T>(message: T, trace_id: &str) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request.metadata_mut().insert("traceparent", format!("00-{trace_id}-00f067aa0ba902b7-01").parse().unwrap());
    request
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_callers_trace_follows_the_complaint_through_every_feed() {
    captured();
    let t = TestSystem::start().await;
    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let request = traced(complaint("13800138000", "话费多扣了"), trace_id);
    let work_order = t.intake().submit_contact(request).await.unwrap().into_inner().work_order.unwrap();

    let a = t.system.addresses;
    let mut traces = Vec::new();
    for (address, source) in [(a.intake, "intake"), (a.classification, "classification"), (a.recovery, "recovery")] {
        let mut feed = clients::feed(address, t.admin()).unwrap();
        let mut stream = feed.subscribe(SubscribeRequest::default()).await.unwrap().into_inner();
        let event = tokio::time::timeout(Duration::from_secs(20), async {
            loop {
                let event = stream.message().await.unwrap().unwrap();
                if event.subject == work_order.name || source == "recovery" {
                    return event;
                }
            }
        })
        .await
        .expect("the complaint reaches every feed");
        if source == "recovery" {
            assert_eq!(decode::<CaseOpened>(&event).unwrap().case.unwrap().work_order, work_order.name);
        }
        traces.push((source, event.traceparent));
    }
    for (source, traceparent) in traces {
        assert!(traceparent.contains(trace_id), "{source} event carries the trace: {traceparent:?}");
    }
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_complaints_trace_has_a_span_in_each_service_under_its_own_name() {
    captured();
    let t = TestSystem::start().await;
    let trace_id = "5cf92f3577b34da6a3ce929d0e0e4737";
    t.intake().submit_contact(traced(complaint("13900139000", "宽带老是掉线"), trace_id)).await.unwrap();

    let server = "csm.intake.v1.IntakeService/SubmitContact";
    let work = ["classify WorkOrderOpened", "dispatch WorkOrderClassified", "absorb WorkOrderClassified"];
    let spans = wait_for_trace(trace_id, |spans| {
        named(spans, server).is_some() && work.iter().all(|name| named(spans, name).is_some())
    })
    .await;
    let service_of = |id: SpanId| spans.iter().find(|(_, span)| span.span_context.span_id() == id).map(|(s, _)| s);

    let (service, submit) = named(&spans, server).unwrap();
    assert_eq!(service, "csm-intake");
    assert_eq!(submit.span_kind, SpanKind::Server);
    assert_eq!(submit.parent_span_id.to_string(), "00f067aa0ba902b7", "the caller's span is the parent");
    assert_eq!(attribute(submit, "rpc.system"), Some("grpc".into()));
    assert_eq!(attribute(submit, "rpc.service"), Some("csm.intake.v1.IntakeService".into()));
    assert_eq!(attribute(submit, "rpc.method"), Some("SubmitContact".into()));
    assert_eq!(attribute(submit, "rpc.grpc.status_code"), Some(Value::I64(0)));
    assert_eq!(submit.status, Status::Unset);

    for (name, own, upstream) in [
        ("classify WorkOrderOpened", "csm-classification", "csm-intake"),
        ("dispatch WorkOrderClassified", "csm-recovery", "csm-classification"),
        ("absorb WorkOrderClassified", "csm-measurement", "csm-classification"),
    ] {
        let (service, span) = named(&spans, name).unwrap();
        assert_eq!(service, own, "{name} is exported under its service's name");
        assert_eq!(span.span_kind, SpanKind::Consumer, "{name}");
        assert_eq!(attribute(span, "messaging.system"), Some("csm.feed".into()), "{name}");
        assert_eq!(attribute(span, "messaging.operation.type"), Some("process".into()), "{name}");
        let feed = upstream.trim_start_matches("csm-");
        assert_eq!(attribute(span, "messaging.destination.name"), Some(feed.to_string().into()), "{name}");
        assert!(attribute(span, "messaging.message.id").is_some(), "{name}");
        assert!(attribute(span, "messaging.consumer.group.name").is_some(), "{name}");
        assert_eq!(
            service_of(span.parent_span_id).map(String::as_str),
            Some(upstream),
            "{name}'s parent is a span of the service that published the event"
        );
    }
    // Work done inside a call or an event (spans of kind internal) keeps its service's identity.
    for (service, span) in spans.iter().filter(|(_, span)| span.span_kind == SpanKind::Internal) {
        assert_eq!(service_of(span.parent_span_id), Some(service), "{} stays in its parent's service", span.name);
    }
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_call_and_a_server_fault_are_error_spans_with_their_codes() {
    captured();
    let t = TestSystem::start().await;

    let refused = "6df92f3577b34da6a3ce929d0e0e4738";
    let status = t.intake().submit_contact(traced(complaint("12", "话费多扣了"), refused)).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::InvalidArgument);
    let spans = wait_for_trace(refused, |spans| !spans.is_empty()).await;
    let (service, span) = named(&spans, "csm.intake.v1.IntakeService/SubmitContact").unwrap();
    assert_eq!(service, "csm-intake");
    assert_eq!(attribute(span, "rpc.grpc.status_code"), Some(Value::I64(3)));
    let Status::Error { description } = &span.status else {
        panic!("a refused call is an error span: {:?}", span.status)
    };
    assert!(description.contains("phone"), "the refusal's message: {description}");

    // Classification's API asked of intake's server: a method the server does not implement.
    let unimplemented = "7ef92f3577b34da6a3ce929d0e0e4739";
    let mut wrong = clients::classification(t.system.addresses.intake, t.admin()).unwrap();
    let request = traced(csm_proto::classification::v1::GetTaxonomyRequest::default(), unimplemented);
    let status = wrong.get_taxonomy(request).await.unwrap_err();
    let spans = wait_for_trace(unimplemented, |spans| !spans.is_empty()).await;
    let (_, span) = &spans[0];
    assert_eq!(attribute(span, "rpc.grpc.status_code"), Some(Value::I64(status.code() as i64)));
    assert!(matches!(&span.status, Status::Error { .. }), "{:?} is a server fault: {:?}", status.code(), span.status);
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consumers_reads_and_writes_for_a_whole_batch_are_spans_of_their_own() {
    captured();
    let t = TestSystem::start().await;
    t.intake().submit_contact(tonic::Request::new(complaint("13700137000", "宽带老是掉线"))).await.unwrap();

    let batch_spans = || -> Vec<(String, SpanData)> {
        let spans = captured().spans.lock().unwrap();
        let batch = |span: &SpanData| span.name == "dispatch prepare" || span.name == "dispatch flush";
        spans.iter().filter(|(_, span)| batch(span)).cloned().collect()
    };
    let spans = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            let spans = batch_spans();
            if ["dispatch prepare", "dispatch flush"].iter().all(|name| named(&spans, name).is_some()) {
                return spans;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("recovery's dispatch reads and writes its batch");
    for (service, span) in &spans {
        assert_eq!(service, "csm-recovery", "{} is exported under its service's name", span.name);
        assert_eq!(attribute(span, "messaging.consumer.group.name"), Some("classification".into()), "{}", span.name);
        assert_eq!(span.status, Status::Unset, "{} succeeded", span.name);
    }
    let (_, prepare) = named(&spans, "dispatch prepare").unwrap();
    assert!(
        matches!(attribute(prepare, "messaging.batch.message_count"), Some(Value::I64(n)) if n >= 1),
        "the batch's size: {:?}",
        attribute(prepare, "messaging.batch.message_count")
    );
    t.stop().await;
}
