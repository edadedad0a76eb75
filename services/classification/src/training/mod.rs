//! Training as jobs, off the request path (in the style of google.longrunning): a job is stored
//! when it is asked for, and one replica at a time (the holder of the `training` lease) runs the
//! jobs one after another on the blocking pool. A cancelled job stops within a pass over its data;
//! a job's models, its activation and its end are written in one transaction, so a job cut short
//! by a stop or a crash leaves nothing behind, and the next holder of the lease marks it failed.

mod auto;
mod evaluation;
mod outcomes;
mod retrain;
mod risk;
mod work;

pub use auto::{AutoRetrain, RETRAIN_FROM_OUTCOMES};
pub use evaluation::{evaluate, risk_evaluation, text_model_proto};
pub use outcomes::{needed, too_few};
pub use risk::{examples as risk_examples, features_from, prepare_risk, risk_model_proto};

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use csm_kit::{feed::Publisher, time};
use csm_proto::StoredEnum;
use csm_proto::classification::v1::{
    CreateTrainingJobRequest, TrainingJob, TrainingJobState, create_training_job_request,
};
use prost::Message;
use sea_orm::DbErr;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::{
    engine::InForce,
    error::Error,
    store::{
        models, risk_model, text_model,
        training::{self, state},
        training_job,
    },
};

pub use retrain::DEFAULT_MIN_CORRECTIONS;
pub use work::{enough_leaves, taxonomy_for, text_examples_by_view, train_settings};

/// Runs training jobs; shared by the API (which stores jobs and wakes it) and the runner task.
#[derive(Debug)]
pub struct Trainer {
    publisher: Publisher,
    in_force: Arc<InForce>,
    wake: Notify,
    /// Four fifths of the server's request timeout: the longest a call may wait for a job.
    longest_wait: Duration,
}

/// What a finished job stores, all in the transaction that ends it.
#[derive(Debug, Default)]
pub struct Done {
    text_models: Vec<text_model::Model>,
    risk_model: Option<risk_model::Model>,
    activate: bool,
    outcome: String,
    result: TrainingJob,
    /// Examples to keep as the job's parts (a retrained model's, for the next retraining).
    parts: Vec<Vec<u8>>,
}

/// Why a job did not finish.
#[derive(Debug)]
pub enum Stopped {
    Cancelled,
    Failed(String),
}

impl From<DbErr> for Stopped {
    fn from(error: DbErr) -> Self {
        Self::Failed(format!("database: {error}"))
    }
}

impl From<Error> for Stopped {
    fn from(error: Error) -> Self {
        Self::Failed(error.to_string())
    }
}

/// How often a running job looks for a cancel (made through any replica) and the waiting API
/// looks for the job's end.
const CHECK_EVERY: Duration = Duration::from_millis(200);

impl Trainer {
    pub fn new(publisher: Publisher, in_force: Arc<InForce>, request_timeout: Duration) -> Arc<Self> {
        let longest_wait = request_timeout.mul_f64(0.8);
        Arc::new(Self { publisher, in_force, wake: Notify::new(), longest_wait })
    }

    /// The longest a call may wait for a job before the server's request timeout would cut it.
    pub fn longest_wait(&self) -> Duration {
        self.longest_wait
    }

    pub fn publisher(&self) -> &Publisher {
        &self.publisher
    }

    pub fn in_force(&self) -> &Arc<InForce> {
        &self.in_force
    }

