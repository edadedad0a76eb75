//! The recovery service as a program: the kit's command line (`--help`, `--config`, `check-config`)
//! and start-up around [`csm_recovery::run`], until a termination signal.

#[tokio::main]
async fn main() -> std::process::ExitCode {
    csm_kit::args::run_service("csm-recovery", env!("CARGO_PKG_VERSION"), csm_recovery::run).await
}
