use csm_kit::{config, server::terminate_signal, telemetry};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config: csm_measurement::Config = config::load(config::file_from_args().as_deref())?;
    let _telemetry = telemetry::init("csm-measurement", &config.common.telemetry)?;
    let listener = tokio::net::TcpListener::bind(config.common.server.listen).await?;
    csm_measurement::run(config, listener, terminate_signal()).await?;
    Ok(())
}
