//! A misconfigured service refuses to start, naming what is wrong: an unknown key or section, a
//! value it cannot read, an unreachable database, an address in use, a database file it cannot
//! open, no tokens without development mode; and the service binaries' shared command line.

use std::{
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use csm_kit::{
    RunError,
    args::{ServiceArgs, ServiceCommand},
    config::{self, CommonSettings, ConfigError, DatabaseSettings, Format},
};

use crate::support::{Backend, config_problems as problems, tokens};

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn intake_file(text: &str) -> Result<csm_intake::Config, ConfigError> {
    let dir = tempfile::tempdir().unwrap();
    config::load_files(None, Some(&write(dir.path(), "intake.toml", text)))
}

#[test]
fn unknown_keys_and_sections_are_refused_naming_them() {
    let error = intake_file("[server]\nrequest_timeuot = \"5s\"\n").unwrap_err().to_string();
    assert!(error.contains("unknown key server.request_timeuot"), "{error}");
    assert!(error.contains("intake.toml"), "the file is named: {error}");

    let error = intake_file("[servre]\nlisten = \"0.0.0.0:50051\"\n").unwrap_err().to_string();
    assert!(error.contains("unknown section [servre]"), "{error}");

    // A section of another service is unknown here too.
    let error = intake_file("[recovery]\nsweep_interval = \"1m\"\n").unwrap_err().to_string();
    assert!(error.contains("unknown section [recovery]"), "{error}");

    let error = intake_file("[intake.high_frequency]\nweek_complaint = 3\n").unwrap_err().to_string();
    assert!(error.contains("unknown key intake.high_frequency.week_complaint"), "{error}");

    // In the shared file, named as such.
    let dir = tempfile::tempdir().unwrap();
    let shared = write(dir.path(), "shared.toml", "[calendar]\ntimezone = \"Asia/Shanghai\"\n");
    let error = config::load_files::<csm_recovery::Config>(Some(&shared), None).unwrap_err().to_string();
    assert!(error.contains("unknown key calendar.timezone") && error.contains("shared.toml"), "{error}");
}

#[test]
fn a_value_that_cannot_be_read_names_its_key_and_value() {
    let error = intake_file("[server]\nrequest_timeout = \"10 sekunden\"\n").unwrap_err().to_string();
    assert!(error.contains("server.request_timeout = \"10 sekunden\""), "{error}");
    let error = intake_file("[intake]\nrepeat_window = \"a month\"\n").unwrap_err().to_string();
    assert!(error.contains("intake.repeat_window = \"a month\""), "{error}");
}

#[test]
fn the_shipped_kubernetes_files_load_with_each_service() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/k8s/base/config");
    let shared = root.join("shared.toml");
    let file = |service: &str| root.join(format!("{service}.toml"));
    // Each passes `check-config` too (its tokens come from a Secret, so development mode here).
    fn checked<C: config::ServiceConfig>(shared: &Path, file: &Path) -> C {
        let mut config: C = config::load_files(Some(shared), Some(file)).unwrap();
        config.common_mut().auth.development = true;
        assert_eq!(problems(&config), "", "{}", file.display());
        config
    }
    let intake: csm_intake::Config = checked(&shared, &file("intake"));
    assert_eq!(intake.common.server.drain_delay, Duration::from_secs(5));
    checked::<csm_classification::Config>(&shared, &file("classification"));
    checked::<csm_recovery::Config>(&shared, &file("recovery"));
    let measurement: csm_measurement::Config = checked(&shared, &file("measurement"));
    assert_eq!(measurement.common.calendar.time_zone, "Asia/Shanghai");
    checked::<csm_tmf::Config>(&shared, &file("tmf"));
}

/// Runs intake with `common` on a free port, stopping at once if it starts.
async fn start_intake(common: CommonSettings) -> Result<(), RunError> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let config = csm_intake::Config { common, ..Default::default() };
    csm_intake::run(config, listener, async {}).await
}

