//! Detractors (不满意客户闭环): every dissatisfied survey or callback answer reaches someone who
//! acts. Recovery follows intake's survey answers; an answer at or beyond its scale's threshold
//! (`recovery.detractors`) either reopens the order's case, when it was resolved or closed within
//! `reopen_within` before the answer, or opens a detractor care task for the department that owns
//! the order's case, else the answer indicator's owner, else the care department. The task carries
//! the answer, the comment, the customer's history and a contact method chosen by [`policy`].
//!
//! Each answer's loop is kept and published whole (DetractorFollowUp) as it moves: followed up,
//! customer reached, loop closed (the task's outcome, or the reopened case resolved again), and
//! recovered when a later answer of the same customer is no longer dissatisfied. Measurement
//! counts the loops; classification learns from them.

mod follow_up;
mod policy;

use csm_kit::{
    feed::{EventHandler, HandleError, UnitOfWork, carries, decode, time_from_event},
    names, time,
};
use csm_proto::{
    StoredEnum,
    feed::v1::Event,
    intake::v1::{HighFrequencyStatus, HighFrequencyStatusChanged, SurveyAnswered},
    recovery::v1::{CareOutcome, ContactMethod, DetractorAnswer, DetractorFollowUp, DetractorRoute},
};
use prost::{Message, Name};

use crate::{
    error::Error,
    rules::Context,
    store::{care, care_task, detractor, detractors},
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
        follow_up::answered(&self.context, uow, decode(event)?).await
    }
}

/// A loop as the feed carries it.
fn follow_up_of(row: &detractor::Model) -> DetractorFollowUp {
    let at = |micros: Option<i64>| micros.map(time::timestamp_from_micros);
    DetractorFollowUp {
        answer: DetractorAnswer::decode(row.answer.as_slice()).ok(),
        phone_number: row.phone_number.clone(),
        route: DetractorRoute::from_stored(&row.route) as i32,
        case: row.case_id.as_deref().map(|id| format!("{}{id}", names::CASES)).unwrap_or_default(),
        care_task: row.care_task_id.as_deref().map(|id| format!("{}{id}", names::CARE_TASKS)).unwrap_or_default(),
        department: row.department.clone(),
        contact_method: ContactMethod::from_stored(&row.contact_method) as i32,
        contact_time: at(row.contact_at),
        close_time: at(row.close_at),
        recover_time: at(row.recover_at),
        region: row.region.clone(),
        segment: row.segment.clone(),
    }
}

fn publish(uow: &mut UnitOfWork, row: &detractor::Model) {
    uow.publish(format!("{}{}", names::SURVEY_ANSWERS, row.survey_answer_id), &follow_up_of(row));
}

/// A detractor task's outcome closes its loop; any outcome but "no action" means the customer
/// was reached.
pub async fn care_outcome_recorded(
    uow: &mut UnitOfWork,
    task: &care_task::Model,
    outcome: CareOutcome,
    now: i64,
) -> Result<(), Error> {
    let Some(mut row) = detractors::by_care_task(&**uow, &task.id).await? else {
        return Ok(());
    };
    if outcome != CareOutcome::NoAction {
        row.contact_at = row.contact_at.or(Some(now));
    }
    row.close_at = Some(now);
    detractors::save(&**uow, row.clone()).await?;
    publish(uow, &row);
    Ok(())
}

/// A case a dissatisfied answer reopened was resolved again: the customer was answered, and the
/// loop is closed.
pub async fn case_answered_again(uow: &mut UnitOfWork, case_id: &str, now: i64) -> Result<(), Error> {
    for mut row in detractors::open_on_case(&**uow, case_id).await? {
        row.contact_at = row.contact_at.or(Some(now));
        row.close_at = Some(now);
        detractors::save(&**uow, row.clone()).await?;
        publish(uow, &row);
    }
    Ok(())
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
