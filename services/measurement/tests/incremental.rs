//! Incremental absorption equals a recount from scratch: whatever the order and batching of
//! events (work orders opened, classified, corrected, resolved, reopened, called back, late or
//! early; survey answers and usage events), the cells kept as events arrive equal the cells
//! computed afresh from the final facts and observations.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::{collections::BTreeMap, sync::Arc};

use csm_measurement::{
    absorb, catalogue,
    facts::{OrderChange, Profile, Update},
    formula::Tally,
    observe::{Dims, Observation, Source},
    store,
};
use proptest::prelude::*;

const HOUR: i64 = 3_600_000_000;
/// 2026-11-20T00:00:00Z.
const BASE: i64 = 1_795_132_800_000_000;

fn text(options: &'static [&'static str]) -> impl Strategy<Value = String> {
    prop::sample::select(options).prop_map(str::to_string)
}

fn change() -> impl Strategy<Value = OrderChange> {
    let at = (0..24 * 10i64).prop_map(|h| BASE + h * HOUR + 1_234_567);
    prop_oneof![
        (
            at.clone(),
            text(&["hotline", "app", "wechat"]),
            text(&["GD-SZ", "GD-GZ", ""]),
            text(&["new", "repeat"]),
            text(&["complaint", "fault_report"]),
            text(&["", "regulator"])
        )
            .prop_map(|(opened_at, channel, region, kind, contact_type, appeal)| OrderChange::Opened {
                opened_at,
                channel,
                profile: Profile { region, segment: "premium".into(), product: "mobile".into() },
                kind,
                contact_type,
                appeal,
            }),
        Just(OrderChange::BecameRepeat),
        (
            prop::sample::select(vec![vec!["system", "billing_error"], vec!["service", "slow"], vec!["business"]]),
            text(&["billing", "network"]),
            any::<bool>()
        )
            .prop_map(|(path, department, corrected)| OrderChange::Classified {
                path: path.into_iter().map(str::to_string).collect(),
                department,
                corrected,
            }),
        (at.clone(), any::<bool>(), 0..3i32).prop_map(|(resolved_at, on_time, reopen_count)| OrderChange::Resolved {
            resolved_at,
            on_time,
            reopen_count,
            path: vec!["system".into(), "billing_error".into()],
            department: "billing".into(),
        }),
        (1..4i32).prop_map(|reopen_count| OrderChange::Reopened { reopen_count }),
        (at, any::<bool>(), text(&["satisfied", "dissatisfied", "unreachable"]))
            .prop_map(|(at, within_due, outcome)| OrderChange::CalledBack { at, within_due, outcome }),
    ]
}

fn update() -> impl Strategy<Value = Update> {
    let order = (0..6u8, prop::collection::vec(change(), 1..3))
        .prop_map(|(id, changes)| Update::Order { work_order_id: format!("wo-{id}"), changes });
    let survey = (0..24 * 10i64, 1..=5u8, text(&["overall", "network"])).prop_map(|(h, score, question)| {
        let dims = Arc::new(Dims { region: "GD-SZ".into(), ..Dims::default() });
        let observation = Observation::new(Source::Surveys, BASE + h * HOUR, dims)
            .text("scale", "csat_5")
            .text("question", question)
            .text("indicator", "csat")
            .number("score", f64::from(score))
            .number("score100", f64::from(score - 1) * 25.0)
            .number("grade", f64::from(6 - score));
        Update::Observe { observation, customer: "c1".into() }
    });
    let usage = (0..24 * 10i64, any::<bool>(), 0.0..0.1f64).prop_map(|(h, success, rate)| {
        let dims = Arc::new(Dims { product: "5G-199".into(), ..Dims::default() });
        let observation = if success {
            Observation::new(Source::Usage, BASE + h * HOUR, dims).text("type", "activation").flag("success", success)
        } else {
            Observation::new(Source::Usage, BASE + h * HOUR, dims)
                .text("type", "quality_sample")
                .text("metric", "call_drop_rate")
                .number("value", rate)
        };
        Update::Observe { observation, customer: "c2".into() }
    });
    prop_oneof![4 => order, 1 => survey, 1 => usage]
}

type Cells = BTreeMap<(i64, i16, String, i64, String), Tally>;

fn settle(cells: impl IntoIterator<Item = ((i64, i16, String, i64, String), Tally)>) -> Cells {
    let mut map = Cells::new();
    for (key, tally) in cells {
        *map.entry(key).or_default() += tally;
    }
    map.retain(|_, t| t.count != 0 || t.total.abs() > 1e-9);
    map
}

async fn check(updates: Vec<Update>, batch: usize) {
    let fixture = common::Fixture::new().await;
    let (db, calendar, measures) = (&fixture.db, &fixture.calendar, &fixture.measures);
    assert!(measures.len() > 20);
    for chunk in updates.chunks(batch) {
        absorb::absorb(db.writer(), calendar, measures, chunk.to_vec()).await.unwrap();
    }
    let incremental = settle(store::all_cells(db.writer()).await.unwrap());
    let recounted = catalogue::recount(db.writer(), calendar, measures.clone()).await.unwrap();
    let recounted = settle(recounted.into_cells().into_iter().map(|(key, tally)| {
        ((key.measure, key.grain.code(), key.dimension.key().to_string(), key.period, key.value.to_string()), tally)
    }));
    assert_eq!(incremental.len(), recounted.len(), "same cells");
    for ((key, a), (other, b)) in incremental.iter().zip(&recounted) {
        assert_eq!(key, other);
        assert_eq!(a.count, b.count, "count of {key:?}");
        assert!((a.total - b.total).abs() < 1e-6 * (1.0 + b.total.abs()), "total of {key:?}: {a:?} vs {b:?}");
    }
    fixture.db.close().await;
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn incremental_cells_equal_a_recount(updates in prop::collection::vec(update(), 1..60), batch in 1..20usize) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(check(updates, batch));
    }
}
