//! A feed served on its own, over its own SQLite file, without the API of any service: what a
//! load generator or a test publishes on when it stands in for an upstream service, so that the
//! service under test follows it exactly as it would follow the real one.

use std::path::Path;

use sea_orm_migration::{MigrationTrait, MigratorTrait};
use tokio_util::sync::CancellationToken;

use super::{FeedMigration, FeedService, Publisher};
use crate::{
    Database,
    config::{DatabaseSettings, FeedSettings},
};

/// The schema of a database holding nothing but a feed.
pub struct FeedOnly;

impl MigratorTrait for FeedOnly {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![Box::new(FeedMigration), Box::new(crate::lease::LeaseMigration)]
    }
}

pub type StandaloneError = Box<dyn std::error::Error + Send + Sync>;

pub struct StandaloneFeed {
    pub publisher: Publisher,
    /// `http://127.0.0.1:{port}`, for a follower's upstream settings (it asks for no token).
    pub url: String,
    stop: CancellationToken,
}

impl StandaloneFeed {
    /// Serves the feed of `source` kept in the SQLite file `path` on a free loopback port, until
    /// [`StandaloneFeed::stop`] or `stop` is cancelled.
    pub async fn start(
        path: &Path,
        source: &'static str,
        settings: FeedSettings,
        stop: CancellationToken,
    ) -> Result<Self, StandaloneError> {
        let db = Database::open::<FeedOnly>(&DatabaseSettings::sqlite(path)).await?;
        let publisher = Publisher::new(db, source).await?;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}", listener.local_addr()?);
        let feed = FeedService::new(&publisher, settings, stop.clone()).into_server();
        tokio::spawn(tonic::transport::Server::builder().add_service(feed).serve_with_incoming_shutdown(
            tokio_stream::wrappers::TcpListenerStream::new(listener),
            stop.clone().cancelled_owned(),
        ));
        Ok(Self { publisher, url, stop })
    }

    /// Publishes one event in a transaction of its own.
    pub async fn publish<M: prost::Name>(&self, subject: &str, payload: &M) -> Result<(), sea_orm::DbErr> {
        let mut uow = self.publisher.begin().await?;
        uow.publish(subject, payload);
        uow.commit().await?;
        Ok(())
    }

    pub fn stop(&self) {
        self.stop.cancel();
    }
}
