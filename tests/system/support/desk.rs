//! Recovery alone, as a department's desk: it follows a stand-in upstream feed that the test
//! publishes intake's and classification's events on directly (work orders classified with the
//! department and time limit the scenario needs, repeats, at-risk predictions), and judges
//! deadlines by an adjustable clock the test moves forward by hours or days.

use std::{net::SocketAddr, time::Duration};

use csm_cli::{
    clients::{self, Authenticated},
    tokens::DevTokens,
};
use csm_kit::{
    config::DatabaseSettings,
    feed::StandaloneFeed,
    time::{self, Clock},
};
use csm_proto::{
    classification::v1::{Classification, WorkOrderClassified},
    feed::v1::{Event, feed_client::FeedClient},
    intake::v1::{Channel, ContactType, WorkOrder},
    recovery::v1::{Case, GetCaseRequest, recovery_service_client::RecoveryServiceClient},
};
use tokio_util::sync::CancellationToken;

use super::{Backend, eventually, quick_feed, read_feed, show_service_logs, tokens};

pub struct Desk {
    pub address: SocketAddr,
    pub tokens: DevTokens,
    pub clock: Clock,
    upstream: StandaloneFeed,
    stop: CancellationToken,
    recovery: tokio::task::JoinHandle<Result<(), csm_kit::RunError>>,
    backend: Backend,
    _upstream_dir: tempfile::TempDir,
}

impl Desk {
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    pub async fn start_with(tweak: impl FnOnce(&mut csm_recovery::Config)) -> Self {
        show_service_logs();
        let stop = CancellationToken::new();

        // The stand-in upstream: a feed and nothing else.
        let upstream_dir = tempfile::tempdir().expect("temporary directory");
        let upstream =
            StandaloneFeed::start(&upstream_dir.path().join("up.db"), "upstream", quick_feed(), stop.clone())
                .await
                .expect("upstream feed");
        let upstream_url = upstream.url.clone();

        let backend = Backend::from_env();
        let (tokens, auth) = tokens();
        let mut config = csm_recovery::Config::default();
        config.common.database =
            DatabaseSettings { url: backend.url("recovery"), max_connections: 4, ..Default::default() };
        config.common.auth = auth;
        config.common.feed = quick_feed();
        let upstream_settings = csm_kit::config::UpstreamSettings::new(upstream_url, "");
        config.upstream.intake = upstream_settings.clone();
        config.upstream.classification = upstream_settings;
        config.recovery.sweep_interval = Duration::from_millis(50);
        tweak(&mut config);
        let clock = Clock::adjustable();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let address = listener.local_addr().expect("address");
        let recovery =
            tokio::spawn(csm_recovery::run_with_clock(config, clock.clone(), listener, stop.clone().cancelled_owned()));
        Self { address, tokens, clock, upstream, stop, recovery, backend, _upstream_dir: upstream_dir }
    }

    pub fn as_(&self, subject: &str) -> RecoveryServiceClient<Authenticated> {
        clients::recovery(self.address, self.tokens.of(subject).expect("token")).expect("client")
    }

    pub fn admin(&self) -> RecoveryServiceClient<Authenticated> {
        self.as_("administrator")
    }

    pub fn feed(&self) -> FeedClient<Authenticated> {
        clients::feed(self.address, self.tokens.administrator()).expect("client")
    }

    /// Publishes one event on the upstream feed.
    pub async fn publish<M: prost::Name>(&self, subject: &str, payload: &M) {
        self.upstream.publish(subject, payload).await.expect("published upstream");
    }

    /// Publishes the events `publish` queues in one upstream transaction, so that recovery
    /// receives them together, as it does a busy upstream's.
    pub async fn publish_together(&self, publish: impl FnOnce(&mut csm_kit::feed::UnitOfWork)) {
        let mut uow = self.upstream.publisher.begin().await.expect("upstream transaction");
        publish(&mut uow);
        uow.commit().await.expect("published upstream");
    }

    /// A work order of `phone`, raised `hours_ago` hours before the desk's clock.
    pub fn work_order(&self, phone: &str, contact_type: ContactType, hours_ago: i64) -> WorkOrder {
        let opened = self.clock.now_micros() - hours_ago * 3_600_000_000;
        WorkOrder {
            name: format!("workOrders/{}", uuid::Uuid::now_v7()),
            channel: Channel::HotlineAgent as i32,
            contact_type: contact_type as i32,
            phone_number: phone.into(),
            text: "话费多扣了 / charged twice".into(),
            open_time: Some(time::timestamp_from_micros(opened)),
            ..Default::default()
        }
    }

    /// Classification routes `work_order` to `department` under `leaf` with `limit`; returns the
    /// case recovery dispatched.
    pub async fn classify(&self, work_order: &WorkOrder, department: &str, leaf: &str, limit: Duration) -> Case {
        let classification = Self::classification(work_order, department, leaf, limit);
        let event = WorkOrderClassified { classification: Some(classification), work_order: Some(work_order.clone()) };
        self.publish(&work_order.name, &event).await;
        self.case_of(&work_order.name).await
    }

    /// Classification of `work_order` under `leaf`, routed to `department` with `limit`.
    pub fn classification(work_order: &WorkOrder, department: &str, leaf: &str, limit: Duration) -> Classification {
        let opened = time::from_timestamp(work_order.open_time.as_ref().expect("open time")).expect("valid");
        Classification {
            name: format!("{}/classification", work_order.name),
            work_order: work_order.name.clone(),
            taxonomy_version: "taxonomies/default/versions/1".into(),
            leaf: leaf.into(),
            path: vec!["business".into(), leaf.into()],
            responsible_department: department.into(),
            time_limit: Some(prost_types::Duration { seconds: limit.as_secs() as i64, nanos: 0 }),
            deadline: Some(time::to_timestamp(opened + chrono::Duration::from_std(limit).expect("limit"))),
            ..Default::default()
        }
    }

    /// A fresh complaint of `phone` dispatched to `department` (leaf "billing_dispute", 48 hours).
    pub async fn dispatched(&self, phone: &str, department: &str) -> Case {
        let order = self.work_order(phone, ContactType::Complaint, 0);
        self.classify(&order, department, "billing_dispute", Duration::from_secs(48 * 3600)).await
    }

    /// Waits for the dispatched case of `work_order`.
    pub async fn case_of(&self, work_order: &str) -> Case {
        eventually(&format!("a case for {work_order}"), Duration::from_secs(20), || {
            let mut admin = self.admin();
            async move {
                let cases = admin
                    .list_cases(csm_proto::recovery::v1::ListCasesRequest { page_size: 500, ..Default::default() })
                    .await
                    .ok()?
                    .into_inner()
                    .cases;
                cases.into_iter().find(|c| c.work_order == work_order && c.dispatch_time.is_some())
            }
        })
        .await
    }

    pub async fn get(&self, case: &str) -> Case {
        self.admin().get_case(GetCaseRequest { name: case.into() }).await.expect("get case").into_inner()
    }

    /// The first `count` events of type `M` on recovery's feed.
    pub async fn events<M: prost::Name + Default>(&self, count: usize) -> Vec<M> {
        let events: Vec<Event> = read_feed::<M>(&mut self.feed(), count).await;
        events.iter().map(|e| csm_kit::feed::decode::<M>(e).expect("decodes")).collect()
    }

    pub async fn stop(self) {
        self.stop.cancel();
        self.recovery.await.expect("task").expect("recovery stops cleanly");
        self.backend.cleanup().await;
    }
}
