//! `csm up` runs the whole system on this machine; `csm demo` walks complaints through it.

#![allow(clippy::print_stdout)]

use std::{net::IpAddr, path::PathBuf};

use anyhow::Context;
use clap::{Parser, Subcommand};
use csm_cli::{
    demo,
    system::{Ports, SystemSpec, url},
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
        #[arg(long)]
        keep: bool,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Up { data_dir, host, base_port } => up(data_dir, host, base_port).await,
        Command::Demo { keep } => run_demo(keep).await,
    }
}

fn auth_from(tokens_file: PathBuf) -> AuthSettings {
    AuthSettings { tokens: Vec::new(), tokens_file: Some(tokens_file) }
}

async fn up(data_dir: PathBuf, host: IpAddr, base_port: u16) -> anyhow::Result<()> {
    let _telemetry = telemetry::init("csm", &TelemetrySettings::default())?;
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

async fn run_demo(keep: bool) -> anyhow::Result<()> {
    let quiet = TelemetrySettings { log_filter: "warn".into(), ..TelemetrySettings::default() };
    let _telemetry = telemetry::init("csm", &quiet)?;
    let dir = tempfile::Builder::new().prefix("csm-demo-").tempdir()?;
    let tokens_file = dir.path().join("tokens.toml");
    let tokens = DevTokens::load_or_create(&tokens_file)?;
    let system = SystemSpec::local(dir.path(), auth_from(tokens_file), tokens.service()).start().await?;
    println!("csm demo: complaints through intake -> classification -> recovery -> measurement, over gRPC\n");
    let report = demo::run(&system, &tokens).await;
    system.shutdown().await?;
    println!("{}", report?);
    if keep {
        println!("data kept in {}", dir.keep().display());
    }
    Ok(())
}
