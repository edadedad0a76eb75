//! TMF621 event notifications: listeners register a callback and a query at `/hub`; each ticket
//! create, status change and resolution is queued for every listener whose query it matches, in
//! the transaction that learned it, and [`delivery`] posts them.

pub mod delivery;

use axum::{
    Json,
    body::Bytes,
    extract::{Path, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
};
use csm_kit::{Role, time};
use sea_orm::{
    ActiveModelTrait,
    ActiveValue::{NotSet, Set},
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, TransactionTrait,
};
use serde_json::{Value, json};

use crate::{
    App,
    body::{json_body, typed},
    error::ApiError,
    http::{Caller, Root, TICKET_V4, TICKET_V5, Version},
    shapes as view,
    store::entity::{listener, notification, ticket},
};

/// The notifications csm sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    Create,
    StatusChange,
    Resolved,
}

impl EventType {
    pub fn name(self) -> &'static str {
        match self {
            EventType::Create => "TroubleTicketCreateEvent",
            EventType::StatusChange => "TroubleTicketStatusChangeEvent",
            EventType::Resolved => "TroubleTicketResolvedEvent",
        }
    }
}

const EVENT_TYPES: [&str; 3] =
    ["TroubleTicketCreateEvent", "TroubleTicketStatusChangeEvent", "TroubleTicketResolvedEvent"];
/// Ticket attributes a query may filter on, with or without the `event.troubleTicket.` prefix.
const ATTRIBUTES: [&str; 3] = ["status", "severity", "ticketType"];

/// A listener's query: `eventType=TroubleTicketStatusChangeEvent&severity=High`, values
/// separated by commas matching any of them; empty matches everything.
#[derive(Debug, Default)]
struct Query(Vec<(String, Vec<String>)>);

impl Query {
    fn parse(text: &str) -> Result<Self, ApiError> {
        let mut terms = Vec::new();
        for term in text.split('&').filter(|t| !t.trim().is_empty()) {
            let Some((key, values)) = term.split_once('=') else {
                return Err(ApiError::bad("query", format!("{term:?} is not name=value")));
            };
            let key = key.trim().trim_start_matches("event.troubleTicket.").trim_start_matches("troubleTicket.");
            let values: Vec<String> = values.split(',').map(|v| v.trim().to_string()).collect();
            if key == "eventType" {
                if let Some(unknown) = values.iter().find(|v| !EVENT_TYPES.contains(&v.as_str())) {
                    return Err(ApiError::bad("query", format!("eventType {unknown} is not sent by csm")));
                }
            } else if !ATTRIBUTES.contains(&key) {
                return Err(ApiError::bad("query", format!("{key} cannot be filtered on")));
            }
            terms.push((key.to_string(), values));
        }
        Ok(Query(terms))
    }

    fn matches(&self, event: EventType, ticket: &ticket::Model) -> bool {
        self.0.iter().all(|(key, values)| {
            let actual = match key.as_str() {
                "eventType" => event.name(),
                "status" => ticket.status.as_str(),
                "severity" => ticket.severity.as_str(),
                _ => ticket.ticket_type.as_str(),
            };
            values.iter().any(|v| v == actual)
        })
    }
}

fn version_of(row: &listener::Model) -> Version {
    if row.api_version == "v5" { Version::V5 } else { Version::V4 }
}

fn subscription(row: &listener::Model) -> Value {
    let mut out = json!({ "id": row.id, "callback": row.callback, "query": row.query });
    if version_of(row) == Version::V5 {
        out["@type"] = json!("Hub");
    }
    out
}

/// POST /hub: registers a listener.
pub async fn register(
    State(app): State<App>,
    caller: Caller,
    root: Root,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    caller.require(&[Role::Service, Role::Supervisor], "register listeners")?;
    let body = json_body(&headers, &body)?;
    typed(&body, &root)?;
    let callback = crate::body::text(&body, "callback", true, 2000)?.unwrap_or_default();
    let parsed = reqwest::Url::parse(&callback).map_err(|e| ApiError::bad("callback", format!("not a URL: {e}")))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
        return Err(ApiError::bad("callback", "must be an http or https URL with a host"));
    }
    let query = crate::body::text(&body, "query", false, 2000)?.unwrap_or_default();
    Query::parse(&query)?;
    let row = listener::Model {
        id: uuid::Uuid::now_v7().to_string(),
        callback,
        query,
        created_at: time::now_micros(),
        owner: caller.principal.subject.clone(),
        api_version: if root.version() == Version::V5 { "v5" } else { "v4" }.into(),
    };
    listener::Entity::insert(listener::ActiveModel::from(row.clone()).reset_all())
        .exec_without_returning(app.db.writer())
        .await?;
    tracing::info!(listener = %row.id, callback = %row.callback, query = %row.query, "listener registered");
    Ok((StatusCode::CREATED, Json(subscription(&row))).into_response())
}

