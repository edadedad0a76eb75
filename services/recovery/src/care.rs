//! Proactive care (主动关怀): classification predicts which customers are likely to be
//! dissatisfied (AtRiskCustomer); recovery opens a care task for the department best placed to
//! act, before the customer complains, and publishes what came of it so the risk model can learn.
//! A customer has at most one open care task; a newer prediction refreshes it.

use csm_kit::{
    Masked, Principal,
    error::Violations,
    feed::{EventHandler, HandleError, UnitOfWork, decode},
    names,
    names::CARE_TASKS,
    paging, time,
};
use csm_proto::{
    StoredEnum,
    classification::v1::AtRiskCustomer,
    feed::v1::Event,
    recovery::v1::{
        CareOutcome, CareTask, CareTaskCompleted, CareTaskOpened, ListCareTasksRequest, ListCareTasksResponse,
        RecordCareOutcomeRequest,
    },
};
use prost::Name;
use uuid::Uuid;

use crate::{
    access::confined,
    error::Error,
    rules::Context,
    store::{
        care::{self, CareFilter},
        care_task,
    },
    validate,
};

fn view(row: &care_task::Model) -> CareTask {
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
        ..CareTask::default()
    }
}

/// Applies classification's AtRiskCustomer.
#[derive(Debug, Clone)]
pub struct AtRiskCustomerHandler {
    pub context: Context,
}

impl EventHandler for AtRiskCustomerHandler {
    fn work(&self) -> &'static str {
        "care"
    }

    fn event_types(&self) -> Vec<String> {
        vec![AtRiskCustomer::full_name()]
    }

    async fn handle(&self, uow: &mut UnitOfWork, event: &Event) -> Result<(), HandleError> {
        let at_risk: AtRiskCustomer = decode(event)?;
        let mut violations = Violations::new();
        let phone = validate::phone(&mut violations, "phone_number", &at_risk.phone_number).to_string();
        if !(0.0..=1.0).contains(&at_risk.score) {
            violations.add("score", "a probability");
        }
        if violations.into_result().is_err() {
            return Err(HandleError::Reject(format!(
                "AtRiskCustomer without a usable phone number or score: {}",
                event.subject
            )));
        }
        let factors = serde_json::to_string(&at_risk.factors).unwrap_or_else(|_| "[]".into());
        if let Some(open) = care::open_for(&**uow, &phone).await? {
            care::refresh(&**uow, &open.id, at_risk.score, &factors, &at_risk.model_version).await?;
            return Ok(());
        }
        let department = if at_risk.department.trim().is_empty() {
            self.context.rules.care_department.clone()
        } else {
            at_risk.department.trim().to_string()
        };
        let row = care_task::Model {
            id: Uuid::now_v7().to_string(),
            phone_number: phone,
            department,
            risk_score: at_risk.score,
            factors,
            model_version: at_risk.model_version,
            created_at: self.context.now(),
            outcome: None,
            note: None,
            completed_at: None,
            completed_by: None,
        };
        care::insert(&**uow, row.clone()).await?;
        let task = view(&row);
        tracing::debug!(task = %task.name, phone = %Masked(&task.phone_number), department = %task.department, "care task opened");
        uow.publish(task.name.clone(), &CareTaskOpened { care_task: Some(task) });
        Ok(())
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
        let page_size = paging::page_size(request.page_size, 50, 500)?;
        let filter = CareFilter {
            department: confined(caller, &request.department, "care tasks")?,
            include_completed: request.include_completed,
            phone_number: (!request.phone_number.is_empty()).then(|| request.phone_number.trim().to_string()),
        };
        let filters = paging::fingerprint(&[
            filter.department.as_deref().unwrap_or_default(),
            if filter.include_completed { "all" } else { "open" },
            filter.phone_number.as_deref().unwrap_or_default(),
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
        let mut uow = self.context.publisher.begin().await?;
        if !care::complete(&*uow, &task.id, outcome.as_str_name(), &note, &caller.subject, now).await? {
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
        uow.commit().await?;
        Ok(task)
    }
}
