//! Events that arrive together are applied in one transaction, their cases read and written in a
//! few statements for the lot, with the outcome of applying them one by one: a repeat right behind
//! its first order finds the case that order registered, a correction right behind its
//! classification corrects the case just dispatched, and an order classified twice is dispatched
//! once. Changes callers ask for at the same moment share a group commit the same way, and each
//! caller still learns whether its own change was made.

use std::time::Duration;

use csm_proto::{
    classification::v1::{ClassificationCorrected, WorkOrderClassified},
    intake::v1::{ContactType, WorkOrderOpened, WorkOrderReopened},
    recovery::v1::{CaseStatus, GetCaseRequest, ListCaseHistoryRequest, ListCasesRequest, Transition},
};
use tonic::Code;

use super::step;
use crate::support::{desk::Desk, eventually};

const DAY: Duration = Duration::from_secs(24 * 3600);

async fn actions(desk: &Desk, case: &str) -> Vec<String> {
    let request = ListCaseHistoryRequest { name: case.into() };
    let entries = desk.admin().list_case_history(request).await.unwrap().into_inner().entries;
    entries.into_iter().map(|entry| entry.action).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_published_together_are_applied_as_if_one_by_one() {
    let desk = Desk::start().await;
    let first = desk.work_order("13800138101", ContactType::Complaint, 0);
    let repeat = desk.work_order("13800138101", ContactType::Complaint, 0);
    desk.publish_together(|uow| {
        uow.publish(&first.name, &WorkOrderOpened { work_order: Some(first.clone()) });
        let reopened =
            WorkOrderReopened { first_work_order: Some(first.clone()), repeat_work_order: Some(repeat.clone()) };
        uow.publish(&repeat.name, &reopened);
    })
    .await;
    let registered = eventually("the first order's case registered", Duration::from_secs(20), || {
        let mut admin = desk.admin();
        let first = first.name.clone();
        async move {
            let request = ListCasesRequest { status: CaseStatus::AwaitingDispatch as i32, ..Default::default() };
            let cases = admin.list_cases(request).await.ok()?.into_inner().cases;
            cases.into_iter().find(|case| case.work_order == first)
        }
    })
    .await;
    assert_eq!(actions(&desk, &registered.name).await, ["registered", "repeat_order"], "the repeat found the case");

    let billing = Desk::classification(&first, "billing", "billing_dispute", 2 * DAY);
    let network = Desk::classification(&first, "network", "fibre_cut", DAY);
    desk.publish_together(|uow| {
        let classified = WorkOrderClassified { classification: Some(billing.clone()), work_order: Some(first.clone()) };
        uow.publish(&first.name, &classified);
        uow.publish(&first.name, &classified);
        let corrected =
            ClassificationCorrected { before: Some(billing.clone()), after: Some(network), ..Default::default() };
        uow.publish(&first.name, &corrected);
    })
    .await;
    let case = eventually("the case sent on to network", Duration::from_secs(20), || {
        let mut admin = desk.admin();
        let name = registered.name.clone();
        async move {
            let request = csm_proto::recovery::v1::GetCaseRequest { name };
            let case = admin.get_case(request).await.ok()?.into_inner();
            (case.department == "network").then_some(case)
        }
    })
    .await;
    assert_eq!(case.status(), CaseStatus::Dispatched);
    assert_eq!(case.leaf, "fibre_cut");
    assert_eq!(
        actions(&desk, &case.name).await,
        ["registered", "repeat_order", "dispatched", "reclassified"],
        "dispatched once, then corrected"
    );
    desk.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_asked_at_the_same_moment_are_each_made_once_or_refused() {
    let desk = Desk::start().await;
    let mut cases = Vec::new();
    for i in 0..12 {
        cases.push(desk.dispatched(&format!("1380013{i:04}"), "billing").await.name);
    }
    // Two callers accept each case at once: one of them is first, the other finds it accepted.
    let accepts = cases.iter().chain(&cases).map(|case| step(&desk, "dept-billing", case, Transition::Accept, ""));
    let outcomes = futures_util::future::join_all(accepts).await;
    for case in &cases {
        let accepted = outcomes.iter().filter(|o| o.as_ref().is_ok_and(|c| &c.name == case)).count();
        assert_eq!(accepted, 1, "{case}");
        let stored = desk.admin().get_case(GetCaseRequest { name: case.clone() }).await.unwrap().into_inner();
        assert_eq!((stored.status, stored.owner_department.as_str()), (CaseStatus::Accepted as i32, "billing"));
        assert_eq!(actions(&desk, case).await, ["dispatched", "accept"]);
    }
    let refused: Vec<&tonic::Status> = outcomes.iter().filter_map(|o| o.as_ref().err()).collect();
    assert_eq!(refused.len(), cases.len());
    assert!(refused.iter().all(|status| status.code() == Code::FailedPrecondition), "{refused:?}");
    // Every case moves on at once, each written as asked.
    let starts = cases.iter().map(|case| step(&desk, "dept-billing", case, Transition::Start, ""));
    for started in futures_util::future::join_all(starts).await {
        assert_eq!(started.unwrap().status, CaseStatus::InProgress as i32);
    }
    desk.stop().await;
}
