//! `csm tokens create`: a tokens file the services start with and whose tokens they accept.

use csm_cli::output::Outcome;

use super::offline;
use crate::support::TestSystem;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn created_tokens_are_accepted_by_the_services() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("deploy/tokens.toml");
    let path = file.to_str().unwrap().to_string();
    let create = |args: &[&str]| {
        let argv = ["csm", "tokens", "create"].iter().chain(args).map(|s| s.to_string()).collect();
        offline(argv)
    };
    let (result, out) = create(&[
        "--subject",
        "billing-desk",
        "--role",
        "department",
        "--department",
        "billing",
        "--file",
        &path,
        "--hashed",
        "--json",
    ])
    .await;
    assert_eq!(result.unwrap(), Outcome::Done);
    let created: serde_json::Value = serde_json::from_str(&out).unwrap();
    let billing = created["token"].as_str().unwrap().to_string();
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(text.contains("token_sha256") && !text.contains(&billing), "only the digest is kept: {text}");

    let (result, _) = create(&["--subject", "bi-analyst", "--role", "analyst", "--file", &path]).await;
    assert_eq!(result.unwrap(), Outcome::Done);
    let (result, _) = create(&["--subject", "bi-analyst", "--role", "analyst", "--file", &path]).await;
    assert!(result.unwrap_err().to_string().contains("--replace"));
    let (result, _) = create(&["--subject", "nobody", "--role", "department", "--file", &path]).await;
    assert!(result.unwrap_err().to_string().contains("department"), "a department token needs its department");

    // The services start with the file, and take its tokens: the clear one through --tokens/--as.
    let t = TestSystem::start_with(|spec| spec.auth.tokens_file = Some(file.clone())).await;
    let a = t.system.addresses;
    let recovery = a.recovery.to_string();
    let argv =
        ["csm", "cases", "list", "--address", &a.intake.to_string(), "--recovery", &recovery, "--token", &billing];
    let (result, out) = offline(argv.iter().map(|s| s.to_string()).collect()).await;
    assert_eq!(result.unwrap(), Outcome::Done, "{out}");
    let measurement = a.measurement.to_string();
    let argv = [
        "csm",
        "report",
        "export",
        "--period",
        "2026-11",
        "--out",
        dir.path().to_str().unwrap(),
        "--address",
        &a.intake.to_string(),
        "--measurement",
        &measurement,
        "--tokens",
        &path,
        "--as",
        "bi-analyst",
    ];
    let (result, out) = offline(argv.iter().map(|s| s.to_string()).collect()).await;
    assert_eq!(result.unwrap(), Outcome::Done, "{out}");
    t.stop().await;
}
