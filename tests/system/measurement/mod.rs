//! Measurement through its generated client, fed by the real intake, classification and
//! recovery: indicator families against hand-computed values, the satisfaction index, driver
//! analysis and linkage, reference data, alerts and the monthly report; and, read from its
//! database, how it lays out its tables.

mod analysis;
mod browser;
mod closed_loop;
mod facts;
mod indicators;
mod reports;
mod storage;

use std::time::Duration;

use chrono::{DateTime, Days, NaiveTime, TimeZone, Utc};
use csm_kit::time;
use csm_proto::{
    intake::v1::{
        Channel, ContactType, CreateSurveyAnswerRequest, CreateUsageEventRequest, CustomerProfile,
        SubmitContactRequest, SurveyAnswer, SurveyScale, UsageEvent, ingest_request::Item, usage_event::Detail,
    },
    measurement::v1::{Dimension, Granularity, QuerySeriesRequest, Series},
};

use crate::support::{TestSystem, eventually};

pub const WAIT: Duration = Duration::from_secs(30);

/// Noon in Beijing `days` days ago, and that Beijing day as `[start, end)`: data placed there
/// lands in one known day whatever the hour the test runs.
pub fn beijing_noon(days: u64) -> (DateTime<Utc>, DateTime<Utc>, DateTime<Utc>) {
    let zone: chrono_tz::Tz = "Asia/Shanghai".parse().unwrap();
    let date = Utc::now().with_timezone(&zone).date_naive().checked_sub_days(Days::new(days)).unwrap();
    let at = |t: NaiveTime| zone.from_local_datetime(&date.and_time(t)).unwrap().with_timezone(&Utc);
    let start = at(NaiveTime::MIN);
    (at(NaiveTime::from_hms_opt(12, 0, 0).unwrap()), start, start + chrono::Duration::days(1))
}

/// A customer's first contact: an inquiry that records their region and segment.
pub fn introduce(phone: &str, region: &str, at: DateTime<Utc>) -> Item {
    Item::Contact(SubmitContactRequest {
        request_id: uuid::Uuid::new_v4().to_string(),
        channel: Channel::MobileApp as i32,
        phone_number: phone.into(),
        contact_type: ContactType::Inquiry as i32,
        text: "查询套餐".into(),
        occurred_at: Some(time::to_timestamp(at)),
        customer_profile: Some(CustomerProfile {
            region: region.into(),
            segment: "premium".into(),
            ..Default::default()
        }),
        ..Default::default()
    })
}

pub fn complaint_at(phone: &str, region: &str, text: &str, at: DateTime<Utc>) -> SubmitContactRequest {
    SubmitContactRequest {
        request_id: uuid::Uuid::new_v4().to_string(),
        channel: Channel::HotlineAgent as i32,
        phone_number: phone.into(),
        contact_type: ContactType::Complaint as i32,
        text: text.into(),
        occurred_at: Some(time::to_timestamp(at)),
        customer_profile: Some(CustomerProfile { region: region.into(), ..Default::default() }),
        ..Default::default()
    }
}

pub fn answer(phone: &str, scale: SurveyScale, score: f64, question: &str, indicator: &str, at: DateTime<Utc>) -> Item {
    Item::SurveyAnswer(CreateSurveyAnswerRequest {
        request_id: uuid::Uuid::new_v4().to_string(),
        survey_answer: Some(SurveyAnswer {
            phone_number: phone.into(),
            scale: scale as i32,
            score,
            question: question.into(),
            indicator: indicator.into(),
            occurred_at: Some(time::to_timestamp(at)),
            ..Default::default()
        }),
    })
}

pub fn usage(phone: &str, product: &str, detail: Detail, at: DateTime<Utc>) -> Item {
    Item::UsageEvent(CreateUsageEventRequest {
        request_id: uuid::Uuid::new_v4().to_string(),
        usage_event: Some(UsageEvent {
            phone_number: phone.into(),
            product_code: product.into(),
            occurred_at: Some(time::to_timestamp(at)),
            detail: Some(detail),
            ..Default::default()
        }),
    })
}

pub use crate::support::ingest;

pub async fn series(
    t: &TestSystem,
    indicator: &str,
    granularity: Granularity,
    group_by: Dimension,
    (start, end): (DateTime<Utc>, DateTime<Utc>),
) -> Series {
    t.measurement()
        .query_series(QuerySeriesRequest {
            indicator: format!("indicators/{indicator}"),
            granularity: granularity as i32,
            group_by: group_by as i32,
            start_time: Some(time::to_timestamp(start)),
            end_time: Some(time::to_timestamp(end)),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
}

/// The indicator's value for the day, once `ready` holds for its series.
pub async fn day_value(
    t: &TestSystem,
    indicator: &str,
    day: (DateTime<Utc>, DateTime<Utc>),
    ready: impl Fn(&Series) -> bool,
) -> f64 {
    let series = eventually(&format!("{indicator} to be counted"), WAIT, || async {
        let series = series(t, indicator, Granularity::Day, Dimension::None, day).await;
        ready(&series).then_some(series)
    })
    .await;
    assert_eq!(series.points.len(), 1, "{indicator}: one day, {series:?}");
    series.points[0].value
}

pub fn close(actual: f64, expected: f64, what: &str) {
    assert!((actual - expected).abs() < 1e-9, "{what}: {actual} != {expected}");
}
