//! Remediation programmes (整改): owned by a department, with actions and deadlines, escalated
//! when overdue, and completed with the before and after windows measurement compares.

use std::time::Duration;

use csm_kit::time;
use csm_proto::recovery::v1::{
    CompleteProgrammeActionRequest, CreateProgrammeRequest, GetProgrammeRequest, ListProgrammesRequest,
    ProgrammeAction, ProgrammeCompleted, ProgrammeEscalated, ProgrammeStatus,
};
use tonic::Code;

use crate::support::{desk::Desk, eventually};

fn days_from_now(desk: &Desk, days: i64) -> prost_types::Timestamp {
    time::timestamp_from_micros(desk.clock.now_micros() + days * 86_400_000_000)
}

fn programme(desk: &Desk) -> CreateProgrammeRequest {
    CreateProgrammeRequest {
        title: "宽带报修处理不及时整改 / broadband repair timeliness".into(),
        leaf: "broadband_repair_slow".into(),
        owner_department: "operations_maintenance".into(),
        actions: vec![
            ProgrammeAction {
                description: "增加周末装维班组".into(),
                deadline: Some(days_from_now(desk, 10)),
                ..Default::default()
            },
            ProgrammeAction {
                description: "Dispatch repairs automatically from the fault ticket".into(),
                deadline: Some(days_from_now(desk, 20)),
                ..Default::default()
            },
        ],
        deadline: Some(days_from_now(desk, 30)),
        verification_window: Some(prost_types::Duration { seconds: 14 * 86_400, nanos: 0 }),
        request_id: "programme-1".into(),
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_programme_is_validated_worked_to_completion_and_opens_its_verification_window() {
    let desk = Desk::start().await;
    let mut supervisor = desk.as_("supervisor");
    type Spoil = fn(&mut CreateProgrammeRequest);
    let spoilt: [(Spoil, &str); 4] = [
        (|r| r.actions.clear(), "actions"),
        (|r| r.deadline = Some(prost_types::Timestamp { seconds: 1, nanos: 0 }), "deadline"),
        (|r| r.shortfall = "complaints left unresolved".into(), "leaf"),
        (
            |r| r.actions[1].deadline = r.deadline.map(|d| prost_types::Timestamp { seconds: d.seconds + 1, nanos: 0 }),
            "actions[1].deadline",
        ),
    ];
    for (spoil, field) in spoilt {
        let mut request = programme(&desk);
        spoil(&mut request);
        let refused = supervisor.create_programme(request).await.unwrap_err();
        assert_eq!(refused.code(), Code::InvalidArgument, "{field}");
        assert!(refused.message().contains(field), "{field}: {}", refused.message());
    }
    let refused = desk.as_("dept-operations_maintenance").create_programme(programme(&desk)).await.unwrap_err();
    assert_eq!(refused.code(), Code::PermissionDenied);

    let created = supervisor.create_programme(programme(&desk)).await.unwrap().into_inner();
    let retried = supervisor.create_programme(programme(&desk)).await.unwrap().into_inner();
    assert_eq!(created.name, retried.name);
    assert_eq!(created.status, ProgrammeStatus::Open as i32);
    let baseline = created.baseline_end.unwrap().seconds - created.baseline_start.unwrap().seconds;
    assert_eq!(baseline, 14 * 86_400);

    // The owner works it; another department neither sees nor works it.
    let mut owner = desk.as_("dept-operations_maintenance");
    let complete = |index: i32| CompleteProgrammeActionRequest {
        name: created.name.clone(),
        action_index: index,
        note: "done".into(),
    };
    let refused = desk.as_("dept-billing").complete_programme_action(complete(0)).await.unwrap_err();
    assert_eq!(refused.code(), Code::PermissionDenied);
    let refused = desk.as_("dept-billing").get_programme(GetProgrammeRequest { name: created.name.clone() }).await;
    assert_eq!(refused.unwrap_err().code(), Code::PermissionDenied);
    let refused = owner.complete_programme_action(complete(5)).await.unwrap_err();
    assert_eq!(refused.code(), Code::InvalidArgument);
    let halfway = owner.complete_programme_action(complete(0)).await.unwrap().into_inner();
    assert_eq!(halfway.status, ProgrammeStatus::Open as i32);
    assert!(halfway.actions[0].complete_time.is_some() && halfway.actions[1].complete_time.is_none());
    let refused = owner.complete_programme_action(complete(0)).await.unwrap_err();
    assert_eq!(refused.code(), Code::FailedPrecondition);

    desk.clock.advance(Duration::from_secs(5 * 86_400));
    let done = owner.complete_programme_action(complete(1)).await.unwrap().into_inner();
    assert_eq!(done.status, ProgrammeStatus::Completed as i32);
    let window = done.verification_end.unwrap().seconds - done.verification_start.unwrap().seconds;
    assert_eq!(window, 14 * 86_400);
    assert_eq!(done.verification_start, done.complete_time);
    let published = desk.events::<ProgrammeCompleted>(1).await.remove(0);
    assert_eq!(published.programme.unwrap().name, created.name);

    let own = owner.list_programmes(ListProgrammesRequest::default()).await.unwrap().into_inner();
    assert_eq!(own.programmes.len(), 1);
    let none = desk.as_("dept-billing").list_programmes(ListProgrammesRequest::default()).await.unwrap().into_inner();
    assert!(none.programmes.is_empty());
    desk.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_overdue_programme_escalates() {
    let desk = Desk::start().await;
    let created = desk.as_("supervisor").create_programme(programme(&desk)).await.unwrap().into_inner();
    desk.clock.advance(Duration::from_secs(30 * 86_400 + 3600));
    let escalated = eventually("the programme escalated", Duration::from_secs(10), || async {
        let p = desk.admin().get_programme(GetProgrammeRequest { name: created.name.clone() }).await.ok()?.into_inner();
        (p.escalation_level >= 1).then_some(p)
    })
    .await;
    assert!(escalated.overdue);
    assert!(escalated.actions.iter().all(|a| a.overdue));
    let event = desk.events::<ProgrammeEscalated>(1).await.remove(0);
    assert_eq!(event.escalate_to, "department head");
    desk.stop().await;
}
