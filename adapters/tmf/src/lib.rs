//! The TM Forum adapter: csm as operators' CRM, OSS and network operations centre expect to reach
//! it, through the TMF621 Trouble Ticket and TMF656 Service Problem Open APIs over REST/JSON.
//!
//! It owns no domain data. A ticket created here becomes a complaint through intake; its status is
//! recovery's case, mapped one to one, and every change to it goes through recovery's lifecycle;
//! service problems live in recovery. The adapter keeps only what TMF621 has and csm does not
//! (severity, ticket type, notes, the creator's external id), a listing view of the tickets built
//! from recovery's feed, hub registrations and the notifications waiting for delivery. Calls go to
//! the services with the caller's own credentials, so each service's roles apply unchanged.

mod body;
pub mod config;
mod error;
mod follow;
mod http;
mod hub;
mod problems;
mod routes;
mod shapes;
mod store;
mod tickets;
mod upstream;

use std::{future::Future, sync::Arc};

use csm_kit::{RunError, ServiceRuntime, auth::Authenticator};
use tokio::{net::TcpListener, sync::Notify};

pub use config::Config;

/// What every handler and background task of the adapter shares.
#[derive(Debug, Clone)]
struct App {
    db: csm_kit::Database,
    authenticator: Authenticator,
    upstream: upstream::Upstream,
    settings: Arc<config::TmfSettings>,
    /// Woken when notifications were queued, so delivery need not wait for its next poll.
    queued: Arc<Notify>,
}

/// Runs the adapter on `listener` until `shutdown` completes, following recovery's feed.
pub async fn run(
    config: Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), RunError> {
    let runtime = ServiceRuntime::open::<store::migration::Migrator, _>("tmf", &config).await?;
    let app = App {
        db: runtime.database().clone(),
        authenticator: Authenticator::from_settings(&config.common.auth)?,
        upstream: upstream::Upstream::new(&config.upstream, &config.common.client_tls)?,
        settings: Arc::new(config.tmf),
        queued: Arc::new(Notify::new()),
    };
    runtime.follow("recovery", &config.upstream.recovery, follow::CaseFeed { app: app.clone() });
    let delivering = app.clone();
    runtime.spawn_exclusive("hub-delivery", move |held| hub::delivery::run(delivering.clone(), held));
    runtime.serve_http(routes::router(app), listener, shutdown).await
}
