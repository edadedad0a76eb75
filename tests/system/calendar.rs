//! One operator's calendar for the whole system: classification and recovery state the same
//! deadline for an order, and a day is the operator's local day in every service.

use std::time::Duration;

use chrono::{TimeZone, Utc};
use csm_cli::clients;
use csm_kit::{calendar::WorkingTimeSettings, time};
use csm_proto::{
    classification::v1::{EmergingProblem, GetClassificationRequest, WorkOrderClassified},
    recovery::v1::ListCasesRequest,
};

use crate::support::{TestSystem, complaint, eventually, read_feed};

const WAIT: Duration = Duration::from_secs(20);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn classification_and_recovery_state_the_same_working_time_deadline() {
    // Every department works 09:00 to 18:00 every day: a 48-hour limit spans more than five days.
    let every_day = WorkingTimeSettings {
        days: ["mon", "tue", "wed", "thu", "fri", "sat", "sun"].map(String::from).to_vec(),
        ..WorkingTimeSettings::default()
    };
    let t = TestSystem::start_with(|spec| {
        spec.calendar.working_time.insert("default".into(), every_day);
    })
    .await;
    let mut billing = complaint("13800138000", "这个月话费莫名乱扣了50元");
    billing.occurred_at = Some(time::to_timestamp(Utc::now() - chrono::Duration::hours(2)));
    let order = t.intake().submit_contact(billing).await.unwrap().into_inner().work_order.unwrap();

    let classification = t.classification();
    let classified = eventually("the complaint to be classified", WAIT, || {
        let mut classification = classification.clone();
        let name = format!("{}/classification", order.name);
        async move { classification.get_classification(GetClassificationRequest { name }).await.ok() }
    })
    .await
    .into_inner();
    assert_eq!(
        (classified.responsible_department.as_str(), classified.time_limit.unwrap().seconds),
        ("billing", 48 * 3600)
    );
    let case = eventually("the case to be dispatched", WAIT, || {
        let mut recovery = t.recovery();
        async move {
            let request = ListCasesRequest { phone_number: "13800138000".into(), ..Default::default() };
            let cases = recovery.list_cases(request).await.ok()?.into_inner().cases;
            cases.into_iter().find(|case| case.deadline.is_some())
        }
    })
    .await;
    assert_eq!(case.deadline, classified.deadline, "one deadline for one order");
    let opened = time::from_timestamp(order.open_time.as_ref().unwrap()).unwrap();
    let due = time::from_timestamp(case.deadline.as_ref().unwrap()).unwrap();
    assert!(due - opened > chrono::Duration::days(5), "48 working hours of 9 a day: {opened} to {due}");
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_emerging_problem_is_counted_on_the_operators_day() {
    let t = TestSystem::start().await;
    // 07:00 yesterday in Shanghai, the default calendar's zone, is still the day before in UTC.
    let shanghai = chrono_tz::Asia::Shanghai;
    let today = Utc::now().with_timezone(&shanghai).date_naive();
    let yesterday = today.pred_opt().unwrap();
    let morning = shanghai.from_local_datetime(&yesterday.and_hms_opt(7, 0, 0).unwrap()).unwrap();
    let mut intake = t.intake();
    for i in 0..5 {
        let mut order = complaint(&format!("1380000004{i}"), "家里宽带断网了");
        order.occurred_at = Some(time::to_timestamp(morning.with_timezone(&Utc)));
        intake.submit_contact(order).await.unwrap();
    }
    let mut feed = clients::feed(t.system.addresses.classification, t.admin()).unwrap();
    read_feed::<WorkOrderClassified>(&mut feed, 5).await;
    let emerging = read_feed::<EmergingProblem>(&mut feed, 1).await;
    let problem: EmergingProblem = csm_kit::feed::decode(&emerging[0]).unwrap();
    let midnight = shanghai.from_local_datetime(&yesterday.and_hms_opt(0, 0, 0).unwrap()).unwrap();
    assert_eq!(
        time::from_timestamp(problem.day.as_ref().unwrap()).unwrap(),
        midnight.with_timezone(&Utc),
        "the day starts at midnight in Shanghai"
    );
    assert_eq!(problem.work_orders, 5);
    t.stop().await;
}
