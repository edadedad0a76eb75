//! Changing a ticket (TMF621 PATCH, JSON merge patch). A status change is a step of recovery's
//! case lifecycle, taken with the caller's credentials, so recovery's rules decide whether it is
//! legal and who may take it; the attributes only TMF621 has are changed here.

use csm_proto::recovery::v1::{CaseStatus, GetCaseRequest, ResolveCaseRequest, Transition, TransitionCaseRequest};
use sea_orm::TransactionTrait;
use serde_json::{Map, Value};

use super::store;
use crate::{App, body, error::ApiError, http::Caller, store::entity::ticket};

/// Attributes a caller may change.
const CHANGEABLE: [&str; 12] = [
    "status",
    "statusChangeReason",
    "note",
    "severity",
    "ticketType",
    "name",
    "priority",
    "description",
    "requestedResolutionDate",
    "@type",
    "@baseType",
    "@schemaLocation",
];

/// Attributes csm keeps itself, which a change may not set.
const DERIVED: [&str; 18] = [
    "id",
    "href",
    "creationDate",
    "lastUpdate",
    "statusChange",
    "statusChangeDate",
    "resolutionDate",
    "expectedResolutionDate",
    "channel",
    "relatedParty",
    "relatedEntity",
    "externalId",
    "attachment",
    "troubleTicketRelationship",
    "externalIdentifier",
    "statusChangeHistory",
    "troubleTicketSpecification",
    "troubleTicketCharacteristic",
];

/// What reaching a TMF621 status takes from the case's status: nothing, one lifecycle step, or a
/// resolution; `None` when csm has no legal way there.
#[derive(Debug, PartialEq, Eq)]
enum Step {
    Nothing,
    Transition(Transition),
    Resolve,
}

fn step(target: &str, from: CaseStatus) -> Option<Step> {
    use CaseStatus as S;
    if from.tmf621_status() == target {
        return Some(Step::Nothing);
    }
    Some(match (target, from) {
        ("inProgress", S::Dispatched) => Step::Transition(Transition::Accept),
        ("inProgress", S::Pending | S::Held) => Step::Transition(Transition::Resume),
        ("inProgress", S::Resolved | S::CallbackDone | S::Closed) => Step::Transition(Transition::Reopen),
        ("pending", _) => Step::Transition(Transition::PendOnCustomer),
        ("held", _) => Step::Transition(Transition::Hold),
        ("resolved", _) => Step::Resolve,
        ("closed", _) => Step::Transition(Transition::Close),
        ("cancelled", _) => Step::Transition(Transition::Cancel),
        _ => return None,
    })
}

const STATUSES: [&str; 8] =
    ["acknowledged", "rejected", "pending", "held", "inProgress", "cancelled", "closed", "resolved"];

pub async fn apply(
    app: &App,
    caller: &Caller,
    mut row: ticket::Model,
    case: Option<String>,
    body: &Map<String, Value>,
) -> Result<(), ApiError> {
    for key in body.keys() {
        if DERIVED.contains(&key.as_str()) {
            return Err(ApiError::bad(key, "is kept by csm and cannot be changed"));
        }
        if !CHANGEABLE.contains(&key.as_str()) {
            return Err(ApiError::bad(key, "is not an attribute of TroubleTicket"));
        }
    }
    // Everything is checked before anything changes.
    body::meta(body)?;
    let status = body::text(body, "status", false, 32)?;
    let reason = body::text(body, "statusChangeReason", false, 2000)?.filter(|r| !r.trim().is_empty());
    let now = csm_kit::time::now_micros();
    let notes = body::notes(body, &caller.principal.subject, now)?;
    let severity = body::text(body, "severity", false, 128)?;
    let ticket_type = body::text(body, "ticketType", false, 128)?;
    let name = body::text(body, "name", false, 128)?;
    let priority = body::text(body, "priority", false, 128)?;
    let description = body::text(body, "description", false, 4000)?;
    let requested = body::date(body, "requestedResolutionDate")?;
    if let Some(status) = &status {
        if !STATUSES.contains(&status.as_str()) {
            return Err(ApiError::bad("status", format!("must be one of {}", STATUSES.join(", "))));
        }
        change_status(app, caller, case, status, reason.clone()).await?;
    }
    let txn = app.db.writer().begin().await?;
    let Some(stored) = store::find(&txn, &row.id).await? else {
        return Err(ApiError::NotFound(format!("troubleTicket {}", row.id)));
    };
    row = stored;
    if !notes.is_empty() {
        let mut all: Vec<Value> = serde_json::from_str(&row.notes).unwrap_or_default();
        all.extend(notes);
        row.notes = Value::Array(all).to_string();
    }
    row.severity = severity.unwrap_or(row.severity);
    row.ticket_type = ticket_type.unwrap_or(row.ticket_type);
    row.name = name.or(row.name);
    row.priority = priority.or(row.priority);
    row.description = description.unwrap_or(row.description);
    row.requested_resolution_at = requested.or(row.requested_resolution_at);
    row.updated_at = now;
    store::save_attributes(&txn, &row).await?;
    txn.commit().await?;
    Ok(())
}

async fn change_status(
    app: &App,
    caller: &Caller,
    case: Option<String>,
    target: &str,
    reason: Option<String>,
) -> Result<(), ApiError> {
    let Some(case) = case else {
        return Err(ApiError::Conflict(
            "this ticket names no customer, so it opened no complaint whose case could change status".into(),
        ));
    };
    let mut recovery = app.upstream.recovery(caller)?;
    let current = recovery.get_case(GetCaseRequest { name: case.clone() }).await?.into_inner();
    let from = current.status();
    let illegal = || {
        ApiError::Conflict(format!(
            "a ticket cannot move from {} to {target} (its case is {})",
            from.tmf621_status(),
            from.as_str_name()
        ))
    };
    let step = step(target, from).ok_or_else(illegal)?;
    let needs_reason = matches!(
        step,
        Step::Resolve
            | Step::Transition(Transition::PendOnCustomer | Transition::Hold | Transition::Cancel | Transition::Reopen)
    );
    if needs_reason && reason.is_none() {
        return Err(ApiError::bad("statusChangeReason", format!("is required to move a ticket to {target}")));
    }
    let reason = reason.unwrap_or_default();
    let request_id = uuid::Uuid::now_v7().to_string();
    match step {
        Step::Nothing => {}
        Step::Resolve => {
            recovery.resolve_case(ResolveCaseRequest { name: case, resolution: reason, request_id }).await?;
        }
        Step::Transition(transition) => {
            let request = TransitionCaseRequest {
                name: case,
                transition: transition as i32,
                reason,
                request_id,
                ..Default::default()
            };
            recovery.transition_case(request).await?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_status_maps_to_a_legal_step_or_none() {
        assert_eq!(step("inProgress", CaseStatus::Dispatched), Some(Step::Transition(Transition::Accept)));
        assert_eq!(step("inProgress", CaseStatus::Accepted), Some(Step::Nothing));
        assert_eq!(step("inProgress", CaseStatus::Held), Some(Step::Transition(Transition::Resume)));
        assert_eq!(step("inProgress", CaseStatus::Closed), Some(Step::Transition(Transition::Reopen)));
        assert_eq!(step("resolved", CaseStatus::InProgress), Some(Step::Resolve));
        assert_eq!(step("acknowledged", CaseStatus::InProgress), None);
        assert_eq!(step("rejected", CaseStatus::Dispatched), None);
        assert_eq!(step("inProgress", CaseStatus::AwaitingDispatch), None);
    }
}
