//! The feed between intake and classification survives crashes and restarts on either side, and
//! the hand-over between two replicas of the consumer: no event is lost, none is applied twice,
//! and order is kept.

use std::{net::SocketAddr, time::Duration};

use csm_cli::clients::Authenticated;
use csm_cli::{clients, system::url};
use csm_kit::{
    config::{AuthSettings, CommonSettings, DatabaseSettings, FeedSettings, UpstreamSettings},
    feed::decode,
    lease,
};
use csm_proto::{
    classification::v1::{
        GetTaxonomyRequest, PublishTaxonomyRequest, WorkOrderClassified,
        classification_service_client::ClassificationServiceClient,
    },
    feed::v1::Event,
    intake::v1::WorkOrderOpened,
};
use tokio_util::sync::CancellationToken;

use crate::support::{
    Backend, complaint, eventually, feed_head,
    isolated::{Isolated, Launch},
    quick_feed, read_feed, tokens,
};

const LOCALHOST: ([u8; 4], u16) = ([127, 0, 0, 1], 0);

fn common(backend: &Backend, service: &str, auth: &AuthSettings, feed: &FeedSettings) -> CommonSettings {
    CommonSettings {
        database: DatabaseSettings { url: backend.url(service), max_connections: 4, ..DatabaseSettings::default() },
        auth: auth.clone(),
        feed: feed.clone(),
        ..CommonSettings::default()
    }
}

fn intake(backend: &Backend, auth: &AuthSettings) -> Launch {
    let common = common(backend, "intake", auth, &quick_feed());
    Box::new(move |listener, stop: CancellationToken| {
        let config = csm_intake::Config { common: common.clone(), ..Default::default() };
        Box::pin(csm_intake::run(config, listener, stop.cancelled_owned()))
    })
}

fn classification(
    backend: &Backend,
    auth: &AuthSettings,
    feed: &FeedSettings,
    intake: SocketAddr,
    token: &str,
) -> Launch {
    crate::support::keep_starter_models();
    let common = common(backend, "classification", auth, feed);
    let upstream = UpstreamSettings::new(url(intake), token);
    Box::new(move |listener, stop: CancellationToken| {
        let config = csm_classification::Config {
            common: common.clone(),
            upstream: csm_classification::config::Upstreams {
                intake: upstream.clone(),
                recovery: UpstreamSettings::new("", ""),
            },
            // Only classifications on the feed, so its sequence can be checked one for one.
            problems: csm_classification::config::ProblemSettings {
                emerging_min_orders: i64::MAX,
                ..Default::default()
            },
            ..Default::default()
        };
        Box::pin(csm_classification::run(config, listener, stop.cancelled_owned()))
    })
}

/// Submits `count` complaints in order, as a channel system does while intake restarts: the
/// client rides out the restart by itself, so every call must succeed.
async fn submit(intake: SocketAddr, token: String, count: usize) {
    let mut client = clients::intake(intake, &token).unwrap();
    for i in 0..count {
        let request = complaint(&format!("138{i:08}"), if i % 2 == 0 { "话费多扣了" } else { "宽带断网" });
        if let Err(status) = client.submit_contact(request).await {
            panic!("submission {i} refused: {status:?}");
        }
    }
}

fn opened_order(events: &[Event]) -> Vec<String> {
    events.iter().map(|e| decode::<WorkOrderOpened>(e).unwrap().work_order.unwrap().name).collect()
}

fn classified_order(events: &[Event]) -> Vec<String> {
    events.iter().map(|e| decode::<WorkOrderClassified>(e).unwrap().work_order.unwrap().name).collect()
}

/// Waits until classification has published `count` events, then checks that intake published
/// exactly `count` work orders and classification classified each exactly once, in the same order.
/// Classification's feed opens with the taxonomy in force announced at first start.
const ANNOUNCED: usize = 1;

