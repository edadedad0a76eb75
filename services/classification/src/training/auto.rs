//! Retraining from outcomes by itself: once `risk.retrain_after_outcomes` customers' outcomes
//! were learned (or learned again) since the last retraining from outcomes was asked for, the
//! feed handler that learned the last of them queues one, in the transaction that stores that
//! outcome, so a replayed event queues nothing twice. Not while one is waiting or running, and
//! not before the outcomes are enough to retrain on by the default rule.

use std::sync::Arc;

use csm_kit::feed::UnitOfWork;
use csm_proto::classification::v1::{
    CreateTrainingJobRequest, RetrainRiskFromOutcomesRequest, create_training_job_request::Training,
};
use sea_orm::DbErr;

use super::{
    Trainer,
    outcomes::{DEFAULT_MIN_OUTCOMES, too_few},
};
use crate::store::{
    outcomes,
    training::{self, state},
};

/// The kind of a retraining-from-outcomes job, as stored.
pub const RETRAIN_FROM_OUTCOMES: &str = "retrain_risk_from_outcomes";

/// Who a job queued by the service itself was created by.
const SELF: &str = "classification";

#[derive(Debug)]
pub struct AutoRetrain {
    trainer: Arc<Trainer>,
    after: u64,
}

impl AutoRetrain {
    /// `None` when `after` is 0 (off).
    pub fn new(trainer: Arc<Trainer>, after: u64) -> Option<Arc<Self>> {
        (after > 0).then(|| Arc::new(Self { trainer, after }))
    }

    /// Called once an outcome was stored at `now` in `uow`.
    pub async fn after_outcome(&self, uow: &mut UnitOfWork, now: i64) -> Result<(), DbErr> {
        let last = training::latest_of_kind(&**uow, RETRAIN_FROM_OUTCOMES).await?;
        if last.as_ref().is_some_and(|job| !state::ended(&job.state)) {
            return Ok(());
        }
        let since = last.map_or(i64::MIN, |job| job.created_at);
        let learned = outcomes::learned_after(&**uow, since).await?;
        if learned < self.after {
            return Ok(());
        }
        let (labelled, dissatisfied) = outcomes::counts(&**uow).await?;
        if too_few(labelled, dissatisfied, DEFAULT_MIN_OUTCOMES).is_some() {
            return Ok(());
        }
        let request = CreateTrainingJobRequest {
            training: Some(Training::RetrainRiskFromOutcomes(RetrainRiskFromOutcomesRequest::default())),
            ..CreateTrainingJobRequest::default()
        };
        let row = training::new_job(&request, RETRAIN_FROM_OUTCOMES, 0, SELF, None, now);
        training::insert_job(&**uow, row.clone()).await?;
        tracing::info!(job = %row.name, learned, "retraining from outcomes queued");
        // Woken before the commit, the runner finds the job at its next look a second later.
        self.trainer.wake();
        Ok(())
    }
}
