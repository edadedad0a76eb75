//! Every call has an authenticated caller with a role allowed on the method, and a department
//! sees only its own cases.

use csm_cli::clients;
use csm_proto::{
    feed::v1::SubscribeRequest,
    measurement::v1::ListIndicatorsRequest,
    recovery::v1::{CaseStatus, GetCaseRequest, ListCasesRequest, ResolveCaseRequest},
};
use tonic::Code;
use tonic_health::pb::{HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient};

use crate::support::{TestSystem, complaint, complaint_days_ago};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn callers_without_a_valid_token_are_unauthenticated() {
    let t = TestSystem::start().await;
    let a = t.system.addresses;
    for token in ["", "not-a-token"] {
        let status = clients::intake(a.intake, token)
            .unwrap()
            .submit_contact(complaint("13800138000", "话费多扣"))
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::Unauthenticated, "token {token:?}");
        let status =
            clients::recovery(a.recovery, token).unwrap().list_cases(ListCasesRequest::default()).await.unwrap_err();
        assert_eq!(status.code(), Code::Unauthenticated);
        let status = clients::measurement(a.measurement, token)
            .unwrap()
            .list_indicators(ListIndicatorsRequest {})
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::Unauthenticated);
        let status =
            clients::feed(a.classification, token).unwrap().subscribe(SubscribeRequest::default()).await.unwrap_err();
        assert_eq!(status.code(), Code::Unauthenticated);
    }

    // Probes need no token.
    let channel = csm_kit::client::channel(&csm_cli::system::url(a.intake)).unwrap();
    let health = HealthClient::new(channel)
        .check(HealthCheckRequest { service: "csm.intake.v1.IntakeService".into() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(health.status, ServingStatus::Serving as i32);
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn callers_with_the_wrong_role_are_denied() {
    let t = TestSystem::start().await;
    let a = t.system.addresses;
    let status = t.intake_as("analyst").submit_contact(complaint("13800138000", "话费多扣")).await.unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);
    assert!(status.message().contains("channel_system"), "{}", status.message());
    let status = t
        .recovery_as("agent")
        .resolve_case(ResolveCaseRequest {
            name: "cases/x".into(),
            resolution: "done".into(),
            request_id: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);
    let status = clients::feed(a.intake, t.token("channel-gateway"))
        .unwrap()
        .subscribe(SubscribeRequest::default())
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);
    // The right roles pass.
    t.intake().submit_contact(complaint("13800138000", "话费多扣")).await.unwrap();
    clients::measurement(a.measurement, t.token("dept-billing"))
        .unwrap()
        .list_indicators(ListIndicatorsRequest {})
        .await
        .unwrap();
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_department_sees_and_resolves_only_its_own_cases() {
    let t = TestSystem::start().await;
    let mut intake = t.intake();
    intake.submit_contact(complaint("13800138000", "这个月话费多扣了")).await.unwrap();
    intake.submit_contact(complaint("13900139000", "家里没信号")).await.unwrap();
    let cases = t.dispatched_cases(2).await;
    let network_case = cases.iter().find(|c| c.department == "network").unwrap();

    let mut billing = t.recovery_as("dept-billing");
    let own = billing.list_cases(ListCasesRequest::default()).await.unwrap().into_inner().cases;
    assert_eq!(own.len(), 1);
    assert_eq!(own[0].department, "billing");
    let status =
        billing.list_cases(ListCasesRequest { department: "network".into(), ..Default::default() }).await.unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);
    let status = billing.get_case(GetCaseRequest { name: network_case.name.clone() }).await.unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);
    // A case that does not exist is no different to a confined caller: nothing leaks.
    let status = billing.get_case(GetCaseRequest { name: "cases/missing".into() }).await.unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);
    let status = billing
        .resolve_case(ResolveCaseRequest {
            name: network_case.name.clone(),
            resolution: "not ours".into(),
            request_id: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);
    let unchanged = t.recovery().get_case(GetCaseRequest { name: network_case.name.clone() }).await.unwrap();
    assert_eq!(unchanged.into_inner().status, CaseStatus::Dispatched as i32);

    t.accept(&network_case.name, "dept-network").await;
    let resolved = t
        .recovery_as("dept-network")
        .resolve_case(ResolveCaseRequest {
            name: network_case.name.clone(),
            resolution: "新建基站覆盖".into(),
            request_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(resolved.status, CaseStatus::Resolved as i32);
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_department_reads_only_its_own_work_orders_and_customers_in_intake() {
    use csm_proto::intake::v1::{GetCustomerRequest, GetWorkOrderRequest, ListWorkOrdersRequest};

    let t = TestSystem::start().await;
    let mut intake = t.intake();
    let billing_order = intake
        .submit_contact(complaint("13800138000", "这个月话费多扣了"))
        .await
        .unwrap()
        .into_inner()
        .work_order
        .unwrap();
    let network_order =
        intake.submit_contact(complaint("13900139000", "家里没信号")).await.unwrap().into_inner().work_order.unwrap();
    t.dispatched_cases(2).await;
    let mut billing = t.intake_as("dept-billing");
    // Intake learns each order's department from classification's feed.
    crate::support::eventually(
        "intake to learn the billing order's department",
        std::time::Duration::from_secs(20),
        || {
            let mut billing = billing.clone();
            let name = billing_order.name.clone();
            async move { billing.get_work_order(GetWorkOrderRequest { name }).await.ok() }
        },
    )
    .await;

    for name in [network_order.name.clone(), "workOrders/missing".into()] {
        let status = billing.get_work_order(GetWorkOrderRequest { name: name.clone() }).await.unwrap_err();
        assert_eq!(status.code(), Code::PermissionDenied, "{name}");
    }
    let listed = billing.list_work_orders(ListWorkOrdersRequest::default()).await.unwrap().into_inner().work_orders;
    assert_eq!(listed.iter().map(|o| o.name.as_str()).collect::<Vec<_>>(), [billing_order.name.as_str()]);
    let own = GetCustomerRequest { phone_number: "13800138000".into(), ..Default::default() };
    assert_eq!(billing.get_customer(own).await.unwrap().into_inner().phone_number, "13800138000");
    for phone in ["13900139000", "13700137000"] {
        let other = GetCustomerRequest { phone_number: phone.into(), ..Default::default() };
        let status = billing.get_customer(other).await.unwrap_err();
        assert_eq!(status.code(), Code::PermissionDenied, "{phone}");
    }
    // Wider roles see every department's orders.
    let all = t.intake_as("agent").list_work_orders(ListWorkOrdersRequest::default()).await.unwrap().into_inner();
    assert_eq!(all.work_orders.len(), 2);
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_department_lists_only_the_high_frequency_complainants_it_has_orders_of() {
    use csm_proto::intake::v1::ListHighFrequencyComplainantsRequest;

    let t = TestSystem::start().await;
    let mut intake = t.intake();
    // Three complaints within seven days make each a high-frequency complainant.
    for days_ago in [5.0, 3.0, 1.0] {
        intake.submit_contact(complaint_days_ago("13800138000", "这个月话费多扣了", days_ago)).await.unwrap();
        intake.submit_contact(complaint_days_ago("13900139000", "家里没信号", days_ago)).await.unwrap();
    }
    let listed = |subject: &'static str| {
        let mut client = t.intake_as(subject);
        async move {
            let response = client
                .list_high_frequency_complainants(ListHighFrequencyComplainantsRequest::default())
                .await
                .unwrap()
                .into_inner();
            let mut phones: Vec<String> = response.complainants.into_iter().map(|c| c.phone_number).collect();
            phones.sort();
            phones
        }
    };
    assert_eq!(listed("agent").await, ["13800138000", "13900139000"]);
    // Intake learns each order's department from classification's feed.
    crate::support::eventually(
        "intake to learn the billing orders' department",
        std::time::Duration::from_secs(20),
        || async { listed("dept-billing").await.contains(&"13800138000".to_string()).then_some(()) },
    )
    .await;
    assert_eq!(listed("dept-billing").await, ["13800138000"], "only the customer of billing's orders");
    crate::support::eventually(
        "intake to learn the network orders' department",
        std::time::Duration::from_secs(20),
        || async { listed("dept-network").await.contains(&"13900139000".to_string()).then_some(()) },
    )
    .await;
    assert_eq!(listed("dept-network").await, ["13900139000"]);
    assert!(listed("dept-marketing").await.is_empty(), "a department with no orders sees no one");
    t.stop().await;
}
