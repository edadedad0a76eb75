//! Rolling restarts are invisible to callers: while a service is stopped gracefully and started
//! again (as Kubernetes replaces a pod on every upgrade), a client calling it all the while gets
//! no error, and nothing it submitted is lost or recorded twice.

use std::{
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    time::Duration,
};

use csm_cli::{clients, system::url};
use csm_kit::config::{AuthSettings, CommonSettings, DatabaseSettings, UpstreamSettings};
use csm_proto::{
    classification::v1::GetTaxonomyRequest, intake::v1::ListWorkOrdersRequest, measurement::v1::ListIndicatorsRequest,
    recovery::v1::ListCasesRequest,
};
use tokio_util::sync::CancellationToken;

use crate::support::{
    Backend, complaint, feed_head,
    isolated::{Isolated, Launch},
    quick_feed, tokens,
};

const LOCALHOST: ([u8; 4], u16) = ([127, 0, 0, 1], 0);

/// Upstreams nobody listens on: these tests restart one service alone, and its consumers only
/// retry in the background.
fn nowhere(token: &str) -> UpstreamSettings {
    UpstreamSettings::new("http://127.0.0.1:9".to_string(), token)
}

fn common(backend: &Backend, service: &str, auth: &AuthSettings) -> CommonSettings {
    CommonSettings {
        database: DatabaseSettings { url: backend.url(service), max_connections: 4, ..DatabaseSettings::default() },
        auth: auth.clone(),
        feed: quick_feed(),
        ..CommonSettings::default()
    }
}

/// A launch of one service alone on `backend`, its upstreams nowhere.
pub fn launch(service: &'static str, backend: &Backend, auth: &AuthSettings, token: &str) -> Launch {
    if service == "classification" {
        crate::support::keep_starter_models();
    }
    let common = common(backend, service, auth);
    let up = nowhere(token);
    Box::new(move |listener, stop: CancellationToken| {
        let common = common.clone();
        let stop = stop.cancelled_owned();
        match service {
            "intake" => Box::pin(csm_intake::run(csm_intake::Config { common, ..Default::default() }, listener, stop)),
            "classification" => Box::pin(csm_classification::run(
                csm_classification::Config {
                    common,
                    upstream: csm_classification::config::Upstreams { intake: up.clone(), recovery: up.clone() },
                    ..Default::default()
                },
                listener,
                stop,
            )),
            "recovery" => Box::pin(csm_recovery::run(
                csm_recovery::Config {
                    common,
                    upstream: csm_recovery::config::Upstreams { intake: up.clone(), classification: up.clone() },
                    recovery: Default::default(),
                },
                listener,
                stop,
            )),
            _ => Box::pin(csm_measurement::run(
                csm_measurement::Config {
                    common,
                    upstream: csm_measurement::config::Upstreams {
                        intake: up.clone(),
                        classification: up.clone(),
                        recovery: up.clone(),
                    },
                    measurement: Default::default(),
                },
                listener,
                stop,
            )),
        }
    })
}

