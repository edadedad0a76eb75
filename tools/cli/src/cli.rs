//! The `csm` command line: every subcommand and the function that runs it. The binary parses and
//! calls [`run`]; tests do the same with their own arguments and output buffer.

use std::{net::SocketAddr, path::PathBuf};

use clap::{Parser, Subcommand};

use crate::{
    cases, feed, import, model,
    output::{Out, Outcome},
    report, taxonomy, tokens_file,
};

#[derive(Debug, Parser)]
#[command(
    name = "csm",
    version,
    about = "Customer-satisfaction management for a telecom operator",
    after_help = "Exit codes: 0 done; 1 the command failed (usage, unreadable input, connection, a refused call); \
                  2 done, but some rows were rejected (csm import).\nSee docs/cli.md."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Start intake, classification, recovery and measurement in one process, each on its own port
    /// with its own SQLite file, until Ctrl-C or SIGTERM.
    Up {
        /// Where the SQLite files and the development tokens are kept.
        #[arg(long, default_value = "data")]
        data_dir: PathBuf,
        #[arg(long, default_value = "127.0.0.1")]
        host: std::net::IpAddr,
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
    /// Load contacts, usage events or survey answers from a CSV or JSON-lines file through intake.
    Import(import::ImportArgs),
    /// Validate, publish and show the classification taxonomy.
    Taxonomy {
        #[command(subcommand)]
        command: taxonomy::TaxonomyCommand,
    },
    /// Train, evaluate and list classification's text models.
    Model {
        #[command(subcommand)]
        command: model::ModelCommand,
    },
    /// Export measurement's period report.
    Report {
        #[command(subcommand)]
        command: report::ReportCommand,
    },
    /// Follow a service's feed of events.
    Feed {
        #[command(subcommand)]
        command: feed::FeedCommand,
    },
    /// List, show and act on recovery's cases.
    Cases {
        #[command(subcommand)]
        command: cases::CasesCommand,
    },
    /// Create bearer tokens for a deployment's tokens file.
    Tokens {
        #[command(subcommand)]
        command: tokens_file::TokensCommand,
    },
}

/// Runs a subcommand that talks to running services (or writes files), writing what it has to say
/// to `out`. `up` and `demo` are run by the binary itself.
pub async fn run(command: Command, out: Out<'_>) -> anyhow::Result<Outcome> {
    match command {
        Command::Import(args) => import::run(args, out).await,
        Command::Taxonomy { command } => taxonomy::run(command, out).await,
        Command::Model { command } => model::run(command, out).await,
        Command::Report { command } => report::run(command, out).await,
        Command::Feed { command } => feed::run(command, out).await,
        Command::Cases { command } => cases::run(command, out).await,
        Command::Tokens { command } => tokens_file::run(command, out),
        Command::Up { .. } | Command::Demo { .. } => {
            anyhow::bail!("`csm up` and `csm demo` run from the csm binary")
        }
    }
}

/// Parses `args` (the program name first) and runs the subcommand: what tests call.
pub async fn run_args<I, T>(args: I, out: Out<'_>) -> anyhow::Result<Outcome>
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let cli = Cli::try_parse_from(args)?;
    run(cli.command, out).await
}
