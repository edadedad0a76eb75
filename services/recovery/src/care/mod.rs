//! Care tasks (关怀): reaching a customer before or after dissatisfaction shows.
//! - [`predicted`]: classification predicts a customer is likely to be dissatisfied
//!   (AtRiskCustomer) and a task goes to the department best placed to act, before they complain;
//! - detractor tasks, opened by [`crate::detractors`] after a dissatisfied answer.
//!
//! Both kinds record their outcome here and publish it (CareTaskCompleted) so the risk model can
//! learn from it; a detractor task's outcome also moves its closed loop (DetractorFollowUp).

pub mod predicted;

use std::time::Duration;

use csm_kit::{Principal, error::Violations, names, names::CARE_TASKS, paging, time};
use csm_proto::{
    StoredEnum,
    recovery::v1::{
        CareOutcome, CareReason, CareTask, CareTaskCompleted, ContactMethod, CustomerHistory, DetractorAnswer,
        FollowUpSurveyDue, ListCareTasksRequest, ListCareTasksResponse, RecordCareOutcomeRequest,
    },
};
use prost::Message;

use crate::{
    access::confined,
    closed_loop,
    error::Error,
    rules::Context,
    store::{
        care::{self, CareFilter},
        care_task,
    },
    validate,
};

/// The longest a follow-up survey can be scheduled ahead.
const MAX_FOLLOW_UP: Duration = Duration::from_secs(90 * 86_400);

/// A stored message, when there is one and it decodes.
fn decoded<M: Message + Default>(bytes: &Option<Vec<u8>>) -> Option<M> {
    bytes.as_deref().and_then(|b| M::decode(b).ok())
}

pub fn view(row: &care_task::Model) -> CareTask {
    CareTask {
        name: format!("{CARE_TASKS}{}", row.id),
        phone_number: row.phone_number.clone(),
        department: row.department.clone(),
        risk_score: row.risk_score,
        factors: serde_json::from_str(&row.factors).unwrap_or_default(),
        model_version: row.model_version.clone(),
        create_time: Some(time::timestamp_from_micros(row.created_at)),
        outcome: row.outcome.as_deref().map_or_else(Default::default, CareOutcome::from_stored) as i32,
        note: row.note.clone().unwrap_or_default(),
        complete_time: row.completed_at.map(time::timestamp_from_micros),
        completed_by: row.completed_by.clone().unwrap_or_default(),
        reason: CareReason::from_stored(&row.reason) as i32,
        answer: decoded::<DetractorAnswer>(&row.answer),
        history: decoded::<CustomerHistory>(&row.history),
        contact_method: ContactMethod::from_stored(&row.contact_method) as i32,
        contact_reason: row.contact_reason.clone(),
        follow_up_survey_time: row.follow_up_at.map(time::timestamp_from_micros),
        recover_time: row.recover_at.map(time::timestamp_from_micros),
        case: row.case_id.as_deref().map(|id| format!("{}{id}", names::CASES)).unwrap_or_default(),
        service_problem: row
            .service_problem_id
            .as_deref()
            .map(|id| format!("{}{id}", names::SERVICE_PROBLEMS))
            .unwrap_or_default(),
    }
}

#[derive(Debug, Clone)]
pub struct Care {
    context: Context,
}

impl Care {
    pub fn new(context: Context) -> Self {
        Self { context }
    }

    pub async fn list(
        &self,
        request: &ListCareTasksRequest,
        caller: &Principal,
    ) -> Result<ListCareTasksResponse, Error> {
        let mut violations = Violations::new();
        let page_size = paging::page_size(request.page_size, 50, 500).unwrap_or_else(|v| {
            violations.merge(v);
            0
        });
        let reason = match CareReason::try_from(request.reason) {
            Ok(CareReason::Unspecified) => None,
            Ok(reason) => Some(reason.stored()),
            Err(_) => {
                violations.add("reason", format!("unknown care reason {}", request.reason));
                None
            }
        };
        violations.into_result()?;
        let filter = CareFilter {
            reason,
            department: confined(caller, &request.department, "care tasks")?,
            include_completed: request.include_completed,
            phone_number: (!request.phone_number.is_empty()).then(|| request.phone_number.trim().to_string()),
        };
        let filters = paging::fingerprint(&[
            filter.department.as_deref().unwrap_or_default(),
            if filter.include_completed { "all" } else { "open" },
            filter.phone_number.as_deref().unwrap_or_default(),
            filter.reason.as_deref().unwrap_or_default(),
        ]);
        let after = paging::decode_keyset(&request.page_token, &filters)?;
        let mut rows = care::list(self.context.db().reader(), &filter, after, page_size + 1).await?;
        let next_page_token = paging::next_page(&mut rows, page_size, &filters, |last| (last.created_at, &last.id));
        Ok(ListCareTasksResponse { care_tasks: rows.iter().map(view).collect(), next_page_token })
    }

    pub async fn record_outcome(
        &self,
        request: &RecordCareOutcomeRequest,
        caller: &Principal,
    ) -> Result<CareTask, Error> {
        let mut violations = Violations::new();
        let outcome = validate::required(
            &mut violations,
            "outcome",
            request.outcome,
            CareOutcome::try_from,
            "contacted, repaired, no action or still dissatisfied",
        );
        let note = validate::text(&mut violations, "note", &request.note, false).to_string();
        let id = validate::id_in(&mut violations, &request.name, names::CARE_TASKS);
        let follow_up = request.follow_up_survey_after.as_ref().map(|after| {
            validate::duration(&mut violations, "follow_up_survey_after", Some(after), MAX_FOLLOW_UP, MAX_FOLLOW_UP)
        });
        violations.into_result()?;
        let db = self.context.db();
        let task = care::by_id(db.reader(), id).await?;
        let task = match (caller.confined_department(), task) {
            (Some(own), Some(task)) if task.department == own => task,
            (Some(own), _) => {
                return Err(Error::PermissionDenied(format!("{} is not a care task of {own}", request.name)));
            }
            (None, Some(task)) => task,
            (None, None) => return Err(Error::NotFound(request.name.to_string())),
        };
        let now = self.context.now();
        let follow_up_at = follow_up.map(|after| now.saturating_add(time::duration_micros(after)));
        let mut uow = self.context.publisher.begin().await?;
        let done = care::Completion {
            outcome: outcome.as_str_name(),
            note: &note,
            by: &caller.subject,
            at: now,
            follow_up_at,
        };
        if !care::complete(&*uow, &task.id, done).await? {
            uow.rollback().await?;
            return Err(Error::Precondition {
                name: request.name.clone(),
                reason: "CARE_TASK_DONE",
                message: format!("{} already has its outcome", request.name),
            });
        }
        let done = care::by_id(&*uow, &task.id).await?.ok_or_else(|| Error::NotFound(request.name.to_string()))?;
        let task = view(&done);
        uow.publish(task.name.clone(), &CareTaskCompleted { care_task: Some(task.clone()) });
        if let Some(due) = follow_up_at {
            let due_time = Some(time::timestamp_from_micros(due));
            uow.publish(task.name.clone(), &FollowUpSurveyDue { care_task: Some(task.clone()), due_time });
        }
        if done.reason == CareReason::DetractorAnswer.stored() {
            closed_loop::care_outcome_recorded(&mut uow, &done, outcome, now).await?;
        }
        uow.commit().await?;
        Ok(task)
    }
}
