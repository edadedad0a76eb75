//! Every legal transition, walked; every illegal one, refused with FAILED_PRECONDITION and
//! nothing changed; each status with its TMF621 state; every change in the audit trail.

use csm_proto::recovery::v1::{CallbackOutcome, CaseStatus, ListCaseHistoryRequest, Transition};
use tonic::Code;

use super::{callback, resolve, step};
use crate::support::desk::Desk;

const BILLING: &str = "dept-billing";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_case_walks_every_legal_transition_from_dispatch_to_close_and_back() {
    let desk = Desk::start().await;
    let case = desk.dispatched("13800138000", "billing").await;
    assert_eq!((case.status, case.tmf621_status.as_str()), (CaseStatus::Dispatched as i32, "acknowledged"));
    assert_eq!(case.time_limit.unwrap().seconds, 48 * 3600);
    let name = case.name.as_str();

    let walk = [
        (BILLING, Transition::Accept, "", CaseStatus::Accepted, "inProgress"),
        (BILLING, Transition::Start, "", CaseStatus::InProgress, "inProgress"),
        (BILLING, Transition::Hold, "等待计费系统补丁", CaseStatus::Held, "held"),
        (BILLING, Transition::PendOnCustomer, "waiting for the customer's bill copy", CaseStatus::Pending, "pending"),
        (BILLING, Transition::Hold, "补丁仍未上线", CaseStatus::Held, "held"),
        (BILLING, Transition::Resume, "", CaseStatus::InProgress, "inProgress"),
        (BILLING, Transition::PendOnCustomer, "customer travelling", CaseStatus::Pending, "pending"),
        (BILLING, Transition::Resume, "", CaseStatus::InProgress, "inProgress"),
    ];
    for (subject, transition, reason, status, tmf) in walk {
        let case = step(&desk, subject, name, transition, reason).await.unwrap();
        assert_eq!((case.status, case.tmf621_status.as_str()), (status as i32, tmf), "{transition:?}");
    }
    let resolved = resolve(&desk, BILLING, name).await.unwrap();
    assert_eq!((resolved.status, resolved.tmf621_status.as_str()), (CaseStatus::Resolved as i32, "resolved"));
    assert_eq!(resolved.owner_department, "billing");
    let called = callback(&desk, name, CallbackOutcome::Satisfied).await.unwrap();
    assert_eq!((called.status, called.tmf621_status.as_str()), (CaseStatus::CallbackDone as i32, "resolved"));
    let closed = step(&desk, "agent", name, Transition::Close, "").await.unwrap();
    assert_eq!((closed.status, closed.tmf621_status.as_str()), (CaseStatus::Closed as i32, "closed"));
    let reopened = step(&desk, "agent", name, Transition::Reopen, "客户来电称问题仍在").await.unwrap();
    assert_eq!((reopened.status, reopened.reopen_count), (CaseStatus::InProgress as i32, 1));
    assert_eq!(reopened.owner_department, "billing", "the owner keeps the case it reopens");
    let cancelled = step(&desk, "supervisor", name, Transition::Cancel, "duplicate of another case").await.unwrap();
    assert_eq!((cancelled.status, cancelled.tmf621_status.as_str()), (CaseStatus::Cancelled as i32, "cancelled"));

    // Every change is in the audit trail: who, what, why.
    let history =
        desk.admin().list_case_history(ListCaseHistoryRequest { name: name.into() }).await.unwrap().into_inner();
    let actions: Vec<&str> = history.entries.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(
        actions,
        [
            "dispatched",
            "accept",
            "start",
            "hold",
            "pend_on_customer",
            "hold",
            "resume",
            "pend_on_customer",
            "resume",
            "resolve",
            "callback",
            "close",
            "reopen",
            "cancel"
        ]
    );
    let hold = &history.entries[3];
    assert_eq!((hold.actor.as_str(), hold.reason.as_str()), ("dept-billing", "等待计费系统补丁"));
    assert_eq!(history.entries[1].from_status, CaseStatus::Dispatched as i32);
    assert_eq!(history.entries.last().unwrap().actor, "supervisor");
    desk.stop().await;
}

