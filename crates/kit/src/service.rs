//! What a service's `run` is assembled from, the same way for all four: its database (migrated
//! before anything touches it), its feed publisher, the feeds it follows, and a server that serves
//! its API together with its own feed.

use std::{future::Future, sync::Arc};

use sea_orm_migration::MigratorTrait;
use tokio::net::TcpListener;
use tonic::service::Routes;

use crate::{
    Database, Host, RunError, ServiceDefinition, args,
    auth::{Authenticator, Policy},
    calendar::OperatorCalendar,
    config::{CommonSettings, ServiceConfig, UpstreamSettings},
    feed::{Consumer, EventHandler, FeedService, Publisher},
    lease::{self, Lease},
};
use tokio_util::sync::CancellationToken;

#[derive(Debug)]
pub struct ServiceRuntime {
    name: &'static str,
    common: CommonSettings,
    authenticator: Authenticator,
    calendar: OperatorCalendar,
    db: Database,
    publisher: Publisher,
    host: Host,
}

impl ServiceRuntime {
    /// Checks the credentials configuration, the operator's calendar and every other setting
    /// `check-config` checks ([`args::problems_of`]: the shared ones, the upstreams, the
    /// service's own), then opens the database applying migrations `M`, and readies the feed of
    /// service `name` (for example "intake").
    pub async fn open<M: MigratorTrait, C: ServiceConfig>(name: &'static str, config: &C) -> Result<Self, RunError> {
        let common = config.common().clone();
        let authenticator = Authenticator::from_settings(&common.auth)?;
        let calendar = OperatorCalendar::from_settings(&common.calendar).map_err(RunError::Config)?;
        let problems = args::problems_of(config);
        if !problems.is_empty() {
            return Err(RunError::Config(problems.join("; ")));
        }
        let db = Database::open::<M>(&common.database).await?;
        db.observe_pools(name);
        let publisher = Publisher::new(db.clone(), name).await?;
        Ok(Self { name, common, authenticator, calendar, db, publisher, host: Host::new() })
    }

    /// The operator's calendar every deadline and every day of this service is counted on.
    pub fn calendar(&self) -> &OperatorCalendar {
        &self.calendar
    }

    pub fn database(&self) -> &Database {
        &self.db
    }

    pub fn publisher(&self) -> &Publisher {
        &self.publisher
    }

    /// Runs a background task that the service waits for when it stops.
    pub fn spawn<F>(&self, task: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        self.host.spawn(task);
    }

    /// Cancelled when the service begins to stop.
    pub fn stop_token(&self) -> CancellationToken {
        self.host.stop_token()
    }

    /// Follows `upstream`'s feed in the background with `handler`, its cursor stored as `cursor`.
    /// With several replicas, only the one holding the lease `feed:<cursor>` follows; the others
    /// stand by to take over.
    pub fn follow<H: EventHandler>(&self, cursor: &str, upstream: &UpstreamSettings, handler: H) {
        let tls = upstream.tls_or(&self.common.client_tls).clone();
        let upstream = UpstreamSettings { tls, ..upstream.clone() };
        let consumer =
            Arc::new(Consumer::new(cursor, upstream, self.publisher.clone(), handler, self.common.feed.clone()));
        self.spawn_exclusive(&format!("feed:{cursor}"), move |held| {
            let consumer = consumer.clone();
            async move { consumer.run(held).await }
        });
    }

    /// Runs a background task on one replica at a time: the one holding the lease `name`. `task`
    /// gets a token cancelled when the service stops or the lease is lost, and is started again
    /// whenever this replica takes the lease (back).
    pub fn spawn_exclusive<F, Fut>(&self, name: &str, task: F)
    where
        F: FnMut(CancellationToken) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let lease = Lease::new(self.db.clone(), name, self.common.feed.lease_term);
        self.host.spawn(lease::exclusively(lease, self.host.stop_token(), task));
    }

    /// Serves `api` (the gRPC service named `api_name`) and this service's feed on `listener`
    /// until `shutdown` completes, then stops the followers and closes the database.
    pub async fn serve(
        self,
        api: Routes,
        api_name: &'static str,
        policy: Policy,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send,
    ) -> Result<(), RunError> {
        self.serve_metrics().await?;
        let feed = FeedService::new(&self.publisher, self.common.feed.clone(), self.host.stop_token());
        let definition = ServiceDefinition {
            name: self.name,
            grpc_services: vec![api_name, csm_proto::feed::v1::feed_server::SERVICE_NAME],
            routes: api.add_service(feed.into_server()),
            policy,
            authenticator: self.authenticator,
            settings: self.common.server.clone(),
        };
        let served = self.host.serve(definition, listener, shutdown).await;
        self.db.close().await;
        Ok(served?)
    }

    /// Serves `app`, an HTTP face of csm (the TM Forum adapter), on `listener` until `shutdown`
    /// completes: the same metrics endpoint, drain delay and background tasks as a gRPC service,
    /// then stops the followers and closes the database.
    pub async fn serve_http(
        self,
        app: axum::Router,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), RunError> {
        self.serve_metrics().await?;
        let name = self.name;
        let stop = self.host.stop_token();
        let drain = self.common.server.drain_delay;
        tracing::info!(service = name, address = ?listener.local_addr().ok(), "serving HTTP");
        let signal = async move {
            tokio::select! {
                () = shutdown => {}
                () = stop.cancelled() => {}
            }
            tracing::info!(service = name, drain = ?drain, "shutting down");
            tokio::time::sleep(drain).await;
        };
        let served = axum::serve(listener, app).with_graceful_shutdown(signal).await;
        self.host.stop_and_wait().await;
        tracing::info!(service = name, "stopped");
        self.db.close().await;
        served.map_err(|error| RunError::Config(format!("serving HTTP: {error}")))
    }

    /// Serves the process's metrics on `telemetry.metrics_address`, when one is configured.
    async fn serve_metrics(&self) -> Result<(), RunError> {
        if let Some(address) = self.common.telemetry.metrics_address {
            crate::metrics::serve(address, self.host.stop_token())
                .await
                .map_err(|e| RunError::Config(e.to_string()))?;
        }
        Ok(())
    }
}
