//! Proactive care (主动关怀): a customer predicted to be dissatisfied gets a care task for the
//! department best placed to act, one open task at a time, and its outcome goes back on the feed
//! for the risk model to learn from.

use std::time::Duration;

use csm_proto::{
    classification::v1::AtRiskCustomer,
    recovery::v1::{CareOutcome, CareTaskCompleted, CareTaskOpened, ListCareTasksRequest, RecordCareOutcomeRequest},
};
use tonic::Code;

use crate::support::{desk::Desk, eventually};

fn at_risk(phone: &str, score: f64, department: &str) -> AtRiskCustomer {
    AtRiskCustomer {
        phone_number: phone.into(),
        score,
        threshold: 0.7,
        factors: vec!["broadband speed 12% of plan over 7 days".into(), "3 complaints in 30 days".into()],
        model_version: "risk/v3".into(),
        department: department.into(),
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_at_risk_customer_gets_one_care_task_whose_outcome_is_published() {
    let desk = Desk::start().await;
    desk.publish("customers/1", &at_risk("13800138000", 0.82, "network")).await;
    desk.publish("customers/2", &at_risk("13900139000", 0.75, "")).await;
    // A newer prediction for the same customer refreshes the open task instead of adding one.
    desk.publish("customers/1", &at_risk("13800138000", 0.91, "network")).await;

    let mut network = desk.as_("dept-network");
    let tasks = eventually("the care task refreshed", Duration::from_secs(10), || {
        let mut network = network.clone();
        async move {
            let tasks = network.list_care_tasks(ListCareTasksRequest::default()).await.ok()?.into_inner().care_tasks;
            (tasks.len() == 1 && tasks[0].risk_score > 0.9).then_some(tasks)
        }
    })
    .await;
    assert_eq!(tasks[0].factors[0], "broadband speed 12% of plan over 7 days");
    let default = desk.as_("dept-service_centre").list_care_tasks(ListCareTasksRequest::default()).await.unwrap();
    assert_eq!(default.into_inner().care_tasks.len(), 1, "no department named: the configured default");
    let refused = network
        .list_care_tasks(ListCareTasksRequest { department: "service_centre".into(), ..Default::default() })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::PermissionDenied);

    let record = |outcome: CareOutcome| RecordCareOutcomeRequest {
        name: tasks[0].name.clone(),
        outcome: outcome as i32,
        note: "已上门更换光猫，速率恢复".into(),
        follow_up_survey_after: None,
    };
    let refused = network.record_care_outcome(record(CareOutcome::Unspecified)).await.unwrap_err();
    assert_eq!(refused.code(), Code::InvalidArgument);
    let refused = desk.as_("dept-billing").record_care_outcome(record(CareOutcome::Repaired)).await.unwrap_err();
    assert_eq!(refused.code(), Code::PermissionDenied);
    let done = network.record_care_outcome(record(CareOutcome::Repaired)).await.unwrap().into_inner();
    assert_eq!((done.outcome, done.completed_by.as_str()), (CareOutcome::Repaired as i32, "dept-network"));
    let refused = network.record_care_outcome(record(CareOutcome::NoAction)).await.unwrap_err();
    assert_eq!(refused.code(), Code::FailedPrecondition);

    assert_eq!(desk.events::<CareTaskOpened>(2).await.len(), 2);
    let completed = desk.events::<CareTaskCompleted>(1).await.remove(0).care_task.unwrap();
    assert_eq!(completed.outcome, CareOutcome::Repaired as i32);
    // Once done, a new prediction opens a new task.
    desk.publish("customers/1", &at_risk("13800138000", 0.88, "network")).await;
    eventually("a second care task", Duration::from_secs(10), || {
        let mut network = network.clone();
        async move {
            let all = ListCareTasksRequest { include_completed: true, ..Default::default() };
            (network.list_care_tasks(all).await.ok()?.into_inner().care_tasks.len() == 2).then_some(())
        }
    })
    .await;
    desk.stop().await;
}
