//! The loop closes across all four services: a customer dissatisfied after their case was resolved
//! answers a survey through intake; recovery reopens the case; another customer's detractor answer
//! on no order becomes a task for the indicator's owner; the outcomes close both loops, a later
//! satisfied answer recovers one, and measurement's closed-loop indicators count exactly that.

use std::time::Duration;

use chrono::Utc;
use csm_kit::time;
use csm_proto::{
    intake::v1::{CreateSurveyAnswerRequest, SurveyAnswer, SurveyScale},
    measurement::v1::{Granularity, QuerySeriesRequest, Series},
    recovery::v1::{
        CareOutcome, CareReason, CaseStatus, GetCaseRequest, ListCareTasksRequest, ListCasesRequest,
        RecordCareOutcomeRequest, ResolveCaseRequest,
    },
};

use crate::support::{TestSystem, complaint, eventually};

/// Generous: classification's first orders wait for its starter models on a loaded machine.
const WAIT: Duration = Duration::from_secs(60);

fn survey(phone: &str, scale: SurveyScale, score: f64, work_order: &str, indicator: &str) -> CreateSurveyAnswerRequest {
    CreateSurveyAnswerRequest {
        request_id: uuid::Uuid::new_v4().to_string(),
        survey_answer: Some(SurveyAnswer {
            phone_number: phone.into(),
            scale: scale as i32,
            score,
            question: "overall".into(),
            indicator: indicator.into(),
            work_order: work_order.into(),
            comment: "修好了又坏".into(),
            occurred_at: Some(time::to_timestamp(Utc::now())),
            ..Default::default()
        }),
    }
}

async fn series(t: &TestSystem, indicator: &str) -> Series {
    let now = Utc::now();
    let request = QuerySeriesRequest {
        indicator: format!("indicators/{indicator}"),
        granularity: Granularity::Day as i32,
        start_time: Some(time::to_timestamp(now - chrono::Duration::days(2))),
        end_time: Some(time::to_timestamp(now + chrono::Duration::days(1))),
        ..QuerySeriesRequest::default()
    };
    t.measurement().query_series(request).await.unwrap().into_inner()
}

/// (numerator, denominator) summed over the days.
async fn counted(t: &TestSystem, indicator: &str) -> (i64, i64) {
    let s = series(t, indicator).await;
    (s.points.iter().map(|p| p.numerator).sum(), s.points.iter().map(|p| p.denominator).sum())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_detractor_reaches_a_department_and_the_closed_loop_is_measured() {
    let t = TestSystem::start().await;
    let mut intake = t.intake();
    let order = intake
        .submit_contact(complaint("13800138020", "家里宽带天天断网，修了三次还是不行"))
        .await
        .unwrap()
        .into_inner()
        .work_order
        .unwrap();
    let case = eventually("the complaint's case dispatched", WAIT, || {
        let mut recovery = t.recovery();
        let order = order.name.clone();
        async move {
            let cases = recovery.list_cases(ListCasesRequest::default()).await.ok()?.into_inner().cases;
            let case = cases.into_iter().find(|c| c.work_order == order);
            case.filter(|c| c.dispatch_time.is_some())
        }
    })
    .await;
    let department = format!("dept-{}", case.department);
    t.accept(&case.name, &department).await;
    let resolve =
        || ResolveCaseRequest { name: case.name.clone(), resolution: "更换光猫".into(), ..Default::default() };
    t.recovery_as(&department).resolve_case(resolve()).await.unwrap();

    // CSAT 1 on the resolved order: recovery reopens the case.
    intake.create_survey_answer(survey("13800138020", SurveyScale::Csat5, 1.0, &order.name, "csat")).await.unwrap();
    let reopened = eventually("the case reopened by the answer", WAIT, || {
        let mut recovery = t.recovery();
        let name = case.name.clone();
        async move {
            let case = recovery.get_case(GetCaseRequest { name }).await.ok()?.into_inner();
            (case.reopen_count == 1).then_some(case)
        }
    })
    .await;
    assert_eq!(reopened.status(), CaseStatus::InProgress);
    t.recovery_as(&department).resolve_case(resolve()).await.unwrap();

    // NPS 3 on no order: a detractor task for the indicator's owner (marketing).
    intake.create_survey_answer(survey("13900139020", SurveyScale::Score010, 3.0, "", "nps")).await.unwrap();
    let task = eventually("the detractor task", WAIT, || {
        let mut marketing = t.recovery_as("dept-marketing");
        async move {
            let request = ListCareTasksRequest { reason: CareReason::DetractorAnswer as i32, ..Default::default() };
            marketing.list_care_tasks(request).await.ok()?.into_inner().care_tasks.into_iter().next()
        }
    })
    .await;
    assert_eq!(task.phone_number, "13900139020");
    let outcome = RecordCareOutcomeRequest {
        name: task.name.clone(),
        outcome: CareOutcome::Contacted as i32,
        note: "回电致歉".into(),
        follow_up_survey_after: None,
    };
    t.recovery_as("dept-marketing").record_care_outcome(outcome).await.unwrap();

    // Both customers were reached within 48 hours; then the first answers CSAT 5: one of two recovered.
    eventually("both loops contacted", WAIT, || async {
        (counted(&t, "detractor_contact_within_48h_rate").await == (2, 2)).then_some(())
    })
    .await;
    intake.create_survey_answer(survey("13800138020", SurveyScale::Csat5, 5.0, &order.name, "csat")).await.unwrap();
    eventually("one of two recovered", WAIT, || async {
        (counted(&t, "detractor_recovery_rate").await == (1, 2)).then_some(())
    })
    .await;
    let median = series(&t, "median_loop_close_hours").await;
    assert!(!median.points.is_empty());
    assert!(median.points.iter().all(|p| p.value < 1.0), "both loops closed within minutes: {median:?}");
    assert_eq!(counted(&t, "cases_answered_late").await.0, 0);
    t.stop().await;
}
