//! Measurement: one shared set of customer-side indicators (the "3K" system: KPI, KCI, KQI),
//! computed from the feeds of intake, classification and recovery, so that whether satisfaction
//! really moved can be shown with numbers everyone agrees on.

pub mod absorb;
pub mod alerts;
mod analysis;
mod api;
pub mod calendar;
pub mod catalogue;
pub mod cells;
pub mod config;
pub mod effects;
pub mod error;
pub mod facts;
pub mod formula;
pub mod observe;
mod reference;
pub mod report;
pub mod series;
pub mod store;

use std::{future::Future, sync::Arc};

use csm_kit::{RunError, ServiceRuntime, time::Clock};
use csm_proto::measurement::v1::measurement_service_server::MeasurementServiceServer;
use tokio::net::TcpListener;
use tonic::service::Routes;

pub use api::policy;
pub use config::Config;

/// Runs measurement on `listener` until `shutdown` completes, following the three other feeds.
pub async fn run(
    config: Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), RunError> {
    run_with_clock(config, listener, shutdown, Clock::system()).await
}

/// As [`run`], with the clock the alert and programme sweep reads (tests move it).
pub async fn run_with_clock(
    config: Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send,
    clock: Clock,
) -> Result<(), RunError> {
    let organisation = config.common.organisation.clone();
    let runtime = ServiceRuntime::open::<store::migration::Migrator, _>("measurement", &config).await?;
    let calendar = calendar::Calendar::of(runtime.calendar().days());
    let db = runtime.database().clone();
    let startup = |e: error::Error| RunError::Config(format!("measurement could not load its catalogue: {e}"));
    catalogue::seed(db.writer(), &calendar).await.map_err(startup)?;
    let loaded = catalogue::load(db.reader()).await.map_err(startup)?;
    for model in analysis::index::examples() {
        let key = model.key.clone();
        if store::get_document(db.reader(), store::kind::INDEX_MODEL, &key)
            .await
            .map_err(|e| startup(e.into()))?
            .is_none()
        {
            analysis::index::put(db.writer(), &calendar, &loaded, model).await.map_err(startup)?;
        }
    }

    let upstream = &config.upstream;
    let fact_cache = Arc::new(absorb::FactCache::new());
    let absorber = |feed| absorb::Absorber::new(feed, calendar, fact_cache.clone());
    runtime.follow("intake", &upstream.intake, absorber(facts::Feed::Intake));
    runtime.follow("classification", &upstream.classification, absorber(facts::Feed::Classification));
    runtime.follow("recovery", &upstream.recovery, absorber(facts::Feed::Recovery));
    let sweep = alerts::Sweep {
        publisher: runtime.publisher().clone(),
        calendar,
        interval: config.measurement.sweep_interval,
        clock,
    };
    let sweep = Arc::new(sweep);
    runtime.spawn_exclusive("measurement-sweep", move |stop| {
        let sweep = sweep.clone();
        async move { sweep.run(stop).await }
    });
    let api = api::MeasurementApi::new(db, calendar, organisation);
    let routes = Routes::new(MeasurementServiceServer::new(api));
    runtime.serve(routes, api::SERVICE, api::policy(), listener, shutdown).await
}
