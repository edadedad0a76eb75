//! `csm up` and `csm demo`: the whole system on this machine, and a walk of complaints through it.

#![allow(clippy::print_stdout)]

use std::{
    net::{IpAddr, SocketAddr},
    path::{Path, PathBuf},
};

use anyhow::Context;
use csm_kit::{
    config::{AuthSettings, TelemetrySettings},
    server::terminate_signal,
    telemetry,
};

use crate::{
    demo,
    system::{Addresses, Ports, SystemSpec, TRACE_IDENTITIES, url},
    tokens::DevTokens,
};

fn auth_from(tokens_file: PathBuf) -> AuthSettings {
    AuthSettings { tokens_file: Some(tokens_file), ..AuthSettings::default() }
}

/// Runs the four services until Ctrl-C or SIGTERM.
pub async fn up(data_dir: PathBuf, host: IpAddr, base_port: u16) -> anyhow::Result<()> {
    csm_kit::use_small_pages();
    let _telemetry = telemetry::init_services("csm", &TRACE_IDENTITIES, &TelemetrySettings::default())?;
    let tokens_file = data_dir.join("tokens.toml");
    let tokens =
        DevTokens::load_or_create(&tokens_file).with_context(|| format!("tokens in {}", tokens_file.display()))?;
    let mut spec = SystemSpec::local(&data_dir, auth_from(tokens_file.clone()), tokens.service());
    spec.host = host;
    spec.ports = Ports::from_base(base_port);
    let system = spec.start().await?;
    let a = system.addresses;
    println!("csm is up; Ctrl-C stops it.");
    println!("  intake          {}", url(a.intake));
    println!("  classification  {}", url(a.classification));
    println!("  recovery        {}", url(a.recovery));
    println!("  measurement     {}", url(a.measurement));
    println!("  TM Forum APIs   {}/tmf-api/troubleTicket/v4 (REST/JSON)", url(a.tmf));
    println!("  data            {} (one SQLite file per service)", data_dir.display());
    println!("  tokens          {} (bearer tokens per role and department)", tokens_file.display());
    system.run_until(terminate_signal()).await?;
    Ok(())
}

const DEMO_TITLE: &str =
    "csm demo: complaints through intake -> classification -> recovery -> measurement, over gRPC\n";

/// The demo against services started elsewhere.
pub async fn demo_against(intake: SocketAddr, tokens_file: &Path) -> anyhow::Result<()> {
    let tokens = DevTokens::load(tokens_file).with_context(|| format!("tokens in {}", tokens_file.display()))?;
    let ports = Ports::from_base(intake.port());
    let at = |port| SocketAddr::new(intake.ip(), port);
    let addresses = Addresses {
        intake,
        classification: at(ports.classification),
        recovery: at(ports.recovery),
        measurement: at(ports.measurement),
        tmf: at(ports.tmf),
    };
    println!("{DEMO_TITLE}");
    println!("{}", demo::run(addresses, &tokens).await?);
    Ok(())
}

/// The demo on a system of its own, started for it.
pub async fn demo_alone(keep: bool) -> anyhow::Result<()> {
    let quiet = TelemetrySettings { log_filter: "warn".into(), ..TelemetrySettings::default() };
    let _telemetry = telemetry::init_services("csm", &TRACE_IDENTITIES, &quiet)?;
    let dir = tempfile::Builder::new().prefix("csm-demo-").tempdir()?;
    let tokens_file = dir.path().join("tokens.toml");
    let tokens = DevTokens::load_or_create(&tokens_file)?;
    let system = SystemSpec::local(dir.path(), auth_from(tokens_file), tokens.service()).start().await?;
    println!("{DEMO_TITLE}");
    let report = demo::run(system.addresses, &tokens).await;
    system.shutdown().await?;
    println!("{}", report?);
    if keep {
        println!("data kept in {}", dir.keep().display());
    }
    Ok(())
}
