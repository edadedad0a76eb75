//! The closed loop of a dissatisfied answer as it moves after it was followed up (see
//! [`crate::detractors`]): a detractor task's outcome, or the reopened case resolved again, closes
//! it; each move is published whole (DetractorFollowUp). Kept apart from the care tasks and cases
//! that move it, so both can call it.

use csm_kit::{feed::UnitOfWork, names, time};
use csm_proto::{
    StoredEnum,
    recovery::v1::{CareOutcome, ContactMethod, DetractorAnswer, DetractorFollowUp, DetractorRoute},
};
use prost::Message;

use crate::{
    error::Error,
    store::{care_task, detractor, detractors},
};

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

pub fn publish(uow: &mut UnitOfWork, row: &detractor::Model) {
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
