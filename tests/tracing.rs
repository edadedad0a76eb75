//! One complaint can be followed across all four services: the trace context of the call that
//! submitted it travels in every event it causes.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "system/support/mod.rs"]
#[allow(dead_code)]
mod support;

use std::time::Duration;

use csm_cli::clients;
use csm_kit::{config::TelemetrySettings, feed::decode};
use csm_proto::{feed::v1::SubscribeRequest, recovery::v1::CaseOpened};
use support::{TestSystem, complaint};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_callers_trace_follows_the_complaint_through_every_feed() {
    let _telemetry = csm_kit::telemetry::init(
        "csm-tests",
        &TelemetrySettings { log_filter: "warn".into(), ..TelemetrySettings::default() },
    )
    .unwrap();
    let t = TestSystem::start().await;
    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let mut request = tonic::Request::new(complaint("13800138000", "话费多扣了"));
    request.metadata_mut().insert("traceparent", format!("00-{trace_id}-00f067aa0ba902b7-01").parse().unwrap());
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
