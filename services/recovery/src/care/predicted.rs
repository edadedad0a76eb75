//! Proactive care (主动关怀) of customers classification predicts are likely to be dissatisfied:
//! a care task for the department best placed to act, before the customer complains. A customer
//! has at most one open predicted-risk task; a newer prediction refreshes it.

use csm_kit::{
    Masked,
    error::Violations,
    feed::{EventHandler, HandleError, UnitOfWork, decode},
};
use csm_proto::{
    StoredEnum,
    classification::v1::AtRiskCustomer,
    feed::v1::Event,
    recovery::v1::{CareReason, CareTaskOpened},
};
use prost::Name;
use uuid::Uuid;

use super::view;
use crate::{
    rules::Context,
    store::{care, care_task},
    validate,
};

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
        if let Some(open) = care::open_predicted_for(&**uow, &phone).await? {
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
            reason: CareReason::PredictedRisk.stored(),
            survey_answer_id: None,
            answer: None,
            history: None,
            contact_method: String::new(),
            contact_reason: String::new(),
            follow_up_at: None,
            recover_at: None,
            case_id: None,
            service_problem_id: None,
        };
        care::insert(&**uow, row.clone()).await?;
        let task = view(&row);
        tracing::debug!(task = %task.name, phone = %Masked(&task.phone_number), department = %task.department, "care task opened");
        uow.publish(task.name.clone(), &CareTaskOpened { care_task: Some(task) });
        Ok(())
    }
}
