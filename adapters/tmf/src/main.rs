//! The TM Forum adapter as a program: the kit's command line (`--help`, `--config`,
//! `check-config`) and start-up around [`csm_tmf::run`], until a termination signal.

#[tokio::main]
async fn main() -> std::process::ExitCode {
    csm_kit::args::run_service("csm-tmf", env!("CARGO_PKG_VERSION"), csm_tmf::run).await
}