fn sqlite_common(dir: &Path) -> CommonSettings {
    CommonSettings { database: DatabaseSettings::sqlite(dir.join("intake.db")), ..CommonSettings::default() }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_postgresql_is_named_within_seconds() {
    let mut common = sqlite_common(Path::new("unused"));
    common.auth = tokens().1;
    common.database = DatabaseSettings {
        url: "postgres://csm:secret@127.0.0.1:1/csm_intake".into(),
        connect_timeout: Duration::from_secs(1),
        connect_attempts: 2,
        ..DatabaseSettings::default()
    };
    let started = Instant::now();
    let error = start_intake(common).await.unwrap_err().to_string();
    let took = started.elapsed();
    assert!(error.contains("PostgreSQL at 127.0.0.1:1") && error.contains("refused"), "{error}");
    assert!(!error.contains("secret"), "{error}");
    // Two attempts one second apart, not the pool's 30 s.
    assert!(took < Duration::from_secs(5), "took {took:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_file_that_cannot_be_opened_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let mut common = CommonSettings { auth: tokens().1, ..CommonSettings::default() };
    // A directory where the file should be.
    common.database = DatabaseSettings::sqlite(dir.path());
    let error = start_intake(common).await.unwrap_err().to_string();
    assert!(error.contains(&format!("opening SQLite database {}", dir.path().display())), "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_batch_outside_its_range_is_refused_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    for (batch, refused) in [(0, true), (1, false), (16_384, false), (16_385, true)] {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut config = csm_intake::Config { common: sqlite_common(dir.path()), ..Default::default() };
        config.common.auth = tokens().1;
        config.intake.write_batch = batch;
        let outcome = csm_intake::run(config, listener, async {}).await;
        match outcome {
            Err(error) if refused => {
                assert!(error.to_string().contains(&format!("intake.write_batch must be 1 to 16384, not {batch}")))
            }
            other => assert_eq!(other.is_err(), refused, "write_batch {batch}: {other:?}"),
        }
    }
}

/// `check-config` refuses what the service would refuse to start with, every problem named at
/// once, and takes the values at each edge of a range.
#[test]
fn check_config_refuses_each_setting_a_service_would_refuse() {
    let mut intake = csm_intake::Config::default();
    intake.common.auth.development = true;
    intake.intake.write_batch = 16_384;
    assert_eq!(problems(&intake), "");
    intake.intake.write_batch = 16_385;
    intake.intake.phone_pattern = "^1[3-9".into();
    intake.intake.high_frequency.sweep_interval = Duration::ZERO;
    intake.common.feed.read_batch = 0;
    intake.common.feed.poll_interval = Duration::ZERO;
    intake.common.server.request_timeout = Duration::ZERO;
    let shown = problems(&intake);
    for problem in [
        "server.request_timeout must be longer than 0s",
        "intake.write_batch must be 1 to 16384, not 16385",
        "intake.phone_pattern is not a valid pattern",
        "intake.high_frequency.sweep_interval must be longer than 0s",
        "feed.read_batch must be at least 1",
        "feed.poll_interval must be longer than 0s",
    ] {
        assert!(shown.contains(problem), "{problem} not in:\n{shown}");
    }

    // An upstream no reconnection would reach: a URL without its scheme, TLS from a file that is
    // not there, a token no header can carry. An empty URL follows nothing, as intake allows.
    let mut intake = csm_intake::Config::default();
    intake.common.auth.development = true;
    intake.upstream.classification.url = String::new();
    assert_eq!(problems(&intake), "");
    intake.upstream.classification.url = "classification:50052".into();
    intake.upstream.classification.token = "feed\ntoken".into();
    let shown = problems(&intake);
    for problem in [
        "upstream.classification.url must be http:// or https:// and a host, not \"classification:50052\"",
        "upstream.classification.token cannot be sent in a header",
    ] {
        assert!(shown.contains(problem), "{problem} not in:\n{shown}");
    }
    intake.upstream.classification = csm_kit::config::UpstreamSettings::new("https://classification:50052", "");
    intake.common.client_tls.ca_file = Some("/nowhere/ca.pem".into());
    let shown = problems(&intake);
    assert!(shown.contains("upstream.classification.tls:") && shown.contains("/nowhere/ca.pem"), "{shown}");

    let mut recovery = csm_recovery::Config::default();
    recovery.common.auth.development = true;
    recovery.recovery.detractors.likert_5_at_most = 5.0;
    assert_eq!(problems(&recovery), "");
    recovery.recovery.detractors.likert_5_at_most = 5.5;
    recovery.recovery.regulator.answer_within_days = 0;
    let shown = problems(&recovery);
    assert!(shown.contains("recovery.detractors.likert_5_at_most must be between 1 and 5, not 5.5"), "{shown}");
    assert!(shown.contains("recovery.regulator.answer_within_days must be 1 to 366"), "{shown}");

    let mut measurement = csm_measurement::Config::default();
    measurement.common.auth.development = true;
    assert_eq!(problems(&measurement), "");
    measurement.measurement.sweep_interval = Duration::ZERO;
    assert!(problems(&measurement).contains("measurement.sweep_interval must be longer than 0s"));

    let mut tmf = csm_tmf::Config::default();
    tmf.common.auth.development = true;
    tmf.tmf.default_limit = tmf.tmf.max_limit;
    assert_eq!(problems(&tmf), "");
    tmf.tmf.default_limit = tmf.tmf.max_limit + 1;
    tmf.tmf.delivery.poll_interval = Duration::ZERO;
    let shown = problems(&tmf);
    assert!(shown.contains("tmf.default_limit must be 1 to tmf.max_limit (1000), not 1001"), "{shown}");
    assert!(shown.contains("tmf.delivery.poll_interval must be longer than 0s"), "{shown}");
}

/// A setting no service could run with is refused before the database is opened (here one it
/// could not reach), by each service whose setting it is.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_setting_no_service_can_run_with_is_refused_at_start_naming_it() {
    let unreachable = DatabaseSettings {
        url: "postgres://csm@127.0.0.1:1/csm_test".into(),
        connect_timeout: Duration::from_secs(1),
        connect_attempts: 1,
        ..DatabaseSettings::default()
    };
    let listener = || async { tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap() };
    let common = CommonSettings { database: unreachable.clone(), auth: tokens().1, ..CommonSettings::default() };
    let refused = |outcome: Result<(), RunError>, problem: &str| {
        let error = outcome.unwrap_err().to_string();
        assert!(error.contains(problem) && !error.contains("127.0.0.1:1"), "{problem}: {error}");
    };

    let mut feed = common.clone();
    feed.feed.read_batch = 0;
    refused(start_intake(feed).await, "feed.read_batch must be at least 1");

    let mut classification = csm_classification::Config { common: common.clone(), ..Default::default() };
    classification.upstream.intake.url = "intake:50051".into();
    let outcome = csm_classification::run(classification, listener().await, async {}).await;
    refused(outcome, "upstream.intake.url must be http:// or https:// and a host");

    let mut recovery = csm_recovery::Config { common: common.clone(), ..Default::default() };
    recovery.recovery.sweep_interval = Duration::ZERO;
    let outcome = csm_recovery::run(recovery, listener().await, async {}).await;
    refused(outcome, "recovery.sweep_interval must be longer than 0s");

    let mut measurement = csm_measurement::Config { common: common.clone(), ..Default::default() };
    measurement.measurement.sweep_interval = Duration::ZERO;
    let outcome = csm_measurement::run(measurement, listener().await, async {}).await;
    refused(outcome, "measurement.sweep_interval must be longer than 0s");

    let mut tmf = csm_tmf::Config { common: common.clone(), ..Default::default() };
    tmf.tmf.delivery.poll_interval = Duration::ZERO;
    let outcome = csm_tmf::run(tmf, listener().await, async {}).await;
    refused(outcome, "tmf.delivery.poll_interval must be longer than 0s");

    // A pool of no connections is one: the service goes on to the database and names it, where
    // the PostgreSQL driver used to panic.
    let mut none = common;
    none.database.max_connections = 0;
    let error = start_intake(none).await.unwrap_err().to_string();
    assert!(error.contains("PostgreSQL at 127.0.0.1:1"), "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_address_in_use_is_named() {
    let taken = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = taken.local_addr().unwrap();
    let error = csm_kit::args::bind(address).await.unwrap_err().to_string();
    assert!(error.contains(&format!("server.listen {address}")) && error.contains("in use"), "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_tokens_are_refused_unless_development_mode_is_asked_for() {
    let backend = Backend::from_env();
    let mut common = CommonSettings {
        database: DatabaseSettings { url: backend.url("intake"), max_connections: 2, ..DatabaseSettings::default() },
        ..CommonSettings::default()
    };
    let error = start_intake(common.clone()).await.unwrap_err().to_string();
    assert!(error.contains("no bearer tokens configured") && error.contains("auth.development = true"), "{error}");

    common.auth.development = true;
    start_intake(common).await.unwrap();
    backend.cleanup().await;
}

fn parse(args: &[&str]) -> Result<ServiceArgs, clap::Error> {
    ServiceArgs::parse_from_for("csm-intake", "9.9.9", std::iter::once("csm-intake").chain(args.iter().copied()))
}

#[test]
fn the_service_command_line_answers_help_and_version_and_refuses_unknown_flags() {
    let help = parse(&["--help"]).unwrap_err();
    assert_eq!(help.kind(), clap::error::ErrorKind::DisplayHelp);
    let help = help.to_string();
    assert!(help.contains("--config <FILE>") && help.contains("check-config"), "{help}");
    assert!(parse(&["--version"]).unwrap_err().to_string().contains("csm-intake 9.9.9"));
    let error = parse(&["--listen", "0.0.0.0:1"]).unwrap_err();
    assert_eq!(error.kind(), clap::error::ErrorKind::UnknownArgument);
    assert_eq!(error.exit_code(), 2);
}

#[test]
fn check_config_shows_the_configuration_in_force_with_secrets_masked() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "intake.toml",
        r#"
        [database]
        url = "postgres://csm:hunter2@db:5432/csm_intake"
        [upstream.classification]
        token = "feed-token-1"
        [[auth.tokens]]
        token = "bearer-token-1"
        subject = "ops"
        roles = ["administrator"]
        "#,
    );
    let args = parse(&["--config", file.to_str().unwrap(), "check-config", "--format", "json"]).unwrap();
    assert_eq!(args.command, Some(ServiceCommand::CheckConfig { format: Format::Json }));
    let config: csm_intake::Config = args.load().unwrap();
    csm_kit::args::check(&config).unwrap();
    let shown = config::render(&config, Format::Toml).unwrap();
    for secret in ["hunter2", "feed-token-1", "bearer-token-1"] {
        assert!(!shown.contains(secret), "{secret} shown:\n{shown}");
    }
    assert!(shown.contains("postgres://csm:***@db:5432/csm_intake"), "{shown}");
    assert!(shown.contains("[intake.high_frequency]"), "{shown}");

    // Without tokens the check refuses, as the service would.
    let args = parse(&["check-config"]).unwrap();
    let config: csm_intake::Config = args.load().unwrap();
    let error = csm_kit::args::check(&config).unwrap_err().to_string();
    assert!(error.contains("no bearer tokens configured"), "{error}");
    let args = parse(&["--development", "check-config"]).unwrap();
    csm_kit::args::check(&args.load::<csm_intake::Config>().unwrap()).unwrap();
}
