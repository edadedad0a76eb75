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

use csm_kit::{
    Database, Host, RunError, ServiceDefinition,
    auth::Authenticator,
    feed::{FeedService, Publisher},
};
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
    let authenticator = Authenticator::from_settings(&config.common.auth)?;
    let db = Database::open::<store::migration::Migrator>(&config.common.database).await?;
    let publisher = Publisher::new(db.clone(), "intake").await?;
    let host = Host::new();

    let api = api::IntakeApi::new(contacts::Contacts::new(publisher.clone(), rules));
    let feed = FeedService::new(&publisher, config.common.feed.clone(), host.stop_token());
    let routes = Routes::new(IntakeServiceServer::new(api)).add_service(feed.into_server());
    let definition = ServiceDefinition {
        name: "intake",
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
