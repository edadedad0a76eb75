//! A ticket as TMF621 shows it (v4, and v5's shapes): the adapter's row, with recovery's live case and audit trail when
//! they are at hand, and `fields=` selection.

use chrono::SecondsFormat;
use csm_kit::{names, time};
use csm_proto::recovery::v1::{Case, CaseHistoryEntry};
use serde_json::{Map, Value, json};

use crate::{error::ApiError, http::Version, store::entity::ticket};

/// RFC 3339 in UTC to the millisecond, as TMF dates are written.
pub fn date(micros: i64) -> Value {
    Value::String(time::from_micros(micros).to_rfc3339_opts(SecondsFormat::Millis, true))
}

fn timestamp(ts: Option<&prost_types::Timestamp>) -> Option<Value> {
    ts.and_then(time::from_timestamp).map(|at| date(time::micros(at)))
}

/// The TMF621 status of a case status: recovery's own mapping, carried on every case.
pub fn status_of(case: &Case) -> String {
    if case.tmf621_status.is_empty() { "acknowledged".into() } else { case.tmf621_status.clone() }
}

/// The ticket as stored (its status as recovery's feed last told it).
pub fn ticket(row: &ticket::Model, root: &str) -> Map<String, Value> {
    let mut out = Map::new();
    out.insert("id".into(), json!(row.id));
    out.insert("href".into(), json!(format!("{root}/troubleTicket/{}", row.id)));
    out.insert("@type".into(), json!("TroubleTicket"));
    out.insert("description".into(), json!(row.description));
    out.insert("severity".into(), json!(row.severity));
    out.insert("ticketType".into(), json!(row.ticket_type));
    out.insert("status".into(), json!(row.status));
    out.insert("creationDate".into(), date(row.created_at));
    out.insert("lastUpdate".into(), date(row.updated_at));
    out.insert("statusChangeDate".into(), date(row.status_changed_at));
    let optional = [
        ("name", row.name.clone().map(Value::String)),
        ("priority", row.priority.clone().map(Value::String)),
        ("externalId", row.external_id.clone().map(Value::String)),
        ("statusChangeReason", row.status_change_reason.clone().map(Value::String)),
        ("expectedResolutionDate", row.expected_resolution_at.map(date)),
        ("requestedResolutionDate", row.requested_resolution_at.map(date)),
        ("resolutionDate", row.resolved_at.map(date)),
    ];
    for (key, value) in optional {
        if let Some(value) = value {
            out.insert(key.into(), value);
        }
    }
    out.insert("channel".into(), json!({ "id": row.channel, "name": row.channel, "@referredType": "Channel" }));
    if let Some(phone) = &row.phone_number {
        out.insert("relatedParty".into(), json!([{ "id": phone, "role": "customer", "@referredType": "Individual" }]));
    }
    let mut related = Vec::new();
    if let Some(case) = &row.case_name {
        related.push(json!({ "id": case.trim_start_matches(names::CASES), "name": case, "role": "handlingCase", "@referredType": "Case" }));
    }
    if let Some(problem) = &row.service_problem {
        let id = problem.trim_start_matches(names::SERVICE_PROBLEMS);
        related.push(json!({ "id": id, "name": problem, "role": "serviceProblem", "@referredType": "ServiceProblem" }));
    }
    if !related.is_empty() {
        out.insert("relatedEntity".into(), Value::Array(related));
    }
    let notes: Value = serde_json::from_str(&row.notes).unwrap_or_else(|_| json!([]));
    if notes.as_array().is_some_and(|notes| !notes.is_empty()) {
        out.insert("note".into(), notes);
    }
    out
}