/// Stops the service gracefully and starts it again, `times` times, with calls flowing between.
async fn roll(service: &mut Isolated, times: usize, calls: &AtomicUsize) {
    for _ in 0..times {
        let before = calls.load(Ordering::SeqCst);
        let flowing = tokio::time::Instant::now() + Duration::from_secs(20);
        while calls.load(Ordering::SeqCst) < before + 10 {
            assert!(tokio::time::Instant::now() < flowing, "calls stopped flowing");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        service.stop().await;
        tokio::time::sleep(Duration::from_millis(50)).await;
        service.start_again();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_submitting_through_a_rolling_restart_of_intake_gets_no_error_and_loses_nothing() {
    let backend = Backend::from_env();
    let (tokens, auth) = tokens();
    let mut intake = Isolated::start(LOCALHOST.into(), launch("intake", &backend, &auth, tokens.service()));
    let gateway = tokens.of("channel-gateway").unwrap().to_string();
    let submitted = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let submitter = {
        let (address, submitted, done) = (intake.address, submitted.clone(), done.clone());
        tokio::spawn(async move {
            let mut client = clients::intake(address, &gateway).unwrap();
            let mut i = 0;
            while !done.load(Ordering::SeqCst) {
                let request = complaint(&format!("139{i:08}"), "宽带断网三天了");
                if let Err(status) = client.submit_contact(request).await {
                    panic!("submission {i} refused during the roll: {status:?}");
                }
                i += 1;
                submitted.store(i, Ordering::SeqCst);
            }
            i
        })
    };
    roll(&mut intake, 3, &submitted).await;
    let before = submitted.load(Ordering::SeqCst);
    while submitted.load(Ordering::SeqCst) < before + 10 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    done.store(true, Ordering::SeqCst);
    let count = submitter.await.unwrap();

    // Each submission recorded one contact and opened one work order, exactly once.
    let admin = tokens.administrator();
    let mut feed = clients::feed(intake.address, admin).unwrap();
    assert_eq!(feed_head(&mut feed).await as usize, 2 * count, "one contact and one work order per submission");
    let mut client = clients::intake(intake.address, admin).unwrap();
    let mut orders = 0;
    let mut page_token = String::new();
    loop {
        let page = client
            .list_work_orders(ListWorkOrdersRequest { page_size: 500, page_token, ..Default::default() })
            .await
            .unwrap()
            .into_inner();
        orders += page.work_orders.len();
        if page.next_page_token.is_empty() {
            break;
        }
        page_token = page.next_page_token;
    }
    assert_eq!(orders, count, "every acknowledged submission has its work order, once");
    intake.stop().await;
    backend.cleanup().await;
}

/// A graceful stop answers every call it took: with calls arriving on a plain tonic channel (which
/// sends nothing twice), every call fails only if the server never saw it, and every call answered
/// is stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_graceful_stop_answers_every_call_it_took() {
    let backend = Backend::from_env();
    let (tokens, auth) = tokens();
    let mut intake = Isolated::start(LOCALHOST.into(), launch("intake", &backend, &auth, tokens.service()));
    let gateway = tokens.of("channel-gateway").unwrap().to_string();
    let channel = tonic::transport::Endpoint::from_shared(url(intake.address)).unwrap().connect_lazy();
    let interceptor = csm_kit::client::CallerInterceptor::new(&gateway).unwrap();
    let client =
        csm_proto::intake::v1::intake_service_client::IntakeServiceClient::with_interceptor(channel, interceptor);
    let answered = Arc::new(AtomicUsize::new(0));
    let stopping = Arc::new(AtomicBool::new(false));
    let mut callers = Vec::new();
    for caller in 0..8 {
        let (mut client, answered, stopping) = (client.clone(), answered.clone(), stopping.clone());
        callers.push(tokio::spawn(async move {
            let mut refused = 0;
            for i in 0.. {
                let request = complaint(&format!("136{caller:02}{i:06}"), "宽带断网三天了");
                match client.submit_contact(request).await {
                    Ok(_) => {
                        answered.fetch_add(1, Ordering::SeqCst);
                    }
                    Err(status) => {
                        assert!(
                            csm_kit::client::never_reached_server(&status),
                            "a call the server took was answered with an error: {status:?}"
                        );
                        refused += 1;
                        if stopping.load(Ordering::SeqCst) && refused > 3 {
                            return;
                        }
                    }
                }
            }
        }));
    }
    while answered.load(Ordering::SeqCst) < 200 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    stopping.store(true, Ordering::SeqCst);
    intake.stop().await;
    for caller in callers {
        caller.await.unwrap();
    }
    intake.start_again();
    let mut feed = clients::feed(intake.address, tokens.administrator()).unwrap();
    assert_eq!(
        feed_head(&mut feed).await as usize,
        2 * answered.load(Ordering::SeqCst),
        "every answered submission was stored, and nothing else"
    );
    intake.stop().await;
    backend.cleanup().await;
}

/// Reads each service with a caller of its own while the service rolls; any error fails.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_service_rolls_while_calls_flow_without_an_error() {
    let backend = Backend::from_env();
    let (tokens, auth) = tokens();
    let admin = tokens.administrator().to_string();
    for service in ["intake", "classification", "recovery", "measurement"] {
        let mut running = Isolated::start(LOCALHOST.into(), launch(service, &backend, &auth, tokens.service()));
        let calls = Arc::new(AtomicUsize::new(0));
        let done = Arc::new(AtomicBool::new(false));
        let caller = tokio::spawn(read_until(service, running.address, admin.clone(), calls.clone(), done.clone()));
        roll(&mut running, 2, &calls).await;
        let before = calls.load(Ordering::SeqCst);
        while calls.load(Ordering::SeqCst) < before + 10 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        done.store(true, Ordering::SeqCst);
        caller.await.unwrap();
        running.stop().await;
    }
    backend.cleanup().await;
}

async fn read_until(service: &str, address: SocketAddr, token: String, calls: Arc<AtomicUsize>, done: Arc<AtomicBool>) {
    let _ = url(address);
    while !done.load(Ordering::SeqCst) {
        let outcome = match service {
            "intake" => clients::intake(address, &token)
                .unwrap()
                .list_work_orders(ListWorkOrdersRequest::default())
                .await
                .map(drop),
            "classification" => clients::classification(address, &token)
                .unwrap()
                .get_taxonomy(GetTaxonomyRequest::default())
                .await
                .map(drop),
            "recovery" => {
                clients::recovery(address, &token).unwrap().list_cases(ListCasesRequest::default()).await.map(drop)
            }
            _ => clients::measurement(address, &token)
                .unwrap()
                .list_indicators(ListIndicatorsRequest::default())
                .await
                .map(drop),
        };
        if let Err(status) = outcome {
            panic!("{service}: a call failed during the roll: {status:?}");
        }
        calls.fetch_add(1, Ordering::SeqCst);
    }
}
