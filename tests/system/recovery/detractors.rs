//! Detractors (不满意客户闭环): a dissatisfied survey answer reaches a department. On an order whose
//! case was resolved shortly before, it reopens the case; otherwise it opens a detractor task for
//! the department that owns the order, or the indicator's owner, carrying the answer, the comment,
//! the customer's history and a contact method chosen by policy. The loop is published as it moves
//! and a later satisfied answer recovers it.

use std::time::Duration;

use csm_kit::time;
use csm_proto::{
    intake::v1::{
        Channel, ContactType, CustomerProfile, HighFrequency, HighFrequencyStatus, HighFrequencyStatusChanged,
        SurveyAnswer, SurveyAnswered, SurveyScale,
    },
    recovery::v1::{
        CareOutcome, CareReason, CareTask, CaseReopened, CaseStatus, ContactMethod, DetractorFollowUp, DetractorRoute,
        FollowUpSurveyDue, ListCareTasksRequest, RecordCareOutcomeRequest, ReopenCause, Transition,
    },
};

use super::{resolve, step};
use crate::support::{desk::Desk, eventually};

const DAY: Duration = Duration::from_secs(24 * 3600);

/// An answer of `phone` on `scale`, now by the desk's clock.
fn answer(
    desk: &Desk,
    phone: &str,
    scale: SurveyScale,
    score: f64,
    work_order: &str,
    indicator: &str,
) -> SurveyAnswered {
    SurveyAnswered {
        survey_answer: Some(SurveyAnswer {
            name: format!("surveyAnswers/{}", uuid::Uuid::now_v7()),
            phone_number: phone.into(),
            channel: Channel::SurveyCallback as i32,
            scale: scale as i32,
            score,
            question: "overall".into(),
            indicator: indicator.into(),
            work_order: work_order.into(),
            comment: "还是经常断网".into(),
            occurred_at: Some(time::timestamp_from_micros(desk.clock.now_micros())),
            ..Default::default()
        }),
        profile: Some(CustomerProfile { region: "GD-SZ".into(), segment: "youth".into(), ..Default::default() }),
    }
}

async fn send(desk: &Desk, answered: &SurveyAnswered) {
    desk.publish(&answered.survey_answer.as_ref().unwrap().name, answered).await;
}

async fn resolved_case(desk: &Desk, phone: &str) -> csm_proto::recovery::v1::Case {
    let order = desk.work_order(phone, ContactType::Complaint, 0);
    let case = desk.classify(&order, "network", "weak_coverage", Duration::from_secs(48 * 3600)).await;
    step(desk, "dept-network", &case.name, Transition::Accept, "").await.unwrap();
    resolve(desk, "dept-network", &case.name).await.unwrap()
}

