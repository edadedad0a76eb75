//! High-frequency complainants at the boundaries of the rule: 2 vs 3 complaints in 7 days, 7 vs 8
//! in 30 days, a late complaint that completes a past window, and active vs inactive.

use std::time::Duration;

use csm_kit::feed::decode;
use csm_proto::intake::v1::{
    GetCustomerRequest, HighFrequencyRule, HighFrequencyStatus, HighFrequencyStatusChanged,
    ListHighFrequencyComplainantsRequest,
};

use crate::support::{StandaloneIntake, complaint_days_ago, eventually, read_feed};

/// The customer's high-frequency status as an agent reads it.
pub(super) async fn status(intake: &StandaloneIntake, phone: &str) -> HighFrequencyStatus {
    let customer = intake
        .client("agent")
        .get_customer(GetCustomerRequest { phone_number: phone.into(), ..Default::default() })
        .await
        .unwrap()
        .into_inner();
    customer.high_frequency.unwrap().status()
}

async fn complain(intake: &StandaloneIntake, phone: &str, days_ago: f64) {
    intake.intake().submit_contact(complaint_days_ago(phone, "信号差，经常掉线", days_ago)).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_complaints_within_seven_days_make_a_high_frequency_complainant_two_do_not() {
    let intake = StandaloneIntake::start(|_| {}).await;
    let phone = "13800000001";
    complain(&intake, phone, 6.0).await;
    complain(&intake, phone, 3.0).await;
    assert_eq!(status(&intake, phone).await, HighFrequencyStatus::None, "two complaints");
    complain(&intake, phone, 0.5).await;
    assert_eq!(status(&intake, phone).await, HighFrequencyStatus::Active, "the third within 7 days");

    let listed = intake
        .client("agent")
        .list_high_frequency_complainants(ListHighFrequencyComplainantsRequest::default())
        .await
        .unwrap()
        .into_inner()
        .complainants;
    assert_eq!(listed.len(), 1);
    let high_frequency = listed[0].high_frequency.unwrap();
    let window = high_frequency.qualifying_window.unwrap();
    assert_eq!((window.rule(), window.complaints), (HighFrequencyRule::Week, 3));
    assert_eq!((high_frequency.complaints_last_7_days, high_frequency.complaints_last_30_days), (3, 3));

    let changes = read_feed::<HighFrequencyStatusChanged>(&mut intake.feed(), 1).await;
    let change: HighFrequencyStatusChanged = decode(&changes[0]).unwrap();
    assert_eq!(change.previous_status(), HighFrequencyStatus::None);
    assert_eq!(change.high_frequency.unwrap().status(), HighFrequencyStatus::Active);
    intake.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seven_complaints_within_thirty_days_are_not_enough_eight_are() {
    let intake = StandaloneIntake::start(|_| {}).await;
    let phone = "13800000002";
    // Every four days, so no 7 days ever hold three: days 29, 25, ..., 5 ago.
    for i in 0..7 {
        complain(&intake, phone, 29.0 - 4.0 * f64::from(i)).await;
    }
    assert_eq!(status(&intake, phone).await, HighFrequencyStatus::None, "seven in 30 days");
    complain(&intake, phone, 1.5).await;
    assert_eq!(status(&intake, phone).await, HighFrequencyStatus::Active, "the eighth within 30 days");
    let customer = intake
        .client("agent")
        .get_customer(GetCustomerRequest { phone_number: phone.into(), ..Default::default() })
        .await
        .unwrap()
        .into_inner();
    let window = customer.high_frequency.unwrap().qualifying_window.unwrap();
    assert_eq!((window.rule(), window.complaints), (HighFrequencyRule::Month, 8));
    intake.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_complaint_completes_a_past_window_by_when_it_was_made() {
    let intake = StandaloneIntake::start(|_| {}).await;
    let phone = "13800000003";
    complain(&intake, phone, 20.0).await;
    complain(&intake, phone, 14.0).await;
    // Days 20 and 14 ago are six days apart; the complaint of 17 days ago arrives last.
    assert_eq!(status(&intake, phone).await, HighFrequencyStatus::None);
    complain(&intake, phone, 17.0).await;
    assert_eq!(status(&intake, phone).await, HighFrequencyStatus::Active);
    // A complaint spread (20, 13, ... ) across more than 7 days would not have counted.
    let other = "13800000004";
    for days in [20.0, 16.0, 12.9] {
        complain(&intake, other, days).await;
    }
    assert_eq!(status(&intake, other).await, HighFrequencyStatus::None, "7 days and a little more");
    intake.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_old_window_makes_an_inactive_complainant_until_they_complain_again() {
    let intake = StandaloneIntake::start(|_| {}).await;
    let phone = "13800000005";
    for days in [120.0, 119.0, 118.0] {
        complain(&intake, phone, days).await;
    }
    assert_eq!(status(&intake, phone).await, HighFrequencyStatus::Inactive, "qualified, but 118 days ago");
    complain(&intake, phone, 0.0).await;
    assert_eq!(status(&intake, phone).await, HighFrequencyStatus::Active);
    let only_inactive = intake
        .client("agent")
        .list_high_frequency_complainants(ListHighFrequencyComplainantsRequest {
            status: HighFrequencyStatus::Inactive as i32,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(only_inactive.complainants.is_empty());
    intake.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_active_complainant_who_stops_complaining_becomes_inactive() {
    let intake = StandaloneIntake::start(|settings| {
        settings.high_frequency.inactive_after = Duration::from_secs(1);
        settings.high_frequency.sweep_interval = Duration::from_millis(100);
    })
    .await;
    let phone = "13800000006";
    for _ in 0..3 {
        complain(&intake, phone, 0.0).await;
    }
    assert_eq!(status(&intake, phone).await, HighFrequencyStatus::Active);
    eventually("the complainant to become inactive", Duration::from_secs(10), || async {
        (status(&intake, phone).await == HighFrequencyStatus::Inactive).then_some(())
    })
    .await;
    let changes = read_feed::<HighFrequencyStatusChanged>(&mut intake.feed(), 2).await;
    let left: HighFrequencyStatusChanged = decode(&changes[1]).unwrap();
    assert_eq!(left.previous_status(), HighFrequencyStatus::Active);
    assert_eq!(left.high_frequency.unwrap().status(), HighFrequencyStatus::Inactive);
    intake.stop().await;
}
