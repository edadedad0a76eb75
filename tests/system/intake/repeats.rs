//! Repeat / dissatisfied work orders: the same problem raised again within 30 days reopens the
//! first order and is linked to it; day 30 is a repeat, day 31 a new order.

use std::time::Duration;

use csm_kit::{
    config::UpstreamSettings,
    feed::{StandaloneFeed, decode},
};
use csm_proto::{
    classification::v1::{Classification, WorkOrderClassified},
    intake::v1::{
        AppealBody, Channel, GetWorkOrderRequest, ListWorkOrdersRequest, SubmitContactRequest, WorkOrder,
        WorkOrderKind, WorkOrderReopened, WorkOrderStatus,
    },
};
use tonic::Code;

use crate::support::{
    StandaloneIntake, TestSystem, complaint, complaint_days_ago, complaint_days_before, eventually, quick_feed,
    read_feed,
};

fn with_code(mut request: SubmitContactRequest, code: &str) -> SubmitContactRequest {
    request.problem_code = code.into();
    request
}

async fn open(intake: &StandaloneIntake, request: SubmitContactRequest) -> WorkOrder {
    intake.intake().submit_contact(request).await.unwrap().into_inner().work_order.unwrap()
}

async fn get(intake: &StandaloneIntake, order: &WorkOrder) -> WorkOrder {
    intake.intake().get_work_order(GetWorkOrderRequest { name: order.name.clone() }).await.unwrap().into_inner()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_problem_on_day_thirty_is_a_repeat_on_day_thirty_one_a_new_order() {
    let intake = StandaloneIntake::start(|_| {}).await;
    let base = chrono::Utc::now();
    let at = |phone, days| complaint_days_before(base, phone, "宽带断了", days);
    let phone = "13900000001";
    let first = open(&intake, with_code(at(phone, 40.0), "BB-LOSS")).await;
    assert_eq!(first.kind(), WorkOrderKind::New);
    assert_eq!(first.topic, "code:BB-LOSS");

    // Exactly 30 days later (10 days ago): the same problem.
    let repeat = open(&intake, with_code(at(phone, 10.0), "BB-LOSS")).await;
    assert_eq!(repeat.kind(), WorkOrderKind::Repeat);
    assert_eq!(repeat.first_work_order, first.name);
    let reopened = get(&intake, &first).await;
    assert_eq!((reopened.status(), reopened.reopen_count), (WorkOrderStatus::Reopened, 1));
    assert!(reopened.reopen_time.is_some());
    let link: WorkOrderReopened = decode(&read_feed::<WorkOrderReopened>(&mut intake.feed(), 1).await[0]).unwrap();
    assert_eq!(link.first_work_order.unwrap().name, first.name);
    assert_eq!(link.repeat_work_order.unwrap().name, repeat.name);

    // Another problem code is another problem.
    let other = open(&intake, with_code(at(phone, 9.0), "BILL-DUP")).await;
    assert_eq!(other.kind(), WorkOrderKind::New);

    // 31 days after its first order, another customer's second complaint is a new order.
    let late_phone = "13900000002";
    open(&intake, with_code(at(late_phone, 41.0), "BB-LOSS")).await;
    let day_31 = open(&intake, with_code(at(late_phone, 10.0), "BB-LOSS")).await;
    assert_eq!(day_31.kind(), WorkOrderKind::New);
    // And one millisecond past day 30 is new too.
    let edge_phone = "13900000007";
    open(&intake, with_code(at(edge_phone, 40.0), "BB-LOSS")).await;
    let just_after = open(&intake, with_code(at(edge_phone, 9.999_999_99), "BB-LOSS")).await;
    assert_eq!(just_after.kind(), WorkOrderKind::New);
    intake.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chain_of_repeats_keeps_its_first_order() {
    let intake = StandaloneIntake::start(|_| {}).await;
    let phone = "13900000003";
    let first = open(&intake, with_code(complaint_days_ago(phone, "x", 50.0), "N7")).await;
    let second = open(&intake, with_code(complaint_days_ago(phone, "x", 25.0), "N7")).await;
    // 45 days after the first, but 20 after the second: still the first's problem.
    let third = open(&intake, with_code(complaint_days_ago(phone, "x", 5.0), "N7")).await;
    assert_eq!(second.first_work_order, first.name);
    assert_eq!(third.first_work_order, first.name);
    assert_eq!(get(&intake, &first).await.reopen_count, 2);

    let repeats = intake
        .intake()
        .list_work_orders(ListWorkOrdersRequest {
            phone_number: phone.into(),
            kind: WorkOrderKind::Repeat as i32,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .work_orders;
    assert_eq!(repeats.iter().map(|o| o.name.clone()).collect::<Vec<_>>(), vec![third.name, second.name]);
    intake.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn naming_an_earlier_order_makes_a_repeat_whatever_its_age_but_only_for_its_customer() {
    let intake = StandaloneIntake::start(|_| {}).await;
    let old = open(&intake, complaint_days_ago("13900000004", "套餐不合理", 200.0)).await;
    let mut again = complaint("13900000004", "还是那个套餐问题");
    again.related_work_order = old.name.clone();
    again.channel = Channel::RegulatorAppeal as i32;
    let repeat = open(&intake, again).await;
    assert_eq!((repeat.kind(), repeat.first_work_order.as_str()), (WorkOrderKind::Repeat, old.name.as_str()));
    assert_eq!(repeat.appeal(), AppealBody::Regulator);

    let mut stranger = complaint("13900000005", "我的问题");
    stranger.related_work_order = old.name.clone();
    let status = intake.intake().submit_contact(stranger.clone()).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(status.message().contains("related_work_order"), "{}", status.message());
    stranger.related_work_order = "workOrders/missing".into();
    let status = intake.intake().submit_contact(stranger).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    // Nothing of the refused complaints was stored.
    let listed = intake
        .intake()
        .list_work_orders(ListWorkOrdersRequest { phone_number: "13900000005".into(), ..Default::default() })
        .await
        .unwrap()
        .into_inner();
    assert!(listed.work_orders.is_empty());
    intake.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn complaints_without_a_code_become_repeats_once_classification_finds_the_same_cause() {
    let t = TestSystem::start().await;
    let mut intake = t.intake();
    let first = intake
        .submit_contact(complaint_days_ago("13900000006", "这个月话费多扣了", 12.0))
        .await
        .unwrap()
        .into_inner()
        .work_order
        .unwrap();
    let second = intake
        .submit_contact(complaint_days_ago("13900000006", "话费又多扣了，账单不对", 2.0))
        .await
        .unwrap()
        .into_inner()
        .work_order
        .unwrap();
    assert_eq!(second.kind(), WorkOrderKind::New, "the cause is not known yet");
    let linked = eventually("the second order to be linked", Duration::from_secs(20), || {
        let mut intake = t.intake();
        let name = second.name.clone();
        async move {
            let order = intake.get_work_order(GetWorkOrderRequest { name }).await.ok()?.into_inner();
            (order.kind() == WorkOrderKind::Repeat).then_some(order)
        }
    })
    .await;
    assert_eq!(linked.first_work_order, first.name);
    assert_eq!(linked.topic, "leaf:system.billing_error");
    let reopened = intake.get_work_order(GetWorkOrderRequest { name: first.name.clone() }).await.unwrap().into_inner();
    assert_eq!((reopened.status(), reopened.reopen_count), (WorkOrderStatus::Reopened, 1));
    t.stop().await;
}

/// Intake following a classification feed that the test publishes on itself, with the token that
/// stops the feed and the directory that holds it.
async fn intake_following_classification()
-> (StandaloneIntake, StandaloneFeed, tokio_util::sync::CancellationToken, tempfile::TempDir) {
    let stop = tokio_util::sync::CancellationToken::new();
    let dir = tempfile::tempdir().unwrap();
    let upstream =
        StandaloneFeed::start(&dir.path().join("up.db"), "classification", quick_feed(), stop.clone()).await.unwrap();
    let intake = StandaloneIntake::start_with(|config| {
        config.upstream.classification = UpstreamSettings::new(upstream.url.clone(), "");
    })
    .await;
    (intake, upstream, stop, dir)
}

/// Classifications arriving together (one upstream transaction, applied as one batch) are learned
/// as if one by one: a customer's later order classified first is linked once the earlier one is
/// classified, an order whose customer has a stored order on the same cause within the window
/// joins its problem, and a customer's lone order stays new.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn classifications_arriving_together_link_repeats_as_if_one_by_one() {
    let (intake, upstream, stop, _dir) = intake_following_classification().await;
    let base = chrono::Utc::now();
    let at = |phone, days| complaint_days_before(base, phone, "网速很慢，视频一直卡", days);
    let (x_earlier, x_later) =
        (open(&intake, at("13900000011", 12.0)).await, open(&intake, at("13900000011", 2.0)).await);
    let y_alone = open(&intake, at("13900000012", 5.0)).await;
    let (z_stored, z_new) = (open(&intake, at("13900000013", 20.0)).await, open(&intake, at("13900000013", 1.0)).await);
    let classified = |order: &WorkOrder| WorkOrderClassified {
        classification: Some(Classification {
            work_order: order.name.clone(),
            leaf: "network.slow_speed".into(),
            responsible_department: "network".into(),
            ..Default::default()
        }),
        work_order: Some(order.clone()),
    };
    let publish_together = |orders: Vec<&WorkOrder>| {
        let events: Vec<(String, WorkOrderClassified)> =
            orders.iter().map(|o| (o.name.clone(), classified(o))).collect();
        let publisher = upstream.publisher.clone();
        async move {
            let mut uow = publisher.begin().await.unwrap();
            events.iter().for_each(|(subject, event)| uow.publish(subject.clone(), event));
            uow.commit().await.unwrap();
        }
    };
    let topic_of = |order: &WorkOrder| {
        let name = order.name.clone();
        let intake = &intake;
        async move {
            eventually(&format!("{name} to learn its topic"), Duration::from_secs(20), || {
                let mut client = intake.intake();
                let name = name.clone();
                async move {
                    let order = client.get_work_order(GetWorkOrderRequest { name }).await.ok()?.into_inner();
                    (!order.topic.is_empty()).then_some(order)
                }
            })
            .await
        }
    };
    publish_together(vec![&z_stored]).await;
    topic_of(&z_stored).await;
    publish_together(vec![&x_later, &y_alone, &z_new, &x_earlier]).await;

    let x_later = topic_of(&x_later).await;
    assert_eq!((x_later.kind(), x_later.first_work_order.as_str()), (WorkOrderKind::Repeat, x_earlier.name.as_str()));
    let x_earlier = topic_of(&x_earlier).await;
    assert_eq!((x_earlier.status(), x_earlier.reopen_count), (WorkOrderStatus::Reopened, 1));
    let z_new = topic_of(&z_new).await;
    assert_eq!((z_new.kind(), z_new.first_work_order.as_str()), (WorkOrderKind::Repeat, z_stored.name.as_str()));
    assert_eq!(get(&intake, &z_stored).await.reopen_count, 1);
    let y_alone = topic_of(&y_alone).await;
    assert_eq!((y_alone.kind(), y_alone.topic.as_str()), (WorkOrderKind::New, "leaf:network.slow_speed"));
    assert_eq!(y_alone.reopen_count, 0);
    intake.stop().await;
    stop.cancel();
}

/// Classifications arriving together teach each order its department and topic, as if one by one:
/// lone orders of different customers each learn their own, and an order classified twice in the
/// batch (a correction right behind the first answer) ends with the later department, whatever the
/// names' order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn classifications_arriving_together_teach_each_order_its_department_the_later_one_standing() {
    let (intake, upstream, stop, _dir) = intake_following_classification().await;
    let slow = open(&intake, complaint("13900000021", "网速很慢，视频一直卡")).await;
    let billed = open(&intake, complaint("13900000022", "这个月话费多扣了")).await;
    let corrected = open(&intake, with_code(complaint("13900000023", "话费不对"), "BILLING-01")).await;
    let classified = |order: &WorkOrder, department: &str, leaf: &str| {
        let event = WorkOrderClassified {
            classification: Some(Classification {
                work_order: order.name.clone(),
                leaf: leaf.into(),
                responsible_department: department.into(),
                ..Default::default()
            }),
            work_order: Some(order.clone()),
        };
        (order.name.clone(), event)
    };
    let events = [
        classified(&slow, "network", "network.slow_speed"),
        classified(&corrected, "network", "network.slow_speed"),
        classified(&billed, "billing", "billing.overcharge"),
        classified(&corrected, "billing", "billing.overcharge"),
    ];
    let mut uow = upstream.publisher.begin().await.unwrap();
    events.iter().for_each(|(subject, event)| uow.publish(subject.clone(), event));
    uow.commit().await.unwrap();

    // A department reads an order only once intake has learned the order is that department's.
    let read_as = |department: &str, order: &WorkOrder| {
        let mut client = intake.client(&format!("dept-{department}"));
        let name = order.name.clone();
        async move { client.get_work_order(GetWorkOrderRequest { name }).await }
    };
    let learned = |department: &'static str, order: &WorkOrder| {
        let order = order.clone();
        let read_as = &read_as;
        async move {
            let what = format!("{} to be learned as {department}'s", order.name);
            eventually(&what, Duration::from_secs(20), || async { read_as(department, &order).await.ok() }).await
        }
    };
    let slow = learned("network", &slow).await.into_inner();
    assert_eq!(slow.topic, "leaf:network.slow_speed");
    let billed = learned("billing", &billed).await.into_inner();
    assert_eq!(billed.topic, "leaf:billing.overcharge");
    let corrected = learned("billing", &corrected).await.into_inner();
    assert_eq!(corrected.topic, "code:BILLING-01", "a problem code's topic stays");
    for (department, order) in [("billing", &slow), ("network", &billed), ("network", &corrected)] {
        let refused = read_as(department, order).await.unwrap_err();
        assert_eq!(refused.code(), Code::PermissionDenied, "{} read as {department}'s", order.name);
    }
    intake.stop().await;
    stop.cancel();
}