/// GET /hub/{id} (v5).
pub async fn show(State(app): State<App>, caller: Caller, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    caller.require(&[Role::Service, Role::Supervisor], "read listeners")?;
    let row = listener::Entity::find_by_id(id.clone()).one(app.db.reader()).await?;
    row.map(|row| Json(subscription(&row))).ok_or_else(|| ApiError::NotFound(format!("hub {id}")))
}

/// DELETE /hub/{id}: the listener and everything still queued for it.
pub async fn unregister(State(app): State<App>, caller: Caller, Path(id): Path<String>) -> Result<Response, ApiError> {
    caller.require(&[Role::Service, Role::Supervisor], "remove listeners")?;
    let txn = app.db.writer().begin().await?;
    let removed = listener::Entity::delete_by_id(id.clone()).exec(&txn).await?.rows_affected;
    notification::Entity::delete_many().filter(notification::Column::ListenerId.eq(&id)).exec(&txn).await?;
    txn.commit().await?;
    if removed == 0 {
        return Err(ApiError::NotFound(format!("hub {id}")));
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

fn shaped(ticket: &ticket::Model, origin: &str, version: Version) -> serde_json::Map<String, Value> {
    let root = match version {
        Version::V4 => format!("{origin}{TICKET_V4}"),
        Version::V5 => format!("{origin}{TICKET_V5}"),
    };
    view::render(view::ticket(ticket, &root), version)
}

/// Queues `events` about `ticket`, in that order, for every listener whose query matches each;
/// returns how many notifications. The listeners are read once for all of them.
pub async fn notify(
    db: &impl ConnectionTrait,
    app: &App,
    ticket: &ticket::Model,
    events: &[EventType],
) -> Result<usize, DbErr> {
    let listeners = listener::Entity::find().all(db).await?;
    let queries: Vec<Option<Query>> = listeners.iter().map(|listener| Query::parse(&listener.query).ok()).collect();
    let now = time::now_micros();
    let origin = app.settings.public_url.trim_end_matches('/');
    let mut queued = Vec::new();
    for &event in events {
        for (listener, query) in listeners.iter().zip(&queries) {
            if !query.as_ref().is_some_and(|query| query.matches(event, ticket)) {
                continue;
            }
            let body = json!({
                "eventId": uuid::Uuid::now_v7().to_string(),
                "eventTime": view::date(now),
                "eventType": event.name(),
                "correlationId": ticket.id,
                "domain": "troubleTicket",
                "title": event.name(),
                "event": { "troubleTicket": Value::Object(shaped(ticket, origin, version_of(listener))) },
            });
            queued.push(notification::ActiveModel {
                id: NotSet,
                listener_id: Set(listener.id.clone()),
                ticket_id: Set(ticket.id.clone()),
                event_type: Set(event.name().to_string()),
                body: Set(body.to_string()),
                attempts: Set(0),
                next_attempt_at: Set(now),
                created_at: Set(now),
                last_error: Set(None),
            });
        }
    }
    let count = queued.len();
    if count > 0 {
        notification::Entity::insert_many(queued).exec_without_returning(db).await?;
    }
    Ok(count)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_match_event_types_and_attributes_and_refuse_what_they_cannot_filter() {
        let ticket = ticket::Model { status: "resolved".into(), severity: "High".into(), ..Default::default() };
        let query =
            Query::parse("eventType=TroubleTicketResolvedEvent,TroubleTicketStatusChangeEvent&severity=High").unwrap();
        assert!(query.matches(EventType::Resolved, &ticket));
        assert!(!query.matches(EventType::Create, &ticket));
        assert!(Query::parse("").unwrap().matches(EventType::Create, &ticket));
        assert!(Query::parse("event.troubleTicket.status=closed").unwrap().0.len() == 1);
        assert!(Query::parse("eventType=TroubleTicketDeleteEvent").is_err());
        assert!(Query::parse("colour=red").is_err());
        assert!(Query::parse("status").is_err());
    }
}
