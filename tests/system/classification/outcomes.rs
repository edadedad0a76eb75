//! The risk model learns from outcomes: customers flagged at risk get proactive-care tasks in
//! recovery, their outcomes (still dissatisfied, repaired) reach classification on recovery's
//! feed, and a retraining job puts a new risk model in force only when it is not worse than the
//! one in force on held-out customers; outcomes that contradict what the model rightly learned are
//! refused. Detractor answers followed up by recovery teach the same way.

use std::{collections::HashMap, time::Duration};

use csm_cli::clients::Authenticated;
use csm_proto::{
    classification::v1::{
        CreateTrainingJobRequest, ListRiskModelsRequest, ListTrainingJobsRequest, RetrainRiskFromOutcomesRequest,
        ScoreCustomerRequest, TrainRiskModelRequest, TrainingJobState,
        classification_service_client::ClassificationServiceClient, create_training_job_request::Training,
    },
    intake::v1::{CreateSurveyAnswerRequest, SurveyAnswer, SurveyScale},
    recovery::v1::{CareOutcome, CareTask, ListCareTasksRequest, RecordCareOutcomeRequest},
};
use tonic::Code;

use super::training_jobs::wait;
use crate::support::{TestSystem, eventually, quality_sample};

/// Customers whose care outcomes the first two tests record, and the least a retraining asks for.
const CUSTOMERS: usize = 40;

fn phone(i: usize) -> String {
    format!("1360000{i:04}")
}

/// The drop rate of customer `i`: from 0 to 5 % in steps of an eighth.
fn drop_rate(i: usize) -> f64 {
    i as f64 / 8.0
}

/// Puts a risk model in force that flags every customer (so each gets a care task), sends the drop
/// rate of `customers` customers through intake, and returns the model and the care tasks by phone
/// number.
async fn customers_in_care(system: &TestSystem, customers: usize) -> (String, HashMap<String, CareTask>) {
    let request = TrainRiskModelRequest {
        // Past customers the model in force learned from: a high call-drop rate made them
        // dissatisfied.
        examples: super::risk::outcomes(150, 5),
        threshold: 0.001,
        factor_departments: HashMap::from([("kqi.*".into(), "network".into())]),
        activate: true,
        ..Default::default()
    };
    let model = system.classification().train_risk_model(request).await.unwrap().into_inner();
    let mut intake = system.intake();
    for i in 0..customers {
        intake
            .create_usage_event(quality_sample(&phone(i), "5G-199", "call_drop_rate", drop_rate(i), "%"))
            .await
            .unwrap();
    }
    let recovery = system.recovery();
    let tasks = eventually("a care task for every customer", Duration::from_secs(30), || {
        let mut recovery = recovery.clone();
        async move {
            let request = ListCareTasksRequest { page_size: 500, ..Default::default() };
            let tasks = recovery.list_care_tasks(request).await.ok()?.into_inner().care_tasks;
            (tasks.len() == customers).then_some(tasks)
        }
    })
    .await;
    (model.name, tasks.into_iter().map(|t| (t.phone_number.clone(), t)).collect())
}

/// Records the care outcome of customers `range`: still dissatisfied above a 2.5 % drop rate,
/// repaired up to it (or the other way round, `backwards`).
async fn record(
    system: &TestSystem,
    tasks: &HashMap<String, CareTask>,
    range: std::ops::Range<usize>,
    backwards: bool,
) {
    let mut recovery = system.recovery();
    for i in range {
        let outcome =
            if (drop_rate(i) > 2.5) != backwards { CareOutcome::StillDissatisfied } else { CareOutcome::Repaired };
        let request = RecordCareOutcomeRequest {
            name: tasks[&phone(i)].name.clone(),
            outcome: outcome as i32,
            ..Default::default()
        };
        recovery.record_care_outcome(request).await.unwrap();
    }
}

fn retrain(min_outcomes: i64, request_id: &str) -> CreateTrainingJobRequest {
    CreateTrainingJobRequest {
        request_id: request_id.into(),
        training: Some(Training::RetrainRiskFromOutcomes(RetrainRiskFromOutcomesRequest {
            min_outcomes,
            dry_run: false,
        })),
        collect_examples: false,
    }
}

