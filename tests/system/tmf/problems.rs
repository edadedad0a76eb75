//! TMF656 service problems: the network operations centre raises a problem for a root cause in a
//! region; the region's complaints of that cause become its trouble tickets, new ones as they
//! arrive; fixing it answers them all.

use std::time::Duration;

use csm_proto::{
    intake::v1::CustomerProfile,
    recovery::v1::{Case, GetCaseRequest},
};
use reqwest::StatusCode;
use serde_json::json;

use super::{PROBLEMS, Rest, V4};
use crate::support::{TestSystem, complaint, eventually};

const NO_SIGNAL: &str = "家里手机完全没有信号，打不了电话 / no mobile signal at home, cannot call";

/// A no-signal complaint of `phone` in `region`, through intake as a hotline would send it; its
/// ticket id and its case once dispatched.
async fn no_signal(t: &TestSystem, phone: &str, region: &str) -> (String, Case) {
    let mut request = complaint(phone, NO_SIGNAL);
    request.customer_profile = Some(CustomerProfile { region: region.into(), ..Default::default() });
    let answer = t.intake().submit_contact(request).await.unwrap().into_inner();
    let work_order = answer.work_order.unwrap().name;
    let case = eventually("the complaint dispatched", Duration::from_secs(30), || {
        let mut recovery = t.recovery();
        let work_order = work_order.clone();
        let phone = phone.to_string();
        async move {
            let request = csm_proto::recovery::v1::ListCasesRequest { phone_number: phone, ..Default::default() };
            let cases = recovery.list_cases(request).await.ok()?.into_inner().cases;
            cases.into_iter().find(|c| c.work_order == work_order && !c.leaf.is_empty())
        }
    })
    .await;
    (work_order.trim_start_matches("workOrders/").to_string(), case)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_network_problem_absorbs_new_complaints_and_closes_them_when_it_is_fixed() {
    let t = TestSystem::start().await;
    let noc = Rest::of(&t, "csm-services");
    let (first, case) = no_signal(&t, "13800138020", "GD-SZ").await;
    let raised_at = (chrono::Utc::now() - chrono::Duration::hours(1)).to_rfc3339();
    let body = json!({
        "category": "network",
        "priority": 2,
        "description": "南山区基站 GD-SZ-0412 掉站 / cell site GD-SZ-0412 down",
        "reason": case.leaf,
        "originatorParty": { "id": "noc", "@referredType": "Organization" },
        "affectedLocation": [{ "id": "GD-SZ" }],
        "rootCauseService": [{ "id": "cell site GD-SZ-0412" }],
        "underlyingAlarm": [{ "id": "ALM-0412-PWR" }],
        "responsibleParty": { "id": case.department, "@referredType": "Organization" },
        "timeRaised": raised_at,
    });
    let (status, problem) = noc.post(&format!("{PROBLEMS}/serviceProblem"), body).await;
    assert_eq!(status, StatusCode::CREATED, "{problem}");
    let id = problem["id"].as_str().unwrap().to_string();
    assert_eq!(
        (problem["status"].as_str(), problem["affectedNumberOfServices"].as_i64()),
        (Some("submitted"), Some(1))
    );
    assert_eq!(problem["associatedTroubleTicket"][0]["id"], first.as_str());
    assert_eq!(problem["underlyingAlarm"][0]["id"], "ALM-0412-PWR");

    // A new complaint of the area is absorbed as it arrives; another region's is not.
    let (second, _) = no_signal(&t, "13800138021", "GD-SZ").await;
    let (elsewhere, other) = no_signal(&t, "13800138022", "GD-GZ").await;
    let path = format!("{PROBLEMS}/serviceProblem/{id}");
    let (_, now) = noc.get(&path).await;
    let mut tickets: Vec<&str> =
        now["associatedTroubleTicket"].as_array().unwrap().iter().map(|t| t["id"].as_str().unwrap()).collect();
    tickets.sort_unstable();
    let mut expected = vec![first.as_str(), second.as_str()];
    expected.sort_unstable();
    assert_eq!(tickets, expected, "{now}");
    assert_eq!(now["affectedNumberOfServices"], 2);

    // Fixed: both tickets are answered with the explanation; the other region's is not.
    let (status, error) = noc.patch(&path, json!({ "status": "resolved" })).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "an explanation is required: {error}");
    let fixed = "基站电源已修复 / the cell site's power supply was repaired";
    let (status, resolved) = noc.patch(&path, json!({ "status": "resolved", "statusChangeReason": fixed })).await;
    assert_eq!((status, resolved["status"].as_str()), (StatusCode::OK, Some("resolved")), "{resolved}");
    let crm = Rest::of(&t, "agent");
    for ticket in [&first, &second] {
        let (_, answered) = crm.get(&format!("{V4}/troubleTicket/{ticket}")).await;
        assert_eq!(answered["status"], "resolved", "{answered}");
        assert!(
            answered["note"].as_array().unwrap().iter().any(|n| n["text"].as_str().unwrap().contains("power supply"))
        );
    }
    let untouched = t.recovery().get_case(GetCaseRequest { name: other.name.clone() }).await.unwrap().into_inner();
    assert_eq!(untouched.tmf621_status, "acknowledged", "{elsewhere} is another region's");
    let (status, _) = noc.patch(&path, json!({ "status": "resolved", "description": "x" })).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    t.stop().await;
}
