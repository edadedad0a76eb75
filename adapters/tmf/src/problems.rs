//! TMF656 Service Problem: recovery's service problems (重大故障) as the network operations
//! centre reads and raises them. A problem's complaints are its associated trouble tickets.
//!
//! Mapping: `reason` is the root-cause leaf of the complaints the problem explains;
//! `affectedLocation[0].id` its region; `affectedService[].id` the products it affects;
//! `rootCauseService[0].id`, `underlyingAlarm[].id` and `responsibleParty.id` (the department)
//! as named. TMF656's priority runs from 1 to 10, csm's from 1 to 4: 1-2, 3-5, 6-8 and 9-10 map to
//! 1, 2, 3 and 4, and csm's read back as 1, 3, 6 and 9.

use axum::{
    Json,
    body::Bytes,
    extract::{Path, Query, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
};
use csm_kit::{names, time};
use csm_proto::recovery::v1::{
    CreateServiceProblemRequest, GetServiceProblemRequest, ListCasesRequest, ListServiceProblemsRequest,
    ResolveServiceProblemRequest, ServiceProblem, ServiceProblemOrigin, ServiceProblemStatus, ServiceProblemTransition,
    TransitionServiceProblemRequest,
};
use serde_json::{Map, Value, json};

use crate::{
    App,
    body::{json_body, text as attribute},
    error::ApiError,
    http::{Caller, Fields, Root, TICKET_V4, page},
    shapes::{date, id_of},
};

fn to_csm_priority(tmf: i64) -> i32 {
    match tmf {
        ..=2 => 1,
        3..=5 => 2,
        6..=8 => 3,
        _ => 4,
    }
}

fn to_tmf_priority(csm: i32) -> i64 {
    match csm {
        ..=1 => 1,
        2 => 3,
        3 => 6,
        _ => 9,
    }
}

fn timestamp(ts: Option<&prost_types::Timestamp>) -> Option<Value> {
    ts.and_then(time::from_timestamp).map(|at| date(time::micros(at)))
}

/// A problem as TMF656 shows it, with its associated tickets.
fn problem_json(problem: &ServiceProblem, tickets: &[String], root: &str, origin: &str) -> Value {
    let id = problem.name.trim_start_matches(names::SERVICE_PROBLEMS);
    let ticket_root = format!("{origin}{TICKET_V4}");
    let mut out = json!({
        "id": id,
        "href": format!("{root}/serviceProblem/{id}"),
        "@type": "ServiceProblem",
        "category": problem.category,
        "description": problem.description,
        "priority": to_tmf_priority(problem.priority),
        "reason": problem.leaf,
        "status": problem.status().tmf656_status(),
        "affectedNumberOfServices": problem.linked_cases,
        "affectedLocation": [{ "id": problem.region, "name": problem.region, "@type": "GeographicLocation" }],
        "affectedService": problem.products.iter().map(|p| json!({ "id": p, "name": p })).collect::<Vec<_>>(),
        "underlyingAlarm": problem.underlying_alarms.iter().map(|a| json!({ "id": a, "@referredType": "Alarm" })).collect::<Vec<_>>(),
        "associatedTroubleTicket": tickets.iter().map(|t| json!({
            "id": t, "href": format!("{ticket_root}/troubleTicket/{t}"), "@referredType": "TroubleTicket"
        })).collect::<Vec<_>>(),
        "originatingSystem": if problem.origin() == ServiceProblemOrigin::Detected { "csm" } else { "external" },
        "originatorParty": { "id": problem.originator, "role": "originator", "@referredType": "Individual" },
        "extensionInfo": [{ "name": "caredCustomers", "value": problem.cared_customers, "valueType": "integer" }],
    });
    if !problem.root_cause_service.is_empty() {
        out["rootCauseService"] = json!([{ "id": problem.root_cause_service, "name": problem.root_cause_service }]);
    }
    if !problem.department.is_empty() {
        out["responsibleParty"] =
            json!({ "id": problem.department, "role": "responsibleDepartment", "@referredType": "Organization" });
    }
    for (key, value) in [
        ("timeRaised", timestamp(problem.create_time.as_ref())),
        ("statusChangeDate", timestamp(problem.status_change_time.as_ref())),
        ("timeChanged", timestamp(problem.status_change_time.as_ref())),
        ("resolutionDate", timestamp(problem.resolve_time.as_ref())),
    ] {
        if let Some(value) = value {
            out[key] = value;
        }
    }
    if !problem.status_change_reason.is_empty() {
        out["statusChangeReason"] = json!(problem.status_change_reason);
    }
    if !problem.resolution.is_empty() {
        out["comment"] = json!([{ "text": problem.resolution, "@type": "Note" }]);
    }
    out
}

/// The scheme and host of `root`, for links to the ticket API.
fn origin_of(root: &Root) -> String {
    root.0.split("/tmf-api/").next().unwrap_or_default().to_string()
}

/// The work orders (ticket ids) of a problem's linked cases, up to the first 500.
async fn tickets_of(app: &App, caller: &Caller, problem: &str) -> Result<Vec<String>, ApiError> {
    let request = ListCasesRequest { service_problem: problem.to_string(), page_size: 500, ..Default::default() };
    let cases = app.upstream.recovery(caller)?.list_cases(request).await?.into_inner().cases;
    Ok(cases.iter().map(|case| id_of(&case.work_order)).collect())
}

fn ids(body: &Map<String, Value>, key: &str) -> Result<Vec<String>, ApiError> {
    match body.get(key) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(i, item)| {
                item.as_object()
                    .and_then(|o| o.get("id").or_else(|| o.get("name")))
                    .and_then(Value::as_str)
                    .map(str::to_string)
                    .ok_or_else(|| ApiError::bad(format!("{key}[{i}]"), "must be an object with an id"))
            })
            .collect(),
        Some(_) => Err(ApiError::bad(key, "must be an array")),
    }
}

