//! Service problems (重大故障): the network operations centre raises one for a leaf and a region.
//! Open complaints of that leaf and region raised within its window are linked to it at once, and
//! new ones as they are dispatched; complaints of another region, another leaf or raised before
//! its start are not. Resolving it resolves every linked case not yet answered with its
//! explanation and schedules their callbacks; a case its department already answered is left
//! alone. Its lifecycle refuses illegal steps, wants a reason where TMF656 does, and a retried
//! raise returns the problem first raised.

use std::time::Duration;

use csm_kit::time;
use csm_proto::{
    classification::v1::WorkOrderClassified,
    intake::v1::{ContactType, CustomerProfile, WorkOrder},
    recovery::v1::{
        CallbackDue, Case, CaseLinkedToProblem, CaseStatus, CreateServiceProblemRequest, GetServiceProblemRequest,
        ListCasesRequest, ResolveServiceProblemRequest, ServiceProblem, ServiceProblemOrigin, ServiceProblemStatus,
        ServiceProblemTransition, Transition, TransitionServiceProblemRequest,
    },
};
use tonic::{Code, Status};

use super::{resolve, step};
use crate::support::desk::Desk;

pub const NO_SIGNAL: &str = "no_signal";
pub const HOUR: i64 = 3_600_000_000;
const LIMIT: Duration = Duration::from_secs(48 * 3600);

/// A fault report of `phone` in `region`, raised `hours_ago` hours before the desk's clock.
pub fn fault_report(desk: &Desk, phone: &str, region: &str, hours_ago: i64) -> WorkOrder {
    let mut order = desk.work_order(phone, ContactType::FaultReport, hours_ago);
    order.text = "手机没有信号 / no signal since this morning".into();
    order.customer_profile =
        Some(CustomerProfile { region: region.into(), products: vec!["mobile".into()], ..Default::default() });
    order
}

/// The dispatched case of a fault report under `leaf`, sent to the network department.
pub async fn complaint(desk: &Desk, phone: &str, region: &str, leaf: &str, hours_ago: i64) -> Case {
    desk.classify(&fault_report(desk, phone, region, hours_ago), "network", leaf, LIMIT).await
}

/// A cell-site outage in Shenzhen, starting `hours_ago` hours before the desk's clock.
pub fn outage(desk: &Desk, hours_ago: i64) -> ServiceProblem {
    ServiceProblem {
        description: "南山区基站 GD-SZ-0412 掉站 / cell site GD-SZ-0412 down".into(),
        category: "network".into(),
        leaf: NO_SIGNAL.into(),
        region: "GD-SZ".into(),
        start_time: Some(time::timestamp_from_micros(desk.clock.now_micros() - hours_ago * HOUR)),
        underlying_alarms: vec!["ALM-0412-PWR".into()],
        root_cause_service: "cell site GD-SZ-0412".into(),
        department: "network".into(),
        ..Default::default()
    }
}

pub async fn raise(desk: &Desk, problem: ServiceProblem, request_id: &str) -> Result<ServiceProblem, Status> {
    let request = CreateServiceProblemRequest { service_problem: Some(problem), request_id: request_id.into() };
    desk.as_("csm-services").create_service_problem(request).await.map(tonic::Response::into_inner)
}

async fn transition(
    desk: &Desk,
    problem: &str,
    transition: ServiceProblemTransition,
    reason: &str,
) -> Result<ServiceProblem, Status> {
    let request = TransitionServiceProblemRequest {
        name: problem.into(),
        transition: transition as i32,
        reason: reason.into(),
        request_id: String::new(),
    };
    desk.as_("csm-services").transition_service_problem(request).await.map(tonic::Response::into_inner)
}

async fn linked_to(desk: &Desk, problem: &str) -> Vec<String> {
    let request = ListCasesRequest { service_problem: problem.into(), page_size: 500, ..Default::default() };
    let cases = desk.admin().list_cases(request).await.unwrap().into_inner().cases;
    let mut names: Vec<String> = cases.into_iter().map(|c| c.name).collect();
    names.sort();
    names
}

