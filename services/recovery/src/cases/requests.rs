//! The changes callers ask for on a case (transitions, resolution, callbacks, transfers): checked
//! field by field, planned from the case as the caller may see it, and written through the group
//! commit, planned again when someone else changed the case at the same moment.

use csm_kit::{Masked, Principal, error::Violations, names, time};
use csm_proto::recovery::v1::{
    CallbackOutcome, Case, RecordCallbackRequest, ResolveCaseRequest, TransferCaseRequest, Transition,
    TransitionCaseRequest,
};

use super::{
    Cases,
    change::{StepInput, plan},
    write::CaseChange,
};
use crate::{error::Error, lifecycle::Step, store, validate};

/// How often a change is retried when another caller changed the case at the same moment.
const ATTEMPTS: usize = 3;

impl Cases {
    /// Takes `step` on the case `name` for `caller`.
    async fn take(
        &self,
        name: &str,
        caller: &Principal,
        step: Step,
        input: StepInput,
        request_id: Option<&str>,
    ) -> Result<Case, Error> {
        let context = self.context();
        for _ in 0..ATTEMPTS {
            // The sub-tasks read with the case are part of the answer; a change of the case does
            // not touch them.
            let (current, tasks) = self.visible_case_and_sub_tasks(name, caller).await?;
            if let Some(key) = request_id
                && store::request_seen(context.db().reader(), &current.id, key).await?
            {
                return Ok(self.view(&current, &tasks));
            }
            if !step.allowed(caller, &current.department, current.owner_department.as_deref()) {
                return Err(Error::PermissionDenied(format!("{} may not {} {name}", caller.subject, step.action())));
            }
            let planned = plan(context, &current, step, &input, context.now())?;
            let change =
                CaseChange { planned, actor: caller.subject.clone(), request_id: request_id.map(str::to_string) };
            match self.changes().write(change).await? {
                Some(updated) => {
                    tracing::info!(
                        case = %name,
                        phone = %Masked(&updated.phone_number),
                        action = step.action(),
                        status = %updated.status,
                        by = %caller.subject,
                        "case changed"
                    );
                    return Ok(self.view(&updated, &tasks));
                }
                None => continue,
            }
        }
        Err(Error::Conflict(name.to_string()))
    }

    pub async fn transition(&self, request: &TransitionCaseRequest, caller: &Principal) -> Result<Case, Error> {
        let mut violations = Violations::new();
        let transition = validate::required(
            &mut violations,
            "transition",
            request.transition,
            Transition::try_from,
            "name the transition: accept, start, pend, hold, resume, close, cancel or reopen",
        );
        let needs_reason = matches!(
            transition,
            Transition::PendOnCustomer | Transition::Hold | Transition::Cancel | Transition::Reopen
        );
        let reason = validate::text(&mut violations, "reason", &request.reason, needs_reason).to_string();
        let promised_at = match &request.promised_time {
            None => None,
            Some(_) if transition != Transition::Accept => {
                violations.add("promised_time", "only recorded when accepting a case");
                None
            }
            Some(ts) => match time::from_timestamp(ts) {
                Some(at) if time::micros(at) >= self.context().now() => Some(time::micros(at)),
                _ => {
                    violations.add("promised_time", "a time not in the past");
                    None
                }
            },
        };
        let request_id = names::request_id(&mut violations, "request_id", &request.request_id);
        violations.into_result()?;
        let input = StepInput { reason, promised_at, ..StepInput::default() };
        self.take(&request.name, caller, Step::Transition(transition), input, request_id).await
    }

    pub async fn resolve(&self, request: &ResolveCaseRequest, caller: &Principal) -> Result<Case, Error> {
        let mut violations = Violations::new();
        let resolution = validate::text(&mut violations, "resolution", &request.resolution, true).to_string();
        let request_id = names::request_id(&mut violations, "request_id", &request.request_id);
        violations.into_result()?;
        let input = StepInput { reason: resolution.clone(), resolution, ..StepInput::default() };
        self.take(&request.name, caller, Step::Resolve, input, request_id).await
    }

    pub async fn record_callback(&self, request: &RecordCallbackRequest, caller: &Principal) -> Result<Case, Error> {
        let mut violations = Violations::new();
        let outcome = validate::required(
            &mut violations,
            "outcome",
            request.outcome,
            CallbackOutcome::try_from,
            "satisfied, basically satisfied, dissatisfied or unreachable",
        );
        let note = validate::text(&mut violations, "note", &request.note, false).to_string();
        let request_id = names::request_id(&mut violations, "request_id", &request.request_id);
        violations.into_result()?;
        let dissatisfied = outcome == CallbackOutcome::Dissatisfied;
        let reason = if note.is_empty() { outcome.as_str_name().to_string() } else { note };
        let input = StepInput { reason, callback_outcome: Some(outcome), ..StepInput::default() };
        self.take(&request.name, caller, Step::Callback { dissatisfied }, input, request_id).await
    }

    pub async fn transfer(&self, request: &TransferCaseRequest, caller: &Principal) -> Result<Case, Error> {
        let mut violations = Violations::new();
        let to = validate::department(&mut violations, "department", &request.department).to_string();
        let reason = validate::text(&mut violations, "reason", &request.reason, true).to_string();
        let request_id = names::request_id(&mut violations, "request_id", &request.request_id);
        violations.into_result()?;
        let current = self.visible_case(&request.name, caller).await?;
        if current.department == to && request_id.is_none() {
            return Err(Violations::one("department", format!("the case is already with {to}")).into());
        }
        let input = StepInput { reason, transfer_to: to, ..StepInput::default() };
        self.take(&request.name, caller, Step::Transfer, input, request_id).await
    }
}