pub async fn create(
    State(app): State<App>,
    caller: Caller,
    root: Root,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let body = json_body(&headers, &body)?;
    let description = attribute(&body, "description", true, 2000)?.unwrap_or_default();
    let category = attribute(&body, "category", true, 64)?.unwrap_or_default();
    let leaf = attribute(&body, "reason", true, 128)?.unwrap_or_default();
    let priority = match body.get("priority") {
        Some(Value::Number(n)) => n.as_i64().filter(|p| (1..=10).contains(p)).map(to_csm_priority),
        None | Some(Value::Null) => None,
        Some(_) => None,
    }
    .ok_or_else(|| ApiError::bad("priority", "is mandatory: an integer from 1 (highest) to 10"))?;
    match body.get("originatorParty") {
        Some(Value::Object(_)) => {}
        _ => return Err(ApiError::bad("originatorParty", "is mandatory: the party raising the problem")),
    }
    let region = ids(&body, "affectedLocation")?
        .into_iter()
        .next()
        .ok_or_else(|| ApiError::bad("affectedLocation", "must name the affected region (its id)"))?;
    let department = match body.get("responsibleParty") {
        Some(Value::Object(party)) => attribute(party, "id", false, 64)?.unwrap_or_default(),
        _ => String::new(),
    };
    let start_time = match attribute(&body, "timeRaised", false, 64)? {
        Some(text) => Some(
            chrono::DateTime::parse_from_rfc3339(&text)
                .map(|at| time::to_timestamp(at.to_utc()))
                .map_err(|_| ApiError::bad("timeRaised", "must be a date-time in RFC 3339"))?,
        ),
        None => None,
    };
    let problem = ServiceProblem {
        description,
        category,
        priority,
        leaf,
        region,
        products: ids(&body, "affectedService")?,
        start_time,
        underlying_alarms: ids(&body, "underlyingAlarm")?,
        root_cause_service: ids(&body, "rootCauseService")?.into_iter().next().unwrap_or_default(),
        department,
        ..Default::default()
    };
    let request_id = attribute(&body, "correlationId", false, 100)?.unwrap_or_else(|| uuid::Uuid::now_v7().to_string());
    let request = CreateServiceProblemRequest { service_problem: Some(problem), request_id };
    let created = app.upstream.recovery(&caller)?.create_service_problem(request).await?.into_inner();
    let tickets = tickets_of(&app, &caller, &created.name).await?;
    let body = problem_json(&created, &tickets, &root.0, &origin_of(&root));
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

#[derive(Debug, serde::Deserialize)]
pub struct Listing {
    fields: Option<String>,
    offset: Option<u64>,
    limit: Option<u64>,
    status: Option<String>,
}

pub async fn list(
    State(app): State<App>,
    caller: Caller,
    root: Root,
    Query(listing): Query<Listing>,
) -> Result<Response, ApiError> {
    let status = match listing.status.as_deref() {
        None => ServiceProblemStatus::Unspecified,
        Some(name) => ServiceProblemStatus::from_tmf656_status(name)
            .ok_or_else(|| ApiError::bad("status", "not a service problem status"))?,
    };
    let offset = listing.offset.unwrap_or(0);
    let limit = listing.limit.unwrap_or(u64::from(app.settings.default_limit)).min(500);
    let mut recovery = app.upstream.recovery(&caller)?;
    let mut problems = Vec::new();
    let mut token = String::new();
    // Recovery pages by token; TMF pages by offset. Problems are few, so the adapter walks.
    loop {
        let request = ListServiceProblemsRequest {
            status: status as i32,
            page_size: 500,
            page_token: token,
            ..Default::default()
        };
        let page = recovery.list_service_problems(request).await?.into_inner();
        problems.extend(page.service_problems);
        if page.next_page_token.is_empty() || problems.len() > 10_000 {
            break;
        }
        token = page.next_page_token;
    }
    let total = problems.len();
    let mut items = Vec::new();
    let origin = origin_of(&root);
    for problem in
        problems.iter().skip(usize::try_from(offset).unwrap_or(usize::MAX)).take(usize::try_from(limit).unwrap_or(0))
    {
        let tickets = tickets_of(&app, &caller, &problem.name).await?;
        items.push(select(problem_json(problem, &tickets, &root.0, &origin), listing.fields.as_deref()));
    }
    Ok(page(u64::try_from(total).unwrap_or(u64::MAX), items))
}

fn select(value: Value, fields: Option<&str>) -> Value {
    match (value, fields.filter(|f| !f.trim().is_empty())) {
        (Value::Object(map), Some(fields)) => {
            let wanted: Vec<&str> = fields.split(',').map(str::trim).collect();
            Value::Object(map.into_iter().filter(|(k, _)| wanted.contains(&k.as_str())).collect())
        }
        (value, _) => value,
    }
}

pub async fn get(
    State(app): State<App>,
    caller: Caller,
    root: Root,
    Path(id): Path<String>,
    Query(fields): Query<Fields>,
) -> Result<Json<Value>, ApiError> {
    let name = names::name_of(names::SERVICE_PROBLEMS, &id);
    let problem =
        app.upstream.recovery(&caller)?.get_service_problem(GetServiceProblemRequest { name }).await?.into_inner();
    let tickets = tickets_of(&app, &caller, &problem.name).await?;
    Ok(Json(select(problem_json(&problem, &tickets, &root.0, &origin_of(&root)), fields.fields.as_deref())))
}

/// PATCH: a status change, each a step of recovery's problem lifecycle; resolving resolves the
/// problem's linked cases with `statusChangeReason` as the explanation.
pub async fn patch(
    State(app): State<App>,
    caller: Caller,
    root: Root,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let body = json_body(&headers, &body)?;
    if let Some(key) = body.keys().find(|k| !matches!(k.as_str(), "status" | "statusChangeReason" | "@type")) {
        return Err(ApiError::bad(key, "cannot be changed: only status (with statusChangeReason) can"));
    }
    let target = attribute(&body, "status", true, 32)?.unwrap_or_default();
    let reason = attribute(&body, "statusChangeReason", false, 2000)?.unwrap_or_default();
    let name = names::name_of(names::SERVICE_PROBLEMS, &id);
    let mut recovery = app.upstream.recovery(&caller)?;
    let request_id = uuid::Uuid::now_v7().to_string();
    let target_status = ServiceProblemStatus::from_tmf656_status(&target)
        .ok_or_else(|| ApiError::bad("status", "not a service problem status"))?;
    let current = recovery.get_service_problem(GetServiceProblemRequest { name: name.clone() }).await?.into_inner();
    let problem = if current.status() == target_status {
        current
    } else if target_status == ServiceProblemStatus::Resolved {
        if reason.trim().is_empty() {
            return Err(ApiError::bad(
                "statusChangeReason",
                "is required to resolve: it explains the fault to every linked customer",
            ));
        }
        recovery
            .resolve_service_problem(ResolveServiceProblemRequest { name, resolution: reason, request_id })
            .await?
            .into_inner()
    } else {
        use ServiceProblemStatus as S;
        use ServiceProblemTransition as T;
        let transition = match target_status {
            S::Acknowledged => T::Acknowledge,
            S::InProgress => T::Start,
            S::Held => T::Hold,
            S::Pending => T::Pend,
            S::Closed => T::Close,
            S::Cancelled => T::Cancel,
            S::Rejected => T::Reject,
            _ => return Err(ApiError::Conflict(format!("a service problem cannot be moved back to {target}"))),
        };
        let request = TransitionServiceProblemRequest { name, transition: transition as i32, reason, request_id };
        recovery.transition_service_problem(request).await?.into_inner()
    };
    let tickets = tickets_of(&app, &caller, &problem.name).await?;
    Ok(Json(problem_json(&problem, &tickets, &root.0, &origin_of(&root))))
}

/// Problems are never deleted: cancel or reject one instead.
pub async fn delete(_caller: Caller, Path(_id): Path<String>) -> Result<Response, ApiError> {
    Err(ApiError::NotAllowed(
        "a service problem stays on record and is never deleted; PATCH its status to cancelled".into(),
    ))
}