/// Waits until classification has learned `count` customers' outcomes: a retraining asking for one
/// more is refused, saying how many there are.
async fn learned(client: &ClassificationServiceClient<Authenticated>, count: usize) {
    let expected = format!("{count} labelled customers so far; {} are needed", count + 1);
    eventually(&format!("{count} outcomes learned"), Duration::from_secs(30), || {
        let mut client = client.clone();
        let expected = expected.clone();
        async move {
            let status = client.create_training_job(retrain(count as i64 + 1, "")).await.unwrap_err();
            assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");
            status.message().contains(&expected).then_some(())
        }
    })
    .await;
}

async fn active_risk_model(client: &mut ClassificationServiceClient<Authenticated>) -> (String, i64, usize) {
    let models = client.list_risk_models(ListRiskModelsRequest::default()).await.unwrap().into_inner().risk_models;
    let active = models.iter().find(|m| m.active).unwrap();
    (active.name.clone(), active.examples, models.len())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn care_outcomes_reach_classification_and_a_model_retrained_on_them_is_put_in_force() {
    let system = TestSystem::start().await;
    let mut client = system.classification();
    let (in_force, tasks) = customers_in_care(&system, CUSTOMERS).await;
    let status = client.create_training_job(retrain(-1, "")).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(status.message().contains("retrain_risk_from_outcomes.min_outcomes"), "{}", status.message());

    // One outcome short of the least asked for: refused, and nothing is queued.
    record(&system, &tasks, 0..CUSTOMERS - 1, false).await;
    learned(&client, CUSTOMERS - 1).await;
    // Counted by label and source (at least: the tests of this process share the counter).
    let metrics = csm_kit::metrics::get().render();
    let counted = |labels: &[&str]| crate::metrics::sum(&metrics, "csm_classification_outcomes_total", labels);
    assert!(counted(&["label=\"dissatisfied\"", "source=\"care_still_dissatisfied\""]) >= 18.0, "{metrics}");
    assert!(counted(&["label=\"recovered\"", "source=\"care_repaired\""]) >= 21.0, "{metrics}");
    // The last one makes it exactly enough.
    record(&system, &tasks, CUSTOMERS - 1..CUSTOMERS, false).await;
    let job = eventually("the retraining accepted", Duration::from_secs(30), || {
        let mut client = client.clone();
        async move { client.create_training_job(retrain(CUSTOMERS as i64, "retrain-1")).await.ok() }
    })
    .await
    .into_inner();
    let done = wait(&mut client, &job.name).await;
    assert_eq!(done.state(), TrainingJobState::Succeeded, "{done:?}");
    assert!(done.activated, "{}", done.outcome);
    assert!(
        done.outcome
            .starts_with(&format!("put in force: {CUSTOMERS} labelled customers (19 dissatisfied) added to 150")),
        "{}",
        done.outcome
    );
    // The model in force and the new one, on held-out earlier examples and on held-out outcomes.
    let names: Vec<&str> = done.risk_comparison.iter().map(|e| e.risk_model.as_str()).collect();
    assert_eq!(names, [in_force.as_str(), "new", in_force.as_str(), "new"], "{:?}", done.risk_comparison);
    let held_out_outcomes = &done.risk_comparison[3];
    assert!(held_out_outcomes.examples > 0 && held_out_outcomes.roc_auc >= done.risk_comparison[2].roc_auc);

    let (active, examples, stored) = active_risk_model(&mut client).await;
    let trained = done.trained_risk_model.unwrap();
    assert_eq!((active.as_str(), examples, stored), (trained.name.as_str(), 150 + CUSTOMERS as i64, 2));
    let score = client
        .score_customer(ScoreCustomerRequest { phone_number: phone(CUSTOMERS - 1), ..Default::default() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(score.risk_model, trained.name);
    system.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outcomes_that_contradict_what_the_model_rightly_learned_are_refused() {
    let system = TestSystem::start().await;
    let mut client = system.classification();
    let (in_force, tasks) = customers_in_care(&system, CUSTOMERS).await;
    // Every outcome recorded backwards: the well-connected still dissatisfied, the others repaired.
    record(&system, &tasks, 0..CUSTOMERS, true).await;
    learned(&client, CUSTOMERS).await;

    let job = client.create_training_job(retrain(CUSTOMERS as i64, "retrain-2")).await.unwrap().into_inner();
    let done = wait(&mut client, &job.name).await;
    assert_eq!(done.state(), TrainingJobState::Succeeded, "{done:?}");
    assert!(!done.activated, "{}", done.outcome);
    assert!(
        done.outcome.starts_with("not put in force: worse than the model in force on")
            && done.outcome.contains("held-out earlier examples"),
        "{}",
        done.outcome
    );
    assert_eq!(done.risk_comparison.len(), 4, "{:?}", done.risk_comparison);
    assert!(done.risk_comparison[1].log_loss > done.risk_comparison[0].log_loss, "{:?}", done.risk_comparison);
    assert!(done.trained_risk_model.is_none());
    assert_eq!(active_risk_model(&mut client).await, (in_force, 150, 1));
    system.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enough_new_outcomes_retrain_the_risk_model_by_themselves() {
    let system = TestSystem::start_with(|spec| spec.risk.retrain_after_outcomes = 50).await;
    let mut client = system.classification();
    let (in_force, tasks) = customers_in_care(&system, 50).await;
    record(&system, &tasks, 0..49, false).await;
    learned(&client, 49).await;
    let jobs = |client: &ClassificationServiceClient<Authenticated>| {
        let mut client = client.clone();
        async move {
            let jobs = client.list_training_jobs(ListTrainingJobsRequest::default()).await.unwrap().into_inner();
            jobs.training_jobs.into_iter().filter(|j| j.created_by == "classification").collect::<Vec<_>>()
        }
    };
    assert!(jobs(&client).await.is_empty(), "49 new outcomes queue nothing");

    record(&system, &tasks, 49..50, false).await;
    let queued = eventually("a retraining queued by the 50th outcome", Duration::from_secs(30), || {
        let jobs = jobs(&client);
        async move { jobs.await.pop() }
    })
    .await;
    let done = wait(&mut client, &queued.name).await;
    assert!(matches!(
        done.training,
        Some(csm_proto::classification::v1::training_job::Training::RetrainRiskFromOutcomes(_))
    ));
    assert!(done.activated && done.outcome.starts_with("put in force: 50 labelled customers"), "{}", done.outcome);
    let (active, examples, _) = active_risk_model(&mut client).await;
    assert!(active != in_force && examples == 200, "{active} {examples}");
    system.stop().await;
}

fn csat(phone: &str, score: f64) -> CreateSurveyAnswerRequest {
    CreateSurveyAnswerRequest {
        request_id: uuid::Uuid::new_v4().to_string(),
        survey_answer: Some(SurveyAnswer {
            phone_number: phone.into(),
            scale: SurveyScale::Csat5 as i32,
            score,
            question: "overall".into(),
            occurred_at: Some(csm_kit::time::to_timestamp(chrono::Utc::now())),
            ..Default::default()
        }),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_detractor_answer_teaches_dissatisfied_and_a_later_satisfied_answer_recovered() {
    let system = TestSystem::start().await;
    let client = system.classification();
    let mut intake = system.intake();
    intake.create_survey_answer(csat("13600001001", 1.0)).await.unwrap();
    intake.create_survey_answer(csat("13600001002", 2.0)).await.unwrap();
    learned(&client, 2).await;
    let status = client.clone().create_training_job(retrain(2, "")).await.unwrap_err();
    assert!(status.message().contains("both dissatisfied and recovered"), "{}", status.message());

    // The second customer answers satisfied later: recovery recovers the loop, and classification
    // relabels the customer.
    tokio::time::sleep(Duration::from_millis(5)).await;
    intake.create_survey_answer(csat("13600001002", 5.0)).await.unwrap();
    let dry_run = CreateTrainingJobRequest {
        training: Some(Training::RetrainRiskFromOutcomes(RetrainRiskFromOutcomesRequest {
            min_outcomes: 2,
            dry_run: true,
        })),
        ..retrain(2, "retrain-3")
    };
    let job = eventually("both kinds of outcome learned", Duration::from_secs(30), || {
        let mut client = client.clone();
        let dry_run = dry_run.clone();
        async move { client.create_training_job(dry_run).await.ok() }
    })
    .await
    .into_inner();
    let done = wait(&mut client.clone(), &job.name).await;
    assert_eq!(done.state(), TrainingJobState::Succeeded, "{done:?}");
    assert!(!done.activated);
    assert!(
        done.outcome.starts_with("stored (dry run): 2 labelled customers (1 dissatisfied) added to 0 earlier examples; no risk model was in force"),
        "{}",
        done.outcome
    );
    let metrics = csm_kit::metrics::get().render();
    let counted = |source: &str| {
        crate::metrics::sum(&metrics, "csm_classification_outcomes_total", &[&format!("source=\"{source}\"")])
    };
    assert!(counted("detractor_answer") >= 2.0 && counted("detractor_recovered") >= 1.0, "{metrics}");
    system.stop().await;
}