async fn detractor_tasks(desk: &Desk, department: &str, count: usize) -> Vec<CareTask> {
    let subject = format!("dept-{department}");
    eventually(&format!("{count} detractor tasks for {department}"), Duration::from_secs(20), || {
        let mut client = desk.as_(&subject);
        async move {
            let request = ListCareTasksRequest {
                reason: CareReason::DetractorAnswer as i32,
                include_completed: true,
                ..Default::default()
            };
            let tasks = client.list_care_tasks(request).await.ok()?.into_inner().care_tasks;
            (tasks.len() >= count).then_some(tasks)
        }
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_detractor_answer_reopens_a_case_resolved_within_the_window_and_a_later_one_opens_a_task() {
    let desk = Desk::start_with(|config| config.recovery.detractors.reopen_within = 7 * DAY).await;
    let case = resolved_case(&desk, "13800138001").await;
    // CSAT 3 of 5 is not dissatisfied: nothing happens.
    send(&desk, &answer(&desk, "13800138001", SurveyScale::Csat5, 3.0, &case.work_order, "csat")).await;
    // CSAT 2 of 5 is, on the boundary: the case goes back to its owner.
    let dissatisfied = answer(&desk, "13800138001", SurveyScale::Csat5, 2.0, &case.work_order, "csat");
    send(&desk, &dissatisfied).await;
    let reopened = &desk.events::<CaseReopened>(1).await[0];
    assert_eq!(reopened.cause(), ReopenCause::DetractorAnswer);
    assert_eq!(reopened.survey_answer, dissatisfied.survey_answer.as_ref().unwrap().name);
    assert!(reopened.reason.contains("还是经常断网"), "{}", reopened.reason);
    let now = desk.get(&case.name).await;
    assert_eq!(now.status(), CaseStatus::InProgress);
    assert_eq!(now.reopen_count, 1);
    let opened = &desk.events::<DetractorFollowUp>(1).await[0];
    assert_eq!(opened.route(), DetractorRoute::ReopenedCase);
    assert_eq!((opened.case.as_str(), opened.department.as_str()), (case.name.as_str(), "network"));
    assert!(opened.close_time.is_none());

    // Resolved again: the customer was answered and the loop closes.
    resolve(&desk, "dept-network", &case.name).await.unwrap();
    let closed = &desk.events::<DetractorFollowUp>(2).await[1];
    assert!(closed.contact_time.is_some() && closed.close_time.is_some());

    // Seven days after that resolution the case is not reopened: one microsecond too late, a task.
    desk.clock.advance(7 * DAY + Duration::from_micros(1));
    let late = answer(&desk, "13800138001", SurveyScale::Csat5, 1.0, &case.work_order, "csat");
    send(&desk, &late).await;
    let tasks = detractor_tasks(&desk, "network", 1).await;
    assert_eq!(tasks[0].case, case.name, "the order's case owner gets the task");
    assert_eq!(tasks[0].answer.as_ref().unwrap().survey_answer, late.survey_answer.as_ref().unwrap().name);
    let history = tasks[0].history.as_ref().unwrap();
    assert_eq!((history.cases, history.reopened_cases, history.earlier_detractor_answers), (1, 1, 1));
    assert_eq!(desk.get(&case.name).await.status(), CaseStatus::Resolved);
    desk.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_work_order_the_indicators_owner_gets_a_task_and_policy_picks_phone_or_sms() {
    let desk = Desk::start_with(|config| config.recovery.detractors.phone_share = 0.0).await;
    // NPS 7 is passive; 6 is a detractor. CES 4 is fine; 5 is high effort.
    send(&desk, &answer(&desk, "13800138002", SurveyScale::Score010, 7.0, "", "nps")).await;
    send(&desk, &answer(&desk, "13800138003", SurveyScale::Ces7, 4.0, "", "ces")).await;
    send(&desk, &answer(&desk, "13800138002", SurveyScale::Score010, 6.0, "", "nps")).await;
    let mut vip = answer(&desk, "13800138004", SurveyScale::Ces7, 5.0, "", "ces");
    vip.profile.as_mut().unwrap().vip_level = 2;
    send(&desk, &vip).await;
    let changed = HighFrequencyStatusChanged {
        phone_number: "13800138005".into(),
        high_frequency: Some(HighFrequency { status: HighFrequencyStatus::Active as i32, ..Default::default() }),
        change_time: Some(time::timestamp_from_micros(desk.clock.now_micros())),
        ..Default::default()
    };
    desk.publish("customers/5", &changed).await;
    send(&desk, &answer(&desk, "13800138005", SurveyScale::Likert5, 1.0, "", "")).await;

    let marketing = detractor_tasks(&desk, "marketing", 1).await;
    assert_eq!(marketing.len(), 1, "only the detractor, not the passive answer");
    assert_eq!((marketing[0].contact_method(), marketing[0].contact_reason.as_str()), (ContactMethod::Sms, "default"));
    assert_eq!(marketing[0].answer.as_ref().unwrap().comment, "还是经常断网");
    let service = detractor_tasks(&desk, "service_centre", 2).await;
    let by_phone = |phone: &str| service.iter().find(|t| t.phone_number == phone).cloned().unwrap();
    assert_eq!(by_phone("13800138004").contact_reason, "vip");
    assert_eq!(by_phone("13800138005").contact_reason, "high_frequency", "no indicator: the care department");
    assert!(service.iter().all(|t| t.contact_method() == ContactMethod::Phone));
    assert!(service.iter().all(|t| t.phone_number != "13800138003"), "CES 4 is not high effort");

    // The outcome closes the loop, schedules a follow-up survey, and a later NPS 9 recovers it.
    let task = &marketing[0];
    let outcome = RecordCareOutcomeRequest {
        name: task.name.clone(),
        outcome: CareOutcome::Contacted as i32,
        note: "致电致歉并说明资费".into(),
        follow_up_survey_after: Some(prost_types::Duration { seconds: 7 * 86_400, nanos: 0 }),
    };
    let done = desk.as_("dept-marketing").record_care_outcome(outcome).await.unwrap().into_inner();
    let due = &desk.events::<FollowUpSurveyDue>(1).await[0];
    assert_eq!(due.due_time.unwrap().seconds - done.complete_time.unwrap().seconds, 7 * 86_400);
    desk.clock.advance(8 * DAY);
    send(&desk, &answer(&desk, "13800138002", SurveyScale::Score010, 9.0, "", "nps")).await;
    // Three loops opened, one closed, then recovered.
    let loops = desk.events::<DetractorFollowUp>(5).await;
    let recovered = loops.iter().find(|l| l.phone_number == "13800138002" && l.recover_time.is_some()).unwrap();
    assert!(recovered.contact_time.is_some() && recovered.close_time.is_some());
    assert_eq!(recovered.route(), DetractorRoute::CareTask);
    desk.stop().await;
}