    /// A job was queued on this replica: look now rather than at the next check.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// The runner: while this replica holds the lease, runs pending jobs one at a time.
    pub async fn run(self: Arc<Self>, stop: CancellationToken) {
        let db = self.publisher.database().writer();
        match training::fail_interrupted(db, time::now_micros()).await {
            Ok(0) => {}
            Ok(failed) => tracing::warn!(failed, "training jobs cut short by a restart marked failed"),
            Err(error) => tracing::warn!(%error, "cannot mark interrupted training jobs"),
        }
        while !stop.is_cancelled() {
            match training::next_pending(db).await {
                Ok(Some(job)) if !stop.is_cancelled() => self.execute(job, &stop).await,
                Ok(Some(_)) => return,
                Ok(None) => {
                    tokio::select! {
                        () = self.wake.notified() => {}
                        () = tokio::time::sleep(Duration::from_secs(1)) => {}
                        () = stop.cancelled() => return,
                    }
                }
                Err(error) => {
                    tracing::warn!(%error, "cannot read pending training jobs");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
    }

    #[tracing::instrument(name = "training.job", skip_all, fields(job = %job.name, kind = %job.kind))]
    async fn execute(&self, mut job: training_job::Model, stop: &CancellationToken) {
        let db = self.publisher.database().writer();
        let started = time::now_micros();
        let claimed = training::transition(
            db,
            &job.name,
            &[state::PENDING],
            state::RUNNING,
            vec![(training_job::Column::StartedAt, started.into())],
        )
        .await;
        match claimed {
            Ok(true) => {}
            Ok(false) => return,
            Err(error) => {
                tracing::warn!(%error, "cannot claim a training job; trying again shortly");
                tokio::time::sleep(Duration::from_secs(1)).await;
                return;
            }
        }
        job.state = state::RUNNING.into();
        job.started_at = started;
        tracing::info!("training job started");

        let cancelled = Arc::new(AtomicBool::new(false));
        let watching = self.watch_for_cancel(&job.name, cancelled.clone(), stop.clone());
        let outcome = tokio::select! {
            outcome = self.work(&job, cancelled.clone()) => outcome,
            () = watching => Err(Stopped::Cancelled),
        };
        let outcome =
            if cancelled.load(Ordering::Relaxed) && outcome.is_err() { Err(Stopped::Cancelled) } else { outcome };
        cancelled.store(true, Ordering::Relaxed);
        let ended_as = match &outcome {
            Ok(_) => "succeeded",
            Err(Stopped::Cancelled) => "cancelled",
            Err(Stopped::Failed(_)) => "failed",
        };
        let metrics = csm_kit::metrics::get();
        let labels = [csm_kit::metrics::KeyValue::new("state", ended_as)];
        metrics.training_jobs.add(1, &labels);
        metrics.training_duration.record((time::now_micros() - started).max(0) as f64 / 1e6, &labels);
        // The end is recorded whatever happens to the database meanwhile: a job left RUNNING
        // would keep its waiters waiting until the next restart.
        let mut outcome = Some(outcome);
        for attempt in 1.. {
            let ended = match outcome.take() {
                Some(Ok(done)) => self.finish(&job, done).await,
                Some(Err(Stopped::Cancelled)) | None if stop.is_cancelled() => {
                    self.fail(&job, "stopped with the service before it finished; nothing was stored").await
                }
                // Cancelled by a caller: the cancel already ended the job.
                Some(Err(Stopped::Cancelled)) => Ok(()),
                Some(Err(Stopped::Failed(reason))) => {
                    tracing::warn!(error = %reason, "training job failed");
                    self.fail(&job, &reason).await
                }
                None => self.fail(&job, "its end could not be recorded; nothing was stored").await,
            };
            match ended {
                Ok(()) => return,
                Err(error) if attempt < 10 => {
                    tracing::warn!(%error, attempt, "cannot record the end of a training job; retrying");
                    tokio::time::sleep(Duration::from_secs(attempt)).await;
                }
                Err(error) => {
                    tracing::error!(%error, "cannot record the end of a training job; the next lease holder will");
                    return;
                }
            }
        }
    }

    /// Sets `cancelled` when the job is cancelled (through any replica) or the service stops,
    /// and then waits for ever: the work notices the flag within a pass and returns.
    async fn watch_for_cancel(&self, name: &str, cancelled: Arc<AtomicBool>, stop: CancellationToken) {
        let db = self.publisher.database().reader();
        loop {
            tokio::select! {
                () = tokio::time::sleep(CHECK_EVERY) => {}
                () = stop.cancelled() => break,
            }
            if let Ok(Some(state)) = training::state_of(db, name).await
                && state == state::CANCELLED
            {
                break;
            }
        }
        cancelled.store(true, Ordering::Relaxed);
        std::future::pending::<()>().await;
    }

    async fn work(&self, job: &training_job::Model, cancelled: Arc<AtomicBool>) -> Result<Done, Stopped> {
        let request = CreateTrainingJobRequest::decode(job.request.as_slice())
            .map_err(|e| Stopped::Failed(format!("the stored request does not decode: {e}")))?;
        let db = self.publisher.database().reader();
        let parts = training::parts(db, &job.name).await?;
        match request.training {
            Some(create_training_job_request::Training::TextModels(request)) => {
                work::text_models(self, &job.name, request, &parts, cancelled).await
            }
            Some(create_training_job_request::Training::RiskModel(request)) => {
                work::risk_model(request, &parts, cancelled).await
            }
            Some(create_training_job_request::Training::RetrainFromCorrections(request)) => {
                retrain::from_corrections(self, &job.name, request, cancelled).await
            }
            Some(create_training_job_request::Training::RetrainRiskFromOutcomes(request)) => {
                outcomes::from_outcomes(self, &job.name, request, cancelled).await
            }
            None => Err(Stopped::Failed("the job names nothing to train".into())),
        }
    }

    /// Stores what the job trained and ends it, in one transaction; a job cancelled meanwhile
    /// stores nothing. Models are put in force only with the taxonomy they were trained for.
    async fn finish(&self, job: &training_job::Model, mut done: Done) -> Result<(), DbErr> {
        let uow = self.publisher.begin().await?;
        let in_force = crate::store::active_taxonomy(&*uow).await?.map(|row| row.name).unwrap_or_default();
        let stale = done.activate && done.text_models.iter().any(|row| row.taxonomy_version != in_force);
        if stale {
            done.activate = false;
            done.outcome.push_str("; not put in force: another taxonomy version came into force meanwhile");
        }
        for part in std::mem::take(&mut done.parts) {
            training::add_part(&*uow, &job.name, part).await?;
        }
        for row in &mut done.text_models {
            row.training_job = job.name.clone();
            models::insert_text_model(&*uow, row.clone()).await?;
            if done.activate {
                models::activate_text_model(&*uow, &row.view, &row.name).await?;
                row.active = true;
            }
        }
        if let Some(row) = &mut done.risk_model {
            row.training_job = job.name.clone();
            models::insert_risk_model(&*uow, row.clone()).await?;
            if done.activate {
                models::activate_risk_model(&*uow, &row.name).await?;
            }
        }
        done.result.trained_text_models = done.text_models.iter().map(evaluation::text_model_proto).collect();
        done.result.trained_risk_model = done.risk_model.as_ref().map(|row| risk::risk_model_proto(row, done.activate));
        let ended = training::transition(
            &*uow,
            &job.name,
            &[state::RUNNING],
            state::SUCCEEDED,
            vec![
                (training_job::Column::EndedAt, time::now_micros().into()),
                (training_job::Column::Outcome, done.outcome.clone().into()),
                (training_job::Column::Activated, done.activate.into()),
                (training_job::Column::Result, done.result.encode_to_vec().into()),
            ],
        )
        .await?;
        if !ended {
            // Cancelled (or failed by another replica) meanwhile: nothing of it is kept.
            return Ok(());
        }
        uow.commit().await?;
        if done.activate {
            self.in_force.reload(self.publisher.database().reader()).await?;
        }
        tracing::info!(outcome = %done.outcome, activated = done.activate, "training job succeeded");
        Ok(())
    }

    /// Fails a running job (a cancelled one stays cancelled).
    async fn fail(&self, job: &training_job::Model, error: &str) -> Result<(), DbErr> {
        let db = self.publisher.database().writer();
        let columns = vec![
            (training_job::Column::Error, error.into()),
            (training_job::Column::EndedAt, time::now_micros().into()),
        ];
        training::transition(db, &job.name, &[state::RUNNING], state::FAILED, columns).await.map(drop)
    }

    /// Waits until the job has ended or `timeout` passed, and returns it as it is then.
    pub async fn wait(&self, name: &str, timeout: Duration) -> Result<training_job::Model, Error> {
        let db = self.publisher.database().reader();
        let until = tokio::time::Instant::now() + timeout;
        loop {
            let state = training::state_of(db, name).await?.ok_or_else(|| Error::NotFound(name.to_string()))?;
            if state::ended(&state) || tokio::time::Instant::now() >= until {
                return training::job(db, name).await?.ok_or_else(|| Error::NotFound(name.to_string()));
            }
            tokio::time::sleep(CHECK_EVERY).await;
        }
    }
}

/// The API form of a stored job.
pub fn job_proto(row: &training_job::Model) -> TrainingJob {
    let mut job = TrainingJob::decode(row.result.as_slice()).unwrap_or_default();
    if let Ok(request) = CreateTrainingJobRequest::decode(row.request.as_slice()) {
        job.training = request.training.map(|training| match training {
            create_training_job_request::Training::TextModels(mut request) => {
                // The examples are counted, not echoed.
                request.examples.clear();
                csm_proto::classification::v1::training_job::Training::TextModels(request)
            }
            create_training_job_request::Training::RiskModel(mut request) => {
                request.examples.clear();
                csm_proto::classification::v1::training_job::Training::RiskModel(request)
            }
            create_training_job_request::Training::RetrainFromCorrections(request) => {
                csm_proto::classification::v1::training_job::Training::RetrainFromCorrections(request)
            }
            create_training_job_request::Training::RetrainRiskFromOutcomes(request) => {
                csm_proto::classification::v1::training_job::Training::RetrainRiskFromOutcomes(request)
            }
        });
    }
    job.name = row.name.clone();
    job.state = state_proto(&row.state) as i32;
    job.create_time = Some(time::timestamp_from_micros(row.created_at));
    job.start_time = (row.started_at > 0).then(|| time::timestamp_from_micros(row.started_at));
    job.end_time = (row.ended_at > 0).then(|| time::timestamp_from_micros(row.ended_at));
    job.examples = row.examples;
    job.error = row.error.clone();
    job.outcome = row.outcome.clone();
    job.activated = row.activated;
    job.created_by = row.created_by.clone();
    job
}

fn state_proto(stored: &str) -> TrainingJobState {
    TrainingJobState::from_stored(stored)
}
