//! Training as long-running jobs: created at once, fed in parts, waited on, cancelled, and cut
//! short by a restart, which marks the job failed and stores nothing.

use std::{collections::HashMap, time::Duration};

use csm_cli::clients::{self, Authenticated};
use csm_proto::classification::v1::{
    AddTrainingExamplesRequest, CancelTrainingJobRequest, CreateTrainingJobRequest, GetTrainingJobRequest,
    LabelledText, ListTextModelsRequest, ListTrainingJobsRequest, StartTrainingJobRequest, TrainTextModelsRequest,
    TrainingJob, TrainingJobState, WaitTrainingJobRequest, classification_service_client::ClassificationServiceClient,
    create_training_job_request::Training,
};
use tonic::Code;

use super::labelled;
use crate::{
    restarts::launch,
    support::{Backend, TestSystem, eventually, isolated::Isolated, tokens},
};

fn text_job(examples: Vec<LabelledText>, activate: bool, collect: bool) -> CreateTrainingJobRequest {
    CreateTrainingJobRequest {
        request_id: uuid::Uuid::new_v4().to_string(),
        training: Some(Training::TextModels(TrainTextModelsRequest { examples, activate, ..Default::default() })),
        collect_examples: collect,
    }
}

/// Waits for the job's end as a caller does: WaitTrainingJob answers within the server's request
/// timeout, so it is asked again until the job has ended (thirty times at most).
pub async fn wait(client: &mut ClassificationServiceClient<Authenticated>, name: &str) -> TrainingJob {
    let timeout = Some(prost_types::Duration { seconds: 60, nanos: 0 });
    for _ in 0..30 {
        let request = WaitTrainingJobRequest { name: name.into(), timeout };
        let job = client.wait_training_job(request).await.unwrap().into_inner();
        if !matches!(job.state(), TrainingJobState::Collecting | TrainingJobState::Pending | TrainingJobState::Running)
        {
            return job;
        }
    }
    panic!("{name} did not end in thirty waits");
}

async fn stored_models(client: &mut ClassificationServiceClient<Authenticated>) -> usize {
    client.list_text_models(ListTextModelsRequest::default()).await.unwrap().into_inner().text_models.len()
}

