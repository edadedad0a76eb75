//! A complaint walks through intake, classification, recovery and measurement.

use std::time::Duration;

use chrono::Utc;
use csm_kit::time;
use csm_proto::{
    classification::v1::{GetClassificationRequest, Method},
    intake::v1::{Channel, ContactType, GetWorkOrderRequest, WorkOrderKind, WorkOrderStatus},
    measurement::v1::{Dimension, Granularity, QuerySeriesRequest, Series},
    recovery::v1::{CaseStatus, GetCaseRequest, ResolveCaseRequest},
};

use crate::support::{TestSystem, complaint, eventually};

const WAIT: Duration = Duration::from_secs(20);

async fn series(t: &TestSystem, indicator: &str, group_by: Dimension) -> Series {
    let now = Utc::now();
    t.measurement()
        .query_series(QuerySeriesRequest {
            indicator: format!("indicators/{indicator}"),
            granularity: Granularity::Day as i32,
            group_by: group_by as i32,
            start_time: Some(time::to_timestamp(now - chrono::Duration::days(7))),
            end_time: Some(time::to_timestamp(now + chrono::Duration::days(1))),
            ..QuerySeriesRequest::default()
        })
        .await
        .unwrap()
        .into_inner()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_complaint_walks_through_all_four_services() {
    let t = TestSystem::start().await;
    let mut intake = t.intake();
    let thirty_hours_ago = Utc::now() - chrono::Duration::hours(30);

    // Intake: a billing complaint in Chinese and a broadband fault in English, both 30 hours old,
    // and an inquiry, which opens no work order.
    let mut billing = complaint("+86 138-0013-8000", "这个月话费莫名乱扣了50元");
    billing.occurred_at = Some(time::to_timestamp(thirty_hours_ago));
    let billing = intake.submit_contact(billing).await.unwrap().into_inner();
    let billing_order = billing.work_order.expect("a complaint opens a work order");
    assert_eq!(billing_order.phone_number, "13800138000");
    assert_eq!(billing_order.kind, WorkOrderKind::New as i32);
    assert_eq!(billing_order.status, WorkOrderStatus::Open as i32);
    assert_eq!(billing.contact.unwrap().work_order, billing_order.name);

    let mut broadband = complaint("13900139000", "Broadband is down at home, the fiber router shows no link");
    broadband.channel = Channel::CommunityManager as i32;
    broadband.contact_type = ContactType::FaultReport as i32;
    broadband.occurred_at = Some(time::to_timestamp(thirty_hours_ago));
    let broadband_order = intake.submit_contact(broadband).await.unwrap().into_inner().work_order.unwrap();

    let mut inquiry = complaint("13700137000", "查询套餐余量");
    inquiry.contact_type = ContactType::Inquiry as i32;
    assert!(intake.submit_contact(inquiry).await.unwrap().into_inner().work_order.is_none());

    let fetched =
        intake.get_work_order(GetWorkOrderRequest { name: billing_order.name.clone() }).await.unwrap().into_inner();
    assert_eq!(
        (fetched.name.as_str(), fetched.kind, fetched.text.as_str()),
        (billing_order.name.as_str(), billing_order.kind, billing_order.text.as_str())
    );
    assert_eq!(fetched.open_time, billing_order.open_time);

    // Classification: root cause, department and deadline from the leaf's time limit.
    let classification = t.classification();
    let classified = eventually("the billing complaint to be classified", WAIT, || {
        let mut classification = classification.clone();
        let name = format!("{}/classification", billing_order.name);
        async move { classification.get_classification(GetClassificationRequest { name }).await.ok() }
    })
    .await
    .into_inner();
    assert_eq!(classified.leaf, "system.billing_error");
    assert_eq!(classified.path, vec!["system", "system.billing", "system.billing_error"]);
    assert_eq!(classified.responsible_department, "billing");
    assert_eq!(classified.method, Method::Rule as i32);
    assert_eq!(classified.hits[0].matched_terms, vec!["乱扣"]);
    assert_eq!(classified.taxonomy_version, "taxonomies/default/versions/1");
    let deadline = time::from_timestamp(classified.deadline.as_ref().unwrap()).unwrap();
    let opened = time::from_timestamp(billing_order.open_time.as_ref().unwrap()).unwrap();
    assert_eq!(deadline - opened, chrono::Duration::hours(48));
    let broadband_classified = eventually("the broadband fault to be classified", WAIT, || {
        let mut classification = classification.clone();
        let name = format!("{}/classification", broadband_order.name);
        async move { classification.get_classification(GetClassificationRequest { name }).await.ok() }
    })
    .await
    .into_inner();
    assert_eq!(broadband_classified.responsible_department, "operations_maintenance");

    // Recovery: one case per work order, dispatched to the department, with the same deadline.
    let cases = t.dispatched_cases(2).await;
    let billing_case = cases.iter().find(|c| c.work_order == billing_order.name).unwrap();
    let broadband_case = cases.iter().find(|c| c.work_order == broadband_order.name).unwrap();
    assert_eq!(billing_case.department, "billing");
    assert_eq!(billing_case.deadline, classified.deadline);
    assert_eq!(billing_case.text, "这个月话费莫名乱扣了50元");
    // Ordered by deadline: the 24-hour broadband fault comes first.
    assert_eq!(cases[0].name, broadband_case.name);

    // Each department accepts and resolves its own case: billing within 48 h, broadband after its 24 h.
    t.accept(&billing_case.name, "dept-billing").await;
    t.accept(&broadband_case.name, "dept-operations_maintenance").await;
    let resolved = t
        .recovery_as("dept-billing")
        .resolve_case(ResolveCaseRequest {
            name: billing_case.name.clone(),
            resolution: "退还多扣的50元并致歉".into(),
            request_id: "r-billing".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(resolved.status, CaseStatus::Resolved as i32);
    assert!(resolved.resolved_on_time);
    assert_eq!(resolved.resolved_by, "dept-billing");
    let late = t
        .recovery_as("dept-operations_maintenance")
        .resolve_case(ResolveCaseRequest {
            name: broadband_case.name.clone(),
            resolution: "Replaced the optical modem".into(),
            request_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(!late.resolved_on_time);
    let stored = t.recovery().get_case(GetCaseRequest { name: late.name.clone() }).await.unwrap().into_inner();
    assert_eq!(stored, late);

    // Measurement: both complaints counted under the system side; one of two resolved on time.
    let opened = eventually("both complaints to be counted by category", WAIT, || async {
        let s = series(&t, "complaints_opened", Dimension::Category).await;
        let system: i64 = s.points.iter().filter(|p| p.dimension_value == "system").map(|p| p.numerator).sum();
        (system == 2).then_some(s)
    })
    .await;
    assert_eq!(opened.time_zone, "Asia/Shanghai");
    assert!(opened.points.iter().all(|p| p.dimension_value == "system"));
    let on_time = eventually("both resolutions to be counted", WAIT, || async {
        let s = series(&t, "on_time_resolution_rate", Dimension::None).await;
        (s.points.iter().map(|p| p.denominator).sum::<i64>() == 2).then_some(s)
    })
    .await;
    assert_eq!(on_time.points.len(), 1);
    assert_eq!((on_time.points[0].numerator, on_time.points[0].denominator), (1, 2));
    assert!((on_time.points[0].value - 0.5).abs() < 1e-9);
    let by_department = series(&t, "on_time_resolution_rate", Dimension::Department).await;
    let rates: Vec<(&str, f64)> = by_department.points.iter().map(|p| (p.dimension_value.as_str(), p.value)).collect();
    assert_eq!(rates, vec![("billing", 1.0), ("operations_maintenance", 0.0)]);

    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_reports_indicators_from_every_service() {
    let t = TestSystem::start().await;
    let report = csm_cli::demo::run(t.system.addresses, &t.tokens).await.expect("demo completes");
    assert_eq!((report.contacts, report.work_orders), (26, 24));
    assert_eq!(report.classified_by_rule + report.classified_by_model + report.sent_to_review, 24);
    assert!(report.classified_by_rule + report.classified_by_model >= 20, "{report:?}");
    assert_eq!(report.resolved, 16);
    let opened: i64 = report.opened.points.iter().map(|p| p.numerator).sum();
    let resolved: i64 = report.on_time.points.iter().map(|p| p.denominator).sum();
    assert_eq!((opened, resolved), (24, 16));
    t.stop().await;
}
