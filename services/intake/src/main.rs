//! The intake service as a program: the kit's command line (`--help`, `--config`, `check-config`)
//! and start-up around [`csm_intake::run`], until a termination signal.

#[tokio::main]
async fn main() -> std::process::ExitCode {
    csm_kit::args::run_service("csm-intake", env!("CARGO_PKG_VERSION"), csm_intake::run).await
}
