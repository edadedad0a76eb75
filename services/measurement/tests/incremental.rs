//! Incremental absorption equals a recount from scratch: whatever the order and batching of
//! events (work orders opened, classified, corrected, resolved, reopened, called back, late or
//! early; survey answers and usage events; detractor follow-ups and appeal risks, replayed or
//! out of order), the cells kept as events arrive, bins included, equal the cells computed
//! afresh from the final facts and observations. And the closed loop's snapshots give the same
//! cells whatever order they arrive in.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::{collections::BTreeMap, sync::Arc};

use csm_kit::time;
use csm_measurement::{
    absorb, catalogue,
    facts::{LoopFact, LoopKey, LoopKind, LoopRecord, OrderChange, Profile, Update},
    formula::Tally,
    observe::{Dims, Observation, Source},
    store,
};
use csm_proto::recovery::v1::{
    AppealRiskRaised, Case, ContactMethod, DetractorAnswer, DetractorFollowUp, DetractorRoute,
};
use proptest::prelude::*;
use sea_orm::TransactionTrait;

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
        (at.clone(), any::<bool>(), 0..3i32, prop::option::of(any::<bool>())).prop_map(
            |(resolved_at, on_time, reopen_count, answered_late)| OrderChange::Resolved {
                resolved_at,
                on_time,
                reopen_count,
                path: vec!["system".into(), "billing_error".into()],
                department: "billing".into(),
                answered_late,
            }
        ),
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
    prop_oneof![4 => order, 1 => survey, 1 => usage, 2 => closed_loop(1..40)]
}

/// A moment after the answer, in minutes and a few microseconds (so the 48-hour boundary and
/// minute bins are crossed both ways).
fn after() -> impl Strategy<Value = Option<i64>> {
    prop::option::of((0..5_000i64, 0..3i64).prop_map(|(minutes, micros)| minutes * 60_000_000 + micros))
}

/// A snapshot of one of a few detractor loops or appeal-risk steps, carried by an event of
/// sequence `version`.
fn closed_loop(version: std::ops::Range<i64>) -> impl Strategy<Value = Update> {
    let detractor = (0..4u8, version.clone(), 0..24 * 10i64, after(), after(), after(), text(&["billing", "network"]))
        .prop_map(|(id, version, h, contact, close, recover, department)| {
            let at = BASE + h * HOUR + 17;
            let stamp = |offset: Option<i64>| offset.map(|o| time::timestamp_from_micros(at + o));
            let follow_up = DetractorFollowUp {
                answer: Some(DetractorAnswer {
                    survey_answer: format!("surveyAnswers/a-{id}"),
                    scale: "SURVEY_SCALE_CSAT_5".into(),
                    score: 1.0 + f64::from(id % 2),
                    answer_time: Some(time::timestamp_from_micros(at)),
                    work_order: if id % 2 == 0 { format!("workOrders/wo-{id}") } else { String::new() },
                    ..Default::default()
                }),
                route: if id % 2 == 0 { DetractorRoute::ReopenedCase } else { DetractorRoute::CareTask } as i32,
                department,
                contact_method: ContactMethod::Sms as i32,
                contact_time: stamp(contact),
                close_time: stamp(close),
                recover_time: stamp(recover),
                region: "GD-SZ".into(),
                ..Default::default()
            };
            let key = LoopKey { kind: LoopKind::Detractor, key: format!("a-{id}") };
            Update::Loop { key, fact: LoopFact { version, at, record: LoopRecord::Detractor(Box::new(follow_up)) } }
        });
    let appeal = (0..3u8, version, 0..24 * 10i64, any::<bool>()).prop_map(|(id, version, h, past_due)| {
        let case = Case {
            name: format!("cases/c-{id}"),
            department: "billing".into(),
            path: vec!["system".into(), "billing_error".into()],
            contact_type: "CONTACT_TYPE_COMPLAINT".into(),
            ..Default::default()
        };
        let raised = AppealRiskRaised { case: Some(case), escalate_to: "service quality office".into(), past_due };
        let step = if past_due { "past_due" } else { "warning" };
        let key = LoopKey { kind: LoopKind::AppealRisk, key: format!("c-{id}/{step}") };
        Update::Loop {
            key,
            fact: LoopFact { version, at: BASE + h * HOUR, record: LoopRecord::AppealRisk(Box::new(raised)) },
        }
    });
    prop_oneof![3 => detractor, 1 => appeal]
}

type Cells = BTreeMap<(i64, i16, String, i64, String), Tally>;

fn settle(cells: impl IntoIterator<Item = ((i64, i16, String, i64, String), Tally)>) -> Cells {
    let mut map = Cells::new();
    for (key, tally) in cells {
        *map.entry(key).or_default() += tally;
    }
    map.retain(|_, t| t.count != 0 || t.total.abs() > 1e-9 || !t.bins.is_empty());
    map
}

