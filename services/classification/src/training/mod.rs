//! Training as jobs, off the request path (in the style of google.longrunning): a job is stored
//! when it is asked for, and one replica at a time (the holder of the `training` lease) runs the
//! jobs one after another on the blocking pool. A cancelled job stops within a pass over its data;
//! a job's models, its activation and its end are written in one transaction, so a job cut short
//! by a stop or a crash leaves nothing behind, and the next holder of the lease marks it failed.

mod retrain;
mod work;

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use csm_kit::{feed::Publisher, time};
use csm_proto::classification::v1::{
    CreateTrainingJobRequest, TrainingJob, TrainingJobState, create_training_job_request,
};
use prost::Message;
use sea_orm::{ColumnTrait, DbErr, EntityTrait, QueryFilter};
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
                Ok(Some(job)) => self.execute(job, &stop).await,
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
        let claimed = training_job::Entity::update_many()
            .col_expr(training_job::Column::State, state::RUNNING.into())
            .col_expr(training_job::Column::StartedAt, started.into())
            .filter(training_job::Column::Name.eq(job.name.as_str()))
            .filter(training_job::Column::State.eq(state::PENDING))
            .exec(db)
            .await;
        if !matches!(claimed, Ok(ref result) if result.rows_affected == 1) {
            return;
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
        cancelled.store(true, Ordering::Relaxed);
        let ended = match outcome {
            Ok(done) => self.finish(&job, done).await,
            Err(Stopped::Cancelled) if stop.is_cancelled() => {
                self.end(&job, state::FAILED, "stopped with the service before it finished; nothing was stored").await
            }
            Err(Stopped::Cancelled) => self.end(&job, state::CANCELLED, "cancelled").await,
            Err(Stopped::Failed(reason)) => {
                tracing::warn!(error = %reason, "training job failed");
                self.end(&job, state::FAILED, &reason).await
            }
        };
        if let Err(error) = ended {
            tracing::warn!(%error, "cannot record the end of a training job");
        }
    }

    /// Resolves when the job is cancelled (through any replica) or the service stops.
    async fn watch_for_cancel(&self, name: &str, cancelled: Arc<AtomicBool>, stop: CancellationToken) {
        let db = self.publisher.database().reader();
        loop {
            tokio::select! {
                () = tokio::time::sleep(CHECK_EVERY) => {}
                () = stop.cancelled() => break,
            }
            if let Ok(Some(row)) = training::job(db, name).await
                && row.state == state::CANCELLED
            {
                break;
            }
        }
        cancelled.store(true, Ordering::Relaxed);
        // Let the work notice and return; the select above then takes whichever ends first.
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
            None => Err(Stopped::Failed("the job names nothing to train".into())),
        }
    }

    /// Stores what the job trained and ends it, in one transaction; a job cancelled meanwhile
    /// stores nothing.
    async fn finish(&self, job: &training_job::Model, mut done: Done) -> Result<(), DbErr> {
        let uow = self.publisher.begin().await?;
        let still_running = training::job(&*uow, &job.name).await?.is_some_and(|row| row.state == state::RUNNING);
        if !still_running {
            return Ok(());
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
            models::insert_risk_model(&*uow, row.clone()).await?;
            if done.activate {
                models::activate_risk_model(&*uow, &row.name).await?;
            }
        }
        done.result.trained_text_models = done.text_models.iter().map(crate::api::text_model_proto).collect();
        done.result.trained_risk_model =
            done.risk_model.as_ref().map(|row| crate::api::risk_model_proto(row, done.activate));
        let mut row = job.clone();
        row.state = state::SUCCEEDED.into();
        row.ended_at = time::now_micros();
        row.outcome = done.outcome.clone();
        row.activated = done.activate;
        row.result = done.result.encode_to_vec();
        training::update_job(&*uow, row).await?;
        uow.commit().await?;
        if done.activate {
            self.in_force.reload(self.publisher.database().reader()).await?;
        }
        tracing::info!(outcome = %done.outcome, activated = done.activate, "training job succeeded");
        Ok(())
    }

    async fn end(&self, job: &training_job::Model, to: &str, error: &str) -> Result<(), DbErr> {
        let db = self.publisher.database().writer();
        let mut row = training::job(db, &job.name).await?.unwrap_or_else(|| job.clone());
        if state::ended(&row.state) && row.state != state::CANCELLED {
            return Ok(());
        }
        row.state = to.into();
        row.error = error.into();
        row.ended_at = time::now_micros();
        training::update_job(db, row).await
    }

    /// Waits until the job has ended or `timeout` passed, and returns it as it is then.
    pub async fn wait(&self, name: &str, timeout: Duration) -> Result<training_job::Model, Error> {
        let db = self.publisher.database().reader();
        let until = tokio::time::Instant::now() + timeout;
        loop {
            let row = training::job(db, name).await?.ok_or_else(|| Error::NotFound(name.to_string()))?;
            if state::ended(&row.state) || tokio::time::Instant::now() >= until {
                return Ok(row);
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
    TrainingJobState::from_str_name(&format!("TRAINING_JOB_STATE_{stored}")).unwrap_or_default()
}
