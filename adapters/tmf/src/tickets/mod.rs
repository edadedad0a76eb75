//! TMF621 Trouble Ticket: create, list, read and change tickets, each a csm complaint and its case.

mod create;
mod patch;
mod query;
pub mod store;

use axum::{
    Json,
    body::Bytes,
    extract::{Path, Query, State},
    http::{HeaderMap, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
};
use csm_kit::{Role, names, time};
use csm_proto::recovery::v1::{GetCaseRequest, ListCaseHistoryRequest, ListCasesRequest};
use sea_orm::{ColumnTrait, QueryFilter, TransactionTrait};
use serde_json::Value;

pub use create::channel;

use crate::{
    App,
    body::{json_body, typed},
    error::ApiError,
    http::{Caller, Fields, Root, page},
    hub::{self, EventType},
    shapes::{self, id_of},
    store::entity::ticket,
};

/// Roles that may read tickets; a department caller sees only its own department's.
const READERS: [Role; 6] =
    [Role::Agent, Role::Department, Role::Supervisor, Role::Analyst, Role::Service, Role::ChannelSystem];

pub async fn create(
    State(app): State<App>,
    caller: Caller,
    root: Root,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let body = json_body(&headers, &body)?;
    typed(&body, &root)?;
    let now = time::now_micros();
    let new = create::parse(&body, &caller.principal.subject, now)?;
    if let Some(external) = &new.row.external_id
        && let Some(existing) = store::find_by_external_id(app.db.reader(), external).await?
    {
        return Ok(created(&root, &existing));
    }
    let mut row = new.row;
    match new.complaint {
        Some(complaint) => {
            let answer = app.upstream.intake(&caller)?.submit_contact(complaint).await?.into_inner();
            let work_order = answer.work_order.ok_or_else(|| {
                ApiError::Internal("intake registered the contact without opening a work order".into())
            })?;
            row.id = id_of(&work_order.name);
        }
        None => {
            // A ticket naming no customer is kept, but opens no complaint: every complaint in csm
            // belongs to a customer.
            caller.require(&[Role::Agent, Role::Supervisor, Role::Service, Role::ChannelSystem], "create tickets")?;
            row.id = uuid::Uuid::now_v7().to_string();
        }
    }
    let txn = app.db.writer().begin().await?;
    let row = if store::insert_new(&txn, row.clone()).await? {
        hub::notify(&txn, &app, &row, &[EventType::Create]).await?;
        row
    } else {
        // Recovery's feed got here first: the case was dispatched before intake answered.
        let stored = store::find(&txn, &row.id).await?.ok_or_else(|| ApiError::Internal("ticket vanished".into()))?;
        store::adopt(&txn, stored, row).await?
    };
    txn.commit().await?;
    app.queued.notify_one();
    Ok(created(&root, &row))
}

fn created(root: &Root, row: &ticket::Model) -> Response {
    let body = Value::Object(shapes::render(shapes::ticket(row, &root.0), root.version()));
    let mut response = (StatusCode::CREATED, Json(body)).into_response();
    if let Ok(location) = HeaderValue::from_str(&format!("{}/troubleTicket/{}", root.0, row.id)) {
        response.headers_mut().insert(http::header::LOCATION, location);
    }
    response
}

pub async fn list(
    State(app): State<App>,
    caller: Caller,
    root: Root,
    Query(pairs): Query<Vec<(String, String)>>,
) -> Result<Response, ApiError> {
    caller.require(&READERS, "list tickets")?;
    let listing = query::parse(&pairs)?;
    let mut select = listing.select;
    if let Some(department) = caller.principal.confined_department() {
        select = select.filter(ticket::Column::Department.eq(department));
    }
    let limit = listing.limit.unwrap_or(u64::from(app.settings.default_limit)).min(u64::from(app.settings.max_limit));
    let (rows, total) = store::page(app.db.reader(), select, listing.offset, limit).await?;
    let items = rows
        .iter()
        .map(|row| {
            shapes::select(shapes::render(shapes::ticket(row, &root.0), root.version()), listing.fields.as_deref())
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(page(total, items))
}

pub async fn get(
    State(app): State<App>,
    caller: Caller,
    root: Root,
    Path(id): Path<String>,
    Query(fields): Query<Fields>,
) -> Result<Json<Value>, ApiError> {
    caller.require(&READERS, "read tickets")?;
    let row = found(&app, &id).await?;
    let case = case_of(&app, &caller, &row).await?;
    let out = current(&app, &caller, &row, case, &root).await?;
    Ok(Json(shapes::select(shapes::render(out, root.version()), fields.fields.as_deref())?))
}

/// The ticket as it is now: with its case (see [`case_of`]) and the case's audit trail when it has
/// one, read with the caller's credentials, so recovery decides whether the caller may see it.
async fn current(
    app: &App,
    caller: &Caller,
    row: &ticket::Model,
    case: Option<String>,
    root: &Root,
) -> Result<serde_json::Map<String, Value>, ApiError> {
    let out = shapes::ticket(row, &root.0);
    let Some(case_name) = case else {
        if let Some(department) = caller.principal.confined_department()
            && department != row.department
        {
            return Err(ApiError::Forbidden(format!("a {department} caller may read only its own tickets")));
        }
        return Ok(out);
    };
    let mut recovery = app.upstream.recovery(caller)?;
    let case = recovery.get_case(GetCaseRequest { name: case_name.clone() }).await?.into_inner();
    let history = recovery.list_case_history(ListCaseHistoryRequest { name: case_name }).await?.into_inner();
    Ok(shapes::with_case(out, &case, &history.entries))
}

/// The ticket's case: as recovery's feed told it, or found among the customer's cases when the
/// feed has not told it yet (a case still awaiting dispatch publishes nothing).
async fn case_of(app: &App, caller: &Caller, row: &ticket::Model) -> Result<Option<String>, ApiError> {
    if row.case_name.is_some() {
        return Ok(row.case_name.clone());
    }
    let Some(phone) = &row.phone_number else {
        return Ok(None);
    };
    let work_order = names::name_of(names::WORK_ORDERS, &row.id);
    let request = ListCasesRequest { phone_number: phone.clone(), page_size: 500, ..Default::default() };
    let cases = app.upstream.recovery(caller)?.list_cases(request).await?.into_inner().cases;
    Ok(cases.into_iter().find(|case| case.work_order == work_order).map(|case| case.name))
}

async fn found(app: &App, id: &str) -> Result<ticket::Model, ApiError> {
    store::find(app.db.reader(), id).await?.ok_or_else(|| ApiError::NotFound(format!("troubleTicket {id}")))
}

pub async fn patch(
    State(app): State<App>,
    caller: Caller,
    root: Root,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let body = json_body(&headers, &body)?;
    typed(&body, &root)?;
    let row = found(&app, &id).await?;
    let case = case_of(&app, &caller, &row).await?;
    patch::apply(&app, &caller, row, case.clone(), &body).await?;
    let row = found(&app, &id).await?;
    Ok(Json(Value::Object(shapes::render(current(&app, &caller, &row, case, &root).await?, root.version()))))
}

/// Tickets are never deleted: a complaint stays on record; cancel it instead.
pub async fn delete(_caller: Caller, Path(_id): Path<String>) -> Result<Response, ApiError> {
    Err(ApiError::NotAllowed(
        "a trouble ticket is a complaint on record and is never deleted; PATCH its status to cancelled".into(),
    ))
}
