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

use csm_kit::{
    Database, Host, RunError, ServiceDefinition,
    auth::Authenticator,
    feed::{Consumer, FeedService, Publisher},
};
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
    let authenticator = Authenticator::from_settings(&config.common.auth)?;
    let db = Database::open::<store::migration::Migrator>(&config.common.database).await?;
    let publisher = Publisher::new(db.clone(), "recovery").await?;
    let host = Host::new();

    let feed_settings = config.common.feed.clone();
    let intake = Consumer::new(
        "intake",
        config.upstream.intake.clone(),
        publisher.clone(),
        dispatch::WorkOrderOpenedHandler,
        feed_settings.clone(),
    );
    host.spawn(intake.run(host.stop_token()));
    let classification = Consumer::new(
        "classification",
        config.upstream.classification.clone(),
        publisher.clone(),
        dispatch::WorkOrderClassifiedHandler,
        feed_settings.clone(),
    );
    host.spawn(classification.run(host.stop_token()));

    let api = api::RecoveryApi::new(cases::Cases::new(publisher.clone()));
    let feed = FeedService::new(&publisher, feed_settings, host.stop_token());
    let routes = Routes::new(RecoveryServiceServer::new(api)).add_service(feed.into_server());
    let definition = ServiceDefinition {
        name: "recovery",
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
