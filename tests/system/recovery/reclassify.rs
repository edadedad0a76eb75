//! A corrected root cause reaches the case: an unaccepted case goes to the department now
//! responsible, with that cause's time limit; an accepted one stays with its owner (first
//! responsibility) but records the corrected cause.

use std::time::Duration;

use csm_proto::{
    classification::v1::ClassificationCorrected,
    intake::v1::ContactType,
    recovery::v1::{CaseStatus, CaseStatusChanged, ListCaseHistoryRequest, Transition},
};

use super::step;
use crate::support::{desk::Desk, eventually};

const HOUR: i64 = 3600;

fn seconds(ts: &Option<prost_types::Timestamp>) -> i64 {
    ts.as_ref().map(|t| t.seconds).unwrap_or_default()
}

/// An order classified as a billing dispute for billing (48 h), then corrected by an agent to a
/// network fault for network operations (24 h).
async fn corrected_case(desk: &Desk, phone: &str, accept_first: bool) -> (csm_proto::recovery::v1::Case, i64) {
    let order = desk.work_order(phone, ContactType::Complaint, 2);
    let before = Desk::classification(&order, "billing", "billing_dispute", Duration::from_secs(48 * HOUR as u64));
    let case = desk.classify(&order, "billing", "billing_dispute", Duration::from_secs(48 * HOUR as u64)).await;
    if accept_first {
        step(desk, "dept-billing", &case.name, Transition::Accept, "").await.unwrap();
    }
    let after = Desk::classification(&order, "network_ops", "coverage_gap", Duration::from_secs(24 * HOUR as u64));
    let correction = ClassificationCorrected {
        before: Some(before),
        after: Some(after),
        view: "cause".into(),
        corrected_by: "agent-7".into(),
        reason: "信号问题，非计费".into(),
        ..Default::default()
    };
    desk.publish(&order.name, &correction).await;
    let opened = seconds(&case.open_time);
    let corrected = eventually("the correction to reach the case", Duration::from_secs(20), || {
        let desk_case = case.name.clone();
        async move {
            let now = desk.get(&desk_case).await;
            (now.leaf == "coverage_gap").then_some(now)
        }
    })
    .await;
    (corrected, opened)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrected_cause_sends_an_unaccepted_case_to_the_department_now_responsible() {
    let desk = Desk::start().await;
    let (case, opened) = corrected_case(&desk, "13800138200", false).await;
    assert_eq!(case.status, CaseStatus::Dispatched as i32);
    assert_eq!(case.department, "network_ops");
    assert_eq!(case.path, vec!["business", "coverage_gap"]);
    assert_eq!(seconds(&case.deadline) - opened, 24 * HOUR, "the corrected cause's limit, from the open time");

    let changed = desk.events::<CaseStatusChanged>(1).await;
    assert_eq!(changed[0].action, "reclassified");
    assert_eq!(changed[0].actor, "agent-7");
    assert!(changed[0].reason.contains("sent from billing to network_ops"), "{}", changed[0].reason);
    desk.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_accepted_case_keeps_its_owner_and_deadline_but_records_the_corrected_cause() {
    let desk = Desk::start().await;
    let case = {
        let (case, opened) = corrected_case(&desk, "13800138201", true).await;
        assert_eq!(case.status, CaseStatus::Accepted as i32);
        assert_eq!(case.department, "billing");
        assert_eq!(case.owner_department, "billing");
        assert_eq!(seconds(&case.deadline) - opened, 48 * HOUR, "the owner's deadline stands");
        case
    };
    let history = desk
        .admin()
        .list_case_history(ListCaseHistoryRequest { name: case.name.clone() })
        .await
        .unwrap()
        .into_inner()
        .entries;
    let entry = history.iter().find(|e| e.action == "reclassified").expect("audited");
    assert!(
        entry.reason.contains("network_ops is responsible") && entry.reason.contains("billing keeps"),
        "{}",
        entry.reason
    );
    assert_eq!(entry.actor, "agent-7");
    desk.stop().await;
}
