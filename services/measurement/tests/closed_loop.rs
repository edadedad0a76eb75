//! The closed-loop indicators against values worked out by hand, from recovery's events made by
//! hand and read as the feed consumer reads them: detractors reached within 48 hours (exactly 48
//! counts, a microsecond more does not, never reached counts against), recovered, the median
//! time to close the loop over an odd and an even number of loops, cases at appeal risk and
//! cases answered late; a later snapshot amending a loop, and an older or replayed one changing
//! nothing; days cut in Beijing; an operator's own formula over the new sources counted over the
//! history; and the month's report showing them under the closed loop.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::BTreeMap;

use csm_kit::{config::OrganisationSettings, time};
use csm_measurement::{
    absorb, catalogue,
    facts::{self, Update},
    formula::Tally,
    observe::Dimension,
    report, series, store,
};
use csm_proto::{
    feed::v1::Event,
    intake::v1::{ContactType, WorkOrder, WorkOrderOpened},
    measurement::v1::{CoreProcess, Direction, GetReportRequest, Indicator, IndicatorKind, ReportFormat},
    recovery::v1::{
        AppealRiskRaised, Case, CaseResolved, ContactMethod, DetractorAnswer, DetractorFollowUp, DetractorRoute,
    },
};
use prost::Message;

const MINUTE: i64 = 60_000_000;
const HOUR: i64 = 60 * MINUTE;
const DAY: i64 = 24 * HOUR;
/// 2026-11-20T00:00:00Z: 08:00 in Beijing on the 20th.
const BASE: i64 = 1_795_132_800_000_000;
/// The Beijing day of the 20th, [16:00Z on the 19th, 16:00Z on the 20th).
const D: (i64, i64) = (BASE - 8 * HOUR, BASE + 16 * HOUR);
/// The Beijing day after, the 21st.
const D1: (i64, i64) = (D.1, D.1 + DAY);

/// A feed event carrying `payload` at `sequence`, committed at `occurred_at`.
fn event<M: prost::Name + Message>(sequence: u64, occurred_at: i64, payload: &M) -> Event {
    Event {
        sequence,
        source: "recovery".into(),
        occurred_at: Some(time::timestamp_from_micros(occurred_at)),
        payload: Some(prost_types::Any {
            type_url: format!("type.googleapis.com/{}", M::full_name()),
            value: payload.encode_to_vec(),
        }),
        ..Event::default()
    }
}

/// Where a dissatisfied answer's loop stands: reached, closed and recovered this long after it.
#[derive(Clone, Copy, Default)]
struct Loop {
    contact: Option<i64>,
    close: Option<i64>,
    recover: Option<i64>,
}

fn follow_up(id: &str, answered: i64, route: DetractorRoute, department: &str, at: Loop) -> DetractorFollowUp {
    let stamp = |after: Option<i64>| after.map(|a| time::timestamp_from_micros(answered + a));
    DetractorFollowUp {
        answer: Some(DetractorAnswer {
            survey_answer: format!("surveyAnswers/{id}"),
            scale: "SURVEY_SCALE_CSAT_5".into(),
            score: 1.0,
            question: "after_complaint".into(),
            indicator: "csat".into(),
            comment: "还是没人管 / still nobody cares".into(),
            answer_time: Some(time::timestamp_from_micros(answered)),
            channel: "CHANNEL_SMS".into(),
            ..Default::default()
        }),
        phone_number: "13800000001".into(),
        route: route as i32,
        department: department.into(),
        contact_method: ContactMethod::Phone as i32,
        contact_time: stamp(at.contact),
        close_time: stamp(at.close),
        recover_time: stamp(at.recover),
        region: "GD-SZ".into(),
        segment: "premium".into(),
        ..Default::default()
    }
}

fn appeal_risk(case: &str, past_due: bool) -> AppealRiskRaised {
    let case = Case {
        name: format!("cases/{case}"),
        work_order: format!("workOrders/{case}"),
        department: "billing".into(),
        path: vec!["system".into(), "billing_error".into()],
        channel: "CHANNEL_HOTLINE_AGENT".into(),
        contact_type: "CONTACT_TYPE_COMPLAINT".into(),
        text: "话费多扣了".into(),
        phone_number: "13800000002".into(),
        ..Default::default()
    };
    AppealRiskRaised { case: Some(case), escalate_to: "service quality office".into(), past_due }
}

