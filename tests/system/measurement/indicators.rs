//! Each indicator family computed from what intake hears, against values worked out by hand.

use csm_proto::{
    intake::v1::{
        Activation, AppealBody, BillDispute, BillingRecord, DisputeOutcome, QualitySample, SurveyScale,
        ingest_request::Item, usage_event::Detail,
    },
    measurement::v1::{
        CoreProcess, CreateIndicatorRequest, Dimension, Direction, Granularity, Indicator, IndicatorAlert,
        IndicatorKind, ListIndicatorsRequest, SetCustomerBaseRequest, UpdateIndicatorRequest,
    },
};
use prost::Name;
use tonic::Code;

use super::{answer, beijing_noon, close, complaint_at, day_value, ingest, series, usage};
use crate::support::{TestSystem, read_feed};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_indicator_family_matches_values_worked_out_by_hand() {
    let t = TestSystem::start().await;
    let (noon, start, end) = beijing_noon(2);
    let day = (start, end);
    let mut measurement = t.measurement();
    let admin = || csm_cli::clients::measurement(t.system.addresses.measurement, t.admin()).unwrap();
    for (region, customers) in [("GD-SZ", 20_000), ("GD-GZ", 30_000)] {
        let request = SetCustomerBaseRequest { region: region.into(), customers };
        admin().set_customer_base(request).await.unwrap();
    }

    // Five work orders: four new (one an appeal to the regulator) and one repeat of the first.
    let first = complaint_at("13800000001", "GD-SZ", "话费多扣了", noon);
    let first_order = t.intake().submit_contact(first).await.unwrap().into_inner().work_order.unwrap();
    let mut appeal = complaint_at("13800000002", "GD-SZ", "宽带一直断", noon);
    appeal.appeal = AppealBody::Regulator as i32;
    let mut repeat = complaint_at("13800000001", "GD-SZ", "还是多扣", noon + chrono::Duration::hours(1));
    repeat.related_work_order = first_order.name.clone();
    for request in [
        appeal,
        complaint_at("13800000003", "GD-GZ", "信号差", noon),
        complaint_at("13800000004", "GD-GZ", "营业员态度差", noon),
        repeat,
    ] {
        t.intake().submit_contact(request).await.unwrap();
    }

    // Surveys and usage, all on the same Beijing day.
    let at = noon;
    let mut items: Vec<Item> = Vec::new();
    for score in [5.0, 4.0, 3.0, 2.0] {
        items.push(answer("13900000001", SurveyScale::Csat5, score, "after_complaint", "csat", at));
    }
    for score in [10.0, 9.0, 8.0, 5.0] {
        items.push(answer("13900000002", SurveyScale::Score010, score, "recommend", "nps", at));
    }
    for score in [2.0, 4.0] {
        items.push(answer("13900000003", SurveyScale::Ces7, score, "effort", "ces", at));
    }
    for score in [5.0, 3.0] {
        items.push(answer("13900000004", SurveyScale::Likert5, score, "overall", "", at));
    }
    for success in [true, true, false] {
        let failure_reason = if success { String::new() } else { "号码资源不足".into() };
        items.push(usage("13900000005", "5G-199", Detail::Activation(Activation { success, failure_reason }), at));
    }
    for month in ["2026-07", "2026-08", "2026-09", "2026-10"] {
        let bill = BillingRecord { period: month.into(), amount_fen: 19_900 };
        items.push(usage("13900000006", "5G-199", Detail::BillingRecord(bill), at));
    }
    let dispute = BillDispute {
        dispute_id: "d-1".into(),
        period: "2026-10".into(),
        disputed_amount_fen: 5_000,
        outcome: DisputeOutcome::Upheld as i32,
    };
    items.push(usage("13900000006", "5G-199", Detail::BillDispute(dispute), at));
    for (metric, value) in [
        ("call_drop_rate", 0.01),
        ("call_drop_rate", 0.03),
        ("broadband_speed_mbps", 80.0),
        ("broadband_speed_mbps", 100.0),
    ] {
        let sample = QualitySample { metric: metric.into(), value, unit: String::new() };
        items.push(usage("13900000007", "FTTH-1000M", Detail::QualitySample(sample), at));
    }
    ingest(&t, items).await;

    let orders = |s: &csm_proto::measurement::v1::Series| s.points.iter().map(|p| p.sample_size).sum::<i64>() == 5;
    // 5 orders over 50,000 customers; 3 of them over GD-SZ's 20,000.
    close(day_value(&t, "complaints_per_10k_customers", day, orders).await, 1.0, "per 10,000");
    let by_region = series(&t, "complaints_per_10k_customers", Granularity::Day, Dimension::Region, day).await;
    let regions: Vec<(&str, f64)> = by_region.points.iter().map(|p| (p.dimension_value.as_str(), p.value)).collect();
    assert_eq!(regions.iter().map(|r| r.0).collect::<Vec<_>>(), ["GD-GZ", "GD-SZ"]);
    close(regions[0].1, 2.0 / 30_000.0 * 10_000.0, "GD-GZ per 10,000");
    close(regions[1].1, 1.5, "GD-SZ per 10,000");
    close(day_value(&t, "complaints_opened", day, orders).await, 5.0, "complaints opened");
    close(day_value(&t, "repeat_complaint_rate", day, orders).await, 0.2, "repeat rate");
    close(
        day_value(&t, "regulator_appeals_per_million", day, |s| !s.points.is_empty()).await,
        20.0,
        "appeals per million",
    );
    // Surveys: CSAT 2 of 4 at 4 or 5; NPS (2 promoters - 1 detractor) / 4; CES mean; overall 100 and 50.
    let answered = |n: i64| move |s: &csm_proto::measurement::v1::Series| s.points.iter().any(|p| p.sample_size >= n);
    close(day_value(&t, "csat", day, answered(4)).await, 0.5, "CSAT");
    close(day_value(&t, "nps", day, answered(4)).await, 25.0, "NPS");
    close(day_value(&t, "ces", day, answered(2)).await, 3.0, "CES");
    close(day_value(&t, "overall_satisfaction", day, answered(2)).await, 75.0, "overall satisfaction");
    // Usage: 2 of 3 activations; 1 upheld dispute over 4 bills; mean samples.
    close(day_value(&t, "activation_success_rate", day, answered(3)).await, 2.0 / 3.0, "activation success");
    close(day_value(&t, "billing_accuracy", day, answered(4)).await, 0.75, "billing accuracy");
    close(day_value(&t, "call_drop_rate", day, answered(2)).await, 0.02, "call drop rate");
    close(day_value(&t, "broadband_speed_mbps", day, answered(2)).await, 90.0, "broadband speed");

    // The same day as part of its week and month gives the same rate.
    let week = series(&t, "csat", Granularity::Week, Dimension::None, day).await;
    assert!(week.points.is_empty() || (week.points[0].value - 0.5).abs() < 1e-9);
    let month_start = beijing_month_start(start);
    let month = series(&t, "repeat_complaint_rate", Granularity::Month, Dimension::None, (month_start, end)).await;
    assert_eq!(month.points.len(), 1);
    assert_eq!((month.points[0].numerator, month.points[0].denominator), (1, 5));

    // An indicator added now counts the history already absorbed: the NPS passives (7-8).
    let passives = Indicator {
        key: "nps_passive_count".into(),
        name_en: "NPS passives".into(),
        kind: IndicatorKind::Kpi as i32,
        unit: "count".into(),
        direction: Direction::LowerIsBetter as i32,
        formula: r#"count(surveys where indicator = "nps" and score >= 7 and score <= 8)"#.into(),
        process: CoreProcess::CustomerUsage as i32,
        ..Default::default()
    };
    let created = admin().create_indicator(CreateIndicatorRequest { indicator: Some(passives.clone()) }).await.unwrap();
    assert_eq!(created.into_inner().name, "indicators/nps_passive_count");
    close(day_value(&t, "nps_passive_count", day, |s| !s.points.is_empty()).await, 1.0, "passives from history");
    let status =
        admin().create_indicator(CreateIndicatorRequest { indicator: Some(passives.clone()) }).await.unwrap_err();
    assert_eq!(status.code(), Code::AlreadyExists);

    // Mistakes are named field by field, and nothing is added.
    let before = measurement.list_indicators(ListIndicatorsRequest {}).await.unwrap().into_inner().indicators.len();
    let bad = Indicator {
        key: "Bad Key".into(),
        formula: "count(orders)".into(),
        target: Some(0.9),
        warning_threshold: Some(0.95),
        direction: Direction::HigherIsBetter as i32,
        ..passives
    };
    let status = admin().create_indicator(CreateIndicatorRequest { indicator: Some(bad) }).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    for field in ["indicator.key", "indicator.formula", "indicator.warning_threshold"] {
        assert!(status.message().contains(field), "{field} in {}", status.message());
    }
    let after = measurement.list_indicators(ListIndicatorsRequest {}).await.unwrap().into_inner().indicators.len();
    assert_eq!(after, before);
    let status = measurement.create_indicator(CreateIndicatorRequest::default()).await.unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied, "an analyst does not change the catalogue");

    t.stop().await;
}

