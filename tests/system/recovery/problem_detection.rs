//! Service problems nobody raised: when the complaints of one leaf in one region within the
//! detection window reach `recovery.service_problems.min_cases` (and surge past the usual count),
//! recovery opens one problem, DETECTED, linking them all; the next complaint joins it rather
//! than opening another. And proactive care: when a problem opens, the customers recovery knows
//! in its region, holding one of its products, who have not complained are reached by its
//! department, VIPs by phone and the rest by SMS.

use std::time::Duration;

use csm_kit::time;
use csm_proto::{
    classification::v1::WorkOrderClassified,
    intake::v1::{Channel, CustomerProfile, SurveyAnswer, SurveyAnswered, SurveyScale, WorkOrder},
    recovery::v1::{
        CareReason, ContactMethod, ListCareTasksRequest, ListServiceProblemsRequest, ServiceProblem,
        ServiceProblemOpened, ServiceProblemOrigin,
    },
};

use super::problems::{NO_SIGNAL, complaint, fault_report, outage, raise};
use crate::support::{desk::Desk, eventually};

async fn problems_of(desk: &Desk, region: &str) -> Vec<ServiceProblem> {
    let request = ListServiceProblemsRequest { region: region.into(), ..Default::default() };
    desk.as_("csm-services").list_service_problems(request).await.unwrap().into_inner().service_problems
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_twentieth_complaint_of_one_leaf_in_one_region_within_the_window_opens_one_detected_problem() {
    let desk = Desk::start().await;
    let mut cases = Vec::new();
    for i in 0..19 {
        cases.push(complaint(&desk, &format!("1380013{i:04}"), "GD-FS", "fibre_cut", 0).await);
    }
    // Other regions and leaves do not add up.
    complaint(&desk, "13900139001", "GD-SZ", "fibre_cut", 0).await;
    complaint(&desk, "13900139002", "GD-FS", NO_SIGNAL, 0).await;
    assert!(problems_of(&desk, "GD-FS").await.is_empty(), "nineteen is not a surge");

    cases.push(complaint(&desk, "13800139999", "GD-FS", "fibre_cut", 0).await);
    let found = problems_of(&desk, "GD-FS").await;
    assert_eq!(found.len(), 1);
    let problem = &found[0];
    assert_eq!((problem.origin(), problem.originator.as_str()), (ServiceProblemOrigin::Detected, "recovery"));
    assert_eq!(
        (problem.leaf.as_str(), problem.department.as_str(), problem.linked_cases),
        ("fibre_cut", "network", 20)
    );
    assert!(problem.description.contains("20 complaints"), "{}", problem.description);
    for case in &cases {
        assert_eq!(desk.get(&case.name).await.service_problem, problem.name);
    }

    // The twenty-first joins it.
    let next = complaint(&desk, "13800139998", "GD-FS", "fibre_cut", 0).await;
    assert_eq!(next.service_problem, problem.name);
    assert_eq!(problems_of(&desk, "GD-FS").await[0].linked_cases, 21);
    assert_eq!(desk.events::<ServiceProblemOpened>(1).await.len(), 1);
    assert_eq!(problems_of(&desk, "").await.len(), 1, "one problem for the surge");
    desk.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn complaints_dispatched_together_count_toward_a_surge_by_leaf_and_region_as_one_by_one() {
    let desk = Desk::start().await;
    let classified = |order: &WorkOrder, leaf: &str| WorkOrderClassified {
        classification: Some(Desk::classification(order, "network", leaf, Duration::from_secs(48 * 3600))),
        work_order: Some(order.clone()),
    };
    // One batch: nineteen of one leaf in one region, and the same leaf elsewhere and another leaf
    // there, which do not add up.
    let mut orders: Vec<(WorkOrder, &str)> =
        (0..19).map(|i| (fault_report(&desk, &format!("1380013{i:04}"), "GD-FS", 0), "fibre_cut")).collect();
    orders.push((fault_report(&desk, "13900139001", "GD-SZ", 0), "fibre_cut"));
    orders.push((fault_report(&desk, "13900139002", "GD-FS", 0), NO_SIGNAL));
    desk.publish_together(|uow| {
        for (order, leaf) in &orders {
            uow.publish(&order.name, &classified(order, leaf));
        }
    })
    .await;
    for (order, _) in &orders {
        desk.case_of(&order.name).await;
    }
    assert!(problems_of(&desk, "").await.is_empty(), "nineteen is not a surge");

    // The twentieth to the twenty-second in the next batch: one problem, the surge's cases linked.
    let surge: Vec<WorkOrder> = (0..3).map(|i| fault_report(&desk, &format!("1380014{i:04}"), "GD-FS", 0)).collect();
    desk.publish_together(|uow| {
        for order in &surge {
            uow.publish(&order.name, &classified(order, "fibre_cut"));
        }
    })
    .await;
    // Each of the surge's cases is dispatched in the transaction that opens the problem or links
    // it to the one open, so once all three are, every link is made.
    for order in &surge {
        desk.case_of(&order.name).await;
    }
    let mut linked = Vec::new();
    for order in orders.iter().map(|(order, _)| order).chain(&surge) {
        linked.push(desk.case_of(&order.name).await.service_problem);
    }
    let found = problems_of(&desk, "").await;
    assert_eq!(found.len(), 1, "one problem for the surge");
    assert_eq!((found[0].region.as_str(), found[0].leaf.as_str(), found[0].linked_cases), ("GD-FS", "fibre_cut", 22));
    let problem = found[0].name.clone();
    let expected: Vec<String> =
        (0..24).map(|i| if i == 19 || i == 20 { String::new() } else { problem.clone() }).collect();
    assert_eq!(linked, expected, "the surge's cases are linked, the other region's and leaf's are not");
    desk.stop().await;
}

/// A survey answer of `phone` carrying their profile, `score` on CSAT 5.
fn answered(desk: &Desk, phone: &str, region: &str, products: &[&str], vip_level: i32, score: f64) -> SurveyAnswered {
    SurveyAnswered {
        survey_answer: Some(SurveyAnswer {
            name: format!("surveyAnswers/{}", uuid::Uuid::now_v7()),
            phone_number: phone.into(),
            channel: Channel::SurveyCallback as i32,
            scale: SurveyScale::Csat5 as i32,
            score,
            occurred_at: Some(time::timestamp_from_micros(desk.clock.now_micros())),
            ..Default::default()
        }),
        profile: Some(CustomerProfile {
            region: region.into(),
            vip_level,
            products: products.iter().map(|p| p.to_string()).collect(),
            ..Default::default()
        }),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn customers_of_the_area_holding_its_product_who_have_not_complained_are_given_care() {
    let desk = Desk::start().await;
    // What intake's events told recovery of its customers.
    for (phone, region, products, vip) in [
        ("13800138301", "GD-SZ", &["broadband"][..], 0),
        ("13800138302", "GD-SZ", &["broadband", "mobile"][..], 3),
        ("13800138303", "GD-SZ", &["mobile"][..], 0),
        ("13800138304", "GD-GZ", &["broadband"][..], 0),
        ("13800138306", "GD-SZ", &["broadband"][..], 0),
    ] {
        let answer = answered(&desk, phone, region, products, vip, 5.0);
        desk.publish(&answer.survey_answer.as_ref().unwrap().name, &answer).await;
    }
    // A dissatisfied answer last: once its task is there, every profile before it was read.
    let last = answered(&desk, "13800138305", "GD-GZ", &["broadband"], 0, 1.0);
    desk.publish(&last.survey_answer.as_ref().unwrap().name, &last).await;
    eventually("the detractor task", Duration::from_secs(20), || {
        let mut admin = desk.admin();
        async move {
            let request = ListCareTasksRequest { reason: CareReason::DetractorAnswer as i32, ..Default::default() };
            (!admin.list_care_tasks(request).await.ok()?.into_inner().care_tasks.is_empty()).then_some(())
        }
    })
    .await;
    // A broadband customer of the area who already complained is linked, not cared for.
    let mut order = super::problems::fault_report(&desk, "13800138301", "GD-SZ", 0);
    order.customer_profile.as_mut().unwrap().products = vec!["broadband".into()];
    let complained = desk.classify(&order, "network", NO_SIGNAL, Duration::from_secs(48 * 3600)).await;

    let mut problem = outage(&desk, 1);
    problem.products = vec!["broadband".into()];
    let problem = raise(&desk, problem, "").await.unwrap();
    assert_eq!((problem.linked_cases, problem.cared_customers), (1, 2));
    assert_eq!(desk.get(&complained.name).await.service_problem, problem.name);
    let request = ListCareTasksRequest { reason: CareReason::ServiceProblem as i32, ..Default::default() };
    let tasks = desk.as_("dept-network").list_care_tasks(request).await.unwrap().into_inner().care_tasks;
    let mut reached: Vec<(&str, ContactMethod)> =
        tasks.iter().map(|t| (t.phone_number.as_str(), t.contact_method())).collect();
    reached.sort();
    // Broadband customers of Shenzhen who have not complained: the VIP phoned, the other texted.
    assert_eq!(reached, [("13800138302", ContactMethod::Phone), ("13800138306", ContactMethod::Sms)]);
    assert!(tasks.iter().all(|t| t.service_problem == problem.name && t.department == "network"));
    desk.stop().await;
}
