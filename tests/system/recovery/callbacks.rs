//! After resolution the customer is called back (回访): within 24 hours for a fault repair, 48 by
//! default, or as configured for the leaf. A dissatisfied customer, on the callback or by raising
//! the same problem again, reopens the case, which counts as a dissatisfied order.

use std::time::Duration;

use csm_proto::{
    intake::v1::{ContactType, WorkOrderReopened},
    recovery::v1::{
        CallbackDue, CallbackOutcome, CallbackRecorded, CaseReopened, CaseStatus, ListCaseHistoryRequest, ReopenCause,
        Transition,
    },
};
use tonic::Code;

use super::{callback, resolve, step};
use crate::support::{desk::Desk, eventually};

const HOUR: i64 = 3600;

async fn resolved(desk: &Desk, contact_type: ContactType, leaf: &str) -> csm_proto::recovery::v1::Case {
    let order = desk.work_order("13800138000", contact_type, 0);
    let case = desk.classify(&order, "operations_maintenance", leaf, Duration::from_secs(24 * 3600)).await;
    step(desk, "dept-operations_maintenance", &case.name, Transition::Accept, "").await.unwrap();
    resolve(desk, "dept-operations_maintenance", &case.name).await.unwrap()
}

fn due_after_resolution(case: &csm_proto::recovery::v1::Case) -> i64 {
    case.callback_due_time.unwrap().seconds - case.resolve_time.unwrap().seconds
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_callback_falls_due_by_contact_type_and_leaf() {
    let desk = Desk::start_with(|config| {
        config.recovery.callback.per_leaf.insert("vip_line_down".into(), Duration::from_secs(4 * 3600).into());
    })
    .await;
    let fault = resolved(&desk, ContactType::FaultReport, "broadband_outage").await;
    assert_eq!(due_after_resolution(&fault), 24 * HOUR);
    let complaint = resolved(&desk, ContactType::Complaint, "broadband_outage").await;
    assert_eq!(due_after_resolution(&complaint), 48 * HOUR);
    let vip = resolved(&desk, ContactType::FaultReport, "vip_line_down").await;
    assert_eq!(due_after_resolution(&vip), 4 * HOUR);

    // The callback system learns of each from the feed.
    let due = desk.events::<CallbackDue>(3).await;
    let names: Vec<_> = due.iter().map(|e| e.case.as_ref().unwrap().name.as_str()).collect();
    assert_eq!(names, [fault.name.as_str(), complaint.name.as_str(), vip.name.as_str()]);

    // Reported in time, and one late.
    callback(&desk, &fault.name, CallbackOutcome::Satisfied).await.unwrap();
    desk.clock.advance(Duration::from_secs(5 * 3600));
    let done = callback(&desk, &vip.name, CallbackOutcome::Unreachable).await.unwrap();
    assert_eq!(done.status, CaseStatus::CallbackDone as i32);
    let recorded = desk.events::<CallbackRecorded>(2).await;
    assert!(recorded[0].within_due_time);
    assert!(!recorded[1].within_due_time);
    assert_eq!(recorded[1].outcome, CallbackOutcome::Unreachable as i32);

    // Only the callback system, agents and administrators report callbacks; only once.
    let refused = callback(&desk, &fault.name, CallbackOutcome::Satisfied).await.unwrap_err();
    assert_eq!(refused.code(), Code::FailedPrecondition);
    let request = csm_proto::recovery::v1::RecordCallbackRequest {
        name: complaint.name.clone(),
        outcome: CallbackOutcome::Satisfied as i32,
        ..Default::default()
    };
    let refused = desk.as_("dept-operations_maintenance").record_callback(request).await.unwrap_err();
    assert_eq!(refused.code(), Code::PermissionDenied);
    desk.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dissatisfied_callback_reopens_the_case_with_a_fresh_deadline() {
    let desk = Desk::start().await;
    let case = resolved(&desk, ContactType::FaultReport, "broadband_outage").await;
    desk.clock.advance(Duration::from_secs(30 * 3600));
    let reopened = callback(&desk, &case.name, CallbackOutcome::Dissatisfied).await.unwrap();
    assert_eq!(reopened.status, CaseStatus::InProgress as i32);
    assert_eq!(reopened.reopen_count, 1);
    assert_eq!(reopened.owner_department, "operations_maintenance");
    assert_eq!(reopened.callback_outcome, CallbackOutcome::Dissatisfied as i32);
    assert!(reopened.resolve_time.is_none() && reopened.resolution.is_empty());
    let now = desk.clock.now_micros() / 1_000_000;
    let fresh = reopened.deadline.unwrap().seconds - now;
    assert!((24 * HOUR - 5..=24 * HOUR).contains(&fresh), "a new 24-hour limit from the reopening: {fresh}");
    let reopen = desk.events::<CaseReopened>(1).await.remove(0);
    assert_eq!(reopen.cause, ReopenCause::DissatisfiedCallback as i32);
    // Worked again, resolved again, and called back again.
    let again = resolve(&desk, "dept-operations_maintenance", &case.name).await.unwrap();
    assert_eq!(again.status, CaseStatus::Resolved as i32);
    assert_eq!(again.callback_outcome, CallbackOutcome::Unspecified as i32);
    desk.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repeat_order_reopens_a_resolved_case_and_is_noted_on_an_open_one() {
    let desk = Desk::start().await;
    let first = desk.work_order("13800138000", ContactType::Complaint, 0);
    let case = desk.classify(&first, "billing", "billing_dispute", Duration::from_secs(48 * 3600)).await;
    let repeat = |n: u32| WorkOrderReopened {
        first_work_order: Some(first.clone()),
        repeat_work_order: Some(desk.work_order("13800138000", ContactType::Complaint, 0)).map(|mut o| {
            o.name = format!("workOrders/0190f3c2-0000-7000-8000-00000000000{n}");
            o
        }),
    };
    // Still being worked: noted, not reopened.
    desk.publish(&first.name, &repeat(1)).await;
    eventually("the repeat noted", Duration::from_secs(10), || async {
        let history =
            desk.admin().list_case_history(ListCaseHistoryRequest { name: case.name.clone() }).await.ok()?.into_inner();
        history.entries.iter().any(|e| e.action == "repeat_order").then_some(())
    })
    .await;
    assert_eq!(desk.get(&case.name).await.reopen_count, 0);

    step(&desk, "dept-billing", &case.name, Transition::Accept, "").await.unwrap();
    resolve(&desk, "dept-billing", &case.name).await.unwrap();
    desk.publish(&first.name, &repeat(2)).await;
    let reopened = eventually("the case reopened", Duration::from_secs(10), || async {
        let case = desk.get(&case.name).await;
        (case.status == CaseStatus::InProgress as i32).then_some(case)
    })
    .await;
    assert_eq!(reopened.reopen_count, 1);
    let event = desk.events::<CaseReopened>(1).await.remove(0);
    assert_eq!(event.cause, ReopenCause::RepeatOrder as i32);
    assert_eq!(event.repeat_work_order, "workOrders/0190f3c2-0000-7000-8000-000000000002");
    desk.stop().await;
}