fn sorted(names: &[&Case]) -> Vec<String> {
    let mut names: Vec<String> = names.iter().map(|c| c.name.clone()).collect();
    names.sort();
    names
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_raised_problem_absorbs_matching_complaints_and_its_resolution_answers_them() {
    let desk = Desk::start().await;
    // Before the problem is raised: one complaint before its start, two inside its window; one of
    // those the network department takes up and pends on the customer.
    let before_start = complaint(&desk, "13800138101", "GD-SZ", NO_SIGNAL, 3).await;
    let pending = complaint(&desk, "13800138102", "GD-SZ", NO_SIGNAL, 1).await;
    let answered_by_department = complaint(&desk, "13800138103", "GD-SZ", NO_SIGNAL, 1).await;
    step(&desk, "dept-network", &pending.name, Transition::Accept, "").await.unwrap();
    step(&desk, "dept-network", &pending.name, Transition::PendOnCustomer, "等客户开机测试").await.unwrap();
    assert_eq!(pending.region, "GD-SZ");

    let problem = raise(&desk, outage(&desk, 2), "").await.unwrap();
    assert_eq!((problem.status(), problem.origin()), (ServiceProblemStatus::Submitted, ServiceProblemOrigin::Raised));
    assert_eq!((problem.originator.as_str(), problem.priority, problem.linked_cases), ("csm-services", 3, 2));

    // After: a matching complaint is linked as it is dispatched; another region's, another leaf's
    // are not.
    let matching = complaint(&desk, "13800138104", "GD-SZ", NO_SIGNAL, 0).await;
    let other_region = complaint(&desk, "13800138105", "GD-GZ", NO_SIGNAL, 0).await;
    let other_leaf = complaint(&desk, "13800138106", "GD-SZ", "billing_dispute", 0).await;
    assert_eq!(matching.service_problem, problem.name);
    for case in [&before_start, &other_region, &other_leaf] {
        assert_eq!(desk.get(&case.name).await.service_problem, "", "{} is not the outage's", case.text);
    }
    assert_eq!(linked_to(&desk, &problem.name).await, sorted(&[&pending, &answered_by_department, &matching]));
    let links = desk.events::<CaseLinkedToProblem>(3).await;
    assert_eq!(links[2].case, matching.name);
    assert_eq!((links[2].linked_cases, links[2].service_problem.as_str()), (3, problem.name.as_str()));

    // The department answers one case itself; then the problem is resolved.
    step(&desk, "dept-network", &answered_by_department.name, Transition::Accept, "").await.unwrap();
    resolve(&desk, "dept-network", &answered_by_department.name).await.unwrap();
    let request = ResolveServiceProblemRequest {
        name: problem.name.clone(),
        resolution: "基站电源已修复 / the cell site's power supply was repaired".into(),
        request_id: "noc-resolve-1".into(),
    };
    let resolved = desk.as_("dept-network").resolve_service_problem(request).await.unwrap().into_inner();
    assert_eq!(resolved.status(), ServiceProblemStatus::Resolved);
    assert!(resolved.resolve_time.is_some());
    for case in [&pending, &matching] {
        let now = desk.get(&case.name).await;
        assert_eq!(now.status(), CaseStatus::Resolved, "{}", case.name);
        assert!(
            now.resolution.contains(&problem.name) && now.resolution.contains("power supply"),
            "{}",
            now.resolution
        );
        assert_eq!(now.resolved_by, "dept-network");
        assert!(now.callback_due_time.is_some());
    }
    let untouched = desk.get(&answered_by_department.name).await;
    assert_eq!(untouched.resolution, "退还多扣费用并致歉", "the department's own answer stays");
    assert_eq!(desk.get(&other_region.name).await.status(), CaseStatus::Dispatched);
    // Three callbacks due: the department's own case, then the two the problem resolved.
    let due = desk.events::<CallbackDue>(3).await;
    let mut called: Vec<String> = due[1..].iter().map(|d| d.case.as_ref().unwrap().name.clone()).collect();
    called.sort();
    assert_eq!(called, sorted(&[&pending, &matching]));
    desk.stop().await;
}

/// Dispatches arriving together that fall under two problems: each problem counts its own cases,
/// and each link announces the count as of its case, in the order the cases came.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dispatches_arriving_together_count_each_problems_links_in_order() {
    let desk = Desk::start().await;
    let shenzhen = raise(&desk, outage(&desk, 2), "").await.unwrap();
    let guangzhou = raise(&desk, ServiceProblem { region: "GD-GZ".into(), ..outage(&desk, 2) }, "").await.unwrap();
    let orders = [
        fault_report(&desk, "13800138201", "GD-SZ", 0),
        fault_report(&desk, "13800138202", "GD-GZ", 0),
        fault_report(&desk, "13800138203", "GD-SZ", 0),
    ];
    desk.publish_together(|uow| {
        for order in &orders {
            let classification = Desk::classification(order, "network", NO_SIGNAL, LIMIT);
            let event = WorkOrderClassified { classification: Some(classification), work_order: Some(order.clone()) };
            uow.publish(&order.name, &event);
        }
    })
    .await;
    let links = desk.events::<CaseLinkedToProblem>(3).await;
    let announced = |problem: &ServiceProblem| -> Vec<(String, i32)> {
        let of_problem = links.iter().filter(|link| link.service_problem == problem.name);
        of_problem.map(|link| (link.work_order.clone(), link.linked_cases)).collect()
    };
    assert_eq!(announced(&shenzhen), [(orders[0].name.clone(), 1), (orders[2].name.clone(), 2)]);
    assert_eq!(announced(&guangzhou), [(orders[1].name.clone(), 1)]);
    for (problem, linked) in [(&shenzhen, 2), (&guangzhou, 1)] {
        let request = GetServiceProblemRequest { name: problem.name.clone() };
        let stored = desk.admin().get_service_problem(request).await.unwrap().into_inner();
        assert_eq!(stored.linked_cases, linked, "{}", problem.region);
        assert_eq!(linked_to(&desk, &problem.name).await.len(), linked as usize);
    }
    desk.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn illegal_steps_and_missing_reasons_are_refused_and_a_retried_raise_returns_the_first() {
    let desk = Desk::start().await;
    let first = raise(&desk, outage(&desk, 1), "noc-4711").await.unwrap();
    let again = raise(&desk, outage(&desk, 1), "noc-4711").await.unwrap();
    assert_eq!(again.name, first.name);
    let request = CreateServiceProblemRequest { service_problem: Some(outage(&desk, 1)), request_id: String::new() };
    let agent = desk.as_("agent").create_service_problem(request).await;
    assert_eq!(agent.unwrap_err().code(), Code::PermissionDenied, "an agent does not raise problems");
    let mut no_region = outage(&desk, 1);
    no_region.region = "GD SZ".into();
    let refused = raise(&desk, no_region, "").await.unwrap_err();
    assert_eq!(refused.code(), Code::InvalidArgument);
    assert!(refused.message().contains("service_problem.region"), "{}", refused.message());

    use ServiceProblemTransition as T;
    let close = transition(&desk, &first.name, T::Close, "").await.unwrap_err();
    assert_eq!(close.code(), Code::FailedPrecondition, "only a resolved problem closes");
    let hold = transition(&desk, &first.name, T::Hold, " ").await.unwrap_err();
    assert_eq!(hold.code(), Code::InvalidArgument);
    assert!(hold.message().contains("reason"), "{}", hold.message());
    let acknowledged = transition(&desk, &first.name, T::Acknowledge, "").await.unwrap();
    assert_eq!(acknowledged.status(), ServiceProblemStatus::Acknowledged);
    let reject = transition(&desk, &first.name, T::Reject, "not a fault").await.unwrap_err();
    assert_eq!(reject.code(), Code::FailedPrecondition, "only a submitted problem is rejected");
    let held = transition(&desk, &first.name, T::Hold, "等待铁塔公司进场 / waiting for site access").await.unwrap();
    assert_eq!(
        (held.status(), held.status_change_reason.as_str()),
        (ServiceProblemStatus::Held, "等待铁塔公司进场 / waiting for site access")
    );

    // Cancelled as a duplicate: its link is released, and it can no longer be resolved.
    let linked = complaint(&desk, "13800138201", "GD-SZ", NO_SIGNAL, 0).await;
    assert_eq!(linked.service_problem, first.name);
    let cancelled = transition(&desk, &first.name, T::Cancel, "duplicate of the power alarm").await.unwrap();
    assert_eq!(cancelled.status(), ServiceProblemStatus::Cancelled);
    assert_eq!(desk.get(&linked.name).await.service_problem, "");
    let request =
        ResolveServiceProblemRequest { name: first.name.clone(), resolution: "fixed".into(), ..Default::default() };
    let late = desk.as_("csm-services").resolve_service_problem(request).await.unwrap_err();
    assert_eq!(late.code(), Code::FailedPrecondition);
    desk.stop().await;
}