/// The ticket with recovery's case as it is now: status, dates, department, the resolution as a
/// note, and the audit trail as `statusChange`.
pub fn with_case(mut out: Map<String, Value>, case: &Case, history: &[CaseHistoryEntry]) -> Map<String, Value> {
    out.insert("status".into(), json!(status_of(case)));
    if let Some(deadline) = timestamp(case.deadline.as_ref()).filter(|_| case.dispatch_time.is_some()) {
        out.insert("expectedResolutionDate".into(), deadline);
    }
    match timestamp(case.resolve_time.as_ref()) {
        Some(resolved) => out.insert("resolutionDate".into(), resolved),
        None => out.remove("resolutionDate"),
    };
    let mut changes = Vec::new();
    let mut last = "acknowledged".to_string();
    for entry in history {
        let status = entry.to_status().tmf621_status();
        if status.is_empty() || (status == last && !changes.is_empty()) {
            continue;
        }
        let mut change = json!({ "status": status, "@type": "StatusChange" });
        if let Some(at) = timestamp(entry.time.as_ref()) {
            change["changeDate"] = at;
        }
        let reason = if entry.reason.is_empty() { entry.action.clone() } else { entry.reason.clone() };
        change["changeReason"] = json!(reason);
        changes.push(change);
        last = status.to_string();
    }
    if let Some(last_change) = changes.last() {
        if let Some(at) = last_change.get("changeDate") {
            out.insert("statusChangeDate".into(), at.clone());
        }
        if let Some(reason) = last_change.get("changeReason") {
            out.insert("statusChangeReason".into(), reason.clone());
        }
    }
    out.insert("statusChange".into(), Value::Array(changes));
    if !case.resolution.is_empty() {
        let notes = out.entry("note").or_insert_with(|| json!([]));
        if let Some(notes) = notes.as_array_mut() {
            notes.push(json!({
                "id": "resolution",
                "author": case.resolved_by,
                "date": timestamp(case.resolve_time.as_ref()),
                "text": case.resolution,
                "@type": "Note",
            }));
        }
    }
    out
}

/// The ticket in the shapes of `version`: v4 as built here; v5 with typed references
/// (`partyOrPartyRole`, `entity`), `externalIdentifier` and `statusChangeHistory`.
pub fn render(mut out: Map<String, Value>, version: Version) -> Map<String, Value> {
    if version == Version::V4 {
        return out;
    }
    if let Some(channel) = out.get_mut("channel").and_then(Value::as_object_mut) {
        channel.insert("@type".into(), json!("ChannelRef"));
    }
    if let Some(parties) = out.get_mut("relatedParty").and_then(Value::as_array_mut) {
        for party in parties.iter_mut() {
            *party = json!({
                "@type": "RelatedPartyRefOrPartyRoleRef",
                "role": party["role"],
                "partyOrPartyRole": { "@type": "PartyRef", "id": party["id"], "@referredType": party["@referredType"] },
            });
        }
    }
    if let Some(entities) = out.get_mut("relatedEntity").and_then(Value::as_array_mut) {
        for entity in entities.iter_mut() {
            *entity = json!({
                "@type": "RelatedEntity",
                "role": entity["role"],
                "entity": { "@type": "EntityRef", "id": entity["id"], "name": entity["name"], "@referredType": entity["@referredType"] },
            });
        }
    }
    if let Some(external) = out.remove("externalId") {
        out.insert("externalIdentifier".into(), json!([{ "@type": "ExternalIdentifier", "id": external }]));
    }
    if let Some(Value::Array(changes)) = out.remove("statusChange") {
        let history = changes
            .into_iter()
            .map(|change| {
                json!({
                    "@type": "StatusChange",
                    "status": change["status"],
                    "statusChangeDate": change["changeDate"],
                    "statusChangeReason": change["changeReason"],
                })
            })
            .collect();
        out.insert("statusChangeHistory".into(), Value::Array(history));
    }
    out
}

/// `fields=a,b`: only those attributes (TMF630 attribute selection); unknown names are refused.
pub fn select(out: Map<String, Value>, fields: Option<&str>) -> Result<Value, ApiError> {
    let Some(fields) = fields.filter(|f| !f.trim().is_empty()) else {
        return Ok(Value::Object(out));
    };
    let wanted: Vec<&str> = fields.split(',').map(str::trim).filter(|f| !f.is_empty()).collect();
    for field in &wanted {
        if !KNOWN.contains(field) {
            return Err(ApiError::bad("fields", format!("{field} is not an attribute of TroubleTicket")));
        }
    }
    Ok(Value::Object(out.into_iter().filter(|(key, _)| wanted.contains(&key.as_str())).collect()))
}

/// Every attribute of TroubleTicket in TMF621 v4 and v5.
pub const KNOWN: [&str; 30] = [
    "id",
    "href",
    "creationDate",
    "description",
    "expectedResolutionDate",
    "externalId",
    "lastUpdate",
    "name",
    "priority",
    "requestedResolutionDate",
    "resolutionDate",
    "severity",
    "statusChangeDate",
    "statusChangeReason",
    "ticketType",
    "attachment",
    "channel",
    "note",
    "relatedEntity",
    "relatedParty",
    "status",
    "statusChange",
    "troubleTicketRelationship",
    "@baseType",
    "@schemaLocation",
    "@type",
    // v5's names.
    "externalIdentifier",
    "statusChangeHistory",
    "troubleTicketSpecification",
    "troubleTicketCharacteristic",
];

/// The ticket id of the work order intake opened.
pub fn id_of(work_order: &str) -> String {
    work_order.trim_start_matches(names::WORK_ORDERS).to_string()
}
