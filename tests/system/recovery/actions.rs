//! Service recovery (服务补救): apologies and fixes are done at once; compensation waits for a
//! supervisor; every action ends with what came of it, published for measurement.

use csm_proto::recovery::v1::{
    CompleteRecoveryActionRequest, CreateRecoveryActionRequest, DecideRecoveryActionRequest,
    ListRecoveryActionsRequest, RecoveryActionCompleted, RecoveryActionKind, RecoveryActionStatus, RecoveryOutcome,
    Transition,
};
use tonic::Code;

use super::step;
use crate::support::desk::Desk;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compensation_waits_for_a_supervisor_and_every_action_records_its_outcome() {
    let desk = Desk::start().await;
    let case = desk.dispatched("13800138000", "billing").await;
    step(&desk, "dept-billing", &case.name, Transition::Accept, "").await.unwrap();
    let mut billing = desk.as_("dept-billing");
    let create = |kind: RecoveryActionKind, amount: i64| CreateRecoveryActionRequest {
        case: case.name.clone(),
        kind: kind as i32,
        description: "为多扣话费致歉并补偿".into(),
        amount,
        ..Default::default()
    };

    // Bad input is refused field by field.
    for (request, field) in [
        (create(RecoveryActionKind::Compensation, 0), "amount"),
        (create(RecoveryActionKind::Apology, 500), "amount"),
        (create(RecoveryActionKind::Unspecified, 0), "kind"),
        (
            CreateRecoveryActionRequest { description: " ".into(), ..create(RecoveryActionKind::Apology, 0) },
            "description",
        ),
        (CreateRecoveryActionRequest { case: String::new(), ..create(RecoveryActionKind::Apology, 0) }, "case"),
    ] {
        let refused = billing.create_recovery_action(request).await.unwrap_err();
        assert_eq!(refused.code(), Code::InvalidArgument, "{field}");
        assert!(refused.message().contains(field), "{field}: {}", refused.message());
    }

    let apology = billing.create_recovery_action(create(RecoveryActionKind::Apology, 0)).await.unwrap().into_inner();
    assert_eq!(apology.status, RecoveryActionStatus::Planned as i32);
    assert_eq!(apology.phone_number, "13800138000");
    let compensation =
        billing.create_recovery_action(create(RecoveryActionKind::Compensation, 5_000)).await.unwrap().into_inner();
    assert_eq!(compensation.status, RecoveryActionStatus::AwaitingApproval as i32);

    let complete = |name: &str| CompleteRecoveryActionRequest {
        name: name.into(),
        outcome: RecoveryOutcome::Accepted as i32,
        note: "客户表示满意".into(),
    };
    let refused = billing.complete_recovery_action(complete(&compensation.name)).await.unwrap_err();
    assert_eq!(refused.code(), Code::FailedPrecondition, "not before approval");
    let decide = DecideRecoveryActionRequest { name: compensation.name.clone(), approve: true, note: "同意".into() };
    let refused = billing.decide_recovery_action(decide.clone()).await.unwrap_err();
    assert_eq!(refused.code(), Code::PermissionDenied);
    let approved = desk.as_("supervisor").decide_recovery_action(decide.clone()).await.unwrap().into_inner();
    assert_eq!((approved.status, approved.decided_by.as_str()), (RecoveryActionStatus::Planned as i32, "supervisor"));
    let refused = desk.as_("supervisor").decide_recovery_action(decide).await.unwrap_err();
    assert_eq!(refused.code(), Code::FailedPrecondition, "decided once");

    billing.complete_recovery_action(complete(&apology.name)).await.unwrap();
    let paid = billing.complete_recovery_action(complete(&compensation.name)).await.unwrap().into_inner();
    assert_eq!((paid.status, paid.outcome), (RecoveryActionStatus::Done as i32, RecoveryOutcome::Accepted as i32));
    let published = desk.events::<RecoveryActionCompleted>(2).await;
    assert_eq!(published[1].action.as_ref().unwrap().amount, 5_000);

    // A rejected gift never happens.
    let gift =
        billing.create_recovery_action(create(RecoveryActionKind::GoodwillGift, 2_000)).await.unwrap().into_inner();
    let reject = DecideRecoveryActionRequest { name: gift.name.clone(), approve: false, note: "超出授权".into() };
    desk.as_("supervisor").decide_recovery_action(reject).await.unwrap();
    let refused = billing.complete_recovery_action(complete(&gift.name)).await.unwrap_err();
    assert_eq!(refused.code(), Code::FailedPrecondition);

    // The customer's actions, newest first.
    let listed = desk
        .admin()
        .list_recovery_actions(ListRecoveryActionsRequest { phone_number: "13800138000".into(), ..Default::default() })
        .await
        .unwrap()
        .into_inner();
    let names: Vec<_> = listed.actions.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(names, [gift.name.as_str(), compensation.name.as_str(), apology.name.as_str()]);
    desk.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compensation_takes_four_eyes_and_a_large_amount_two_approvers() {
    let desk = Desk::start().await;
    let case = desk.dispatched("13800138001", "billing").await;
    step(&desk, "dept-billing", &case.name, Transition::Accept, "").await.unwrap();
    let compensation = |amount: i64| CreateRecoveryActionRequest {
        case: case.name.clone(),
        kind: RecoveryActionKind::Compensation as i32,
        description: "补偿多扣话费".into(),
        amount,
        ..Default::default()
    };
    let approve = |name: &str| DecideRecoveryActionRequest { name: name.into(), approve: true, note: "同意".into() };

    // A supervisor who asks for compensation does not approve it; another one does.
    let own = desk.as_("supervisor").create_recovery_action(compensation(5_000)).await.unwrap().into_inner();
    let refused = desk.as_("supervisor").decide_recovery_action(approve(&own.name)).await.unwrap_err();
    assert_eq!(refused.code(), Code::PermissionDenied, "{}", refused.message());
    let approved = desk.admin().decide_recovery_action(approve(&own.name)).await.unwrap().into_inner();
    assert_eq!(
        (approved.status, approved.decided_by.as_str()),
        (RecoveryActionStatus::Planned as i32, "administrator")
    );

    // 800 yuan is above the default threshold of 500: two different approvers.
    let large = desk.as_("dept-billing").create_recovery_action(compensation(80_000)).await.unwrap().into_inner();
    let first = desk.as_("supervisor").decide_recovery_action(approve(&large.name)).await.unwrap().into_inner();
    assert_eq!(first.status, RecoveryActionStatus::AwaitingApproval as i32, "one approval is not enough");
    assert_eq!((first.first_approved_by.as_str(), first.decided_by.as_str()), ("supervisor", ""));
    let refused = desk.as_("supervisor").decide_recovery_action(approve(&large.name)).await.unwrap_err();
    assert_eq!(refused.code(), Code::PermissionDenied, "the same approver twice");
    let second = desk.admin().decide_recovery_action(approve(&large.name)).await.unwrap().into_inner();
    assert_eq!(second.status, RecoveryActionStatus::Planned as i32);
    assert_eq!((second.first_approved_by.as_str(), second.decided_by.as_str()), ("supervisor", "administrator"));
    desk.stop().await;
}
