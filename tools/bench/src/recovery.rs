//! Recovery under load. The bench plays intake and classification: it serves a feed of its own
//! that recovery follows, publishing WorkOrderClassified events, and watches recovery's feed for
//! the CaseOpened events they cause.
//!
//! - `dispatch`: work orders classified at a fixed rate; the time from each WorkOrderClassified
//!   to its CaseOpened (both as the publishing service stamped them). With `--link`, an open
//!   service problem of the orders' leaf and region is raised first, so every case is linked to it
//!   as it is dispatched; surge detection is off in both, so the difference is the linking's.
//! - `transitions`: cases worked end to end (accept, start, resolve, callback, close) by many
//!   callers at once; transitions per second and the latency of each.

use std::{
    collections::HashMap,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use anyhow::Context;
use csm_cli::clients;
use csm_kit::{
    config::FeedSettings,
    feed::{StandaloneFeed, decode},
    time,
};
use csm_proto::{
    classification::v1::{Classification, WorkOrderClassified},
    feed::v1::SubscribeRequest,
    intake::v1::{Channel, ContactType, CustomerProfile, WorkOrder},
    recovery::v1::{
        CallbackOutcome, CaseOpened, CreateServiceProblemRequest, RecordCallbackRequest, ResolveCaseRequest,
        ServiceProblem, Transition, TransitionCaseRequest,
    },
};
use prost::Name;
use tokio::sync::Mutex;
use tokio_util::sync::CancellationToken;

use crate::{
    accounting::{self, CpuMeter, costs_text},
    figures::Figures,
    load::{Measured, histogram},
    reference,
    service::{Backend, Service, describe},
};

/// The stand-in for intake and classification: a feed and nothing else.
pub struct Upstream {
    pub feed: StandaloneFeed,
    _dir: tempfile::TempDir,
}

impl Upstream {
    pub async fn start() -> anyhow::Result<Self> {
        let dir = tempfile::Builder::new().prefix("csm-bench-upstream-").tempdir()?;
        let feed = StandaloneFeed::start(
            &dir.path().join("feed.db"),
            "classification",
            FeedSettings::default(),
            CancellationToken::new(),
        )
        .await
        .map_err(|e| anyhow::anyhow!("upstream feed: {e}"))?;
        Ok(Self { feed, _dir: dir })
    }

    /// Publishes one WorkOrderClassified per name, in one transaction; returns when it committed.
    async fn classify(&self, names: &[String]) -> anyhow::Result<i64> {
        let mut uow = self.feed.publisher.begin().await?;
        let now = time::now_micros();
        for name in names {
            uow.publish(name.clone(), &classified(name, now));
        }
        uow.commit().await?;
        Ok(time::now_micros())
    }
}

/// The region and root-cause leaf of every order the bench classifies.
const REGION: &str = "GD-SZ";
const LEAF: &str = "system.billing_error";

fn classified(name: &str, now: i64) -> WorkOrderClassified {
    let limit = 48 * 3600;
    let work_order = WorkOrder {
        name: name.to_string(),
        channel: Channel::HotlineAgent as i32,
        contact_type: ContactType::Complaint as i32,
        phone_number: format!("138{:08}", name.len() as u64 * 7919 % 100_000_000),
        text: "这个月话费莫名多扣了58元，要求退还".into(),
        open_time: Some(time::timestamp_from_micros(now)),
        customer_profile: Some(CustomerProfile { region: REGION.into(), ..Default::default() }),
        ..Default::default()
    };
    let classification = Classification {
        name: format!("{name}/classification"),
        work_order: name.to_string(),
        taxonomy_version: "taxonomies/default/versions/1".into(),
        leaf: LEAF.into(),
        path: vec!["system".into(), "system.billing_error".into()],
        responsible_department: "billing".into(),
        time_limit: Some(prost_types::Duration { seconds: limit, nanos: 0 }),
        deadline: Some(time::timestamp_from_micros(now + limit * 1_000_000)),
        ..Default::default()
    };
    WorkOrderClassified { classification: Some(classification), work_order: Some(work_order) }
}

fn work_order_name(run: &str, n: u64) -> String {
    format!("workOrders/{run}-{n:08}")
}

pub async fn start(backend: &Backend, upstream: &Upstream) -> anyhow::Result<Service> {
    let env = [
        ("CSM_UPSTREAM__INTAKE__URL", upstream.feed.url.clone()),
        ("CSM_UPSTREAM__CLASSIFICATION__URL", upstream.feed.url.clone()),
        // Every order is the same leaf in the same region: the surge would be detected at once.
        ("CSM_RECOVERY__SERVICE_PROBLEMS__DETECT", "false".to_string()),
    ];
    Service::start("csm-recovery", backend, &env).await
}

/// Follows recovery's feed and reports each CaseOpened: its work order and when it was published.
pub async fn follow_cases(
    address: std::net::SocketAddr,
    token: String,
    opened: Arc<Mutex<HashMap<String, i64>>>,
    stop: CancellationToken,
) -> anyhow::Result<()> {
    follow_stamps::<CaseOpened>(address, token, |c| c.case.map(|c| c.work_order), opened, stop).await
}

/// Follows a service's feed for events of type `M` until `stop`, noting for each the work order
/// `order_of` finds in it and the time its publisher stamped on it (µs since the epoch).
pub async fn follow_stamps<M: Name + Default>(
    address: std::net::SocketAddr,
    token: String,
    order_of: fn(M) -> Option<String>,
    stamps: Arc<Mutex<HashMap<String, i64>>>,
    stop: CancellationToken,
) -> anyhow::Result<()> {
    let mut stream = clients::feed(address, &token)?
        .max_decoding_message_size(64 << 20)
        .subscribe(SubscribeRequest { after_sequence: 0, event_types: vec![M::full_name()] })
        .await?
        .into_inner();
    loop {
        let event = tokio::select! {
            () = stop.cancelled() => return Ok(()),
            next = stream.message() => match next? { Some(event) => event, None => return Ok(()) },
        };
        let order = decode::<M>(&event).ok().and_then(order_of);
        let order = order.with_context(|| format!("{} without a work order", M::full_name()))?;
        let stamped = event.occurred_at.as_ref().and_then(time::from_timestamp).map_or(0, time::micros);
        stamps.lock().await.insert(order, stamped);
    }
}

/// Work orders classified at `rate` per second for `duration`; latency to CaseOpened.
pub async fn dispatch(backend: Backend, rate: u64, duration: Duration, link: bool) -> anyhow::Result<()> {
    let upstream = Upstream::start().await?;
    let service = start(&backend, &upstream).await?;
    if link {
        let problem = ServiceProblem {
            description: "billing run gone wrong".into(),
            category: "billing".into(),
            leaf: LEAF.into(),
            region: REGION.into(),
            department: "billing".into(),
            start_time: Some(time::timestamp_from_micros(time::now_micros() - 3_600_000_000)),
            ..Default::default()
        };
        let request = CreateServiceProblemRequest { service_problem: Some(problem), request_id: String::new() };
        clients::recovery(service.address, service.tokens.administrator())?.create_service_problem(request).await?;
    }
    let opened = Arc::new(Mutex::new(HashMap::new()));
    let stop = CancellationToken::new();
    let follower = tokio::spawn(follow_cases(
        service.address,
        service.tokens.administrator().to_string(),
        opened.clone(),
        stop.clone(),
    ));
    let run = uuid::Uuid::new_v4().simple().to_string();
    let cpu = CpuMeter::of_service(&service, &backend);

    // Published in 10 ms ticks, as a classification service under steady load would.
    let tick = Duration::from_millis(10);
    let per_tick = (rate as f64 * tick.as_secs_f64()).max(1.0);
    let total = (rate as f64 * duration.as_secs_f64()) as u64;
    let mut published: HashMap<String, i64> = HashMap::with_capacity(total as usize);
    let mut ticks = tokio::time::interval(tick);
    let started = Instant::now();
    let mut n = 0u64;
    let mut owed = 0.0;
    while n < total {
        ticks.tick().await;
        owed += per_tick;
        let batch: Vec<String> =
            (0..owed as u64).take((total - n) as usize).map(|i| work_order_name(&run, n + i)).collect();
        owed -= batch.len() as f64;
        n += batch.len() as u64;
        let at = upstream.classify(&batch).await?;
        published.extend(batch.into_iter().map(|name| (name, at)));
    }
    let offered = n as f64 / started.elapsed().as_secs_f64();
    // Wait for the stragglers.
    let deadline = Instant::now() + Duration::from_secs(60);
    while opened.lock().await.len() < published.len() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stop.cancel();
    follower.await??;
    let opened = opened.lock().await;
    let mut latency = histogram();
    for (name, at) in &published {
        if let Some(case_at) = opened.get(name) {
            latency.record((case_at - at).max(1) as u64)?;
        }
    }
    let measured = Measured {
        calls: latency.len(),
        errors: published.len() as u64 - latency.len(),
        elapsed: duration,
        latency,
        started_late: None,
    };
    let costs = cpu.per_op(measured.calls);
    let (peak, current) = service.memory_mib();
    println!(
        "recovery WorkOrderClassified -> CaseOpened, {}, {}, {offered:.0} orders/s offered: {} cases opened of {} ({} missing); latency p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms; service RSS peak {peak:.0} MiB (now {current:.0} MiB)",
        describe(&backend),
        if link { "every case linked to an open service problem" } else { "no open service problem" },
        measured.calls,
        published.len(),
        measured.errors,
        measured.latency.value_at_quantile(0.5) as f64 / 1000.0,
        measured.latency.value_at_quantile(0.99) as f64 / 1000.0,
        measured.latency.max() as f64 / 1000.0,
    );
    println!("  CPU per case opened (the feed it serves included): {}", costs_text(&costs));
    let mut figures = Figures::default();
    figures.add("p50_ms", measured.ms(0.5));
    figures.add("p99_ms", measured.ms(0.99));
    figures.add("cpu_ms_per_case", accounting::total(&costs));
    figures.add("rss_peak_mib", peak);
    figures.print();
    upstream.feed.stop();
    service.stop().await
}

/// `cases` cases worked end to end by `concurrency` callers at once.
/// Classifies `cases` work orders and waits until recovery dispatched a case for each; their names.
pub async fn open_cases(service: &Service, upstream: &Upstream, cases: u64) -> anyhow::Result<Vec<String>> {
    let run = uuid::Uuid::new_v4().simple().to_string();
    let names: Vec<String> = (0..cases).map(|n| work_order_name(&run, n)).collect();
    for chunk in names.chunks(1000) {
        upstream.classify(chunk).await?;
    }
    let opened = Arc::new(Mutex::new(HashMap::new()));
    let stop = CancellationToken::new();
    let follower = tokio::spawn(follow_cases(
        service.address,
        service.tokens.administrator().to_string(),
        opened.clone(),
        stop.clone(),
    ));
    let mut admin = clients::recovery(service.address, service.tokens.administrator())?;
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut case_names = Vec::new();
    while Instant::now() < deadline {
        if opened.lock().await.len() as u64 >= cases {
            let mut token = String::new();
            loop {
                let page = admin
                    .list_cases(csm_proto::recovery::v1::ListCasesRequest {
                        page_size: 500,
                        page_token: token,
                        ..Default::default()
                    })
                    .await?
                    .into_inner();
                case_names.extend(page.cases.into_iter().map(|c| c.name));
                if page.next_page_token.is_empty() {
                    break;
                }
                token = page.next_page_token;
            }
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    stop.cancel();
    follower.await??;
    anyhow::ensure!(case_names.len() as u64 == cases, "only {} of {cases} cases were dispatched", case_names.len());
    Ok(case_names)
}

pub async fn transitions(backend: Backend, cases: u64, concurrency: usize) -> anyhow::Result<()> {
    let upstream = Upstream::start().await?;
    let service = start(&backend, &upstream).await?;
    let case_names = open_cases(&service, &upstream, cases).await?;

    let department = clients::recovery(service.address, service.tokens.of("dept-billing").unwrap_or_default())?;
    let callbacks = clients::recovery(service.address, service.tokens.of("csm-services").unwrap_or_default())?;
    let agent = clients::recovery(service.address, service.tokens.of("agent").unwrap_or_default())?;
    let case_names = Arc::new(case_names);
    let next = Arc::new(AtomicU64::new(0));
    let latency = Arc::new(Mutex::new(histogram()));
    let errors = Arc::new(AtomicU64::new(0));
    let cpu = CpuMeter::of_service(&service, &backend);
    let started = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..concurrency {
        let (department, callbacks, agent) = (department.clone(), callbacks.clone(), agent.clone());
        let (case_names, next, latency, errors) = (case_names.clone(), next.clone(), latency.clone(), errors.clone());
        workers.push(tokio::spawn(async move {
            let mut own = histogram();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed) as usize;
                let Some(name) = case_names.get(i) else { break };
                let step = |transition: Transition| TransitionCaseRequest {
                    name: name.clone(),
                    transition: transition as i32,
                    ..Default::default()
                };
                for k in 0..5 {
                    let began = Instant::now();
                    let ok = match k {
                        0 => department.clone().transition_case(step(Transition::Accept)).await.is_ok(),
                        1 => department.clone().transition_case(step(Transition::Start)).await.is_ok(),
                        2 => department
                            .clone()
                            .resolve_case(ResolveCaseRequest {
                                name: name.clone(),
                                resolution: "已退费".into(),
                                request_id: String::new(),
                            })
                            .await
                            .is_ok(),
                        3 => callbacks
                            .clone()
                            .record_callback(RecordCallbackRequest {
                                name: name.clone(),
                                outcome: CallbackOutcome::Satisfied as i32,
                                ..Default::default()
                            })
                            .await
                            .is_ok(),
                        _ => agent.clone().transition_case(step(Transition::Close)).await.is_ok(),
                    };
                    let _ = own.record(began.elapsed().as_micros() as u64);
                    if !ok {
                        errors.fetch_add(1, Ordering::Relaxed);
                        break;
                    }
                }
            }
            let _ = latency.lock().await.add(own);
        }));
    }
    for worker in workers {
        worker.await?;
    }
    let elapsed = started.elapsed();
    let latency = Arc::try_unwrap(latency).map_err(|_| anyhow::anyhow!("workers still running"))?.into_inner();
    let measured =
        Measured { calls: latency.len(), errors: errors.load(Ordering::Relaxed), elapsed, latency, started_late: None };
    let costs = cpu.per_op(measured.calls);
    let (peak, current) = service.memory_mib();
    let flush = reference::disk_flush(service.dir(), 2000)?;
    println!(
        "recovery case transitions, {}, {concurrency} in flight, {cases} cases x 5 (accept, start, resolve, callback, close): {}\n  CPU per transition: {}\n  reference, {}\n  service RSS peak {peak:.0} MiB (now {current:.0} MiB)",
        describe(&backend),
        measured.summary("transitions"),
        costs_text(&costs),
        reference::describe_flush(&flush),
    );
    let mut figures = Figures::default();
    figures.add("transitions_per_s", measured.per_second());
    figures.add("p99_ms", measured.ms(0.99));
    figures.add("cpu_ms_per_transition", accounting::total(&costs));
    figures.add("rss_peak_mib", peak);
    figures.print();
    upstream.feed.stop();
    service.stop().await
}
