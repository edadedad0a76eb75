//! `csm up` runs the whole system on this machine; `csm demo` walks complaints through it.

#![allow(clippy::print_stdout)]

use std::{
    net::{IpAddr, SocketAddr},
    path::{Path, PathBuf},
};

use anyhow::Context;
use clap::{Parser, Subcommand};
use csm_cli::{
    demo,
    system::{Addresses, Ports, SystemSpec, TRACE_IDENTITIES, url},
    tokens::DevTokens,
};
use csm_kit::{
    config::{AuthSettings, TelemetrySettings},
    server::terminate_signal,
    telemetry,
};

#[derive(Debug, Parser)]
#[command(name = "csm", version, about = "Customer-satisfaction management for a telecom operator")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Start intake, classification, recovery and measurement in one process, each on its own port
    /// with its own SQLite file, until Ctrl-C or SIGTERM.
    Up {
        /// Where the SQLite files and the development tokens are kept.
        #[arg(long, default_value = "data")]
        data_dir: PathBuf,
        #[arg(long, default_value = "127.0.0.1")]
        host: IpAddr,
        /// Intake listens here, and the others on the next three ports.
        #[arg(long, default_value_t = 50051)]
        base_port: u16,
    },
    /// Start the services on free ports with fresh databases, walk a batch of complaints through
    /// all four, resolve some, and print the indicators that came out.
    Demo {
        /// Keep the data directory instead of deleting it, and say where it is.
        #[arg(long, conflicts_with = "connect")]
        keep: bool,
        /// Drive services that are already running (intake at this address, the others on the
        /// next three ports) instead of starting them.
        #[arg(long, value_name = "HOST:PORT", requires = "tokens")]
        connect: Option<SocketAddr>,
        /// The tokens file of the running services (with --connect).
        #[arg(long, value_name = "FILE")]
        tokens: Option<PathBuf>,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Up { data_dir, host, base_port } => up(data_dir, host, base_port).await,
        Command::Demo { keep, connect, tokens } => match (connect, tokens) {
            (Some(intake), Some(tokens)) => demo_against(intake, &tokens).await,
            _ => run_demo(keep).await,
        },
    }
}

fn auth_from(tokens_file: PathBuf) -> AuthSettings {
    AuthSettings { tokens_file: Some(tokens_file), ..AuthSettings::default() }
}

async fn up(data_dir: PathBuf, host: IpAddr, base_port: u16) -> anyhow::Result<()> {
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
    println!("  data            {} (one SQLite file per service)", data_dir.display());
    println!("  tokens          {} (bearer tokens per role and department)", tokens_file.display());
    system.run_until(terminate_signal()).await?;
    Ok(())
}

const DEMO_TITLE: &str =
    "csm demo: complaints through intake -> classification -> recovery -> measurement, over gRPC\n";

/// The demo against services started elsewhere.
async fn demo_against(intake: SocketAddr, tokens_file: &Path) -> anyhow::Result<()> {
    let tokens = DevTokens::load(tokens_file).with_context(|| format!("tokens in {}", tokens_file.display()))?;
    let ports = Ports::from_base(intake.port());
    let at = |port| SocketAddr::new(intake.ip(), port);
    let addresses = Addresses {
        intake,
        classification: at(ports.classification),
        recovery: at(ports.recovery),
        measurement: at(ports.measurement),
    };
    println!("{DEMO_TITLE}");
    println!("{}", demo::run(addresses, &tokens).await?);
    Ok(())
}

async fn run_demo(keep: bool) -> anyhow::Result<()> {
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
