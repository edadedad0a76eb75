//! Events that arrive together are applied in one transaction, their cases read and written in a
//! few statements for the lot, with the outcome of applying them one by one: a repeat right behind
//! its first order finds the case that order registered, a correction right behind its
//! classification corrects the case just dispatched, and an order classified twice is dispatched
//! once.

use std::time::Duration;

use csm_proto::{
    classification::v1::{ClassificationCorrected, WorkOrderClassified},
    intake::v1::{ContactType, WorkOrderOpened, WorkOrderReopened},
    recovery::v1::{CaseStatus, ListCaseHistoryRequest, ListCasesRequest},
};

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
