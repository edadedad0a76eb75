//! The `csm-intake` program's command line, as an operator or a container runtime meets it.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::{Command, Output};

fn intake(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_csm-intake"));
    command.args(args).env_remove("CSM_CONFIG").env_remove("CSM_SHARED_CONFIG");
    for (key, value) in env {
        command.env(key, value);
    }
    command.output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn help_and_version_answer_and_exit_zero() {
    let help = intake(&["--help"], &[]);
    assert!(help.status.success());
    let help = text(&help.stdout);
    assert!(help.contains("--config <FILE>") && help.contains("check-config") && help.contains("--development"));
    let version = intake(&["--version"], &[]);
    assert!(version.status.success());
    assert_eq!(text(&version.stdout).trim(), format!("csm-intake {}", env!("CARGO_PKG_VERSION")));
}

#[test]
fn an_unknown_flag_is_refused_before_anything_starts() {
    let refused = intake(&["--listen", "0.0.0.0:50051"], &[]);
    assert_eq!(refused.status.code(), Some(2));
    assert!(text(&refused.stderr).contains("unexpected argument '--listen'"), "{}", text(&refused.stderr));
}

#[test]
fn check_config_prints_the_configuration_with_secrets_masked_or_names_the_problem() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("intake.toml");
    std::fs::write(&file, "[database]\nurl = \"postgres://csm:hunter2@db/csm_intake\"\n").unwrap();
    let file = file.to_str().unwrap();
    let shown = intake(&["--config", file, "check-config"], &[("CSM_UPSTREAM__CLASSIFICATION__TOKEN", "feed-1")]);
    // No tokens: refused, saying how to configure them.
    assert_eq!(shown.status.code(), Some(1));
    assert!(text(&shown.stderr).contains("auth.development = true"), "{}", text(&shown.stderr));

    let shown = intake(
        &["--config", file, "--development", "check-config", "--format", "json"],
        &[("CSM_UPSTREAM__CLASSIFICATION__TOKEN", "feed-1")],
    );
    assert!(shown.status.success(), "{}", text(&shown.stderr));
    let out = text(&shown.stdout);
    assert!(out.contains("postgres://csm:***@db/csm_intake") && out.contains("\"development\": true"), "{out}");
    assert!(!out.contains("hunter2") && !out.contains("feed-1"), "{out}");

    let refused = intake(&["--development", "check-config"], &[("CSM_SERVER__REQUEST_TIMEUOT", "5s")]);
    assert_eq!(refused.status.code(), Some(1));
    let error = text(&refused.stderr);
    assert!(error.contains("unknown key server.request_timeuot (in environment variable CSM_SERVER__REQUEST_TIMEUOT)"));
}

#[test]
fn check_config_refuses_intake_settings_the_service_would_refuse_to_start_with() {
    let refused = intake(
        &["--development", "check-config"],
        &[("CSM_INTAKE__WRITE_BATCH", "0"), ("CSM_INTAKE__HIGH_FREQUENCY__SWEEP_INTERVAL", "0s")],
    );
    assert_eq!(refused.status.code(), Some(1));
    let error = text(&refused.stderr);
    assert!(error.contains("intake.write_batch must be 1 to 16384, not 0"), "{error}");
    assert!(error.contains("intake.high_frequency.sweep_interval must be longer than 0s"), "{error}");
    assert!(refused.stdout.is_empty(), "nothing shown as in force");

    let accepted = intake(&["--development", "check-config"], &[("CSM_INTAKE__WRITE_BATCH", "1")]);
    assert!(accepted.status.success(), "{}", text(&accepted.stderr));
    assert!(text(&accepted.stdout).contains("write_batch = 1"), "{}", text(&accepted.stdout));
}
