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

use csm_kit::{config::DatabaseSettings, db::Database};
use csm_measurement::store::migration::Migrator;
use sea_orm::{ConnectionTrait, DbBackend, Statement};

use super::{beijing_noon, close, complaint_at, day_value, series};
use crate::support::{Backend, TestSystem};

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

/// On PostgreSQL the tables every batch rewrites (work-order facts, cells and their bins) leave
/// half of each page free, so that a row amended by a later feed stays on its page with no new
/// index entry (docs/performance.md). SQLite updates in place: there the step is only recorded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tables_every_batch_rewrites_leave_room_on_their_pages() {
    let backend = Backend::from_env();
    let settings = DatabaseSettings { url: backend.url("measurement"), ..DatabaseSettings::default() };
    let db = Database::open::<Migrator>(&settings).await.unwrap();
    let applied = db
        .reader()
        .query_one_raw(Statement::from_string(
            db.backend(),
            "SELECT version FROM seaql_migrations WHERE version = 'm20261206_000001_room_for_updates'",
        ))
        .await
        .unwrap();
    assert!(applied.is_some(), "the migration is recorded");
    if db.backend() == DbBackend::Postgres {
        for table in ["order_fact", "cell", "cell_bin"] {
            let options = db
                .reader()
                .query_one_raw(Statement::from_sql_and_values(
                    DbBackend::Postgres,
                    "SELECT array_to_string(reloptions, ',') FROM pg_class WHERE relname = $1 AND relkind = 'r'",
                    [table.into()],
                ))
                .await
                .unwrap()
                .and_then(|row| row.try_get_by_index::<Option<String>>(0).ok().flatten());
            assert_eq!(options.as_deref(), Some("fillfactor=50"), "{table}");
        }
    }
    db.close().await;
    backend.cleanup().await;
}
