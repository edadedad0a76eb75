//! Classification: each work order intake opens is classified layer by layer (层层分类) down to a
//! root cause in a versioned taxonomy, and routed to the department responsible for that cause with
//! a handling deadline. Results are published on classification's feed for recovery and measurement.

pub mod api;
pub mod classify;
pub mod config;
pub mod error;
pub mod rules;
pub mod store;
pub mod taxonomy;

use std::{future::Future, sync::Arc};

use csm_kit::{RunError, ServiceRuntime};
use csm_proto::classification::v1::classification_service_server::ClassificationServiceServer;
use tokio::net::TcpListener;
use tonic::service::Routes;

pub use config::Config;

/// Runs classification on `listener` until `shutdown` completes, following intake's feed.
pub async fn run(
    config: Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), RunError> {
    let runtime = ServiceRuntime::open::<store::migration::Migrator>("classification", config.common).await?;
    let active = Arc::new(classify::load_active(runtime.database().writer()).await?);
    tracing::info!(taxonomy = %active.taxonomy.name, "taxonomy in force");
    runtime.follow("intake", &config.upstream.intake, classify::WorkOrderOpenedHandler::new(active.clone()));
    let api = api::ClassificationApi::new(runtime.database().clone(), active);
    let routes = Routes::new(ClassificationServiceServer::new(api));
    runtime.serve(routes, api::SERVICE, api::policy(), listener, shutdown).await
}
