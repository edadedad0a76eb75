//! Common versus special complaints, and emerging problems: a leaf that suddenly gathers orders
//! from many customers in one day is published once.

use std::time::Duration;

use chrono::Utc;
use csm_cli::clients;
use csm_kit::time;
use csm_proto::classification::v1::{EmergingProblem, ListLeafStatisticsRequest, WorkOrderClassified};

use crate::support::{TestSystem, complaint, feed_head, read_feed};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fifth_order_of_a_leaf_in_a_quiet_week_is_an_emerging_problem_published_once() {
    let system = TestSystem::start().await;
    let mut intake = system.intake();
    let mut feed = clients::feed(system.system.addresses.classification, system.admin()).unwrap();
    for i in 0..4 {
        intake.submit_contact(complaint(&format!("1380000003{i}"), "家里宽带断网了")).await.unwrap();
    }
    read_feed::<WorkOrderClassified>(&mut feed, 4).await;
    let head = feed_head(&mut feed).await;
    assert_eq!(head, 5, "the taxonomy announced at start and four orders, no emerging problem yet");

    for i in 4..7 {
        intake.submit_contact(complaint(&format!("1380000003{i}"), "家里宽带断网了")).await.unwrap();
    }
    read_feed::<WorkOrderClassified>(&mut feed, 7).await;
    let emerging = read_feed::<EmergingProblem>(&mut feed, 1).await;
    let problem: EmergingProblem = csm_kit::feed::decode(&emerging[0]).unwrap();
    assert_eq!(
        (problem.leaf.as_str(), problem.work_orders, problem.distinct_customers),
        ("system.broadband_fault", 5, 5)
    );
    assert_eq!(problem.responsible_department, "operations_maintenance");
    assert_eq!(problem.baseline, 0.0);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(feed_head(&mut feed).await, 9, "the taxonomy announced, seven orders and one emerging problem");

    let mut analyst = clients::classification(system.system.addresses.classification, system.token("analyst")).unwrap();
    let now = Utc::now();
    let request = ListLeafStatisticsRequest {
        start_time: Some(time::to_timestamp(now - chrono::Duration::days(1))),
        end_time: Some(time::to_timestamp(now + chrono::Duration::days(1))),
    };
    let leaves = analyst.list_leaf_statistics(request).await.unwrap().into_inner().leaves;
    let broadband = &leaves[0];
    assert_eq!(
        (broadband.leaf.as_str(), broadband.work_orders, broadband.distinct_customers),
        ("system.broadband_fault", 7, 7)
    );
    assert!(broadband.emerging);
    assert!(!broadband.common, "7 customers is below the default of 10");
    let missing = analyst.list_leaf_statistics(ListLeafStatisticsRequest::default()).await.unwrap_err();
    assert!(missing.message().contains("start_time"), "{}", missing.message());
    system.stop().await;
}

/// The day's customers of a leaf are people, not orders: a customer who complains twice about it,
/// in batches of their own, is counted once, and the emerging problem says so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_customer_complaining_twice_in_a_day_is_one_of_the_leafs_customers() {
    let system = TestSystem::start().await;
    let mut intake = system.intake();
    let mut feed = clients::feed(system.system.addresses.classification, system.admin()).unwrap();
    let phones = ["13800000050", "13800000051", "13800000050", "13800000052", "13800000053"];
    for (i, phone) in phones.iter().enumerate() {
        intake.submit_contact(complaint(phone, "家里宽带断网了")).await.unwrap();
        read_feed::<WorkOrderClassified>(&mut feed, i + 1).await;
    }
    let emerging = read_feed::<EmergingProblem>(&mut feed, 1).await;
    let problem: EmergingProblem = csm_kit::feed::decode(&emerging[0]).unwrap();
    assert_eq!((problem.work_orders, problem.distinct_customers), (5, 4));
    system.stop().await;
}
