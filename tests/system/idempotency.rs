//! A retried call never creates a second record, and a case changes state only once.

use csm_cli::clients;
use csm_proto::intake::v1::SubmitContactResponse;
use csm_proto::recovery::v1::ResolveCaseRequest;
use tonic::Code;

use crate::support::{TestSystem, complaint, feed_head};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retried_submission_returns_the_first_result_and_records_once() {
    let t = TestSystem::start().await;
    let request = complaint("13800138000", "话费多扣了");
    // A retry answers with the same contact and work order (the order as it stands now: its topic
    // may have been learnt from classification meanwhile).
    let same = |response: &SubmitContactResponse| {
        (response.contact.clone(), response.work_order.as_ref().map(|o| (o.name.clone(), o.kind, o.open_time)))
    };
    let first = t.intake().submit_contact(request.clone()).await.unwrap().into_inner();
    let again = t.intake().submit_contact(request.clone()).await.unwrap().into_inner();
    assert_eq!(same(&first), same(&again));

    // Concurrent retries race each other; all of them get the same answer.
    let racers: Vec<_> = (0..8)
        .map(|_| {
            let mut intake = t.intake();
            let request = request.clone();
            tokio::spawn(async move { intake.submit_contact(request).await.map(|r| r.into_inner()) })
        })
        .collect();
    for racer in racers {
        assert_eq!(same(&racer.await.unwrap().unwrap()), same(&first));
    }

    // The same key with a different request is refused.
    let mut other = request.clone();
    other.text = "另一件事".into();
    let status = t.intake().submit_contact(other).await.unwrap_err();
    assert_eq!(status.code(), Code::AlreadyExists);

    let mut feed = clients::feed(t.system.addresses.intake, t.admin()).unwrap();
    assert_eq!(feed_head(&mut feed).await, 2, "one contact and one work order published, once");
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_case_is_resolved_once_and_a_retry_with_the_same_key_is_safe() {
    let t = TestSystem::start().await;
    t.intake().submit_contact(complaint("13800138000", "话费多扣了")).await.unwrap();
    let case = t.dispatched_cases(1).await.remove(0);
    let resolve = |request_id: &str| ResolveCaseRequest {
        name: case.name.clone(),
        resolution: "已退费".into(),
        request_id: request_id.into(),
    };
    t.accept(&case.name, "dept-billing").await;
    let mut billing = t.recovery_as("dept-billing");
    let first = billing.resolve_case(resolve("key-1")).await.unwrap().into_inner();
    let retry = billing.resolve_case(resolve("key-1")).await.unwrap().into_inner();
    assert_eq!(first, retry);
    let status = billing.resolve_case(resolve("key-2")).await.unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition);
    let status = billing.resolve_case(resolve("")).await.unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition);
    assert!(status.message().contains("CASE_STATUS_RESOLVED"), "{}", status.message());

    let mut feed = clients::feed(t.system.addresses.recovery, t.admin()).unwrap();
    assert_eq!(feed_head(&mut feed).await, 4, "CaseOpened, the acceptance, and one CaseResolved with its CallbackDue");
    t.stop().await;
}
