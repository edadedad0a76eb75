//! What platform teams rely on: reflection for stock tools, health for probes, and a graceful
//! shutdown that drains before it stops.

use std::time::Duration;

use csm_cli::{clients, system::url};
use csm_kit::config::{CommonSettings, DatabaseSettings, ServerSettings};
use csm_proto::feed::v1::SubscribeRequest;
use tokio_stream::StreamExt;
use tonic_health::pb::{HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient};
use tonic_reflection::pb::v1::{
    ServerReflectionRequest, server_reflection_client::ServerReflectionClient,
    server_reflection_request::MessageRequest, server_reflection_response::MessageResponse,
};

use crate::support::{Backend, TestSystem, complaint, tokens};

/// One reflection request on `address`, its one answer.
async fn reflect(address: std::net::SocketAddr, request: MessageRequest) -> MessageResponse {
    let channel = csm_kit::client::channel(&url(address)).unwrap();
    let request = ServerReflectionRequest { host: String::new(), message_request: Some(request) };
    let mut responses = ServerReflectionClient::new(channel)
        .server_reflection_info(tokio_stream::once(request))
        .await
        .unwrap()
        .into_inner();
    responses.next().await.unwrap().unwrap().message_response.expect("an answer")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reflection_lists_only_the_services_of_its_port_and_carries_the_error_details() {
    let t = TestSystem::start().await;
    let a = t.system.addresses;
    for (address, expected) in [
        (a.intake, "csm.intake.v1.IntakeService"),
        (a.classification, "csm.classification.v1.ClassificationService"),
        (a.recovery, "csm.recovery.v1.RecoveryService"),
        (a.measurement, "csm.measurement.v1.MeasurementService"),
    ] {
        let MessageResponse::ListServicesResponse(list) =
            reflect(address, MessageRequest::ListServices(String::new())).await
        else {
            panic!("unexpected reflection answer");
        };
        let mut names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
        names.sort();
        let mut wanted = vec![
            expected,
            "csm.feed.v1.Feed",
            "grpc.health.v1.Health",
            "grpc.reflection.v1.ServerReflection",
            "grpc.reflection.v1alpha.ServerReflection",
        ];
        wanted.sort();
        assert_eq!(names, wanted, "only what this port serves");
        // Stock tools can show the rich details of an error.
        let found = reflect(address, MessageRequest::FileContainingSymbol("google.rpc.BadRequest".into())).await;
        assert!(
            matches!(found, MessageResponse::FileDescriptorResponse(ref files) if !files.file_descriptor_proto.is_empty()),
            "{found:?}"
        );
    }
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_reports_not_serving_drains_then_ends_subscriptions() {
    let backend = Backend::from_env();
    let (tokens, auth) = tokens();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let config = csm_intake::Config {
        common: CommonSettings {
            server: ServerSettings { drain_delay: Duration::from_millis(600), ..ServerSettings::default() },
            database: DatabaseSettings {
                url: backend.url("intake"),
                max_connections: 2,
                ..DatabaseSettings::default()
            },
            auth,
            ..CommonSettings::default()
        },
        ..Default::default()
    };
    let (trigger, shutdown) = tokio::sync::oneshot::channel::<()>();
    let service = tokio::spawn(csm_intake::run(config, listener, async move {
        let _ = shutdown.await;
    }));

    let mut intake = clients::intake(address, tokens.of("channel-gateway").unwrap()).unwrap();
    intake.submit_contact(complaint("13800138000", "话费多扣")).await.unwrap();
    let mut subscription = clients::feed(address, tokens.service())
        .unwrap()
        .subscribe(SubscribeRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(subscription.message().await.unwrap().unwrap().sequence, 1);

    let mut health = HealthClient::new(csm_kit::client::channel(&url(address)).unwrap());
    let check = HealthCheckRequest { service: String::new() };
    assert_eq!(health.check(check.clone()).await.unwrap().into_inner().status, ServingStatus::Serving as i32);
    trigger.send(()).unwrap();
    tokio::time::sleep(Duration::from_millis(150)).await;

    // Draining: probes see NOT_SERVING while calls are still served.
    assert_eq!(health.check(check).await.unwrap().into_inner().status, ServingStatus::NotServing as i32);
    intake.submit_contact(complaint("13800138000", "宽带断网")).await.expect("served while draining");
    assert_eq!(subscription.message().await.unwrap().unwrap().sequence, 2);

    // Then the service stops; open subscriptions end instead of holding it up.
    let ended = tokio::time::timeout(Duration::from_secs(10), async {
        while let Ok(Some(_)) = subscription.message().await {}
    })
    .await;
    assert!(ended.is_ok(), "subscription ends on shutdown");
    let outcome = tokio::time::timeout(Duration::from_secs(10), service).await;
    outcome.expect("stops in time").unwrap().expect("stops cleanly");
    backend.cleanup().await;
}
