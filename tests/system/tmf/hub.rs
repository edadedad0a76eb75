//! Hub notifications: every matching listener hears of each ticket's creation, status changes and
//! resolution, in order, at least once; a listener that is down holds up no other and gets what it
//! missed when it comes back; and a restart of the adapter loses nothing queued or yet to learn.

use std::{net::SocketAddr, time::Duration};

use csm_kit::config::{AuthSettings, CommonSettings, DatabaseSettings, ServerSettings, UpstreamSettings};
use csm_proto::recovery::v1::{GetCaseRequest, ResolveCaseRequest};
use reqwest::StatusCode;
use serde_json::json;
use tokio_util::sync::CancellationToken;

use super::{Listener, Rest, V4, dispatched, ticket};
use crate::support::{TestSystem, quick_feed};

/// An adapter of its own beside the system, on `database`, that can be stopped and started again.
struct Adapter {
    address: SocketAddr,
    stop: CancellationToken,
    running: tokio::task::JoinHandle<()>,
}

impl Adapter {
    async fn start(t: &TestSystem, database: &str, port: u16) -> Self {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await.expect("adapter binds");
        let address = listener.local_addr().unwrap();
        let upstream = |to: SocketAddr| UpstreamSettings::new(format!("http://{to}"), t.tokens.service());
        let mut config = csm_tmf::Config {
            common: CommonSettings {
                server: ServerSettings { listen: address, ..ServerSettings::default() },
                database: DatabaseSettings { url: database.to_string(), ..DatabaseSettings::default() },
                auth: AuthSettings { tokens: t.tokens.tokens.clone(), ..AuthSettings::default() },
                feed: quick_feed(),
                ..CommonSettings::default()
            },
            upstream: csm_tmf::config::Upstreams {
                intake: upstream(t.system.addresses.intake),
                recovery: upstream(t.system.addresses.recovery),
            },
            ..Default::default()
        };
        config.tmf.delivery.retry_initial = Duration::from_millis(100);
        config.tmf.delivery.retry_max = Duration::from_millis(400);
        config.tmf.delivery.poll_interval = Duration::from_millis(100);
        let stop = CancellationToken::new();
        let shutdown = stop.clone().cancelled_owned();
        let running =
            tokio::spawn(async move { csm_tmf::run(config, listener, shutdown).await.expect("adapter runs") });
        Self { address, stop, running }
    }

    async fn stop(self) {
        self.stop.cancel();
        self.running.await.unwrap();
    }
}

/// A port nothing listens on yet.
async fn free_port() -> SocketAddr {
    let probe = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    probe.local_addr().unwrap()
}

fn kinds(seen: &[(String, String)]) -> Vec<(&str, &str)> {
    seen.iter().map(|(kind, status)| (kind.as_str(), status.as_str())).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notifications_reach_each_listener_in_order_through_a_restart_and_a_listener_that_was_down() {
    let t = TestSystem::start().await;
    let database = t.database_url("tmf_standalone");
    let adapter = Adapter::start(&t, &database, 0).await;
    let port = adapter.address.port();
    let noc = Rest::at(adapter.address, t.token("csm-services"));

    let crm = Listener::default();
    let crm_at = crm.serve("127.0.0.1:0".parse().unwrap()).await;
    let quality_office = Listener::default();
    let office_at = free_port().await; // down until later
    let (status, registered) =
        noc.post(&format!("{V4}/hub"), json!({ "callback": format!("http://{crm_at}/listener") })).await;
    assert_eq!(status, StatusCode::CREATED, "{registered}");
    assert!(registered["id"].is_string());
    let query = "eventType=TroubleTicketStatusChangeEvent,TroubleTicketResolvedEvent";
    let body = json!({ "callback": format!("http://{office_at}/listener"), "query": query });
    assert_eq!(noc.post(&format!("{V4}/hub"), body).await.0, StatusCode::CREATED);
    let (status, error) = noc.post(&format!("{V4}/hub"), json!({ "callback": "ftp://nowhere" })).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{error}");

    let agent = Rest::at(adapter.address, t.token("agent"));
    let (_, created) =
        agent.post(&format!("{V4}/troubleTicket"), ticket("13800138010", "手机没信号 / no signal", "crm-1")).await;
    let id = created["id"].as_str().unwrap().to_string();
    let ticket = dispatched(&agent, &id).await;
    let case = ticket["relatedEntity"][0]["name"].as_str().unwrap().to_string();
    let department =
        t.recovery().get_case(GetCaseRequest { name: case.clone() }).await.unwrap().into_inner().department;
    let owner = Rest::at(adapter.address, t.token(&format!("dept-{department}")));
    let (status, _) = owner.patch(&format!("{V4}/troubleTicket/{id}"), json!({ "status": "inProgress" })).await;
    assert_eq!(status, StatusCode::OK);
    // The quality office is down, and the CRM hears everything regardless.
    assert_eq!(
        kinds(&crm.until(2).await),
        [("TroubleTicketCreateEvent", "acknowledged"), ("TroubleTicketStatusChangeEvent", "inProgress")]
    );

    // The adapter stops; the case is resolved meanwhile, straight through recovery.
    adapter.stop().await;
    let resolve = ResolveCaseRequest {
        name: case,
        resolution: "基站已恢复 / the cell site is back".into(),
        request_id: String::new(),
    };
    t.recovery_as(&format!("dept-{department}")).resolve_case(resolve).await.unwrap();
    let adapter = Adapter::start(&t, &database, port).await;
    let expected = [
        ("TroubleTicketCreateEvent", "acknowledged"),
        ("TroubleTicketStatusChangeEvent", "inProgress"),
        ("TroubleTicketStatusChangeEvent", "resolved"),
        ("TroubleTicketResolvedEvent", "resolved"),
    ];
    assert_eq!(kinds(&crm.until(4).await), expected);

    // The quality office comes up and gets what it missed, in order, and nothing it did not ask for.
    quality_office.serve(office_at).await;
    assert_eq!(kinds(&quality_office.until(3).await), expected[1..]);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(crm.seen().len(), 4, "nothing twice without a failure");
    assert_eq!(quality_office.seen().len(), 3);
    let event = quality_office.received.lock().unwrap()[2].clone();
    assert_eq!(event["event"]["troubleTicket"]["id"], id.as_str());
    assert!(event["eventId"].is_string() && event["eventTime"].is_string());
    adapter.stop().await;
    t.stop().await;
}
