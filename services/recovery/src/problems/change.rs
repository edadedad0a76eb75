//! Moving a problem along its lifecycle, and resolving it. Every change is conditional on the
//! version the caller read; a retry with the same request id changes nothing. Resolution resolves
//! each linked case not yet answered, from any status after dispatch
//! ([`crate::lifecycle::Step::ProblemResolved`]), and schedules its callback exactly as ResolveCase
//! does, in the problem's transaction.

use csm_kit::{Principal, error::Violations, feed::UnitOfWork, names};
use csm_proto::{
    StoredEnum,
    recovery::v1::{
        ResolveServiceProblemRequest, ServiceProblem, ServiceProblemStatus, ServiceProblemStatusChanged,
        ServiceProblemTransition, TransitionServiceProblemRequest,
    },
};

use super::{Problems, status};
use crate::{
    affected::view,
    cases::{
        change::{self, StepInput},
        write,
    },
    error::Error,
    lifecycle::Step,
    rules::Context,
    store::{self, problems, service_problem},
    validate,
};

/// A caller confined to a department changes only that department's problems.
fn check_department(caller: &Principal, name: &str, row: &service_problem::Model) -> Result<(), Error> {
    match caller.confined_department() {
        Some(own) if own != row.department => {
            Err(Error::PermissionDenied(format!("{name} is a problem of the {} department", row.department)))
        }
        _ => Ok(()),
    }
}

/// Saves `next` over `current` and announces the step; Conflict when somebody changed it first.
async fn save_and_announce(
    uow: &mut UnitOfWork,
    name: &str,
    current: &service_problem::Model,
    next: &service_problem::Model,
    action: &str,
    actor: &str,
) -> Result<(), Error> {
    if !problems::save(&**uow, current.version, next.clone()).await? {
        return Err(Error::Conflict(name.to_string()));
    }
    let event = ServiceProblemStatusChanged {
        service_problem: Some(view(next)),
        from_status: ServiceProblemStatus::from_stored(&current.status) as i32,
        action: action.to_string(),
        actor: actor.to_string(),
        reason: next.status_change_reason.clone(),
    };
    uow.publish(name.to_string(), &event);
    Ok(())
}

/// `current` moved to `to` at `now` for `reason` by the request `request_id`.
fn moved(
    current: &service_problem::Model,
    to: ServiceProblemStatus,
    now: i64,
    reason: String,
    request_id: Option<&str>,
) -> service_problem::Model {
    let mut next = current.clone();
    next.status = to.stored();
    next.status_changed_at = now;
    next.status_change_reason = reason;
    next.change_request_id = request_id.map(str::to_string);
    next.version += 1;
    next
}

impl Problems {
    pub async fn transition(
        &self,
        request: &TransitionServiceProblemRequest,
        caller: &Principal,
    ) -> Result<ServiceProblem, Error> {
        let mut violations = Violations::new();
        let id = validate::id_in(&mut violations, &request.name, names::SERVICE_PROBLEMS);
        let transition = validate::required(
            &mut violations,
            "transition",
            request.transition,
            ServiceProblemTransition::try_from,
            "acknowledge, start, hold, pend, close, cancel or reject",
        );
        let needs_reason = transition != ServiceProblemTransition::Unspecified && status::needs_reason(transition);
        let reason = validate::text(&mut violations, "reason", &request.reason, needs_reason).to_string();
        let request_id = names::request_id(&mut violations, "request_id", &request.request_id);
        violations.into_result()?;
        let current = self.load(&request.name).await?;
        check_department(caller, &request.name, &current)?;
        if request_id.is_some() && current.change_request_id.as_deref() == request_id {
            return Ok(view(&current));
        }
        let from = ServiceProblemStatus::from_stored(&current.status);
        let action = status::action(transition);
        let to = status::target(transition, from).ok_or_else(|| illegal(&request.name, from, action))?;
        let next = moved(&current, to, self.context.now(), reason, request_id);
        let mut uow = self.context.publisher.begin().await?;
        save_and_announce(&mut uow, &request.name, &current, &next, action, &caller.subject).await?;
        if status::releases_links(to) {
            problems::release_cases(&*uow, id).await?;
        }
        uow.commit().await?;
        Ok(view(&next))
    }

    pub async fn resolve(
        &self,
        request: &ResolveServiceProblemRequest,
        caller: &Principal,
    ) -> Result<ServiceProblem, Error> {
        let mut violations = Violations::new();
        let id = validate::id_in(&mut violations, &request.name, names::SERVICE_PROBLEMS);
        let resolution = validate::text(&mut violations, "resolution", &request.resolution, true).to_string();
        let request_id = names::request_id(&mut violations, "request_id", &request.request_id);
        violations.into_result()?;
        let current = self.load(&request.name).await?;
        check_department(caller, &request.name, &current)?;
        if request_id.is_some() && current.change_request_id.as_deref() == request_id {
            return Ok(view(&current));
        }
        let from = ServiceProblemStatus::from_stored(&current.status);
        if !status::resolvable(from) {
            return Err(illegal(&request.name, from, "resolve"));
        }
        let now = self.context.now();
        let mut next = moved(&current, ServiceProblemStatus::Resolved, now, "resolved".into(), request_id);
        next.resolved_at = Some(now);
        next.resolution = Some(resolution.clone());
        let mut uow = self.context.publisher.begin().await?;
        save_and_announce(&mut uow, &request.name, &current, &next, "resolve", &caller.subject).await?;
        let resolved = resolve_cases(&self.context, &mut uow, id, &request.name, &resolution, &caller.subject).await?;
        uow.commit().await?;
        tracing::info!(problem = %request.name, cases = resolved, "service problem resolved");
        Ok(view(&next))
    }
}

/// Resolves every case linked to the problem `id` that is not answered yet; how many.
async fn resolve_cases(
    context: &Context,
    uow: &mut UnitOfWork,
    id: &str,
    name: &str,
    resolution: &str,
    actor: &str,
) -> Result<usize, Error> {
    let input = StepInput {
        reason: format!("resolved with {name}"),
        resolution: format!("Service problem {name}: {resolution}"),
        ..StepInput::default()
    };
    let now = context.now();
    let mut resolved = 0;
    for case in problems::linked_cases(&**uow, id).await? {
        if Step::ProblemResolved.target(store::status_of(&case)).is_none() {
            continue;
        }
        let planned = change::plan(context, &case, Step::ProblemResolved, &input, now)?;
        if write::write(context, uow, planned, actor, None).await?.is_none() {
            return Err(Error::Conflict(format!("{}{}", names::CASES, case.id)));
        }
        resolved += 1;
    }
    Ok(resolved)
}

fn illegal(name: &str, from: ServiceProblemStatus, action: &str) -> Error {
    Error::Precondition {
        name: name.to_string(),
        reason: "SERVICE_PROBLEM_STATUS",
        message: format!("{name} is {}; {action} is not possible from there", from.as_str_name()),
    }
}
