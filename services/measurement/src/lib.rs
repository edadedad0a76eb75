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

use csm_kit::{RunError, ServiceRuntime};
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
    let runtime = ServiceRuntime::open::<store::migration::Migrator>("measurement", config.common).await?;
    let upstream = &config.upstream;
    runtime.follow("intake", &upstream.intake, facts::FactsHandler::intake(calendar));
    runtime.follow("classification", &upstream.classification, facts::FactsHandler::classification(calendar));
    runtime.follow("recovery", &upstream.recovery, facts::FactsHandler::recovery(calendar));
    let api = api::MeasurementApi::new(runtime.database().clone(), calendar);
    let routes = Routes::new(MeasurementServiceServer::new(api));
    runtime.serve(routes, api::SERVICE, api::policy(), listener, shutdown).await
}
