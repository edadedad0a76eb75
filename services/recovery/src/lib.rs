//! Recovery: makes sure the right department repairs each customer's experience. Every classified
//! work order becomes a case dispatched to the department responsible for its root cause, with the
//! deadline from the taxonomy; the department resolves it, every change is audited, and the case
//! events are published on recovery's feed for measurement.

pub mod api;
pub mod cases;
pub mod config;
pub mod dispatch;
pub mod error;
pub mod store;

use std::future::Future;

use csm_kit::{RunError, ServiceRuntime};
use csm_proto::recovery::v1::recovery_service_server::RecoveryServiceServer;
use tokio::net::TcpListener;
use tonic::service::Routes;

pub use config::Config;

/// Runs recovery on `listener` until `shutdown` completes, following intake's and
/// classification's feeds.
pub async fn run(
    config: Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), RunError> {
    let runtime = ServiceRuntime::open::<store::migration::Migrator>("recovery", config.common).await?;
    runtime.follow("intake", &config.upstream.intake, dispatch::WorkOrderOpenedHandler);
    runtime.follow("classification", &config.upstream.classification, dispatch::WorkOrderClassifiedHandler);
    let api = api::RecoveryApi::new(cases::Cases::new(runtime.publisher().clone()));
    let routes = Routes::new(RecoveryServiceServer::new(api));
    runtime.serve(routes, api::SERVICE, api::policy(), listener, shutdown).await
}
