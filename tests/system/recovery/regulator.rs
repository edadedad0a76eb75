//! The regulator's clock (法定答复时限): every complaint must be answered within 15 days counted in
//! the operator's time zone, the day it was raised not counting; after that the customer may
//! appeal. Three days before, an unanswered case is at appeal risk and the service-quality office
//! is told; once more when the day passes. A case answered after it counts as answered late.

use std::time::Duration;

use chrono::{Days, TimeZone};
use chrono_tz::Asia::Shanghai;
use csm_kit::time;
use csm_proto::{
    intake::v1::ContactType,
    recovery::v1::{AppealRiskRaised, Case, CaseOrder, ListCaseHistoryRequest, ListCasesRequest, Transition},
};

use super::{resolve, step};
use crate::support::desk::Desk;

const SECOND: Duration = Duration::from_secs(1);
const DAY: i64 = 86_400;

/// The latest 23:30 in Beijing at or before `now` (microseconds).
fn half_past_eleven_beijing_before(now: i64) -> i64 {
    let local = time::from_micros(now).with_timezone(&Shanghai);
    let today = local.date_naive().and_hms_opt(23, 30, 0).unwrap();
    let at = Shanghai.from_local_datetime(&today).unwrap();
    let at = if at > local { at - chrono::Duration::days(1) } else { at };
    at.timestamp_micros()
}

/// Midnight in Beijing starting the `days`-th day after the Beijing day of `at`.
fn beijing_midnight_after(at: i64, days: u64) -> i64 {
    let date = time::from_micros(at).with_timezone(&Shanghai).date_naive().checked_add_days(Days::new(days)).unwrap();
    Shanghai.from_local_datetime(&date.and_hms_opt(0, 0, 0).unwrap()).unwrap().timestamp_micros()
}

async fn case_opened_at(desk: &Desk, phone: &str, opened: i64) -> Case {
    let mut order = desk.work_order(phone, ContactType::Complaint, 0);
    order.open_time = Some(time::timestamp_from_micros(opened));
    let case = desk.classify(&order, "billing", "billing_dispute", Duration::from_secs(30 * DAY as u64)).await;
    step(desk, "dept-billing", &case.name, Transition::Accept, "").await.unwrap();
    case
}

async fn at_risk(desk: &Desk) -> Vec<String> {
    let request = ListCasesRequest { appeal_risk_only: true, ..Default::default() };
    let cases = desk.as_("dept-billing").list_cases(request).await.unwrap().into_inner().cases;
    cases.into_iter().map(|c| c.name).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_regulators_clock_warns_three_days_before_the_fifteenth_day_ends_and_counts_late_answers() {
    let desk = Desk::start().await;
    // Raised at 23:30 Beijing time (15:30 UTC): the next day is day one, so the answer is due when
    // the sixteenth Beijing day after starts. An hour later it is the next Beijing day: due a day later.
    let raised = half_past_eleven_beijing_before(desk.clock.now_micros());
    let late_evening = case_opened_at(&desk, "13800138010", raised).await;
    let after_midnight = case_opened_at(&desk, "13800138011", raised + 3_600_000_000).await;
    let due = beijing_midnight_after(raised, 16);
    assert_eq!(time::micros(time::from_timestamp(late_evening.answer_due_time.as_ref().unwrap()).unwrap()), due);
    assert_eq!(after_midnight.answer_due_time.unwrap().seconds - late_evening.answer_due_time.unwrap().seconds, DAY);

    // A department's queue by answer due time: soonest first.
    let request = ListCasesRequest { order_by: CaseOrder::AnswerDue as i32, ..Default::default() };
    let queue = desk.as_("dept-billing").list_cases(request).await.unwrap().into_inner().cases;
    let names: Vec<&str> = queue.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, [late_evening.name.as_str(), after_midnight.name.as_str()]);

    // One second before the warning window nothing is at risk.
    let until_warning = due - 3 * DAY * 1_000_000 - desk.clock.now_micros();
    desk.clock.advance(Duration::from_micros(until_warning as u64) - SECOND);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(at_risk(&desk).await.is_empty());
    assert!(!desk.get(&late_evening.name).await.appeal_risk);

    // Two seconds later the first case is, and the service-quality office is told once.
    desk.clock.advance(2 * SECOND);
    let raised_event = &desk.events::<AppealRiskRaised>(1).await[0];
    assert_eq!(raised_event.case.as_ref().unwrap().name, late_evening.name);
    assert_eq!((raised_event.escalate_to.as_str(), raised_event.past_due), ("service quality office", false));
    assert_eq!(at_risk(&desk).await, std::slice::from_ref(&late_evening.name));

    // An hour past the due time: told again, as past due; the second case is now within its own
    // warning window, not past it.
    desk.clock.advance(Duration::from_secs(3 * DAY as u64 + 3600) - SECOND);
    let events = desk.events::<AppealRiskRaised>(3).await;
    let of = |case: &Case, past_due: bool| {
        events.iter().filter(|e| e.case.as_ref().unwrap().name == case.name && e.past_due == past_due).count()
    };
    assert_eq!((of(&late_evening, true), of(&after_midnight, false), of(&after_midnight, true)), (1, 1, 0));

    // Answered now: the first case late, the second (due a day later) on time.
    let first = resolve(&desk, "dept-billing", &late_evening.name).await.unwrap();
    let second = resolve(&desk, "dept-billing", &after_midnight.name).await.unwrap();
    assert!(first.answered_late && !first.appeal_risk);
    assert!(!second.answered_late);
    let history = desk
        .admin()
        .list_case_history(ListCaseHistoryRequest { name: late_evening.name.clone() })
        .await
        .unwrap()
        .into_inner()
        .entries;
    assert_eq!(history.iter().filter(|e| e.action == "appeal_risk").count(), 2);
    desk.stop().await;
}