/// A complaint opened at `opened` and resolved at `resolved`, owing an answer by `due` if any.
fn resolved_case(
    id: &str,
    opened: i64,
    resolved: i64,
    due: Option<i64>,
    late: bool,
) -> (WorkOrderOpened, CaseResolved) {
    let work_order = WorkOrder {
        name: format!("workOrders/{id}"),
        contact_type: ContactType::Complaint as i32,
        open_time: Some(time::timestamp_from_micros(opened)),
        ..Default::default()
    };
    let case = Case {
        name: format!("cases/{id}"),
        work_order: work_order.name.clone(),
        department: "billing".into(),
        leaf: "billing_error".into(),
        resolve_time: Some(time::timestamp_from_micros(resolved)),
        resolved_on_time: true,
        answer_due_time: due.map(time::timestamp_from_micros),
        answered_late: late,
        ..Default::default()
    };
    (WorkOrderOpened { work_order: Some(work_order) }, CaseResolved { case: Some(case) })
}

async fn feed(fixture: &common::Fixture, events: &[Event]) {
    let updates: Vec<Update> = events.iter().map(|e| facts::read(e).unwrap()).collect();
    absorb::absorb(fixture.db.writer(), &absorb::FactCache::new(), &fixture.calendar, &fixture.measures, updates)
        .await
        .unwrap();
}

/// Every cell with its bins, by place.
async fn cells(fixture: &common::Fixture) -> BTreeMap<(i64, i16, String, i64, String), Tally> {
    let mut cells = BTreeMap::new();
    for (key, tally) in store::all_cells(fixture.db.reader()).await.unwrap() {
        *cells.entry(key).or_insert_with(Tally::default) += tally;
    }
    cells
}

/// The indicator's value over `window`, split by `dimension` = `only` when given, with the
/// counts of a ratio.
async fn value(
    fixture: &common::Fixture,
    key: &str,
    window: (i64, i64),
    split: Option<(Dimension, &str)>,
) -> (Option<f64>, (i64, i64)) {
    let catalogue = catalogue::load(fixture.db.reader()).await.unwrap();
    let entry = catalogue.get(key).unwrap_or_else(|| panic!("{key} in the catalogue"));
    let (dimension, only) = split.map_or((Dimension::Total, None), |(d, v)| (d, Some(v)));
    let read =
        series::over_window(fixture.db.reader(), &fixture.calendar, entry, dimension, only, window).await.unwrap();
    (read.value, entry.formula.counts(&read.tallies))
}

