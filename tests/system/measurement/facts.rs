//! A work order's story arrives on several feeds (opened on intake's, classified on
//! classification's), each absorbed in a transaction of its own, so the later event finds the
//! order as the earlier one stored it. It moves the order's counts out of the cells that stored
//! fact names: read back wrong, a count would leave a cell it never entered.

use csm_proto::{
    intake::v1::{Channel, CustomerProfile},
    measurement::v1::{
        CoreProcess, CreateIndicatorRequest, Dimension, Direction, Granularity, Indicator, IndicatorKind,
    },
};

use super::{beijing_noon, close, complaint_at, day_value, series};
use crate::support::TestSystem;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_order_classified_later_stays_counted_where_it_was_opened() {
    let t = TestSystem::start().await;
    let (noon, start, end) = beijing_noon(1);
    let day = (start, end);
    let mut admin = csm_cli::clients::measurement(t.system.addresses.measurement, t.admin()).unwrap();
    let classified = Indicator {
        key: "classified_orders".into(),
        name_en: "Work orders classified".into(),
        kind: IndicatorKind::Kpi as i32,
        unit: "count".into(),
        direction: Direction::HigherIsBetter as i32,
        formula: "count(work_orders where classified = true)".into(),
        process: CoreProcess::ComplaintResolution as i32,
        ..Default::default()
    };
    admin.create_indicator(CreateIndicatorRequest { indicator: Some(classified) }).await.unwrap();

    let mut complaint = complaint_at("13800000021", "GD-SZ", "话费多扣了", noon);
    complaint.channel = Channel::Wechat as i32;
    complaint.customer_profile = Some(CustomerProfile {
        region: "GD-SZ".into(),
        segment: "youth".into(),
        products: vec!["broadband".into()],
        ..Default::default()
    });
    t.intake().submit_contact(complaint).await.unwrap();
    let counted = day_value(&t, "classified_orders", day, |s| s.points.iter().any(|p| p.value > 0.0)).await;
    close(counted, 1.0, "classified once");

    // Every order, by each dimension the order was opened with: one cell holds it, no other cell
    // is left below zero.
    for (dimension, label) in [
        (Dimension::Region, "GD-SZ"),
        (Dimension::Segment, "youth"),
        (Dimension::Product, "broadband"),
        (Dimension::Channel, "wechat"),
    ] {
        let split = series(&t, "complaints_opened", Granularity::Day, dimension, day).await;
        let cells: Vec<(&str, f64)> =
            split.points.iter().filter(|p| p.value != 0.0).map(|p| (p.dimension_value.as_str(), p.value)).collect();
        assert_eq!(cells, [(label, 1.0)], "{dimension:?}: {split:?}");
    }
    t.stop().await;
}
