//! The `csm` command: parses its arguments and runs the subcommand; see docs/cli.md.

use std::process::ExitCode;

use clap::Parser;
use csm_cli::{
    cli::{self, Cli, Command},
    launch,
    output::{FAILED, Outcome},
};

#[tokio::main]
async fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => {
            // Help and version are not errors; a usage error exits 1 like every other failure.
            let _ = error.print();
            return ExitCode::from(if error.use_stderr() { FAILED } else { 0 });
        }
    };
    let outcome = match cli.command {
        Command::Up { data_dir, host, base_port } => {
            launch::up(data_dir, host, base_port).await.map(|()| Outcome::Done)
        }
        Command::Demo { keep, connect, tokens } => match (connect, tokens) {
            (Some(intake), Some(tokens)) => launch::demo_against(intake, &tokens).await,
            _ => launch::demo_alone(keep).await,
        }
        .map(|()| Outcome::Done),
        command => cli::run(command, &mut std::io::stdout().lock()).await,
    };
    match outcome {
        Ok(outcome) => ExitCode::from(outcome.code()),
        // The reader went away (`csm feed tail intake | head`): nothing more to say.
        Err(error) if broken_pipe(&error) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("csm: {error:#}");
            ExitCode::from(FAILED)
        }
    }
}

fn broken_pipe(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        let kind = cause
            .downcast_ref::<std::io::Error>()
            .map(std::io::Error::kind)
            .or_else(|| cause.downcast_ref::<serde_json::Error>().and_then(serde_json::Error::io_error_kind));
        kind == Some(std::io::ErrorKind::BrokenPipe)
    })
}
