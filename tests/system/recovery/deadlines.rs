//! Deadlines run on the service's clock, moved forward here by hours and days: the clock pauses
//! while the case waits for the customer and resumes after; an overdue case escalates step by
//! step along the ladder; the time limit told to the customer is kept.

use std::time::Duration;

use csm_kit::time;
use csm_proto::recovery::v1::{CaseEscalated, CaseStatus, ListCaseHistoryRequest, Transition, TransitionCaseRequest};
use tonic::Code;

use super::step;
use crate::support::{desk::Desk, eventually};

const HOUR: Duration = Duration::from_secs(3600);

fn seconds(ts: &Option<prost_types::Timestamp>) -> i64 {
    ts.as_ref().unwrap().seconds
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waiting_for_the_customer_stops_the_clock_and_resuming_starts_it_again() {
    let desk = Desk::start().await;
    let case = desk.dispatched("13800138000", "billing").await;
    let deadline = seconds(&case.deadline);
    step(&desk, "dept-billing", &case.name, Transition::Accept, "").await.unwrap();

    let paused =
        step(&desk, "dept-billing", &case.name, Transition::PendOnCustomer, "客户出差，下周提供账单").await.unwrap();
    assert_eq!(paused.pause_reason, "客户出差，下周提供账单");
    assert!(paused.paused_since.is_some());
    // Sixty hours later the 48-hour limit would have passed, but the clock was stopped.
    desk.clock.advance(60 * HOUR);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let waiting = desk.get(&case.name).await;
    assert!(!waiting.overdue);
    assert_eq!(waiting.escalation_level, 0, "a paused case does not escalate");

    let resumed = step(&desk, "dept-billing", &case.name, Transition::Resume, "").await.unwrap();
    let moved = seconds(&resumed.deadline) - deadline;
    assert!((60 * 3600..60 * 3600 + 5).contains(&moved), "deadline moved on by the 60 h paused, moved {moved} s");
    assert!(resumed.paused_since.is_none() && resumed.pause_reason.is_empty());
    assert!(!resumed.overdue);
    desk.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_overdue_case_climbs_the_escalation_ladder_one_step_at_a_time() {
    let desk = Desk::start().await;
    let case = desk.dispatched("13800138000", "billing").await;
    step(&desk, "dept-billing", &case.name, Transition::Accept, "").await.unwrap();

    // Just before the deadline nothing happens.
    desk.clock.advance(47 * HOUR);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(desk.get(&case.name).await.escalation_level, 0);

    // Past it: the department head is told; a day later the service quality office.
    desk.clock.advance(2 * HOUR);
    let first = eventually("the first escalation", Duration::from_secs(10), || async {
        let case = desk.get(&case.name).await;
        (case.escalation_level == 1).then_some(case)
    })
    .await;
    assert!(first.overdue);
    desk.clock.advance(24 * HOUR);
    eventually("the second escalation", Duration::from_secs(10), || async {
        (desk.get(&case.name).await.escalation_level == 2).then_some(())
    })
    .await;
    let events = desk.events::<CaseEscalated>(2).await;
    let steps: Vec<(i32, &str)> = events.iter().map(|e| (e.level, e.escalate_to.as_str())).collect();
    assert_eq!(steps, [(1, "department head"), (2, "service quality office")]);
    assert_eq!(seconds(&events[0].overdue_since), seconds(&case.deadline));

    let history =
        desk.admin().list_case_history(ListCaseHistoryRequest { name: case.name.clone() }).await.unwrap().into_inner();
    let escalations = history.entries.iter().filter(|e| e.action == "escalated").count();
    assert_eq!(escalations, 2);
    // A resolved case leaves the ladder.
    let resolved = super::resolve(&desk, "dept-billing", &case.name).await.unwrap();
    assert!(!resolved.resolved_on_time && !resolved.overdue);
    desk.clock.advance(72 * HOUR);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(desk.get(&case.name).await.escalation_level, 2);
    desk.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deadlines_count_working_time_where_a_calendar_is_configured() {
    let desk = Desk::start_with(|config| {
        config.common.calendar.working_time.insert("billing".into(), csm_kit::calendar::WorkingTimeSettings::default());
    })
    .await;
    // Raised on Friday 27 November 2026 at 16:00 in Shanghai with an 8-hour limit: 2 hours on
    // Friday, the weekend off, 6 hours on Monday, so due Monday 30 November at 15:00.
    let mut order = desk.work_order("13800138000", csm_proto::intake::v1::ContactType::Complaint, 0);
    order.open_time = Some(prost_types::Timestamp { seconds: 1_795_766_400, nanos: 0 });
    let case = desk.classify(&order, "billing", "billing_dispute", 8 * HOUR).await;
    let due = time::from_timestamp(case.deadline.as_ref().unwrap()).unwrap();
    assert_eq!(due.to_rfc3339(), "2026-11-30T07:00:00+00:00");
    // A department without a calendar runs round the clock.
    let mut order = desk.work_order("13800138001", csm_proto::intake::v1::ContactType::Complaint, 0);
    order.open_time = Some(prost_types::Timestamp { seconds: 1_795_766_400, nanos: 0 });
    let case = desk.classify(&order, "network", "coverage", 8 * HOUR).await;
    assert_eq!(seconds(&case.deadline), 1_795_766_400 + 8 * 3600);
    desk.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_time_limit_told_to_the_customer_is_recorded_on_acceptance() {
    let desk = Desk::start().await;
    let case = desk.dispatched("13800138000", "billing").await;
    let promise = time::to_timestamp(time::from_micros(desk.clock.now_micros()) + chrono::Duration::hours(24));
    let accept = |promised: prost_types::Timestamp| TransitionCaseRequest {
        name: case.name.clone(),
        transition: Transition::Accept as i32,
        promised_time: Some(promised),
        ..Default::default()
    };
    let past = prost_types::Timestamp { seconds: 1_000_000_000, nanos: 0 };
    let refused = desk.as_("dept-billing").transition_case(accept(past)).await.unwrap_err();
    assert_eq!(refused.code(), Code::InvalidArgument);
    assert!(refused.message().contains("promised_time"));
    let accepted = desk.as_("dept-billing").transition_case(accept(promise)).await.unwrap().into_inner();
    assert_eq!(accepted.promised_time, Some(promise));
    assert_eq!(accepted.status, CaseStatus::Accepted as i32);
    desk.stop().await;
}
