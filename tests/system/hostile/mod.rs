//! Hostile callers: bytes that are no message, methods a port does not serve, boundary values in
//! every field. Every refusal is the caller's mistake with the right code, never INTERNAL, UNKNOWN
//! or CANCELLED, and the service stays healthy.

mod boundaries;

use std::net::SocketAddr;

use bytes::{Buf, BufMut};
use csm_cli::system::url;
use csm_kit::{Role, config::TokenSettings};
use csm_proto::feed::v1::SubscribeRequest;
use prost::Message;
use tonic::{
    Code, Request, Status,
    codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder},
    metadata::MetadataValue,
    transport::Channel,
};
use tonic_health::pb::{HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient};

use crate::support::TestSystem;

/// A caller with every role, so that no refusal below is about permissions.
const EVERY_ROLE: &str = "every-role-token";

/// Sends and receives bytes as they are, whatever the method expects.
#[derive(Debug, Clone, Default)]
struct Raw;

impl Codec for Raw {
    type Encode = Vec<u8>;
    type Decode = Vec<u8>;
    type Encoder = Raw;
    type Decoder = Raw;

    fn encoder(&mut self) -> Raw {
        Raw
    }

    fn decoder(&mut self) -> Raw {
        Raw
    }
}

impl Encoder for Raw {
    type Item = Vec<u8>;
    type Error = Status;

    fn encode(&mut self, item: Vec<u8>, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        dst.put_slice(&item);
        Ok(())
    }
}

impl Decoder for Raw {
    type Item = Vec<u8>;
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Vec<u8>>, Status> {
        let bytes = src.copy_to_bytes(src.remaining());
        Ok(Some(bytes.to_vec()))
    }
}

async fn call_raw(address: SocketAddr, path: &str, token: &str, body: Vec<u8>) -> Result<Vec<u8>, Status> {
    let channel = tonic::transport::Endpoint::from_shared(url(address)).unwrap().connect().await.unwrap();
    call_on(channel, path, token, body).await
}

/// One call of `path` with `body` as its encoded request, over a channel the caller keeps.
async fn call_on(channel: Channel, path: &str, token: &str, body: Vec<u8>) -> Result<Vec<u8>, Status> {
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready().await.unwrap();
    let mut request = Request::new(body);
    if !token.is_empty() {
        request.metadata_mut().insert("authorization", MetadataValue::try_from(format!("Bearer {token}")).unwrap());
    }
    grpc.unary(request, path.parse().unwrap(), Raw).await.map(tonic::Response::into_inner)
}

/// Every unary method of the contracts, as `(package, path)`.
fn unary_methods() -> Vec<(String, String)> {
    let set = prost_types::FileDescriptorSet::decode(csm_proto::FILE_DESCRIPTOR_SET).unwrap();
    let mut methods = Vec::new();
    for file in &set.file {
        let package = file.package();
        for service in &file.service {
            for method in &service.method {
                if !method.client_streaming() && !method.server_streaming() {
                    methods.push((package.to_string(), format!("/{package}.{}/{}", service.name(), method.name())));
                }
            }
        }
    }
    methods
}

async fn start() -> TestSystem {
    TestSystem::start_with(|spec| {
        spec.auth.tokens.push(TokenSettings {
            token: Some(EVERY_ROLE.into()),
            subject: "every-role".into(),
            roles: vec![
                Role::Administrator,
                Role::Service,
                Role::ChannelSystem,
                Role::Agent,
                Role::Analyst,
                Role::Supervisor,
                Role::Department,
            ],
            department: Some("billing".into()),
            ..TokenSettings::default()
        });
    })
    .await
}

fn addresses_for(t: &TestSystem, package: &str) -> Vec<SocketAddr> {
    let a = t.system.addresses;
    match package {
        "csm.intake.v1" => vec![a.intake],
        "csm.classification.v1" => vec![a.classification],
        "csm.recovery.v1" => vec![a.recovery],
        "csm.measurement.v1" => vec![a.measurement],
        _ => vec![a.intake, a.classification, a.recovery, a.measurement],
    }
}

