//! Mutual TLS: with a client CA configured, a service serves only callers presenting a certificate
//! that CA signed, services follow each other's feeds over it, a rotated server certificate is
//! picked up from its files without a restart, and probes reach health on a plain port of its own.

use std::{net::SocketAddr, path::Path, time::Duration};

use csm_cli::clients::Authenticated;
use csm_cli::system::url;
use csm_kit::{
    client::{CallerInterceptor, channel_with_tls},
    config::{CommonSettings, DatabaseSettings, ServerSettings, UpstreamSettings},
    tls::{ClientTlsSettings, ServerTlsSettings},
};
use csm_proto::{
    classification::v1::WorkOrderClassified, feed::v1::feed_client::FeedClient,
    intake::v1::intake_service_client::IntakeServiceClient,
};
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
use tokio_util::sync::CancellationToken;
use tonic::service::interceptor::InterceptedService;
use tonic_health::pb::{HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient};

use crate::support::{Backend, complaint, config_problems, eventually, feed_head, quick_feed, read_feed, tokens};

/// A certificate authority that signs server and client certificates.
struct Authority {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

impl Authority {
    fn new(name: &str) -> Self {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        Self { issuer: CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap() }
    }

    /// Writes `<name>.crt` and `<name>.key` for `name`, valid for localhost, signed by this CA.
    fn issue(&self, dir: &Path, name: &str) {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(vec!["localhost".to_string()]).unwrap();
        params.distinguished_name.push(DnType::CommonName, name);
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        std::fs::write(dir.join(format!("{name}.crt")), cert.pem()).unwrap();
        std::fs::write(dir.join(format!("{name}.key")), key.serialize_pem()).unwrap();
    }

