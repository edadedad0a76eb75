//! The TM Forum adapter's notifications under load: recovery (following a feed the bench
//! publishes classified work orders on) and the adapter (following recovery's feed) as processes
//! of their own; a listener in the bench registered at the adapter's hub; cases put on hold at a
//! fixed rate straight through recovery. Each latency runs from the start of the hold call (before
//! the change is committed) to the listener receiving its TroubleTicketStatusChangeEvent.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use axum::{Json, Router, extract::State, routing::post};
use csm_cli::clients;
use csm_proto::recovery::v1::{Transition, TransitionCaseRequest};
use serde_json::Value;

use crate::{
    describe,
    load::histogram,
    recovery::{Upstream, open_cases, start},
    service::{Backend, Service},
};

type Received = Arc<Mutex<HashMap<String, Instant>>>;

/// Serves the listener's callback on a free port: records when each held ticket's notification
/// arrived.
async fn listen(received: Received) -> anyhow::Result<std::net::SocketAddr> {
    let app = Router::new()
        .route(
            "/listener",
            post(|State(received): State<Received>, Json(event): Json<Value>| async move {
                let ticket = &event["event"]["troubleTicket"];
                if let Some(id) = ticket["relatedEntity"][0]["name"].as_str()
                    && let Ok(mut received) = received.lock()
                {
                    received.entry(id.to_string()).or_insert_with(Instant::now);
                }
                axum::http::StatusCode::CREATED
            }),
        )
        .with_state(received);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let address = listener.local_addr()?;
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(address)
}

pub async fn notify(backend: Backend, rate: u64, duration: Duration) -> anyhow::Result<()> {
    let upstream = Upstream::start().await?;
    let recovery = start(&backend, &upstream).await?;
    let count = (rate as f64 * duration.as_secs_f64()).max(1.0) as u64;
    let cases = open_cases(&recovery, &upstream, count).await?;
    let department = clients::recovery(recovery.address, recovery.tokens.of("dept-billing").unwrap_or_default())?;
    let step = |name: &str, transition: Transition, reason: &str| TransitionCaseRequest {
        name: name.to_string(),
        transition: transition as i32,
        reason: reason.to_string(),
        ..Default::default()
    };
    for name in &cases {
        department.clone().transition_case(step(name, Transition::Accept, "")).await?;
    }

    let recovery_url = format!("http://{}", recovery.address);
    let env = [
        ("CSM_UPSTREAM__RECOVERY__URL", recovery_url.clone()),
        ("CSM_UPSTREAM__RECOVERY__TOKEN", recovery.tokens.service().to_string()),
        ("CSM_UPSTREAM__INTAKE__URL", recovery_url),
    ];
    let adapter = Service::start("csm-tmf", &backend, &env).await?;
    let http = reqwest::Client::new();
    let root = format!("http://{}/tmf-api/troubleTicket/v4", adapter.address);
    let token = adapter.tokens.service().to_string();
    // The adapter first learns every case from recovery's feed.
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let listed =
            http.get(format!("{root}/troubleTicket?limit=1&status=inProgress")).bearer_auth(&token).send().await?;
        let total: u64 = listed.headers().get("X-Total-Count").and_then(|v| v.to_str().ok()?.parse().ok()).unwrap_or(0);
        if total >= count {
            break;
        }
        anyhow::ensure!(Instant::now() < deadline, "the adapter learned only {total} of {count} tickets");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let received: Received = Arc::default();
    let callback = listen(received.clone()).await?;
    let hub = serde_json::json!({
        "callback": format!("http://{callback}/listener"),
        "query": "eventType=TroubleTicketStatusChangeEvent&status=held",
    });
    let registered = http.post(format!("{root}/hub")).bearer_auth(&token).json(&hub).send().await?;
    anyhow::ensure!(registered.status().is_success(), "hub registration: {}", registered.text().await?);

    let mut changed = HashMap::with_capacity(cases.len());
    let interval = Duration::from_secs_f64(1.0 / rate as f64);
    let mut ticks = tokio::time::interval(interval);
    let started = Instant::now();
    for name in &cases {
        ticks.tick().await;
        let at = Instant::now();
        department.clone().transition_case(step(name, Transition::Hold, "waiting for a part")).await?;
        changed.insert(name.clone(), at);
    }
    let offered = cases.len() as f64 / started.elapsed().as_secs_f64();
    let deadline = Instant::now() + Duration::from_secs(60);
    while received.lock().map(|r| r.len()).unwrap_or(0) < cases.len() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let received = received.lock().map(|r| r.clone()).unwrap_or_default();
    let mut latency = histogram();
    for (name, at) in &changed {
        if let Some(arrived) = received.get(name) {
            latency.record(arrived.saturating_duration_since(*at).as_micros().max(1) as u64)?;
        }
    }
    let (peak, _) = adapter.memory_mib();
    let ms = |q: f64| latency.value_at_quantile(q) as f64 / 1000.0;
    println!(
        "tmf notifications, {}, {offered:.0} case changes/s: {} of {} delivered; change to listener p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms; adapter RSS peak {peak:.0} MiB",
        describe(&backend),
        latency.len(),
        changed.len(),
        ms(0.5),
        ms(0.99),
        latency.max() as f64 / 1000.0,
    );
    adapter.stop().await?;
    upstream.feed.stop();
    recovery.stop().await
}