async fn assert_healthy(t: &TestSystem) {
    let a = t.system.addresses;
    for address in [a.intake, a.classification, a.recovery, a.measurement] {
        let channel = csm_kit::client::channel(&url(address)).unwrap();
        let health = HealthClient::new(channel).check(HealthCheckRequest::default()).await.unwrap().into_inner();
        assert_eq!(health.status, ServingStatus::Serving as i32, "{address} healthy");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bytes_that_are_no_message_are_invalid_argument_on_every_method() {
    let t = start().await;
    // Field 1 with wire type 7, which does not exist; then a length running past the end.
    let garbage: [&[u8]; 2] = [&[0x0f, 0xff, 0x01], &[0x0a, 0xff, 0xff, 0x03, 0x41]];
    let methods = unary_methods();
    assert!(methods.len() > 60, "{} unary methods", methods.len());
    for (package, path) in &methods {
        for address in addresses_for(&t, package) {
            for body in garbage {
                let status = call_raw(address, path, EVERY_ROLE, body.to_vec()).await.unwrap_err();
                assert_eq!(status.code(), Code::InvalidArgument, "{path} on {address}: {status:?}");
            }
        }
    }
    assert_healthy(&t).await;
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_method_a_port_does_not_serve_is_unimplemented_with_or_without_a_token() {
    let t = start().await;
    let a = t.system.addresses;
    let elsewhere = [
        (a.recovery, "/csm.intake.v1.IntakeService/SubmitContact"),
        (a.intake, "/csm.recovery.v1.RecoveryService/ListCases"),
        (a.intake, "/csm.intake.v1.IntakeService/NoSuchMethod"),
        (a.measurement, "/no.such.Service/Call"),
    ];
    for (address, path) in elsewhere {
        for token in [EVERY_ROLE, "", "not-a-token"] {
            let status = call_raw(address, path, token, Vec::new()).await.unwrap_err();
            assert_eq!(status.code(), Code::Unimplemented, "{path} on {address} with {token:?}: {status:?}");
        }
    }
    assert_healthy(&t).await;
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscriptions_are_bounded_and_subscribers_beyond_the_cap_are_turned_away() {
    let desk = crate::support::desk::Desk::start_with(|config| config.common.feed.max_subscribers = 2).await;
    let mut feed = desk.feed();
    let subscribe = |event_types: Vec<String>| SubscribeRequest { after_sequence: 0, event_types };

    let many: Vec<String> = (0..40_001).map(|i| format!("csm.intake.v1.Event{i}")).collect();
    let refused = feed.subscribe(subscribe(many)).await.unwrap_err();
    assert_eq!(refused.code(), Code::InvalidArgument, "{refused:?}");
    assert!(refused.message().contains("event_types"), "{}", refused.message());
    let refused = feed.subscribe(subscribe(vec!["not a type; DROP TABLE".into()])).await.unwrap_err();
    assert_eq!(refused.code(), Code::InvalidArgument, "{refused:?}");

    let first = feed.subscribe(subscribe(Vec::new())).await.unwrap();
    let _second = feed.subscribe(subscribe(Vec::new())).await.unwrap();
    let refused = feed.subscribe(subscribe(Vec::new())).await.unwrap_err();
    assert_eq!(refused.code(), Code::ResourceExhausted, "{refused:?}");
    // A subscriber that leaves makes room for the next.
    drop(first);
    crate::support::eventually("a subscription slot to free", std::time::Duration::from_secs(10), || {
        let mut feed = feed.clone();
        async move { feed.subscribe(subscribe(Vec::new())).await.ok() }
    })
    .await;
    desk.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_message_is_refused_from_its_prefix_except_where_bulk_data_is_the_point() {
    use csm_proto::classification::v1::{
        ClassifyRequest, CreateTrainingJobRequest, LabelledText, TrainTextModelsRequest, create_training_job_request,
    };
    let t = start().await;
    let mut classification = csm_cli::clients::classification(t.system.addresses.classification, EVERY_ROLE).unwrap();
    // Two MiB of text to a method that reads one complaint.
    let huge = "话费".repeat(2 * 1024 * 1024 / 6);
    let refused =
        classification.classify(ClassifyRequest { text: huge.clone(), ..Default::default() }).await.unwrap_err();
    assert_eq!(refused.code(), Code::ResourceExhausted, "{refused:?}");
    // The same amount as a training set is what CreateTrainingJob is for.
    let examples: Vec<LabelledText> = (0..40_000)
        .map(|i| LabelledText {
            text: format!("宽带又断网了第{i}次，师傅一直没来修，请尽快处理"),
            leaves: [("cause".to_string(), "system.broadband_fault".to_string())].into(),
        })
        .collect();
    let training =
        create_training_job_request::Training::TextModels(TrainTextModelsRequest { examples, ..Default::default() });
    let request = CreateTrainingJobRequest { training: Some(training), collect_examples: true, ..Default::default() };
    assert!(request.encoded_len() > 4 * 1024 * 1024, "{} bytes", request.encoded_len());
    let answer = classification.create_training_job(request).await;
    assert!(!matches!(&answer, Err(status) if status.code() == Code::ResourceExhausted), "{answer:?}");
    assert_healthy(&t).await;
    t.stop().await;
}
