//! Service recovery (服务补救): the "second service" after a failure. Apologies, explanations and
//! fixes are carried out at once; compensation, and gifts with an amount, wait for a
//! supervisor's approval first. Every action ends with what came of it.

use csm_kit::{Masked, Principal, Role, error::Violations, names, names::RECOVERY_ACTIONS, paging, time};
use csm_proto::StoredEnum;
use csm_proto::recovery::v1::{
    CompleteRecoveryActionRequest, CreateRecoveryActionRequest, DecideRecoveryActionRequest,
    ListRecoveryActionsRequest, ListRecoveryActionsResponse, RecoveryAction, RecoveryActionCompleted,
    RecoveryActionKind, RecoveryActionStatus, RecoveryOutcome,
};
use uuid::Uuid;

use super::Cases;
use crate::{
    error::Error,
    store::{
        recovery_action,
        recovery_actions::{self, ActionFilter},
    },
    validate,
};

/// The largest single compensation accepted, in fen (100,000 yuan).
const MAX_AMOUNT: i64 = 10_000_000;

fn view(row: &recovery_action::Model) -> RecoveryAction {
    RecoveryAction {
        name: format!("{RECOVERY_ACTIONS}{}", row.id),
        phone_number: row.phone_number.clone(),
        case: row.case_id.as_ref().map(|id| format!("{}{id}", names::CASES)).unwrap_or_default(),
        kind: RecoveryActionKind::from_stored(&row.kind) as i32,
        description: row.description.clone(),
        amount: row.amount,
        status: RecoveryActionStatus::from_stored(&row.status) as i32,
        created_by: row.created_by.clone(),
        create_time: Some(time::timestamp_from_micros(row.created_at)),
        decided_by: row.decided_by.clone().unwrap_or_default(),
        first_approved_by: row.first_approved_by.clone().unwrap_or_default(),
        decision_note: row.decision_note.clone().unwrap_or_default(),
        outcome: row.outcome.as_deref().map_or_else(Default::default, RecoveryOutcome::from_stored) as i32,
        outcome_note: row.outcome_note.clone().unwrap_or_default(),
        complete_time: row.completed_at.map(time::timestamp_from_micros),
        department: row.department.clone().unwrap_or_default(),
    }
}

impl Cases {
    pub async fn create_recovery_action(
        &self,
        request: &CreateRecoveryActionRequest,
        caller: &Principal,
    ) -> Result<RecoveryAction, Error> {
        let mut violations = Violations::new();
        let kind = validate::required(
            &mut violations,
            "kind",
            request.kind,
            RecoveryActionKind::try_from,
            "apology, explanation, fix, compensation or goodwill gift",
        );
        let description = validate::text(&mut violations, "description", &request.description, true).to_string();
        match kind {
            RecoveryActionKind::Compensation if request.amount <= 0 => {
                violations.add("amount", "compensation needs a positive amount (in fen)")
            }
            RecoveryActionKind::Compensation | RecoveryActionKind::GoodwillGift
                if !(0..=MAX_AMOUNT).contains(&request.amount) =>
            {
                violations.add("amount", format!("between 0 and {MAX_AMOUNT} fen"))
            }
            RecoveryActionKind::Compensation | RecoveryActionKind::GoodwillGift => {}
            _ if request.amount != 0 => violations.add("amount", "only compensation and gifts carry an amount"),
            _ => {}
        }
        if request.case.is_empty() == request.phone_number.is_empty() {
            violations.add("case", "name either the case or the customer's phone_number");
        } else if !request.phone_number.is_empty() {
            validate::phone(&mut violations, "phone_number", &request.phone_number);
        }
        let request_id = names::request_id(&mut violations, "request_id", &request.request_id);
        violations.into_result()?;

        let db = self.context().db();
        if let Some(key) = request_id
            && let Some(existing) = recovery_actions::by_request(db.reader(), key).await?
        {
            return Ok(view(&existing));
        }
        let (case_id, phone) = if request.case.is_empty() {
            if caller.confined_department().is_some() {
                return Err(Error::PermissionDenied("a department records actions on its own cases".into()));
            }
            (None, request.phone_number.trim().to_string())
        } else {
            let case = self.visible_case(&request.case, caller).await?;
            (Some(case.id), case.phone_number)
        };
        let needs_approval = request.amount > 0;
        let row = recovery_action::Model {
            id: Uuid::now_v7().to_string(),
            phone_number: phone,
            case_id,
            kind: kind.stored(),
            description,
            amount: request.amount,
            status: (if needs_approval {
                RecoveryActionStatus::AwaitingApproval
            } else {
                RecoveryActionStatus::Planned
            })
            .stored(),
            created_by: caller.subject.clone(),
            department: caller.confined_department().map(str::to_string),
            created_at: self.context().now(),
            decided_by: None,
            first_approved_by: None,
            decision_note: None,
            outcome: None,
            outcome_note: None,
            completed_at: None,
            request_id: request_id.map(str::to_string),
        };
        recovery_actions::insert(db.writer(), row.clone()).await?;
        Ok(view(&row))
    }