/// Everything a caller could try, so each status can be checked against all of it.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Try {
    Transition(Transition),
    Resolve,
    Callback,
}

const EVERYTHING: [Try; 10] = [
    Try::Transition(Transition::Accept),
    Try::Transition(Transition::Start),
    Try::Transition(Transition::PendOnCustomer),
    Try::Transition(Transition::Hold),
    Try::Transition(Transition::Resume),
    Try::Transition(Transition::Close),
    Try::Transition(Transition::Cancel),
    Try::Transition(Transition::Reopen),
    Try::Resolve,
    Try::Callback,
];

/// What is legal from each status (the lifecycle a TMF621 bridge relies on).
fn legal(status: CaseStatus) -> Vec<Try> {
    use Transition::*;
    let t = Try::Transition;
    match status {
        CaseStatus::Dispatched => vec![t(Accept), t(Cancel)],
        CaseStatus::Accepted => vec![t(Start), t(PendOnCustomer), t(Hold), t(Cancel), Try::Resolve],
        CaseStatus::InProgress => vec![t(PendOnCustomer), t(Hold), t(Cancel), Try::Resolve],
        CaseStatus::Pending => vec![t(Hold), t(Resume), t(Cancel)],
        CaseStatus::Held => vec![t(PendOnCustomer), t(Resume), t(Cancel)],
        CaseStatus::Resolved => vec![t(Reopen), Try::Callback],
        CaseStatus::CallbackDone => vec![t(Close), t(Reopen)],
        CaseStatus::Closed => vec![t(Reopen)],
        _ => vec![],
    }
}

/// The path that brings a fresh case to each status.
fn path_to(status: CaseStatus) -> Vec<Try> {
    use Transition::*;
    let t = Try::Transition;
    let mut path = vec![];
    let accepted = [t(Accept)];
    match status {
        CaseStatus::Dispatched => {}
        CaseStatus::Accepted => path.extend(accepted),
        CaseStatus::InProgress => path.extend([t(Accept), t(Start)]),
        CaseStatus::Pending => path.extend([t(Accept), t(PendOnCustomer)]),
        CaseStatus::Held => path.extend([t(Accept), t(Hold)]),
        CaseStatus::Resolved => path.extend([t(Accept), Try::Resolve]),
        CaseStatus::CallbackDone => path.extend([t(Accept), Try::Resolve, Try::Callback]),
        CaseStatus::Closed => path.extend([t(Accept), Try::Resolve, Try::Callback, t(Close)]),
        CaseStatus::Cancelled => path.extend([t(Cancel)]),
        _ => unreachable!(),
    }
    path
}

