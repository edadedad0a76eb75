//! The intake service as a program: its configuration file from the command line, telemetry, and
//! [`csm_intake::run`] until a termination signal.

use csm_kit::{config, server::terminate_signal, telemetry};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config: csm_intake::Config = config::load(config::file_from_args().as_deref())?;
    let _telemetry = telemetry::init("csm-intake", &config.common.telemetry)?;
    let listener = tokio::net::TcpListener::bind(config.common.server.listen).await?;
    csm_intake::run(config, listener, terminate_signal()).await?;
    Ok(())
}
