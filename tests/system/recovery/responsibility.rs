//! First responsibility (后台首问责任): the department that accepts a case owns it until it is
//! closed; it asks others for help but cannot hand the case back; only a supervisor transfers it.

use std::time::Duration;

use csm_proto::recovery::v1::{
    CaseStatus, CompleteSubTaskRequest, GetCaseRequest, ListCasesRequest, ListSubTasksRequest, RequestHelpRequest,
    TransferCaseRequest, Transition,
};
use tonic::Code;

use super::{resolve, step};
use crate::support::desk::Desk;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_accepting_department_owns_the_case_asks_for_help_and_only_a_supervisor_transfers_it() {
    let desk = Desk::start().await;
    let case = desk.dispatched("13800138000", "billing").await;
    let name = case.name.as_str();

    // Another department can neither see nor accept it.
    let refused = step(&desk, "dept-network", name, Transition::Accept, "").await.unwrap_err();
    assert_eq!(refused.code(), Code::PermissionDenied);
    let owned = step(&desk, "dept-billing", name, Transition::Accept, "").await.unwrap();
    assert_eq!(owned.owner_department, "billing");

    // The owner cannot hand the case back, nor transfer it.
    let transfer = |department: &str, reason: &str| TransferCaseRequest {
        name: name.into(),
        department: department.into(),
        reason: reason.into(),
        request_id: String::new(),
    };
    let refused = desk.as_("dept-billing").transfer_case(transfer("network", "not ours")).await.unwrap_err();
    assert_eq!(refused.code(), Code::PermissionDenied);

    // It asks the network department for help, with a deadline of its own.
    let help = RequestHelpRequest {
        name: name.into(),
        department: "network".into(),
        request: "请核查该用户所在小区基站告警记录".into(),
        time_limit: Some(prost_types::Duration { seconds: 4 * 3600, nanos: 0 }),
        request_id: "help-1".into(),
    };
    let task = desk.as_("dept-billing").request_help(help.clone()).await.unwrap().into_inner();
    let retried = desk.as_("dept-billing").request_help(help.clone()).await.unwrap().into_inner();
    assert_eq!(task.name, retried.name, "a retried request asks only once");
    let asked = task.create_time.unwrap().seconds;
    assert_eq!(task.deadline.unwrap().seconds - asked, 4 * 3600);
    // Durations at the edges are refused by name, never reach a panic, and store nothing.
    for (seconds, nanos) in [(i64::MIN, 0), (-1, 0), (0, -5), (1, 1_000_000_000), (i64::MAX, 0)] {
        let mut edge = help.clone();
        edge.request_id = format!("help-edge-{seconds}-{nanos}");
        edge.time_limit = Some(prost_types::Duration { seconds, nanos });
        let refused = desk.as_("dept-billing").request_help(edge).await.unwrap_err();
        assert_eq!(refused.code(), Code::InvalidArgument, "{seconds} s {nanos} ns: {refused:?}");
        assert!(refused.message().contains("time_limit"), "{}", refused.message());
    }
    let mut own_ask = help.clone();
    own_ask.department = "billing".into();
    own_ask.request_id = String::new();
    let refused = desk.as_("dept-billing").request_help(own_ask).await.unwrap_err();
    assert_eq!(refused.code(), Code::InvalidArgument);
    // Only the owner asks.
    let refused = desk.as_("dept-marketing").request_help(help).await.unwrap_err();
    assert_eq!(refused.code(), Code::PermissionDenied);

    // The helper sees its sub-task and the case, but does not own it.
    let network = desk.as_("dept-network");
    let queue = network.clone().list_sub_tasks(ListSubTasksRequest::default()).await.unwrap().into_inner();
    assert_eq!(queue.sub_tasks.len(), 1);
    network.clone().get_case(GetCaseRequest { name: name.into() }).await.unwrap();
    assert!(network.clone().list_cases(ListCasesRequest::default()).await.unwrap().into_inner().cases.is_empty());
    let refused = resolve(&desk, "dept-network", name).await.unwrap_err();
    assert_eq!(refused.code(), Code::PermissionDenied);
    let done = network
        .clone()
        .complete_sub_task(CompleteSubTaskRequest { name: task.name.clone(), reply: "基站已于昨日修复".into() })
        .await
        .unwrap()
        .into_inner();
    assert!(done.complete_time.is_some());
    let again = network
        .clone()
        .complete_sub_task(CompleteSubTaskRequest { name: task.name.clone(), reply: "again".into() })
        .await
        .unwrap_err();
    assert_eq!(again.code(), Code::FailedPrecondition);
    // The owner sees the reply on its case.
    let seen = desk.as_("dept-billing").get_case(GetCaseRequest { name: name.into() }).await.unwrap().into_inner();
    assert_eq!(seen.sub_tasks.len(), 1);
    assert_eq!(seen.sub_tasks[0].reply, "基站已于昨日修复");

    // A supervisor transfers it, with a reason; the receiving department must accept it.
    let supervisor = desk.as_("supervisor");
    let refused = supervisor.clone().transfer_case(transfer("network", " ")).await.unwrap_err();
    assert_eq!(refused.code(), Code::InvalidArgument);
    let moved =
        supervisor.clone().transfer_case(transfer("network", "root cause is coverage")).await.unwrap().into_inner();
    assert_eq!((moved.status, moved.department.as_str()), (CaseStatus::Dispatched as i32, "network"));
    assert!(moved.owner_department.is_empty());
    assert_eq!(moved.deadline, case.deadline, "the customer's clock does not restart");
    let refused = step(&desk, "dept-billing", name, Transition::Start, "").await.unwrap_err();
    assert_eq!(refused.code(), Code::PermissionDenied, "billing no longer works the case");
    let accepted = step(&desk, "dept-network", name, Transition::Accept, "").await.unwrap();
    assert_eq!(accepted.owner_department, "network");
    desk.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_department_queue_is_its_own_by_deadline_and_shows_what_is_overdue() {
    let desk = Desk::start().await;
    let late = desk.work_order("13800138001", csm_proto::intake::v1::ContactType::Complaint, 30);
    let soon = desk.work_order("13800138002", csm_proto::intake::v1::ContactType::Complaint, 0);
    let later = desk.work_order("13800138003", csm_proto::intake::v1::ContactType::Complaint, 0);
    let day = Duration::from_secs(24 * 3600);
    let late = desk.classify(&late, "billing", "billing_dispute", day).await;
    let soon = desk.classify(&soon, "billing", "billing_dispute", day).await;
    let later = desk.classify(&later, "billing", "billing_dispute", 2 * day).await;
    desk.dispatched("13800138004", "network").await;

    let mut billing = desk.as_("dept-billing");
    let queue = billing.list_cases(ListCasesRequest { page_size: 2, ..Default::default() }).await.unwrap().into_inner();
    let names: Vec<_> = queue.cases.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, [late.name.as_str(), soon.name.as_str()]);
    let next = billing
        .list_cases(ListCasesRequest { page_size: 2, page_token: queue.next_page_token, ..Default::default() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(next.cases.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(), [later.name.as_str()]);
    assert!(next.next_page_token.is_empty());

    let overdue = billing.list_cases(ListCasesRequest { overdue_only: true, ..Default::default() }).await.unwrap();
    let overdue = overdue.into_inner().cases;
    assert_eq!(overdue.len(), 1);
    assert!(overdue[0].overdue && overdue[0].name == late.name);
    let refused =
        billing.list_cases(ListCasesRequest { department: "network".into(), ..Default::default() }).await.unwrap_err();
    assert_eq!(refused.code(), Code::PermissionDenied);
    let by_customer = desk
        .admin()
        .list_cases(ListCasesRequest { phone_number: "13800138004".into(), ..Default::default() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(by_customer.cases.len(), 1);
    desk.stop().await;
}
