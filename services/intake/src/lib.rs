//! Intake: the front door. Every contact from every channel is recorded here; complaints and fault
//! reports open work orders (工单), published on intake's feed for classification, recovery and
//! measurement.

pub mod api;
pub mod config;
pub mod contacts;
pub mod error;
pub mod store;
pub mod validate;

use std::future::Future;

use csm_kit::{RunError, ServiceRuntime};
use csm_proto::intake::v1::intake_service_server::IntakeServiceServer;
use tokio::net::TcpListener;
use tonic::service::Routes;

pub use config::Config;

/// Runs intake on `listener` until `shutdown` completes.
pub async fn run(
    config: Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), RunError> {
    let rules = validate::ContactRules::new(&config.intake).map_err(RunError::Config)?;
    let runtime = ServiceRuntime::open::<store::migration::Migrator>("intake", config.common).await?;
    let api = api::IntakeApi::new(contacts::Contacts::new(runtime.publisher().clone(), rules));
    let routes = Routes::new(IntakeServiceServer::new(api));
    runtime.serve(routes, api::SERVICE, api::policy(), listener, shutdown).await
}