/// Many distinct routing examples, so that training takes a while: words drawn from a fixed
/// vocabulary per leaf, with noise words shared by all.
fn large_set(count: usize) -> Vec<LabelledText> {
    let leaves = ["system.coverage", "system.billing_error", "service.attitude", "business.roaming_rules"];
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    (0..count)
        .map(|i| {
            let leaf = leaves[i % leaves.len()];
            let words: Vec<String> = (0..12).map(|_| format!("w{}x{}", i % leaves.len(), next() % 5000)).collect();
            LabelledText { text: words.join(" "), leaves: HashMap::from([("cause".into(), leaf.into())]) }
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_returns_at_once_takes_its_examples_in_parts_and_is_waited_on() {
    let system = TestSystem::start().await;
    let mut client = system.classification();
    let models_before = stored_models(&mut client).await;

    let request = text_job(Vec::new(), true, true);
    let created = client.create_training_job(request.clone()).await.unwrap().into_inner();
    assert_eq!(created.state(), TrainingJobState::Collecting);
    assert!(created.name.starts_with("trainingJobs/"));
    // A retried create is the same job.
    let again = client.create_training_job(request).await.unwrap().into_inner();
    assert_eq!(again.name, created.name);

    let examples = labelled(6);
    let (first, second) = examples.split_at(examples.len() / 2);
    for part in [first, second] {
        let add = AddTrainingExamplesRequest {
            name: created.name.clone(),
            text_examples: part.to_vec(),
            ..Default::default()
        };
        client.add_training_examples(add).await.unwrap();
    }
    let mut bad =
        AddTrainingExamplesRequest { name: created.name.clone(), text_examples: labelled(1), ..Default::default() };
    bad.text_examples[0].leaves.insert("cause".into(), "nowhere".into());
    let status = client.add_training_examples(bad).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(status.message().contains("text_examples[0].leaves[cause]"), "{}", status.message());

    let started =
        client.start_training_job(StartTrainingJobRequest { name: created.name.clone() }).await.unwrap().into_inner();
    assert!(matches!(started.state(), TrainingJobState::Pending | TrainingJobState::Running), "{started:?}");
    let done = wait(&mut client, &created.name).await;
    assert_eq!(done.state(), TrainingJobState::Succeeded, "{done:?}");
    assert_eq!(done.examples, examples.len() as i64);
    assert!(done.activated);
    assert_eq!(done.trained_text_models.len(), 2, "one per labelled view");
    assert!(done.trained_text_models.iter().all(|m| m.active && m.training_job == created.name && m.examples == 72));
    assert!(done.start_time.is_some() && done.end_time.is_some());
    assert_eq!(stored_models(&mut client).await, models_before + 2);

    // An ended job takes no more examples and cannot be cancelled.
    let more =
        AddTrainingExamplesRequest { name: created.name.clone(), text_examples: labelled(1), ..Default::default() };
    assert_eq!(client.add_training_examples(more).await.unwrap_err().code(), Code::FailedPrecondition);
    let cancel = CancelTrainingJobRequest { name: created.name.clone() };
    assert_eq!(client.cancel_training_job(cancel).await.unwrap_err().code(), Code::FailedPrecondition);
    let listed = client.list_training_jobs(ListTrainingJobsRequest::default()).await.unwrap().into_inner();
    assert_eq!(listed.training_jobs[0].name, created.name);
    let missing = GetTrainingJobRequest { name: "trainingJobs/nowhere".into() };
    assert_eq!(client.get_training_job(missing).await.unwrap_err().code(), Code::NotFound);
    // Only administrators train; analysts may watch.
    let mut analyst = clients::classification(system.system.addresses.classification, system.token("analyst")).unwrap();
    let denied = analyst.create_training_job(text_job(labelled(2), false, false)).await.unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied);
    analyst.get_training_job(GetTrainingJobRequest { name: created.name.clone() }).await.unwrap();
    system.stop().await;
}

/// Creates a large job in parts and waits until it runs.
async fn running_large_job(client: &mut ClassificationServiceClient<Authenticated>) -> String {
    let job = client.create_training_job(text_job(Vec::new(), true, true)).await.unwrap().into_inner();
    for part in large_set(60_000).chunks(15_000) {
        let add =
            AddTrainingExamplesRequest { name: job.name.clone(), text_examples: part.to_vec(), ..Default::default() };
        client.add_training_examples(add).await.unwrap();
    }
    client.start_training_job(StartTrainingJobRequest { name: job.name.clone() }).await.unwrap();
    eventually("the job to run", Duration::from_secs(30), || {
        let mut client = client.clone();
        let name = job.name.clone();
        async move {
            let job = client.get_training_job(GetTrainingJobRequest { name }).await.ok()?.into_inner();
            (job.state() == TrainingJobState::Running).then_some(())
        }
    })
    .await;
    job.name
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_job_stops_and_stores_nothing() {
    let system = TestSystem::start().await;
    let mut client = system.classification();
    let models_before = stored_models(&mut client).await;
    let name = running_large_job(&mut client).await;
    let cancelled =
        client.cancel_training_job(CancelTrainingJobRequest { name: name.clone() }).await.unwrap().into_inner();
    assert_eq!(cancelled.state(), TrainingJobState::Cancelled);
    let ended = wait(&mut client, &name).await;
    assert_eq!(ended.state(), TrainingJobState::Cancelled);
    assert!(ended.trained_text_models.is_empty());
    // The runner lets go of it and takes the next job.
    let next = client.create_training_job(text_job(labelled(3), false, false)).await.unwrap().into_inner();
    assert_eq!(wait(&mut client, &next.name).await.state(), TrainingJobState::Succeeded);
    assert_eq!(stored_models(&mut client).await, models_before + 2, "only the second job's models");
    system.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_cut_short_by_a_restart_is_marked_failed_and_stores_nothing() {
    let backend = Backend::from_env();
    let (tokens, auth) = tokens();
    let mut service =
        Isolated::start(([127, 0, 0, 1], 0).into(), launch("classification", &backend, &auth, tokens.service()));
    let mut client = clients::classification(service.address, tokens.administrator()).unwrap();
    let models_before = stored_models(&mut client).await;
    let name = running_large_job(&mut client).await;
    // Killed where it stands, and started again on the same database.
    service.restart();
    let ended = eventually("the interrupted job to be marked", Duration::from_secs(60), || {
        let mut client = client.clone();
        let name = name.clone();
        async move {
            let job = client.get_training_job(GetTrainingJobRequest { name }).await.ok()?.into_inner();
            (job.state() == TrainingJobState::Failed).then_some(job)
        }
    })
    .await;
    assert!(ended.error.contains("interrupted"), "{ended:?}");
    assert!(ended.trained_text_models.is_empty());
    assert_eq!(stored_models(&mut client).await, models_before, "nothing of it was stored");
    service.stop().await;
    backend.cleanup().await;
}
