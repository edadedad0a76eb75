//! `csm cases`: listing, showing and moving a case through its lifecycle as its department.

use csm_cli::output::Outcome;
use csm_proto::recovery::v1::{Case, CaseStatus, GetCaseRequest, ListCasesRequest};

use super::{csm, expect};
use crate::support::{TestSystem, complaint, eventually};

/// The one case, once dispatched. Classification places the first order only after training its
/// starter models, which on a busy machine with PostgreSQL can take longer than the usual wait.
async fn dispatched(t: &TestSystem) -> Case {
    eventually("the case to be dispatched", std::time::Duration::from_secs(90), || async {
        let request = ListCasesRequest { status: CaseStatus::Dispatched as i32, ..Default::default() };
        t.recovery().list_cases(request).await.ok()?.into_inner().cases.pop()
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_department_works_its_case_through_the_command_line() {
    let t = TestSystem::start().await;
    t.intake().submit_contact(complaint("13800138001", "这个月话费莫名多扣了58元，要求退还")).await.unwrap();
    let case = dispatched(&t).await;
    let department = format!("dept-{}", case.department);
    let name = case.name.as_str();
    let id = name.trim_start_matches("cases/");

    let out = expect(&t, "supervisor", &["cases", "list", "--status", "DISPATCHED", "--json"], Outcome::Done).await;
    let listed: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 1, "{out}");
    assert_eq!(listed[0]["name"], name);
    let out = expect(&t, "supervisor", &["cases", "list"], Outcome::Done).await;
    assert!(out.contains(name) && out.contains("dispatched") && out.contains("1 cases"), "{out}");

    let out = expect(&t, &department, &["cases", "accept", id], Outcome::Done).await;
    assert!(out.contains(&format!("{name} is now accepted")), "{out}");
    let (result, _) = csm(&t, &department, &["cases", "hold", name]).await;
    assert!(result.unwrap_err().to_string().contains("--reason"));
    expect(&t, &department, &["cases", "start", name], Outcome::Done).await;
    let out = expect(&t, &department, &["cases", "resolve", name, "--reason", "已退还多扣的58元"], Outcome::Done).await;
    assert!(out.contains("is now resolved"), "{out}");
    let stored = t.recovery().get_case(GetCaseRequest { name: name.to_string() }).await.unwrap().into_inner();
    assert_eq!(stored.status(), CaseStatus::Resolved);
    assert_eq!(stored.resolution, "已退还多扣的58元");

    let out = expect(&t, "supervisor", &["cases", "show", name], Outcome::Done).await;
    assert!(out.contains("accept") && out.contains("resolve") && out.contains("138****8001"), "{out}");

    let (result, _) = csm(&t, "supervisor", &["cases", "list", "--status", "finished"]).await;
    let error = result.unwrap_err().to_string();
    assert!(error.contains("unknown case status") && error.contains("callback_done"), "{error}");
    t.stop().await;
}
