//! TMF621 tickets: a CRM's ticket becomes a complaint through intake, its status is its case's,
//! and its changes are the case's lifecycle steps, refused in TMF's error shape where illegal.

use csm_proto::{
    intake::v1::{GetWorkOrderRequest, ListWorkOrdersRequest},
    recovery::v1::GetCaseRequest,
};
use reqwest::StatusCode;
use serde_json::json;

use super::{Rest, V4, dispatched, ticket};
use crate::support::TestSystem;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ticket_becomes_a_complaint_and_moves_only_as_its_case_may() {
    let t = TestSystem::start().await;
    let crm = Rest::of(&t, "agent");
    let text = "宽带每天晚上断线，已经三天了 / broadband drops every evening";

    let (status, created) = crm.post(&format!("{V4}/troubleTicket"), ticket("13800138000", text, "crm-77")).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let id = created["id"].as_str().unwrap().to_string();
    assert_eq!((created["status"].as_str(), created["severity"].as_str()), (Some("acknowledged"), Some("Major")));
    assert!(created["href"].as_str().unwrap().ends_with(&format!("{V4}/troubleTicket/{id}")));
    // The ticket is intake's work order; a retry with the same external id opens nothing more.
    let order = t.intake().get_work_order(GetWorkOrderRequest { name: format!("workOrders/{id}") }).await;
    assert_eq!(order.unwrap().into_inner().text, text);
    let (status, again) = crm.post(&format!("{V4}/troubleTicket"), ticket("13800138000", text, "crm-77")).await;
    assert_eq!((status, again["id"].as_str()), (StatusCode::CREATED, Some(id.as_str())));
    let request = ListWorkOrdersRequest { phone_number: "13800138000".into(), ..Default::default() };
    let orders = t.intake().list_work_orders(request).await.unwrap().into_inner().work_orders;
    assert_eq!(orders.len(), 1);

    let ticket = dispatched(&crm, &id).await;
    let case_name = ticket["relatedEntity"][0]["name"].as_str().unwrap().to_string();
    let case = t.recovery().get_case(GetCaseRequest { name: case_name.clone() }).await.unwrap().into_inner();
    assert!(ticket["expectedResolutionDate"].is_string(), "the case's deadline: {ticket}");
    assert_eq!(ticket["note"][0]["author"], "crm-agent-7");
    let department = Rest::of(&t, &format!("dept-{}", case.department));
    let path = format!("{V4}/troubleTicket/{id}");

    // Illegal from where the case is: refused in TMF's error shape, the case unchanged.
    let supervisor = Rest::of(&t, "supervisor");
    let (status, error) = supervisor.patch(&path, json!({ "status": "closed" })).await;
    assert_eq!(status, StatusCode::CONFLICT, "{error}");
    assert_eq!((error["code"].as_str(), error["@type"].as_str()), (Some("409"), Some("Error")));
    let (status, error) = department.patch(&path, json!({ "status": "rejected" })).await;
    assert_eq!(status, StatusCode::CONFLICT, "csm does not reject a complaint: {error}");
    let (status, error) = department.patch(&path, json!({ "status": "resolved" })).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{error}");
    assert!(error["message"].as_str().unwrap().contains("statusChangeReason"), "{error}");
    let (status, error) = department.patch(&path, json!({ "resolutionDate": "2026-12-02T00:00:00Z" })).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "csm keeps resolutionDate itself: {error}");
    // Only the department it was dispatched to takes it up: recovery's own rule, through the adapter.
    let (status, _) = Rest::of(&t, "agent").patch(&path, json!({ "status": "inProgress" })).await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    let (status, taken) = department.patch(&path, json!({ "status": "inProgress" })).await;
    assert_eq!((status, taken["status"].as_str()), (StatusCode::OK, Some("inProgress")), "{taken}");
    let resolution = "更换光猫后恢复 / replaced the optical modem";
    let (status, resolved) = department
        .patch(&path, json!({ "status": "resolved", "statusChangeReason": resolution, "severity": "Minor" }))
        .await;
    assert_eq!(status, StatusCode::OK, "{resolved}");
    assert_eq!((resolved["status"].as_str(), resolved["severity"].as_str()), (Some("resolved"), Some("Minor")));
    assert!(resolved["resolutionDate"].is_string());
    let history: Vec<&str> =
        resolved["statusChange"].as_array().unwrap().iter().map(|c| c["status"].as_str().unwrap()).collect();
    assert_eq!(history, ["acknowledged", "inProgress", "resolved"], "{resolved}");
    assert!(resolved["note"].as_array().unwrap().iter().any(|n| n["text"] == resolution));

    // Listing: filters, selection and the count headers; the view follows recovery's feed.
    let resolved_only = format!("{V4}/troubleTicket?status=resolved&fields=id,status");
    let listed =
        crate::support::eventually("the listing shows it resolved", std::time::Duration::from_secs(30), || {
            let crm = crm.clone();
            let path = resolved_only.clone();
            async move {
                let (_, listed) = crm.get(&path).await;
                (listed.as_array()?.len() == 1).then_some(listed)
            }
        })
        .await;
    assert_eq!(listed[0], json!({ "id": id, "status": "resolved" }));
    let (status, none) = crm.get(&format!("{V4}/troubleTicket?severity=Critical")).await;
    assert_eq!((status, none), (StatusCode::OK, json!([])));
    let (status, error) = crm.get(&format!("{V4}/troubleTicket?colour=red")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{error}");

    // v5 shapes of the same ticket.
    let (_, v5) = crm.get(&format!("/tmf-api/troubleTicket/v5/troubleTicket/{id}")).await;
    assert_eq!(v5["relatedParty"][0]["partyOrPartyRole"]["id"], "13800138000");
    assert_eq!(v5["statusChangeHistory"].as_array().map(Vec::len), Some(3), "{v5}");
    assert_eq!(v5["externalIdentifier"][0]["id"], "crm-77");
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn callers_without_credentials_or_rights_and_malformed_tickets_are_refused() {
    let t = TestSystem::start().await;
    let anonymous = Rest::at(t.system.addresses.tmf, "");
    let (status, error) = anonymous.get(&format!("{V4}/troubleTicket")).await;
    assert_eq!((status, error["code"].as_str()), (StatusCode::UNAUTHORIZED, Some("401")));
    let analyst = Rest::of(&t, "analyst");
    let (status, _) = analyst.post(&format!("{V4}/troubleTicket"), ticket("13800138001", "no signal", "x-1")).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "intake decides who may raise a complaint");
    let crm = Rest::of(&t, "agent");
    for (body, field) in [
        (json!({ "description": "x", "severity": "High" }), "ticketType"),
        (json!({ "description": "x", "severity": "High", "ticketType": "t", "note": { "author": "a" } }), "note"),
        (json!({ "description": 5, "severity": "High", "ticketType": "t" }), "description"),
        (
            json!({ "description": "x", "severity": "High", "ticketType": "t", "channel": { "id": "carrier_pigeon" } }),
            "channel",
        ),
        (
            json!({ "description": "x", "severity": "High", "ticketType": "t", "relatedParty": [{ "id": "12345", "role": "customer" }] }),
            "phone_number",
        ),
    ] {
        let (status, error) = crm.post(&format!("{V4}/troubleTicket"), body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{error}");
        assert!(error["message"].as_str().unwrap().contains(field), "{field}: {error}");
    }
    let (status, _) = crm.get(&format!("{V4}/troubleTicket/46846846846")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, listed) = crm.get(&format!("{V4}/troubleTicket")).await;
    assert_eq!((status, listed), (StatusCode::OK, json!([])), "nothing refused was kept");
    t.stop().await;
}
