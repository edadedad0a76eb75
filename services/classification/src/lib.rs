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

use csm_kit::{
    Database, Host, RunError, ServiceDefinition,
    auth::Authenticator,
    feed::{Consumer, FeedService, Publisher},
};
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
    let authenticator = Authenticator::from_settings(&config.common.auth)?;
    let db = Database::open::<store::migration::Migrator>(&config.common.database).await?;
    let active = Arc::new(classify::load_active(db.writer()).await?);
    tracing::info!(taxonomy = %active.taxonomy.name, "taxonomy in force");
    let publisher = Publisher::new(db.clone(), "classification").await?;
    let host = Host::new();

    let consumer = Consumer::new(
        "intake",
        config.upstream.intake.clone(),
        publisher.clone(),
        classify::WorkOrderOpenedHandler::new(active.clone()),
        config.common.feed.clone(),
    );
    host.spawn(consumer.run(host.stop_token()));

    let api = api::ClassificationApi::new(db.clone(), active);
    let feed = FeedService::new(&publisher, config.common.feed.clone(), host.stop_token());
    let routes = Routes::new(ClassificationServiceServer::new(api)).add_service(feed.into_server());
    let definition = ServiceDefinition {
        name: "classification",
        grpc_services: vec![api::SERVICE, csm_proto::feed::v1::feed_server::SERVICE_NAME],
        routes,
        policy: api::policy(),
        authenticator,
        settings: config.common.server.clone(),
    };
    let served = host.serve(definition, listener, shutdown).await;
    db.close().await;
    Ok(served?)
}