fn beijing_month_start(day_start: chrono::DateTime<chrono::Utc>) -> chrono::DateTime<chrono::Utc> {
    use chrono::{Datelike, TimeZone};
    let zone: chrono_tz::Tz = "Asia/Shanghai".parse().unwrap();
    let local = day_start.with_timezone(&zone).date_naive().with_day(1).unwrap();
    zone.from_local_datetime(&local.and_hms_opt(0, 0, 0).unwrap()).unwrap().with_timezone(&chrono::Utc)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_indicator_past_its_warning_threshold_raises_an_alert_and_clears_it() {
    let t = TestSystem::start().await;
    let admin = csm_cli::clients::measurement(t.system.addresses.measurement, t.admin()).unwrap();
    // Lower is better: more than one complaint today is past the warning threshold of 1.
    let update = UpdateIndicatorRequest {
        name: "indicators/complaints_opened".into(),
        indicator: Some(Indicator { target: Some(0.0), warning_threshold: Some(1.0), ..Default::default() }),
        update_mask: vec!["target".into(), "warning_threshold".into()],
    };
    let updated = admin.clone().update_indicator(update).await.unwrap().into_inner();
    assert_eq!((updated.target, updated.warning_threshold), (Some(0.0), Some(1.0)));
    assert_eq!(updated.formula, "count(work_orders)", "the formula is kept");
    let now = chrono::Utc::now();
    for phone in ["13700000001", "13700000002"] {
        t.intake().submit_contact(complaint_at(phone, "GD-SZ", "投诉", now)).await.unwrap();
    }
    let mut feed = csm_cli::clients::feed(t.system.addresses.measurement, t.admin()).unwrap();
    let raised = read_feed::<IndicatorAlert>(&mut feed, 1).await;
    let alert = IndicatorAlert::decode_event(&raised[0]);
    assert!(alert.raised);
    assert_eq!(
        (alert.indicator.as_str(), alert.value, alert.warning_threshold),
        ("indicators/complaints_opened", 2.0, 1.0)
    );
    assert_eq!(alert.owner_department, "service_centre");

    // Raising the threshold past today's value clears it: one more event, and no repeat.
    let update = UpdateIndicatorRequest {
        name: "indicators/complaints_opened".into(),
        indicator: Some(Indicator { warning_threshold: Some(5.0), ..Default::default() }),
        update_mask: vec!["warning_threshold".into()],
    };
    admin.clone().update_indicator(update).await.unwrap();
    let events = read_feed::<IndicatorAlert>(&mut feed, 2).await;
    let cleared = IndicatorAlert::decode_event(&events[1]);
    assert!(!cleared.raised);
    assert_eq!(IndicatorAlert::full_name(), "csm.measurement.v1.IndicatorAlert");

    let bad = UpdateIndicatorRequest {
        name: "indicators/complaints_opened".into(),
        indicator: Some(Indicator { warning_threshold: Some(-1.0), ..Default::default() }),
        update_mask: vec!["warning_threshold".into(), "formula".into()],
    };
    let status = admin.clone().update_indicator(bad).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(status.message().contains("update_mask"));
    t.stop().await;
}

trait DecodeEvent: Sized {
    fn decode_event(event: &csm_proto::feed::v1::Event) -> Self;
}

impl DecodeEvent for IndicatorAlert {
    fn decode_event(event: &csm_proto::feed::v1::Event) -> Self {
        use prost::Message;
        IndicatorAlert::decode(event.payload.as_ref().unwrap().value.as_slice()).unwrap()
    }
}
