//! Creating a trouble ticket: a TMF621 `TroubleTicket_Create` read strictly, the customer it names
//! turned into a complaint (or fault report) through intake, and the ticket kept with the
//! attributes only TMF621 has.

use csm_kit::time;
use csm_proto::intake::v1::{Channel, ContactType, SubmitContactRequest};
use serde_json::{Map, Value};

use crate::{
    body::{date, meta, notes, text},
    error::ApiError,
    store::entity::ticket,
};

/// Characters of a description at most: intake's limit on a complaint's text.
const MAX_DESCRIPTION: usize = 4000;
const MAX_SHORT: usize = 128;
/// Characters of an external id at most, so that intake's request id made of it fits.
const MAX_EXTERNAL_ID: usize = 100;

/// The channel a ticket came through when it names none: an agent working in a CRM.
const DEFAULT_CHANNEL: Channel = Channel::HotlineAgent;

/// A ticket to create, checked.
#[derive(Debug)]
pub struct NewTicket {
    pub row: ticket::Model,
    /// The complaint for intake; `None` for a ticket that names no customer.
    pub complaint: Option<SubmitContactRequest>,
}

/// The customer a ticket is about: the related party in the role of customer (or referred to as
/// an individual or a customer), identified by the phone number (MSISDN) csm knows customers by.
fn customer(body: &Map<String, Value>) -> Result<Option<String>, ApiError> {
    let Some(value) = body.get("relatedParty").filter(|v| !v.is_null()) else {
        return Ok(None);
    };
    let Some(parties) = value.as_array() else {
        return Err(ApiError::bad("relatedParty", "must be an array of related parties"));
    };
    for (i, party) in parties.iter().enumerate() {
        let field = format!("relatedParty[{i}]");
        let Some(party) = party.as_object() else {
            return Err(ApiError::bad(field, "must be an object"));
        };
        // v4 names the party itself; v5 wraps it in `partyOrPartyRole`.
        let named = match party.get("partyOrPartyRole") {
            Some(Value::Object(inner)) => inner,
            Some(_) => return Err(ApiError::bad(field, "partyOrPartyRole must be an object")),
            None => party,
        };
        let id = text(named, "id", true, MAX_SHORT).map_err(|e| ApiError::bad(&field, e.to_string()))?;
        let role = text(party, "role", false, MAX_SHORT)?.unwrap_or_default().to_ascii_lowercase();
        let referred = text(named, "@referredType", false, MAX_SHORT)?.unwrap_or_default().to_ascii_lowercase();
        if role == "customer" || referred == "individual" || referred == "customer" {
            return Ok(id);
        }
    }
    Ok(None)
}

/// v5's `externalIdentifier`: the first one's id.
fn first_external_identifier(body: &Map<String, Value>) -> Result<Option<String>, ApiError> {
    match body.get("externalIdentifier") {
        None => Ok(None),
        Some(Value::Array(items)) => match items.first() {
            None => Ok(None),
            Some(Value::Object(first)) => text(first, "id", true, MAX_EXTERNAL_ID)
                .map_err(|e| ApiError::bad("externalIdentifier[0]", e.to_string())),
            Some(_) => Err(ApiError::bad("externalIdentifier[0]", "must be an object")),
        },
        Some(_) => Err(ApiError::bad("externalIdentifier", "must be an array")),
    }
}

/// A channel by csm's name, written any usual way: `wechat`, `mobile_app`, `CHANNEL_MOBILE_APP`.
pub fn channel(name: &str) -> Option<Channel> {
    let upper = name.trim().to_ascii_uppercase().replace(['-', ' '], "_");
    let full = if upper.starts_with("CHANNEL_") { upper } else { format!("CHANNEL_{upper}") };
    Channel::from_str_name(&full).filter(|c| *c != Channel::Unspecified)
}

/// The contact a ticket type opens: a fault report for a fault, a complaint for anything else.
fn contact_type(ticket_type: &str) -> ContactType {
    let key = ticket_type.to_ascii_lowercase().replace(['_', '-', ' '], "");
    if key.starts_with("fault") { ContactType::FaultReport } else { ContactType::Complaint }
}

/// Reads a `TroubleTicket_Create`. `status` is the server's to set and is ignored, as are the
/// attributes csm derives itself (dates, status history).
pub fn parse(body: &Map<String, Value>, author: &str, now: i64) -> Result<NewTicket, ApiError> {
    meta(body)?;
    let description = text(body, "description", true, MAX_DESCRIPTION)?.unwrap_or_default();
    let severity = text(body, "severity", true, MAX_SHORT)?.unwrap_or_default();
    let ticket_type = text(body, "ticketType", true, MAX_SHORT)?.unwrap_or_default();
    let external_id = match text(body, "externalId", false, MAX_EXTERNAL_ID)? {
        Some(id) => Some(id),
        None => first_external_identifier(body)?,
    }
    .filter(|id| !id.is_empty());
    let channel = match body.get("channel").filter(|v| !v.is_null()) {
        None => DEFAULT_CHANNEL,
        Some(Value::Object(reference)) => {
            let name = text(reference, "name", false, MAX_SHORT)?.or(text(reference, "id", false, MAX_SHORT)?);
            let name = name.unwrap_or_default();
            self::channel(&name).ok_or_else(|| ApiError::bad("channel", format!("{name:?} is not a csm channel")))?
        }
        Some(_) => return Err(ApiError::bad("channel", "must be a channel reference object")),
    };
    let phone = customer(body)?;
    let row = ticket::Model {
        id: String::new(),
        external_id: external_id.clone(),
        case_name: None,
        status: "acknowledged".into(),
        status_changed_at: now,
        status_change_reason: None,
        severity,
        ticket_type: ticket_type.clone(),
        name: text(body, "name", false, MAX_SHORT)?,
        description: description.clone(),
        priority: text(body, "priority", false, MAX_SHORT)?,
        channel: channel.as_str_name().trim_start_matches("CHANNEL_").to_ascii_lowercase(),
        phone_number: phone.clone(),
        department: String::new(),
        created_at: now,
        updated_at: now,
        expected_resolution_at: None,
        requested_resolution_at: date(body, "requestedResolutionDate")?,
        resolved_at: None,
        notes: Value::Array(notes(body, author, now)?).to_string(),
        service_problem: None,
    };
    let complaint = phone.map(|phone_number| SubmitContactRequest {
        // The external id makes intake's own retry safe too.
        request_id: external_id.map_or_else(|| uuid::Uuid::now_v7().to_string(), |id| format!("tmf621:{id}")),
        channel: channel as i32,
        phone_number,
        contact_type: contact_type(&ticket_type) as i32,
        text: description,
        occurred_at: Some(time::timestamp_from_micros(now)),
        ..Default::default()
    });
    Ok(NewTicket { row, complaint })
}
