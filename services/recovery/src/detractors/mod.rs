//! Detractors (不满意客户闭环): every dissatisfied survey or callback answer reaches someone who
//! acts. Recovery follows intake's survey answers; an answer at or beyond its scale's threshold
//! (`recovery.detractors`) either reopens the order's case, when it was resolved or closed within
//! `reopen_within` before the answer, or opens a detractor care task for the department that owns
//! the order's case, else the answer indicator's owner, else the care department. The task carries
//! the answer, the comment, the customer's history and a contact method chosen by [`policy`].
//!
//! Each answer's loop is kept and published whole (DetractorFollowUp) as it moves: followed up,
//! customer reached, loop closed (the task's outcome, or the reopened case resolved again), and
//! recovered when a later answer of the same customer is no longer dissatisfied (the loop's moves
//! are in [`crate::closed_loop`]). Measurement counts the loops; classification learns from them.

mod follow_up;
mod policy;

use csm_kit::{
    feed::{EventHandler, HandleError, UnitOfWork, carries, decode, time_from_event},
    time,
};
use csm_proto::{
    feed::v1::Event,
    intake::v1::{HighFrequencyStatus, HighFrequencyStatusChanged, SurveyAnswered},
};
use prost::Name;

use crate::{
    affected::care::remember,
    closed_loop::publish,
    rules::Context,
    store::{care, detractors},
};

/// Applies intake's SurveyAnswered and HighFrequencyStatusChanged.
#[derive(Debug, Clone)]
pub struct DetractorHandler {
    pub context: Context,
}

impl EventHandler for DetractorHandler {
    fn work(&self) -> &'static str {
        "detractors"
    }

    fn event_types(&self) -> Vec<String> {
        vec![SurveyAnswered::full_name(), HighFrequencyStatusChanged::full_name()]
    }

    async fn handle(&self, uow: &mut UnitOfWork, event: &Event) -> Result<(), HandleError> {
        if carries::<HighFrequencyStatusChanged>(event) {
            let changed: HighFrequencyStatusChanged = decode(event)?;
            let active = changed.high_frequency.as_ref().is_some_and(|h| h.status() == HighFrequencyStatus::Active);
            let at = time::micros(time_from_event(changed.change_time.as_ref(), "change_time")?);
            let phone = changed.phone_number.trim();
            if phone.is_empty() {
                return Err(HandleError::Reject("HighFrequencyStatusChanged without a phone number".into()));
            }
            detractors::set_high_frequency(&**uow, phone, active, at).await?;
            return Ok(());
        }
        let answered: SurveyAnswered = decode(event)?;
        if let Some(answer) = &answered.survey_answer {
            remember(&**uow, &answer.phone_number, answered.profile.as_ref(), answer.occurred_at.as_ref()).await?;
        }
        follow_up::answered(&self.context, uow, answered).await
    }
}

/// A satisfied answer at `answered_at` recovers the customer's earlier loops.
async fn recovered(uow: &mut UnitOfWork, phone: &str, answered_at: i64) -> Result<(), HandleError> {
    let loops = detractors::unrecovered_before(&**uow, phone, answered_at).await?;
    for mut row in loops {
        row.recover_at = Some(answered_at);
        detractors::save(&**uow, row.clone()).await?;
        if let Some(task) = &row.care_task_id {
            care::mark_recovered(&**uow, task, answered_at).await?;
        }
        publish(uow, &row);
        csm_kit::metrics::get().detractors_recovered.add(1, &[]);
    }
    Ok(())
}
