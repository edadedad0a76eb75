//! Bad input is refused with INVALID_ARGUMENT naming the offending field, and changes nothing.

use chrono::Utc;
use csm_cli::clients;
use csm_kit::time;
use csm_proto::{
    intake::v1::{ContactType, GetWorkOrderRequest, SubmitContactRequest},
    measurement::v1::QuerySeriesRequest,
    recovery::v1::{GetCaseRequest, ListCasesRequest, ResolveCaseRequest},
};
use tonic::Code;
use tonic_types::StatusExt;

use crate::support::{TestSystem, complaint, feed_head};

/// Asserts INVALID_ARGUMENT whose message and BadRequest details name `field`.
fn assert_invalid(status: &tonic::Status, field: &str) {
    assert_eq!(status.code(), Code::InvalidArgument, "{field}: {status:?}");
    assert!(status.message().contains(field), "message names {field}: {}", status.message());
    let details = status.get_error_details();
    let fields: Vec<&str> = details
        .bad_request()
        .map(|b| b.field_violations.iter().map(|v| v.field.as_str()).collect())
        .unwrap_or_default();
    assert!(fields.contains(&field), "details name {field}: {fields:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_contacts_are_refused_field_by_field_and_store_nothing() {
    let t = TestSystem::start().await;
    let mut intake = t.intake();
    type Spoil = fn(&mut SubmitContactRequest);
    let cases: Vec<(&str, &str, Spoil)> = vec![
        ("empty phone", "phone_number", |r| r.phone_number.clear()),
        ("phone of blanks", "phone_number", |r| r.phone_number = "   ".into()),
        ("too short", "phone_number", |r| r.phone_number = "1380013".into()),
        ("letters", "phone_number", |r| r.phone_number = "1380013800a".into()),
        ("landline", "phone_number", |r| r.phone_number = "01012345678".into()),
        ("unknown channel", "channel", |r| r.channel = 99),
        ("unspecified channel", "channel", |r| r.channel = 0),
        ("unknown contact type", "contact_type", |r| r.contact_type = 42),
        ("oversize text", "text", |r| r.text = "投".repeat(4001)),
        ("empty complaint text", "text", |r| r.text = "  ".into()),
        ("control characters", "text", |r| r.text = "bad\u{0}text".into()),
        ("no time", "occurred_at", |r| r.occurred_at = None),
        ("future time", "occurred_at", |r| {
            r.occurred_at = Some(time::to_timestamp(Utc::now() + chrono::Duration::hours(1)))
        }),
        ("bad nanos", "occurred_at", |r| r.occurred_at = Some(prost_types::Timestamp { seconds: 1, nanos: -5 })),
        ("long request id", "request_id", |r| r.request_id = "x".repeat(129)),
        ("bad problem code", "problem_code", |r| r.problem_code = "drop table;".into()),
    ];
    let mut refused_ids = Vec::new();
    for (label, field, spoil) in cases {
        let mut request = complaint("13800138000", "话费多扣");
        spoil(&mut request);
        let status = intake.submit_contact(request.clone()).await.expect_err(label);
        assert_invalid(&status, field);
        if field != "request_id" {
            refused_ids.push(request.request_id);
        }
    }

    // Several problems at once are all reported.
    let mut request = complaint("", "");
    request.channel = 77;
    let status = intake.submit_contact(request).await.unwrap_err();
    for field in ["channel", "phone_number", "text"] {
        assert_invalid(&status, field);
    }

    // Nothing was stored: no work order was published, and every refused request_id is still
    // free for a corrected request.
    let mut feed = clients::feed(t.system.addresses.intake, t.admin()).unwrap();
    assert_eq!(feed_head(&mut feed).await, 0);
    // Three different problems, so none is a repeat of another whatever classification has
    // told intake by then.
    for (request_id, text) in refused_ids.iter().zip(["话费多扣", "家里没信号", "宽带断网了"]) {
        let mut corrected = complaint("13800138000", text);
        corrected.request_id = request_id.clone();
        intake.submit_contact(corrected).await.expect("the id was never taken");
    }
    // Three contacts, three work orders, and the customer's third complaint this week makes them a
    // high-frequency complainant.
    assert_eq!(feed_head(&mut feed).await, 7);

    // Boundaries: exactly 4,000 characters and a time just inside the clock skew are accepted.
    let mut longest = complaint("13800138000", &"投".repeat(4000));
    longest.occurred_at = Some(time::to_timestamp(Utc::now() + chrono::Duration::minutes(4)));
    intake.submit_contact(longest).await.expect("limits are inclusive");
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_names_and_queries_are_refused() {
    let t = TestSystem::start().await;
    let status = t.intake().get_work_order(GetWorkOrderRequest { name: "orders/1".into() }).await.unwrap_err();
    assert_invalid(&status, "name");
    let status = t
        .intake()
        .get_work_order(GetWorkOrderRequest { name: "workOrders/0190f3c2-0000-7000-8000-000000000000".into() })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound);

    let mut recovery = t.recovery();
    assert_invalid(&recovery.get_case(GetCaseRequest { name: "cases/".into() }).await.unwrap_err(), "name");
    let status = recovery
        .resolve_case(ResolveCaseRequest { name: "cases/x".into(), resolution: " ".into(), request_id: String::new() })
        .await
        .unwrap_err();
    assert_invalid(&status, "resolution");
    let status =
        recovery.list_cases(ListCasesRequest { page_size: -1, status: 99, ..Default::default() }).await.unwrap_err();
    assert_invalid(&status, "page_size");
    assert_invalid(&status, "status");
    let status = recovery
        .list_cases(ListCasesRequest { page_token: "not-a-token".into(), ..Default::default() })
        .await
        .unwrap_err();
    assert_invalid(&status, "page_token");

    let mut measurement = t.measurement();
    let status = measurement
        .query_series(QuerySeriesRequest { indicator: "indicators/complaints_opened".into(), ..Default::default() })
        .await
        .unwrap_err();
    assert_invalid(&status, "start_time");
    let now = Utc::now();
    let status = measurement
        .query_series(QuerySeriesRequest {
            indicator: "indicators/complaints_opened".into(),
            start_time: Some(time::to_timestamp(now)),
            end_time: Some(time::to_timestamp(now - chrono::Duration::days(1))),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_invalid(&status, "end_time");
    let status = measurement
        .query_series(QuerySeriesRequest {
            indicator: "indicators/happiness".into(),
            start_time: Some(time::to_timestamp(now - chrono::Duration::days(1))),
            end_time: Some(time::to_timestamp(now)),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound);

    // An inquiry needs no text; a complaint does.
    let mut inquiry = complaint("13800138000", "");
    inquiry.contact_type = ContactType::Inquiry as i32;
    t.intake().submit_contact(inquiry).await.expect("an inquiry may be silent");
    t.stop().await;
}