async fn assert_all_classified_once_in_order(
    intake: SocketAddr,
    classification: SocketAddr,
    admin: &str,
    count: usize,
) {
    let mut classified_feed = clients::feed(classification, admin).unwrap();
    eventually("classification to catch up", Duration::from_secs(60), || {
        let mut feed = classified_feed.clone();
        async move { (feed_head(&mut feed).await as usize >= count + ANNOUNCED).then_some(()) }
    })
    .await;
    let mut intake_feed = clients::feed(intake, admin).unwrap();
    // Each complaint publishes ContactRecorded and WorkOrderOpened, once.
    assert_eq!(feed_head(&mut intake_feed).await as usize, 2 * count, "one contact and work order per submission");
    assert_eq!(feed_head(&mut classified_feed).await as usize, count + ANNOUNCED, "each classified exactly once");
    let opened = opened_order(&read_feed::<WorkOrderOpened>(&mut intake_feed, count).await);
    let classified_events = read_feed::<WorkOrderClassified>(&mut classified_feed, count).await;
    let classified = classified_order(&classified_events);
    let sequences: Vec<u64> = classified_events.iter().map(|e| e.sequence).collect();
    let first = ANNOUNCED as u64 + 1;
    assert_eq!(sequences, (first..first + count as u64).collect::<Vec<_>>(), "no gaps in the sequence");
    assert_eq!(opened, classified, "classified in the order intake opened them");
}

/// Intake and classification, each crashable, on fresh databases.
struct Pair {
    backend: Backend,
    tokens: csm_cli::tokens::DevTokens,
    auth: AuthSettings,
    intake: Isolated,
    classification: Isolated,
}

impl Pair {
    fn start() -> Self {
        Self::start_with(&quick_feed())
    }

    /// With `feed` settings for classification.
    fn start_with(feed: &FeedSettings) -> Self {
        let backend = Backend::from_env();
        let (tokens, auth) = tokens();
        let intake_service = Isolated::start(LOCALHOST.into(), intake(&backend, &auth));
        let classification_service = Isolated::start(
            LOCALHOST.into(),
            classification(&backend, &auth, feed, intake_service.address, tokens.service()),
        );
        Self { backend, tokens, auth, intake: intake_service, classification: classification_service }
    }

    fn gateway(&self) -> String {
        self.tokens.of("channel-gateway").unwrap().to_string()
    }

    async fn assert_all_classified_once_in_order(&self, count: usize) {
        assert_all_classified_once_in_order(
            self.intake.address,
            self.classification.address,
            self.tokens.administrator(),
            count,
        )
        .await;
    }

