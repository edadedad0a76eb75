use http::{Request, Response};
use sha2::{Digest, Sha256};
use tower::{Layer, Service};

use super::*;

fn settings(token: &str, roles: Vec<Role>, department: Option<&str>) -> AuthSettings {
    AuthSettings {
        tokens: vec![TokenSettings {
            token: Some(token.into()),
            token_sha256: None,
            subject: "caller".into(),
            roles,
            department: department.map(str::to_string),
        }],
        ..AuthSettings::default()
    }
}

fn bearer(token: &str) -> http::HeaderValue {
    http::HeaderValue::from_str(&format!("Bearer {token}")).unwrap()
}

#[test]
fn known_token_authenticates_and_unknown_does_not() {
    let auth = Authenticator::from_settings(&settings("s3cret", vec![Role::Agent], None)).unwrap();
    assert_eq!(auth.authenticate(Some(&bearer("s3cret"))).unwrap().subject, "caller");
    let refused = auth.authenticate(Some(&bearer("other"))).unwrap_err();
    assert_eq!(refused.code(), tonic::Code::Unauthenticated);
    assert_eq!(auth.authenticate(None).unwrap_err().code(), tonic::Code::Unauthenticated);
}

#[test]
fn digest_form_matches_the_clear_token() {
    let hex = hex::encode(Sha256::digest(b"s3cret"));
    let mut config = settings("unused", vec![Role::Agent], None);
    config.tokens[0].token = None;
    config.tokens[0].token_sha256 = Some(hex);
    let auth = Authenticator::from_settings(&config).unwrap();
    assert!(auth.authenticate(Some(&bearer("s3cret"))).is_ok());
}

/// A digest must be 64 hex digits, of either case; anything else is refused at start-up, naming
/// the token's subject, rather than matching no token at all.
#[test]
fn a_digest_that_is_not_64_hex_digits_is_refused() {
    let digest = hex::encode(Sha256::digest(b"s3cret"));
    let upper = digest.to_uppercase();
    let signed = format!("+f{}", &digest[2..]);
    let short = digest[..62].to_string();
    let spaced = format!(" {}", &digest[1..]);
    for (given, accepted) in [(upper, true), (signed, false), (short, false), (spaced, false)] {
        let mut config = settings("unused", vec![Role::Agent], None);
        config.tokens[0].token = None;
        config.tokens[0].token_sha256 = Some(given.clone());
        let built = Authenticator::from_settings(&config);
        assert_eq!(built.is_ok(), accepted, "token_sha256 {given:?}");
        if let Err(error) = built {
            assert!(error.to_string().contains("64 hex digits"), "{error}");
        }
    }
}

#[test]
fn department_role_requires_a_department() {
    let error = Authenticator::from_settings(&settings("t", vec![Role::Department], None)).unwrap_err();
    assert!(matches!(error, AuthConfigError::MissingDepartment { .. }));
}

#[test]
fn policy_denies_roles_not_listed_and_methods_not_declared() {
    let policy = Policy::new().allow("a.B", "Do", &[Role::Agent]);
    let agent = Principal { subject: "x".into(), roles: vec![Role::Agent], department: None };
    let analyst = Principal { subject: "y".into(), roles: vec![Role::Analyst], department: None };
    assert!(policy.check("/a.B/Do", &agent).is_ok());
    assert_eq!(policy.check("/a.B/Do", &analyst).unwrap_err().code(), tonic::Code::PermissionDenied);
    assert_eq!(policy.check("/a.B/Other", &agent).unwrap_err().code(), tonic::Code::PermissionDenied);
}

#[test]
fn verify_names_uncovered_methods() {
    let policy = Policy::new().allow_feed();
    assert!(policy.verify(csm_proto::FILE_DESCRIPTOR_SET, &["csm.feed.v1.Feed"]).is_ok());
    let missing = policy.verify(csm_proto::FILE_DESCRIPTOR_SET, &["csm.intake.v1.IntakeService"]).unwrap_err();
    assert!(missing.contains("/csm.intake.v1.IntakeService/SubmitContact"), "{missing}");
}

/// What a call through the auth layer wrote to the audit log.
async fn audit_log_of(policy: &Policy, auth: &Authenticator, path: &str, token: &str) -> String {
    use std::sync::Mutex;

    #[derive(Clone, Default)]
    struct Capture(Arc<Mutex<Vec<u8>>>);
    impl std::io::Write for Capture {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let capture = Capture::default();
    let writer = capture.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_env_filter("csm::audit=info")
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let _default = tracing::subscriber::set_default(subscriber);
    let inner = tower::service_fn(|_: Request<()>| async { Ok::<_, std::convert::Infallible>(Response::new(())) });
    let mut service = AuthLayer::new(auth.clone(), policy.clone()).layer(inner);
    let request = Request::builder().uri(path).header("authorization", format!("Bearer {token}")).body(()).unwrap();
    service.call(request).await.unwrap();
    String::from_utf8(capture.0.lock().unwrap().clone()).unwrap()
}

#[tokio::test(flavor = "current_thread")]
async fn administrative_calls_are_written_to_the_audit_log_served_or_refused() {
    let policy = Policy::new().audit("a.B", "Publish", &[Role::Administrator]).allow("a.B", "Read", &[Role::Agent]);
    let mut config = settings("admin-token", vec![Role::Administrator], None);
    config.tokens.push(TokenSettings {
        token: Some("agent-token".into()),
        subject: "agent-7".into(),
        roles: vec![Role::Agent],
        ..TokenSettings::default()
    });
    let auth = Authenticator::from_settings(&config).unwrap();

    let served = audit_log_of(&policy, &auth, "/a.B/Publish", "admin-token").await;
    assert!(served.contains("method=\"/a.B/Publish\"") && served.contains("subject=caller"), "{served}");
    assert!(served.contains("outcome=\"Ok\""), "{served}");
    let refused = audit_log_of(&policy, &auth, "/a.B/Publish", "agent-token").await;
    assert!(refused.contains("PermissionDenied"), "{refused}");
    let unaudited = audit_log_of(&policy, &auth, "/a.B/Read", "agent-token").await;
    assert!(unaudited.is_empty(), "{unaudited}");
}