async fn absorbed(updates: &[Update], batch: usize) -> Cells {
    let fixture = common::Fixture::new().await;
    let (db, calendar, measures) = (&fixture.db, &fixture.calendar, &fixture.measures);
    let cache = absorb::FactCache::new();
    for chunk in updates.chunks(batch) {
        absorb::absorb(db.writer(), &cache, calendar, measures, chunk.to_vec()).await.unwrap();
    }
    let cells = settle(store::all_cells(db.writer()).await.unwrap());
    fixture.db.close().await;
    cells
}

/// The cells a recount from the stored facts and observations gives.
async fn recounted(fixture: &common::Fixture) -> Cells {
    let recount = catalogue::recount(fixture.db.writer(), &fixture.calendar, fixture.measures.clone()).await.unwrap();
    settle(recount.into_cells().into_iter().map(|(key, tally)| {
        ((key.measure, key.grain.code(), key.dimension.key().to_string(), key.period, key.value.to_string()), tally)
    }))
}

async fn check(updates: Vec<Update>, batch: usize) {
    let fixture = common::Fixture::new().await;
    let (db, calendar, measures) = (&fixture.db, &fixture.calendar, &fixture.measures);
    assert!(measures.len() > 20);
    // Two processes' kept facts, as two replicas taking turns: each must notice the other's
    // batches (every third) and not work from facts the other has since changed.
    let (ours, theirs) = (absorb::FactCache::new(), absorb::FactCache::new());
    for (n, chunk) in updates.chunks(batch).enumerate() {
        let cache = if n % 3 == 2 { &theirs } else { &ours };
        absorb::absorb(db.writer(), cache, calendar, measures, chunk.to_vec()).await.unwrap();
    }
    let incremental = settle(store::all_cells(db.writer()).await.unwrap());
    let recounted = recounted(&fixture).await;
    assert_same(&incremental, &recounted);
    fixture.db.close().await;
}

/// Absorbs `updates` in batches with one process's kept facts, but one batch (the `lost`th,
/// counted round) inside a transaction that is rolled back: the cells must be those of the other
/// batches alone, and agree with a recount of the facts left.
async fn check_rolled_back(updates: Vec<Update>, batch: usize, lost: usize) {
    let fixture = common::Fixture::new().await;
    let (db, calendar, measures) = (&fixture.db, &fixture.calendar, &fixture.measures);
    let cache = absorb::FactCache::new();
    let lost = lost % updates.len().div_ceil(batch);
    let mut kept = Vec::new();
    for (n, chunk) in updates.chunks(batch).enumerate() {
        if n == lost {
            let txn = db.writer().begin().await.unwrap();
            absorb::absorb(&txn, &cache, calendar, measures, chunk.to_vec()).await.unwrap();
            txn.rollback().await.unwrap();
        } else {
            absorb::absorb(db.writer(), &cache, calendar, measures, chunk.to_vec()).await.unwrap();
            kept.extend_from_slice(chunk);
        }
    }
    let incremental = settle(store::all_cells(db.writer()).await.unwrap());
    let recounted = recounted(&fixture).await;
    fixture.db.close().await;
    assert_same(&incremental, &recounted);
    assert_same(&incremental, &absorbed(&kept, 1).await);
}

/// The same cells: counts and bins exactly, sums but for rounding (the order of additions).
fn assert_same(a: &Cells, b: &Cells) {
    assert_eq!(a.len(), b.len(), "same cells");
    for ((key, a), (other, b)) in a.iter().zip(b) {
        assert_eq!(key, other);
        assert_eq!(a.count, b.count, "count of {key:?}");
        assert_eq!(a.bins, b.bins, "bins of {key:?}");
        assert!((a.total - b.total).abs() < 1e-6 * (1.0 + b.total.abs()), "total of {key:?}: {a:?} vs {b:?}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn incremental_cells_equal_a_recount(updates in prop::collection::vec(update(), 1..60), batch in 1..20usize) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(check(updates, batch));
    }

    #[test]
    fn a_rolled_back_batch_counts_for_nothing(
        updates in prop::collection::vec(update(), 2..60),
        batch in 1..10usize,
        lost in 0..64usize,
    ) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(check_rolled_back(updates, batch, lost));
    }

    #[test]
    fn closed_loop_snapshots_give_the_same_cells_in_any_order(
        snapshots in prop::collection::vec(closed_loop(0..1), 1..30),
        batch in 1..10usize,
        seed in any::<u64>(),
    ) {
        // Each snapshot carried by an event of its own sequence, then replayed in another order
        // (a shuffle, with some events twice).
        let in_order: Vec<Update> = snapshots
            .into_iter()
            .enumerate()
            .map(|(sequence, update)| match update {
                Update::Loop { key, mut fact } => {
                    fact.version = sequence as i64 + 1;
                    Update::Loop { key, fact }
                }
                other => other,
            })
            .collect();
        let mut shuffled = in_order.clone();
        let mut state = seed | 1;
        for i in (1..shuffled.len()).rev() {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            shuffled.swap(i, (state % (i as u64 + 1)) as usize);
        }
        shuffled.extend(in_order.iter().step_by(3).cloned());
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let (a, b) = runtime.block_on(async { (absorbed(&in_order, batch).await, absorbed(&shuffled, 1).await) });
        assert_same(&a, &b);
    }
}