async fn attempt(desk: &Desk, case: &str, what: Try) -> Result<CaseStatus, tonic::Status> {
    let case = match what {
        // The administrator may take every step, so only the lifecycle decides.
        Try::Transition(transition) => step(desk, "administrator", case, transition, "a reason").await?,
        Try::Resolve => resolve(desk, "administrator", case).await?,
        Try::Callback => callback(desk, case, CallbackOutcome::Satisfied).await?,
    };
    Ok(CaseStatus::try_from(case.status).unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_illegal_transition_is_refused_and_changes_nothing() {
    let desk = Desk::start().await;
    let statuses = [
        CaseStatus::Dispatched,
        CaseStatus::Accepted,
        CaseStatus::InProgress,
        CaseStatus::Pending,
        CaseStatus::Held,
        CaseStatus::Resolved,
        CaseStatus::CallbackDone,
        CaseStatus::Closed,
        CaseStatus::Cancelled,
    ];
    for (i, status) in statuses.into_iter().enumerate() {
        let case = desk.dispatched(&format!("1380013800{i}"), "billing").await;
        for what in path_to(status) {
            attempt(&desk, &case.name, what).await.unwrap();
        }
        assert_eq!(desk.get(&case.name).await.status, status as i32);
        let legal = legal(status);
        for what in EVERYTHING.into_iter().filter(|w| !legal.contains(w)) {
            let refused = attempt(&desk, &case.name, what).await.unwrap_err();
            assert_eq!(refused.code(), Code::FailedPrecondition, "{what:?} from {status:?}: {refused:?}");
            assert!(refused.message().contains(status.as_str_name()), "{}", refused.message());
        }
        let after = desk.get(&case.name).await;
        assert_eq!(after.status, status as i32, "nothing changed in {status:?}");
    }
    // And each legal one is accepted from there (the walk above covers the rest in sequence).
    for status in statuses {
        for what in legal(status) {
            let case = desk.dispatched("13900139000", "billing").await;
            for before in path_to(status) {
                attempt(&desk, &case.name, before).await.unwrap();
            }
            attempt(&desk, &case.name, what).await.unwrap_or_else(|e| panic!("{what:?} from {status:?}: {e:?}"));
        }
    }
    desk.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transition_without_its_reason_or_name_is_invalid() {
    let desk = Desk::start().await;
    let case = desk.dispatched("13800138000", "billing").await;
    step(&desk, BILLING, &case.name, Transition::Accept, "").await.unwrap();
    for transition in [Transition::PendOnCustomer, Transition::Hold, Transition::Cancel] {
        let refused = step(&desk, "administrator", &case.name, transition, "  ").await.unwrap_err();
        assert_eq!(refused.code(), Code::InvalidArgument);
        assert!(refused.message().contains("reason"), "{}", refused.message());
    }
    let refused = step(&desk, BILLING, &case.name, Transition::Unspecified, "").await.unwrap_err();
    assert_eq!(refused.code(), Code::InvalidArgument);
    assert!(refused.message().contains("transition"));
    assert_eq!(desk.get(&case.name).await.status, CaseStatus::Accepted as i32);
    desk.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_made_at_the_same_moment_are_each_judged_on_the_case_as_it_then_is() {
    let desk = Desk::start().await;
    let contested = desk.dispatched("13800138100", "billing").await;
    let others = [desk.dispatched("13800138101", "billing").await, desk.dispatched("13800138102", "billing").await];
    // Twenty accepts of one case race with work on two others; they share commits.
    let mut calls = Vec::new();
    for _ in 0..20 {
        calls.push(tokio::spawn({
            let desk_client = desk.as_(BILLING);
            let name = contested.name.clone();
            async move {
                let request = csm_proto::recovery::v1::TransitionCaseRequest {
                    name,
                    transition: Transition::Accept as i32,
                    ..Default::default()
                };
                desk_client.clone().transition_case(request).await.map(|_| ())
            }
        }));
    }
    for case in &others {
        step(&desk, BILLING, &case.name, Transition::Accept, "").await.unwrap();
        step(&desk, BILLING, &case.name, Transition::Start, "").await.unwrap();
    }
    let mut accepted = 0;
    for call in calls {
        match call.await.unwrap() {
            Ok(()) => accepted += 1,
            Err(refused) => assert_eq!(refused.code(), Code::FailedPrecondition, "{refused:?}"),
        }
    }
    assert_eq!(accepted, 1, "one accept wins; the others find the case accepted");
    let history = desk
        .admin()
        .list_case_history(ListCaseHistoryRequest { name: contested.name.clone() })
        .await
        .unwrap()
        .into_inner()
        .entries;
    assert_eq!(history.iter().filter(|e| e.action == "accept").count(), 1, "{history:?}");
    for case in &others {
        assert_eq!(desk.get(&case.name).await.status, CaseStatus::InProgress as i32);
    }
    desk.stop().await;
}