    pub async fn decide_recovery_action(
        &self,
        request: &DecideRecoveryActionRequest,
        caller: &Principal,
    ) -> Result<RecoveryAction, Error> {
        let mut violations = Violations::new();
        let note = validate::text(&mut violations, "note", &request.note, !request.approve).to_string();
        let id = validate::id_in(&mut violations, &request.name, names::RECOVERY_ACTIONS);
        violations.into_result()?;
        if !caller.has(Role::Supervisor) && !caller.has(Role::Administrator) {
            return Err(Error::PermissionDenied("only a supervisor approves compensation".into()));
        }
        let db = self.context().db();
        let mut row =
            recovery_actions::by_id(db.reader(), id).await?.ok_or_else(|| Error::NotFound(request.name.to_string()))?;
        let awaiting = RecoveryActionStatus::AwaitingApproval.stored();
        if row.status != awaiting {
            return Err(Error::Precondition {
                name: request.name.clone(),
                reason: "ACTION_STATUS",
                message: format!("{} is {} and awaits no decision", request.name, row.status),
            });
        }
        // Four eyes: nobody approves what they asked for, and a large amount needs two approvers.
        if request.approve && row.created_by == caller.subject {
            return Err(Error::PermissionDenied(format!(
                "{} asked for {}; another supervisor must approve it",
                caller.subject, request.name
            )));
        }
        if request.approve && row.first_approved_by.as_deref() == Some(caller.subject.as_str()) {
            return Err(Error::PermissionDenied(format!(
                "{} approved {} already; the second approval must come from someone else",
                caller.subject, request.name
            )));
        }
        let first_read = row.first_approved_by.clone();
        let needs_second = row.amount > self.context().rules.second_approval_above;
        if request.approve && needs_second && row.first_approved_by.is_none() {
            row.first_approved_by = Some(caller.subject.clone());
        } else {
            row.status =
                (if request.approve { RecoveryActionStatus::Planned } else { RecoveryActionStatus::Rejected }).stored();
            row.decided_by = Some(caller.subject.clone());
        }
        row.decision_note = Some(note);
        if !recovery_actions::save_decision(db.writer(), &awaiting, first_read.as_deref(), row.clone()).await? {
            return Err(Error::Conflict(request.name.clone()));
        }
        Ok(view(&row))
    }

    pub async fn complete_recovery_action(
        &self,
        request: &CompleteRecoveryActionRequest,
        caller: &Principal,
    ) -> Result<RecoveryAction, Error> {
        let mut violations = Violations::new();
        let outcome = validate::required(
            &mut violations,
            "outcome",
            request.outcome,
            RecoveryOutcome::try_from,
            "accepted, still dissatisfied or declined",
        );
        let note = validate::text(&mut violations, "note", &request.note, false).to_string();
        let id = validate::id_in(&mut violations, &request.name, names::RECOVERY_ACTIONS);
        violations.into_result()?;
        let db = self.context().db();
        let mut row =
            recovery_actions::by_id(db.reader(), id).await?.ok_or_else(|| Error::NotFound(request.name.to_string()))?;
        if let Some(own) = caller.confined_department()
            && row.department.as_deref() != Some(own)
        {
            return Err(Error::PermissionDenied(format!("{} was not recorded by the {own} department", request.name)));
        }
        let planned = RecoveryActionStatus::Planned.stored();
        if row.status != planned {
            return Err(Error::Precondition {
                name: request.name.clone(),
                reason: "ACTION_STATUS",
                message: format!("{} is {}; only a planned action can be completed", request.name, row.status),
            });
        }
        row.status = RecoveryActionStatus::Done.stored();
        row.outcome = Some(outcome.stored());
        row.outcome_note = Some(note);
        row.completed_at = Some(self.context().now());
        let mut uow = self.context().publisher.begin().await?;
        if !recovery_actions::save_from(&*uow, &planned, row.clone()).await? {
            uow.rollback().await?;
            return Err(Error::Conflict(request.name.clone()));
        }
        let action = view(&row);
        uow.publish(action.name.clone(), &RecoveryActionCompleted { action: Some(action.clone()) });
        uow.commit().await?;
        tracing::info!(action = %action.name, phone = %Masked(&action.phone_number), kind = %row.kind, "recovery action done");
        Ok(action)
    }

    pub async fn list_recovery_actions(
        &self,
        request: &ListRecoveryActionsRequest,
        caller: &Principal,
    ) -> Result<ListRecoveryActionsResponse, Error> {
        let mut violations = Violations::new();
        let page_size = paging::page_size(request.page_size, 50, 500).unwrap_or_else(|v| {
            violations.merge(v);
            0
        });
        if request.case.is_empty() == request.phone_number.is_empty() {
            violations.add("case", "name either the case or the customer's phone_number");
        }
        violations.into_result()?;
        let case_id =
            if request.case.is_empty() { None } else { Some(self.visible_case(&request.case, caller).await?.id) };
        let filter = ActionFilter {
            phone_number: (!request.phone_number.is_empty()).then(|| request.phone_number.trim().to_string()),
            department: caller.confined_department().map(str::to_string),
            case_id,
        };
        let filters = paging::fingerprint(&[
            filter.phone_number.as_deref().unwrap_or_default(),
            filter.case_id.as_deref().unwrap_or_default(),
            filter.department.as_deref().unwrap_or_default(),
        ]);
        let before = paging::decode_keyset(&request.page_token, &filters)?;
        let mut rows = recovery_actions::list(self.context().db().reader(), &filter, before, page_size + 1).await?;
        let next_page_token = paging::next_page(&mut rows, page_size, &filters, |last| (last.created_at, &last.id));
        Ok(ListRecoveryActionsResponse { actions: rows.iter().map(view).collect(), next_page_token })
    }
}
