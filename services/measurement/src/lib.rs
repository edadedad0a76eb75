//! Measurement: one shared set of customer-side indicators (the "3K" system: KPI, KCI, KQI),
//! computed from the feeds of intake, classification and recovery, so that whether satisfaction
//! really moved can be shown with numbers everyone agrees on.

pub mod api;
pub mod calendar;
pub mod config;
pub mod error;
pub mod facts;
pub mod indicators;
pub mod store;

use std::future::Future;

use csm_kit::{
    Database, Host, RunError, ServiceDefinition,
    auth::Authenticator,
    feed::{Consumer, FeedService, Publisher},
};
use csm_proto::measurement::v1::measurement_service_server::MeasurementServiceServer;
use tokio::net::TcpListener;
use tonic::service::Routes;

pub use config::Config;

/// Runs measurement on `listener` until `shutdown` completes, following the three other feeds.
pub async fn run(
    config: Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), RunError> {
    let calendar = calendar::Calendar::new(&config.measurement.time_zone).map_err(RunError::Config)?;
    let authenticator = Authenticator::from_settings(&config.common.auth)?;
    let db = Database::open::<store::migration::Migrator>(&config.common.database).await?;
    let publisher = Publisher::new(db.clone(), "measurement").await?;
    let host = Host::new();

    let feed_settings = config.common.feed.clone();
    let upstreams = [
        ("intake", &config.upstream.intake, facts::FactsHandler::intake(calendar)),
        ("classification", &config.upstream.classification, facts::FactsHandler::classification(calendar)),
        ("recovery", &config.upstream.recovery, facts::FactsHandler::recovery(calendar)),
    ];
    for (name, upstream, handler) in upstreams {
        let consumer = Consumer::new(name, upstream.clone(), publisher.clone(), handler, feed_settings.clone());
        host.spawn(consumer.run(host.stop_token()));
    }

    let api = api::MeasurementApi::new(db.clone(), calendar);
    let feed = FeedService::new(&publisher, feed_settings, host.stop_token());
    let routes = Routes::new(MeasurementServiceServer::new(api)).add_service(feed.into_server());
    let definition = ServiceDefinition {
        name: "measurement",
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