    async fn stop(mut self) {
        self.classification.stop().await;
        self.intake.stop().await;
        self.backend.cleanup().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consumer_crashing_mid_stream_loses_nothing_and_applies_nothing_twice() {
    let mut pair = Pair::start();
    let count = 300;
    let submitter = tokio::spawn(submit(pair.intake.address, pair.gateway(), count));
    for _ in 0..4 {
        tokio::time::sleep(Duration::from_millis(rand::random_range(40..160))).await;
        pair.classification.restart();
    }
    submitter.await.unwrap();
    pair.classification.restart();
    pair.assert_all_classified_once_in_order(count).await;
    pair.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_producer_restarting_mid_stream_loses_nothing() {
    let mut pair = Pair::start();
    let count = 200;
    let submitter = tokio::spawn(submit(pair.intake.address, pair.gateway(), count));
    tokio::time::sleep(Duration::from_millis(150)).await;
    pair.intake.stop().await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    pair.intake.start_again();
    tokio::time::sleep(Duration::from_millis(150)).await;
    pair.intake.restart();
    submitter.await.unwrap();
    pair.assert_all_classified_once_in_order(count).await;
    pair.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consumer_that_was_down_catches_up() {
    let mut pair = Pair::start();
    submit(pair.intake.address, pair.gateway(), 20).await;
    pair.classification.stop().await;
    submit(pair.intake.address, pair.gateway(), 80).await;
    pair.classification.start_again();
    pair.assert_all_classified_once_in_order(100).await;
    pair.stop().await;
}

/// Who holds classification's lease on intake's feed, read from classification's database.
async fn feed_lease_holder(backend: &Backend) -> String {
    let db = sea_orm::Database::connect(backend.url("classification")).await.unwrap();
    let (holder, _) = lease::current_holder(&db, "feed:intake").await.unwrap().expect("lease taken");
    let _ = db.close().await;
    holder
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_share_one_database_and_hand_over_the_feed_when_one_stops() {
    // A term long enough that a renewal delayed on a loaded machine does not hand the lease over
    // early; a replica that stops releases it at once anyway.
    let feed = FeedSettings { lease_term: Duration::from_secs(6), ..quick_feed() };
    let mut pair = Pair::start_with(&feed);
    let count = 300;
    let submitter = tokio::spawn(submit(pair.intake.address, pair.gateway(), count));
    let mut first_feed = clients::feed(pair.classification.address, pair.tokens.administrator()).unwrap();
    eventually("the first replica to classify", Duration::from_secs(30), || {
        let mut feed = first_feed.clone();
        async move { (feed_head(&mut feed).await >= 20).then_some(()) }
    })
    .await;

    // A second replica on the same database stands by while the first holds the lease.
    let mut second = Isolated::start(
        LOCALHOST.into(),
        classification(&pair.backend, &pair.auth, &feed, pair.intake.address, pair.tokens.service()),
    );
    let active = feed_lease_holder(&pair.backend).await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(feed_lease_holder(&pair.backend).await, active, "the active replica keeps the lease while it runs");
    let mut second_feed = clients::feed(second.address, pair.tokens.administrator()).unwrap();
    let head = feed_head(&mut first_feed).await;
    assert!(feed_head(&mut second_feed).await >= head, "both replicas serve the same feed");

    // Stopping the first replica mid-stream hands the feed to the second.
    pair.classification.stop().await;
    submitter.await.unwrap();
    assert_all_classified_once_in_order(pair.intake.address, second.address, pair.tokens.administrator(), count).await;
    // The stopped replica released the lease; the standby takes it at its next try, within a
    // third of a term (the work may all be done by then, so the take-over is waited for).
    eventually("the second replica to take the lease over", feed.lease_term, || {
        let (backend, active) = (&pair.backend, active.clone());
        async move { (feed_lease_holder(backend).await != active).then_some(()) }
    })
    .await;

    second.stop().await;
    pair.intake.stop().await;
    pair.backend.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_taxonomy_published_on_one_replica_is_in_force_on_the_other() {
    let pair = Pair::start();
    let admin = pair.tokens.administrator().to_string();
    let in_force = |client: &mut ClassificationServiceClient<Authenticated>| {
        let mut client = client.clone();
        async move {
            client.get_taxonomy(GetTaxonomyRequest { name: String::new() }).await.map(|t| t.into_inner().name).ok()
        }
    };
    let mut first = clients::classification(pair.classification.address, &admin).unwrap();
    let before = eventually("the first replica to serve", Duration::from_secs(30), || in_force(&mut first)).await;
    // A second replica joins on the same database, as in a rolling update.
    let mut second = Isolated::start(
        LOCALHOST.into(),
        classification(&pair.backend, &pair.auth, &quick_feed(), pair.intake.address, pair.tokens.service()),
    );
    let mut other = clients::classification(second.address, &admin).unwrap();
    let seen = eventually("the second replica to serve", Duration::from_secs(30), || in_force(&mut other)).await;
    assert_eq!(seen, before);

    // The version in force, published again through the first replica, becomes the next version.
    let mut taxonomy = first.get_taxonomy(GetTaxonomyRequest { name: String::new() }).await.unwrap().into_inner();
    taxonomy.name = before.split("/versions/").next().unwrap().to_string();
    let published = first
        .publish_taxonomy(PublishTaxonomyRequest { taxonomy: Some(taxonomy), validate_only: false, stage: false })
        .await
        .unwrap()
        .into_inner()
        .name;
    assert_ne!(published, before);
    eventually("the other replica to put it in force", Duration::from_secs(10), || {
        let published = published.clone();
        let asked = in_force(&mut other);
        async move { (asked.await? == published).then_some(()) }
    })
    .await;

    second.stop().await;
    pair.stop().await;
}