#[tokio::test]
async fn closed_loop_indicators_match_values_worked_out_by_hand() {
    use DetractorRoute::{CareTask, ReopenedCase};
    let fixture = common::Fixture::new().await;
    let answered = BASE + HOUR; // 09:00 in Beijing on the 20th.
    let just_after_midnight = D.0 + 30 * MINUTE; // 00:30 in Beijing on the 20th, still the 19th in UTC.
    let next_day = answered + DAY;
    let reached = |contact: i64, close: Option<i64>| Loop { contact: Some(contact), close, recover: None };

    // The 20th: five loops. a1 reached at exactly 48 h and recovered; a2 first not reached, then
    // at 48 h + 1 µs; a3 never reached; a4 and a5 (answered at 00:30) reached within hours.
    let a1 = Loop { recover: Some(72 * HOUR), ..reached(48 * HOUR, Some(60 * HOUR)) };
    let a2 = reached(48 * HOUR + 1, Some(50 * HOUR));
    let day_one = [
        event(1, answered, &follow_up("a1", answered, ReopenedCase, "service_centre", Loop::default())),
        event(2, answered, &follow_up("a2", answered, CareTask, "service_centre", Loop::default())),
        event(3, answered, &follow_up("a3", answered, CareTask, "service_centre", Loop::default())),
        event(4, answered, &follow_up("a4", answered, CareTask, "network", reached(2 * HOUR, Some(10 * HOUR)))),
        event(
            5,
            just_after_midnight,
            &follow_up("a5", just_after_midnight, ReopenedCase, "network", reached(HOUR, Some(20 * HOUR))),
        ),
        event(6, answered + a1.close.unwrap(), &follow_up("a1", answered, ReopenedCase, "service_centre", a1)),
        event(7, answered + a2.close.unwrap(), &follow_up("a2", answered, CareTask, "service_centre", a2)),
    ];
    // The 21st: b1 to b3 closed after 12 h 30, 13 h and 40 h; b4 reached but still open.
    let day_two = [
        event(
            8,
            next_day,
            &follow_up("b1", next_day, CareTask, "billing", reached(HOUR, Some(12 * HOUR + 30 * MINUTE))),
        ),
        event(9, next_day, &follow_up("b2", next_day, CareTask, "billing", reached(HOUR, Some(13 * HOUR)))),
        event(10, next_day, &follow_up("b3", next_day, CareTask, "billing", reached(HOUR, Some(40 * HOUR)))),
        event(11, next_day, &follow_up("b4", next_day, CareTask, "billing", reached(HOUR, None))),
    ];
    feed(&fixture, &day_one).await;
    feed(&fixture, &day_two).await;

    // Reached within 48 h: a1 (exactly 48 h), a4, a5 of five; a2 (48 h + 1 µs) and a3 (never) not.
    let (rate, counts) = value(&fixture, "detractor_contact_within_48h_rate", D, None).await;
    assert_eq!((rate, counts), (Some(0.6), (3, 5)));
    let (network, _) =
        value(&fixture, "detractor_contact_within_48h_rate", D, Some((Dimension::Department, "network"))).await;
    assert_eq!(network, Some(1.0), "a4 and a5, the network department's");
    // a5 was answered at 00:30 in Beijing: the 20th, not the 19th it still was in UTC.
    let (before, _) = value(&fixture, "detractor_contact_within_48h_rate", (D.0 - DAY, D.0), None).await;
    assert_eq!(before, None);
    assert_eq!(value(&fixture, "detractor_recovery_rate", D, None).await.0, Some(0.2));
    // Median time to close: the 20th closed four (10, 20, 50, 60 h), even: (20 + 50) / 2. The
    // 21st closed three (12.5, 13, 40 h), odd: the middle one. Both days: seven, the 4th is 20.
    assert_eq!(value(&fixture, "median_loop_close_hours", D, None).await.0, Some(35.0));
    assert_eq!(value(&fixture, "median_loop_close_hours", D1, None).await.0, Some(13.0));
    assert_eq!(value(&fixture, "median_loop_close_hours", (D.0, D1.1), None).await.0, Some(20.0));

    // b4 closes after 14 h: a later snapshot moves the 21st to an even four, (13 + 14) / 2, and
    // both days to eight, (14 + 20) / 2.
    let b4 = reached(HOUR, Some(14 * HOUR));
    let b4_closed = event(12, next_day + 14 * HOUR, &follow_up("b4", next_day, CareTask, "billing", b4));
    feed(&fixture, std::slice::from_ref(&b4_closed)).await;
    assert_eq!(value(&fixture, "median_loop_close_hours", D1, None).await.0, Some(13.5));
    assert_eq!(value(&fixture, "median_loop_close_hours", (D.0, D1.1), None).await.0, Some(17.0));

    // Replayed events, and older snapshots arriving after newer ones, change nothing.
    let settled = cells(&fixture).await;
    let mut again: Vec<Event> = day_one.iter().chain(&day_two).rev().cloned().collect();
    again.push(b4_closed);
    feed(&fixture, &again).await;
    for event in day_one.iter().chain(&day_two) {
        feed(&fixture, std::slice::from_ref(event)).await;
    }
    assert_eq!(cells(&fixture).await, settled, "the same cells");

    // What measurement keeps of a loop: neither the customer's number nor what they said.
    let stored = store::load_loop_facts(
        fixture.db.reader(),
        &[facts::LoopKey { kind: facts::LoopKind::Detractor, key: "a1".into() }],
    )
    .await
    .unwrap();
    let body = stored.values().next().unwrap().body();
    let kept = DetractorFollowUp::decode(body.as_slice()).unwrap();
    assert!(kept.phone_number.is_empty() && kept.answer.unwrap().comment.is_empty());

    // Appeal risk: c1 and c2 entered the warning window on the 20th (c2 at 23:30 in Beijing),
    // c3 at 00:30 on the 21st; c1 passing its due time is not a new case at risk. The warning
    // replayed, or published again, counts once.
    let risks = [
        event(13, BASE + 2 * HOUR, &appeal_risk("c1", false)),
        event(14, BASE + 15 * HOUR + 30 * MINUTE, &appeal_risk("c2", false)),
        event(15, D1.0 + 30 * MINUTE, &appeal_risk("c3", false)),
        event(16, D1.0 + 2 * HOUR, &appeal_risk("c1", true)),
        event(14, BASE + 15 * HOUR + 30 * MINUTE, &appeal_risk("c2", false)),
        event(17, BASE + 15 * HOUR + 30 * MINUTE, &appeal_risk("c2", false)),
    ];
    feed(&fixture, &risks).await;
    assert_eq!(value(&fixture, "appeal_risk_cases", D, None).await.0, Some(2.0));
    assert_eq!(value(&fixture, "appeal_risk_cases", D1, None).await.0, Some(1.0));

    // Answered late: w1 resolved exactly at its answer due time is in time, w2 a microsecond
    // later is late (as recovery judged); w3, a case without that clock, is in neither.
    let due = BASE + 3 * HOUR;
    let opened = due - 15 * DAY;
    for (sequence, (id, resolved, answer_due, late)) in
        [("w1", due, Some(due), false), ("w2", due + 1, Some(due), true), ("w3", due, None, false)]
            .into_iter()
            .enumerate()
    {
        let (open, resolve) = resolved_case(id, opened, resolved, answer_due, late);
        let sequence = 20 + sequence as u64;
        feed(&fixture, &[event(sequence, opened, &open), event(sequence, resolved, &resolve)]).await;
    }
    assert_eq!(value(&fixture, "cases_answered_late", D, None).await.0, Some(1.0));
    assert_eq!(value(&fixture, "late_answer_rate", D, None).await, (Some(0.5), (1, 2)));

    // An operator's own indicators over the new sources are counted over what came before.
    let own = |key: &str, formula: &str| Indicator {
        key: key.into(),
        name_en: key.into(),
        kind: IndicatorKind::Kci as i32,
        unit: "hours".into(),
        direction: Direction::LowerIsBetter as i32,
        formula: formula.into(),
        process: CoreProcess::ComplaintResolution as i32,
        importance: 1.0,
        ..Default::default()
    };
    for indicator in [
        own("care_task_median_close_hours", r#"median(detractors.close_hours where route = "care_task")"#),
        own("past_due_cases", "count(appeal_risks where past_due = true)"),
        own(
            "reopened_loops_reached",
            r#"count(detractors where route = "reopened_case" and contacted_within_48h = true) / count(detractors where route = "reopened_case")"#,
        ),
    ] {
        let formula = catalogue::validate(&indicator, &OrganisationSettings::default()).unwrap();
        assert!(catalogue::add(fixture.db.writer(), &fixture.calendar, &indicator, &formula).await.unwrap());
    }
    // Care tasks closed on the 20th: a2 after 50 h and a4 after 10 h.
    assert_eq!(value(&fixture, "care_task_median_close_hours", D, None).await.0, Some(30.0));
    assert_eq!(value(&fixture, "past_due_cases", D1, None).await.0, Some(1.0));
    assert_eq!(value(&fixture, "reopened_loops_reached", D, None).await.0, Some(1.0));

    // November's report shows them under the complaint process's closed loop.
    let catalogue = catalogue::load(fixture.db.reader()).await.unwrap();
    let request = GetReportRequest { month: "2026-11".into(), top_causes: 5 };
    let month = report::build(
        fixture.db.reader(),
        &fixture.calendar,
        &catalogue,
        &Default::default(),
        &request,
        BASE + 30 * DAY,
    )
    .await
    .unwrap();
    let state = |key: &str| month.indicators.iter().find(|i| i.indicator == format!("indicators/{key}")).unwrap();
    assert_eq!(state("median_loop_close_hours").value, Some(17.0));
    assert_eq!(state("detractor_contact_within_48h_rate").value, Some(7.0 / 9.0));
    assert_eq!(state("appeal_risk_cases").value, Some(3.0));
    let stages = report::stages(&catalogue);
    let html = report::render(&month, ReportFormat::Html, &fixture.calendar, &stages).unwrap();
    let page = String::from_utf8(html.content).unwrap();
    let (heading, median) = (page.find("环节 Stage: 闭环 closed loop").unwrap(), page.find("闭环时长中位数").unwrap());
    assert!(heading < median && page.contains("不满意客户闭环及时率") && page.contains("申诉风险工单数"));
    let csv = report::render(&month, ReportFormat::Csv, &fixture.calendar, &stages).unwrap();
    let csv = String::from_utf8(csv.content).unwrap();
    assert!(
        csv.lines().any(|l| l.starts_with("2026-11,median_loop_close_hours,") && l.contains(",closed_loop,")),
        "{csv}"
    );
    fixture.db.close().await;
}