    fn write(&self, path: &Path) {
        std::fs::write(path, self.issuer.pem()).unwrap();
    }
}

fn client_tls(dir: &Path, ca: &str, identity: Option<&str>) -> ClientTlsSettings {
    ClientTlsSettings {
        ca_file: Some(dir.join(ca)),
        cert_file: identity.map(|name| dir.join(format!("{name}.crt"))),
        key_file: identity.map(|name| dir.join(format!("{name}.key"))),
        domain: Some("localhost".into()),
    }
}

fn authenticated(address: SocketAddr, tls: &ClientTlsSettings, token: &str) -> Authenticated {
    let channel = channel_with_tls(&format!("https://{address}"), tls).unwrap();
    InterceptedService::new(channel, CallerInterceptor::new(token).unwrap())
}

fn intake_client(address: SocketAddr, tls: &ClientTlsSettings, token: &str) -> IntakeServiceClient<Authenticated> {
    IntakeServiceClient::new(authenticated(address, tls, token))
}

fn feed_client(address: SocketAddr, tls: &ClientTlsSettings, token: &str) -> FeedClient<Authenticated> {
    FeedClient::new(authenticated(address, tls, token))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_callers_with_a_certificate_from_the_client_ca_are_served() {
    let backend = Backend::from_env();
    let (tokens, auth) = tokens();
    let certs = tempfile::tempdir().unwrap();
    let dir = certs.path();
    let (ca, stranger) = (Authority::new("csm test CA"), Authority::new("someone else's CA"));
    ca.write(&dir.join("ca.crt"));
    stranger.write(&dir.join("stranger-ca.crt"));
    for name in ["intake", "classification", "gateway"] {
        ca.issue(dir, name);
    }
    stranger.issue(dir, "impostor");

    let server_tls = |name: &str| ServerTlsSettings {
        cert_file: Some(dir.join(format!("{name}.crt"))),
        key_file: Some(dir.join(format!("{name}.key"))),
        client_ca_file: Some(dir.join("ca.crt")),
        reload_interval: Duration::from_millis(100),
    };
    let common = |service: &str| CommonSettings {
        server: ServerSettings { tls: server_tls(service), ..ServerSettings::default() },
        database: DatabaseSettings { url: backend.url(service), max_connections: 4, ..DatabaseSettings::default() },
        auth: auth.clone(),
        feed: quick_feed(),
        client_tls: client_tls(dir, "ca.crt", Some(service)),
        ..CommonSettings::default()
    };
    let stop = CancellationToken::new();
    let intake_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let intake = intake_listener.local_addr().unwrap();
    // Kubernetes probes reach the health service in plain text on a port of its own.
    let health = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let mut intake_common = common("intake");
    intake_common.server.health_listen = Some(health);
    let intake_config = csm_intake::Config { common: intake_common, ..Default::default() };
    let intake_task = tokio::spawn(csm_intake::run(intake_config, intake_listener, stop.clone().cancelled_owned()));
    let classification_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let classification = classification_listener.local_addr().unwrap();
    let classification_config = csm_classification::Config {
        common: common("classification"),
        upstream: csm_classification::config::Upstreams {
            intake: UpstreamSettings::new(format!("https://{intake}"), tokens.service()),
            recovery: UpstreamSettings::new("", ""),
        },
        ..Default::default()
    };
    crate::support::keep_starter_models();
    let classification_task = tokio::spawn(csm_classification::run(
        classification_config,
        classification_listener,
        stop.clone().cancelled_owned(),
    ));

    // A caller with a certificate from the CA is served, and classification follows intake's
    // feed over mutual TLS.
    let gateway = tokens.of("channel-gateway").unwrap();
    let mut trusted = intake_client(intake, &client_tls(dir, "ca.crt", Some("gateway")), gateway);
    let mut first = None;
    for _ in 0..100 {
        match trusted.submit_contact(complaint("13800000001", "宽带断网")).await {
            Ok(response) => {
                first = Some(response.into_inner());
                break;
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
    assert!(first.is_some(), "a caller with a valid certificate is served");
    let mut classified =
        feed_client(classification, &client_tls(dir, "ca.crt", Some("gateway")), tokens.administrator());
    let events = read_feed::<WorkOrderClassified>(&mut classified, 1).await;
    assert_eq!(events.len(), 1, "classified through a feed followed over mutual TLS");

    let mut probe = HealthClient::new(csm_kit::client::channel(&url(health)).unwrap());
    let status = probe.check(HealthCheckRequest { service: String::new() }).await.unwrap().into_inner().status;
    assert_eq!(status, ServingStatus::Serving as i32, "the probe port answers health checks without TLS");
    let api_on_probe_port =
        csm_cli::clients::intake(health, gateway).unwrap().submit_contact(complaint("13800000009", "x")).await;
    assert_eq!(api_on_probe_port.unwrap_err().code(), tonic::Code::Unimplemented, "and nothing else");

    // Without a certificate, with one from another CA, or in clear text: refused, whatever the
    // token.
    for (what, tls) in [
        ("no certificate", client_tls(dir, "ca.crt", None)),
        ("a certificate from another CA", client_tls(dir, "ca.crt", Some("impostor"))),
    ] {
        let refused = intake_client(intake, &tls, gateway).submit_contact(complaint("13800000002", "话费多扣了")).await;
        assert!(refused.is_err(), "a caller with {what} is refused");
    }
    let plain = csm_cli::clients::intake(intake, gateway).unwrap().submit_contact(complaint("13800000003", "x")).await;
    assert!(plain.is_err(), "a caller without TLS is refused");

    // The server certificate is rotated to one from a new CA: new connections get it, without a
    // restart.
    let next = Authority::new("csm next CA");
    next.write(&dir.join("next-ca.crt"));
    next.issue(dir, "intake");
    let rotated =
        eventually("the rotated certificate", Duration::from_secs(10), || {
            let tls = client_tls(dir, "next-ca.crt", Some("gateway"));
            async move {
                intake_client(intake, &tls, gateway).submit_contact(complaint("13800000004", "信号差")).await.ok()
            }
        })
        .await;
    assert!(rotated.into_inner().work_order.is_some());
    let old = intake_client(intake, &client_tls(dir, "ca.crt", Some("gateway")), gateway)
        .submit_contact(complaint("13800000005", "信号差"))
        .await;
    assert!(old.is_err(), "a caller trusting only the old CA no longer accepts intake's certificate");
    // Only the two contacts of callers that were served were recorded (a contact and its work
    // order each on intake's feed).
    let mut intake_feed = feed_client(intake, &client_tls(dir, "next-ca.crt", Some("gateway")), tokens.administrator());
    assert_eq!(feed_head(&mut intake_feed).await, 4, "nothing from refused callers was stored");

    stop.cancel();
    intake_task.await.unwrap().unwrap();
    classification_task.await.unwrap().unwrap();
    backend.cleanup().await;
}

#[tokio::test]
async fn a_service_whose_certificate_cannot_be_read_does_not_start() {
    let backend = Backend::from_env();
    let missing = ServerTlsSettings {
        cert_file: Some("/nonexistent/tls.crt".into()),
        key_file: Some("/nonexistent/tls.key".into()),
        ..ServerTlsSettings::default()
    };
    let config = csm_intake::Config {
        common: CommonSettings {
            server: ServerSettings { tls: missing, ..ServerSettings::default() },
            database: DatabaseSettings { url: backend.url("intake"), ..DatabaseSettings::default() },
            auth: csm_kit::config::AuthSettings { development: true, ..Default::default() },
            ..CommonSettings::default()
        },
        ..Default::default()
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let error = csm_intake::run(config, listener, std::future::pending()).await.unwrap_err().to_string();
    assert!(error.contains("/nonexistent/tls.crt"), "{error}");
    backend.cleanup().await;
}

/// `check-config` finds what would keep a service from serving TLS before a rollout does: a file
/// not there, a key not the certificate's, and a key or client CA given without a certificate,
/// with which the service would otherwise have served in plain text.
#[test]
fn check_config_refuses_server_tls_the_service_could_not_serve_with() {
    let dir = tempfile::tempdir().unwrap();
    let authority = Authority::new("csm test CA");
    authority.issue(dir.path(), "intake");
    authority.issue(dir.path(), "other");
    authority.write(&dir.path().join("ca.crt"));
    let file = |name: &str| Some(dir.path().join(name));
    let problems = |tls: ServerTlsSettings| {
        let mut config = csm_intake::Config::default();
        config.common.auth.development = true;
        config.common.server.tls = tls;
        config_problems(&config)
    };
    let served = ServerTlsSettings {
        cert_file: file("intake.crt"),
        key_file: file("intake.key"),
        client_ca_file: file("ca.crt"),
        ..ServerTlsSettings::default()
    };
    assert_eq!(problems(served.clone()), "");
    assert_eq!(problems(ServerTlsSettings::default()), "");

    let shown = problems(ServerTlsSettings { cert_file: file("missing.crt"), ..served.clone() });
    assert!(shown.contains("server.tls: reading") && shown.contains("missing.crt"), "{shown}");
    let shown = problems(ServerTlsSettings { key_file: file("other.key"), ..served.clone() });
    assert!(shown.contains("server.tls:") && shown.contains("certificate and key"), "{shown}");
    let shown = problems(ServerTlsSettings { cert_file: None, ..served.clone() });
    assert!(shown.contains("server.tls:") && shown.contains("cert_file and key_file are both needed"), "{shown}");
    let shown = problems(ServerTlsSettings { client_ca_file: file("intake.key"), ..served });
    assert!(shown.contains("server.tls:") && shown.contains("intake.key"), "{shown}");
}
