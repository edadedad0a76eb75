//! Effect evaluation of a remediation programme: complaints and on-time resolution for the root
//! cause it addresses, before against after, with the test each formula calls for; and the
//! sweep that evaluates a programme once its verification window has ended and publishes it.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use csm_kit::{
    feed::{Publisher, read_head},
    time::Clock,
};
use csm_measurement::{
    absorb,
    alerts::Sweep,
    catalogue, effects,
    error::Error,
    facts::{OrderChange, Profile, ProgrammeWindows, Update},
    report, store,
};
use csm_proto::measurement::v1::GetReportRequest;

const DAY: i64 = 86_400_000_000;
/// 2026-09-01T04:00:00Z, noon in Beijing.
const BASE: i64 = 1_788_235_200_000_000;

fn order(id: usize, opened_at: i64, leaf: &str, on_time: bool) -> Update {
    Update::Order {
        work_order_id: format!("wo-{id}"),
        changes: vec![
            OrderChange::Opened {
                opened_at,
                channel: "hotline_agent".into(),
                profile: Profile::default(),
                kind: "new".into(),
                contact_type: "complaint".into(),
                appeal: String::new(),
            },
            OrderChange::Classified {
                path: vec!["service".into(), leaf.into()],
                department: "operations_maintenance".into(),
                corrected: false,
            },
            OrderChange::Resolved {
                resolved_at: opened_at + DAY / 4,
                on_time,
                reopen_count: 0,
                path: Vec::new(),
                department: String::new(),
                answered_late: None,
            },
        ],
    }
}

#[tokio::test]
async fn a_programme_is_judged_on_its_root_cause_before_and_after_and_published_when_its_window_ends() {
    let fixture = common::Fixture::new().await;
    let (db, calendar, measures) = (&fixture.db, &fixture.calendar, &fixture.measures);

    // Baseline: 30 slow-repair complaints over 10 days, 15 resolved on time. After: 10, 9 on time.
    // Another cause's complaints do not count.
    let mut updates = Vec::new();
    for i in 0..30 {
        updates.push(order(i, BASE + (i as i64 % 10) * DAY, "broadband_repair_slow", i % 2 == 0));
        updates.push(order(100 + i, BASE + (i as i64 % 10) * DAY, "billing_error", false));
    }
    for i in 0..10 {
        updates.push(order(200 + i, BASE + (20 + i as i64) * DAY, "broadband_repair_slow", i != 0));
    }
    updates.push(Update::Programme(ProgrammeWindows {
        programme: "programmes/p1".into(),
        title: "宽带报修提速".into(),
        leaf: "broadband_repair_slow".into(),
        baseline: (BASE - DAY / 2, BASE + 10 * DAY - DAY / 2),
        verification: (BASE + 20 * DAY - DAY / 2, BASE + 30 * DAY - DAY / 2),
    }));
    absorb::absorb(db.writer(), &absorb::FactCache::new(), calendar, measures, updates).await.unwrap();

    let catalogue = catalogue::load(db.reader()).await.unwrap();
    let indicators: Vec<_> = ["complaints_opened", "on_time_resolution_rate", "average_handling_hours"]
        .into_iter()
        .map(|key| catalogue.get(key).unwrap())
        .collect();
    let windows = effects::windows(db.reader(), "programmes/p1").await.unwrap();
    let during = BASE + 25 * DAY;
    let effect = effects::evaluate(db.reader(), calendar, windows.clone(), &indicators, during).await.unwrap();
    assert!(!effect.r#final, "the verification window is still running");
    let [opened, on_time, handling] = effect.effects.as_slice() else { panic!("{effect:?}") };
    assert_eq!((opened.before, opened.after, opened.change), (Some(30.0), Some(10.0), Some(-20.0)));
    assert_eq!(opened.test, "poisson rate");
    // Equal exposures: z = (10 - 30) / sqrt(40) = -3.16, p = 0.0016.
    assert!((opened.p_value.unwrap() - 0.001_565).abs() < 1e-4, "{opened:?}");
    assert!(opened.significant && opened.improved);
    assert_eq!((on_time.before, on_time.after), (Some(0.5), Some(0.9)));
    assert_eq!(on_time.test, "two-proportion z");
    // Pooled 24/40: z = 0.4 / sqrt(0.24 x (1/30 + 1/10)) = 2.236, p = 0.0253.
    assert!((on_time.p_value.unwrap() - 0.025_347).abs() < 1e-4, "{on_time:?}");
    assert!(on_time.significant && on_time.improved);
    // Every case took six hours, before and after: no change, and nothing to test.
    assert_eq!((handling.before, handling.change, handling.p_value), (Some(6.0), Some(0.0), None));
    assert_eq!(handling.test, "");
    assert!(!handling.significant && !handling.improved);

    // The sweep publishes the evaluation once the window has ended, and only once.
    let publisher = Publisher::new(db.clone(), "measurement").await.unwrap();
    let clock = Clock::adjustable();
    let sweep = Sweep { publisher, calendar: *calendar, interval: Duration::from_secs(60), clock: clock.clone() };
    let head = read_head(db.reader()).await.unwrap();
    let now = clock.now_micros();
    assert!(now > BASE + 30 * DAY, "the adjustable clock starts at the real time");
    sweep.once().await.unwrap();
    let after_first = read_head(db.reader()).await.unwrap();
    sweep.once().await.unwrap();
    assert_eq!(read_head(db.reader()).await.unwrap(), after_first, "published once");
    assert!(after_first > head);
    let stored = store::get_document(db.reader(), store::kind::EFFECT, "programmes/p1").await.unwrap();
    assert!(stored.is_some());

    // September's report shows the published evaluation; one that no longer decodes is reported
    // as such, not replaced by a fresh evaluation.
    let request = GetReportRequest { month: "2026-09".into(), top_causes: 5 };
    let report = report::build(db.reader(), calendar, &catalogue, &Default::default(), &request, now).await.unwrap();
    let [published] = report.effects.as_slice() else { panic!("{:?}", report.effects) };
    assert!(published.r#final && published.programme == "programmes/p1");
    store::put_document(db.writer(), store::kind::EFFECT, "programmes/p1", vec![0xff; 8], 0, now, false).await.unwrap();
    let failed =
        report::build(db.reader(), calendar, &catalogue, &Default::default(), &request, now).await.unwrap_err();
    assert!(matches!(&failed, Error::Corrupt(reason) if reason.contains("programmes/p1")), "{failed:?}");
    fixture.db.close().await;
}
