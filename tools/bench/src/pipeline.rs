//! The whole pipeline: intake, classification, recovery and measurement, each a process of its
//! own on its own database, following one another's feeds as in production. Complaints are
//! submitted to intake at a fixed rate, each from a customer of its own (so each opens a case of
//! its own), and each is timed
//! - to its case being open: from the start of its `SubmitContact` call to the time recovery
//!   stamped on its `CaseOpened` (same clock: one machine);
//! - to the indicator that counts it: an indicator of classified work orders
//!   (`count(work_orders where classified = true)`), queried every 50 ms. Measurement publishes no
//!   event per order, so the k-th order submitted is taken to be counted when the count first
//!   reaches k: exact when orders are counted in the order they were submitted, and close
//!   otherwise.
//!
//! Each order's time to its case is also split at the stages it passes: intake answering the
//! submission; classification classifying it, up to the time it stamped on its WorkOrderClassified
//! (as the event is queued, before classification's batch is written and committed); and from
//! there to recovery's CaseOpened, which holds classification's write and commit, the delivery,
//! and recovery's batch. The stage with the longest tail is where to look first.
//!
//! Every second it reads each service's consumer lag gauges from its metrics endpoint; a lag that
//! grows over the run is a consumer that cannot keep up. CPU per order comes from each process's
//! own accounting (and PostgreSQL's processes, on PostgreSQL).

use std::{
    collections::{BTreeMap, HashMap},
    sync::Arc,
    time::{Duration, Instant},
};

use csm_cli::{clients, tokens::DevTokens};
use csm_kit::time;
use csm_proto::{
    classification::v1::WorkOrderClassified,
    measurement::v1::{
        CoreProcess, CreateIndicatorRequest, Direction, Granularity, Indicator, IndicatorKind, QuerySeriesRequest,
    },
};
use tokio::sync::Mutex;
use tokio_util::sync::CancellationToken;

use crate::{
    accounting::{CpuMeter, costs_text},
    contact, describe,
    figures::Figures,
    load::{self, histogram},
    recovery::{follow_cases, follow_stamps},
    service::{Backend, Service, free_port},
};

const SERVICES: [&str; 4] = ["intake", "classification", "recovery", "measurement"];
const URL_KEYS: [&str; 4] = [
    "CSM_UPSTREAM__INTAKE__URL",
    "CSM_UPSTREAM__CLASSIFICATION__URL",
    "CSM_UPSTREAM__RECOVERY__URL",
    "CSM_UPSTREAM__MEASUREMENT__URL",
];
const TOKEN_KEYS: [&str; 4] = [
    "CSM_UPSTREAM__INTAKE__TOKEN",
    "CSM_UPSTREAM__CLASSIFICATION__TOKEN",
    "CSM_UPSTREAM__RECOVERY__TOKEN",
    "CSM_UPSTREAM__MEASUREMENT__TOKEN",
];
/// Whose feeds each service follows, by index into [`SERVICES`].
const UPSTREAMS: [&[usize]; 4] = [&[1], &[0, 2], &[0, 1], &[0, 1, 2]];
const INDICATOR: &str = "pipeline_classified_orders";
/// Orders submitted before this are not timed: the services' caches and connections warm up.
const WARMUP: Duration = Duration::from_secs(5);

/// The four services of one system.
struct System {
    services: Vec<Service>,
    metrics: Vec<u16>,
    tokens: DevTokens,
    _dir: tempfile::TempDir,
}

impl System {
    async fn start(backend: &Backend) -> anyhow::Result<Self> {
        let dir = tempfile::Builder::new().prefix("csm-bench-pipeline-").tempdir()?;
        let tokens_file = dir.path().join("tokens.toml");
        let tokens = DevTokens::load_or_create(&tokens_file)?;
        let ports: Vec<u16> = (0..4).map(|_| free_port()).collect::<Result<_, _>>()?;
        let metrics: Vec<u16> = (0..4).map(|_| free_port()).collect::<Result<_, _>>()?;
        let mut services = Vec::new();
        for (i, name) in SERVICES.iter().enumerate() {
            let mut env = vec![
                // The bench is one caller standing for several channel gateways.
                ("CSM_SERVER__MAX_CONCURRENT_REQUESTS_PER_CALLER", "512".to_string()),
                ("CSM_TELEMETRY__METRICS", "true".to_string()),
                ("CSM_TELEMETRY__METRICS_ADDRESS", format!("127.0.0.1:{}", metrics[i])),
            ];
            for &upstream in UPSTREAMS[i] {
                env.push((URL_KEYS[upstream], format!("http://127.0.0.1:{}", ports[upstream])));
                env.push((TOKEN_KEYS[upstream], tokens.service().to_string()));
            }
            let binary = format!("csm-{name}");
            services.push(Service::start_on(&binary, backend, &env, ports[i], Some(tokens_file.clone())).await?);
        }
        Ok(Self { services, metrics, tokens, _dir: dir })
    }

    fn intake(&self) -> &Service {
        &self.services[0]
    }

    fn measurement(&self) -> &Service {
        &self.services[3]
    }

    /// Each consumer's lag in events, from every service's metrics endpoint.
    async fn lags(&self) -> BTreeMap<String, f64> {
        let mut lags = BTreeMap::new();
        for (i, port) in self.metrics.iter().enumerate() {
            let Ok(page) = reqwest::get(format!("http://127.0.0.1:{port}/metrics")).await else { continue };
            let Ok(text) = page.text().await else { continue };
            for line in text.lines().filter(|l| l.starts_with("csm_feed_consumer_lag_events")) {
                let Some((series, value)) = line.rsplit_once(' ') else { continue };
                // The follower's consumer is named for what it follows ("intake", "recovery-outcomes").
                let consumer = label(series, "consumer").unwrap_or(series);
                lags.insert(format!("{} following {consumer}", SERVICES[i]), value.parse().unwrap_or(0.0));
            }
        }
        lags
    }

    async fn stop(self) -> anyhow::Result<()> {
        for service in self.services.into_iter().rev() {
            service.stop().await?;
        }
        Ok(())
    }
}

/// The value of `name="..."` in a Prometheus series.
fn label<'a>(series: &'a str, name: &str) -> Option<&'a str> {
    let start = series.find(&format!("{name}=\""))? + name.len() + 2;
    let end = series[start..].find('"')? + start;
    Some(&series[start..end])
}

/// The classified orders measurement counts, summed over the days around now.
async fn counted(measurement: &mut Measurement) -> anyhow::Result<i64> {
    let now = time::now_micros();
    let day = 86_400_000_000;
    let series = measurement
        .query_series(QuerySeriesRequest {
            indicator: format!("indicators/{INDICATOR}"),
            granularity: Granularity::Day as i32,
            start_time: Some(time::timestamp_from_micros(now - 40 * day)),
            end_time: Some(time::timestamp_from_micros(now + 2 * day)),
            ..Default::default()
        })
        .await?
        .into_inner();
    Ok(series.points.iter().map(|p| p.numerator).sum())
}

type Measurement =
    csm_proto::measurement::v1::measurement_service_client::MeasurementServiceClient<csm_cli::clients::Authenticated>;

/// Polls the indicator every 50 ms until `stop`: (when, count) pairs.
fn poll_indicator(mut measurement: Measurement, stop: CancellationToken) -> tokio::task::JoinHandle<Vec<(i64, i64)>> {
    tokio::spawn(async move {
        let mut counts = Vec::new();
        while !stop.is_cancelled() {
            if let Ok(count) = counted(&mut measurement).await {
                counts.push((time::now_micros(), count));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        // The run stops as soon as every order is counted, which may be after the last poll:
        // one more sample, so orders counted since are not reported as never counted.
        if let Ok(count) = counted(&mut measurement).await {
            counts.push((time::now_micros(), count));
        }
        counts
    })
}

/// Samples every consumer's lag once a second until `stop`.
fn sample_lags(system: Arc<System>, stop: CancellationToken) -> tokio::task::JoinHandle<BTreeMap<String, Vec<f64>>> {
    tokio::spawn(async move {
        let mut lags: BTreeMap<String, Vec<f64>> = BTreeMap::new();
        while !stop.is_cancelled() {
            for (consumer, lag) in system.lags().await {
                lags.entry(consumer).or_default().push(lag);
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        lags
    })
}

async fn create_indicator(system: &System) -> anyhow::Result<()> {
    let indicator = Indicator {
        key: INDICATOR.into(),
        name_en: "Classified work orders".into(),
        kind: IndicatorKind::Kci as i32,
        unit: "count".into(),
        direction: Direction::LowerIsBetter as i32,
        formula: "count(work_orders where classified = true)".into(),
        process: CoreProcess::ComplaintResolution as i32,
        ..Default::default()
    };
    clients::measurement(system.measurement().address, system.tokens.administrator())?
        .create_indicator(CreateIndicatorRequest { indicator: Some(indicator) })
        .await?;
    Ok(())
}

/// One submitted complaint: its work order, when its call started and when intake answered (µs
/// since the epoch).
type Submitted = (String, i64, i64);

/// Submits complaints at `rate` for `WARMUP + duration`; each from a customer of its own.
async fn submit(system: &System, rate: u64, duration: Duration) -> anyhow::Result<Vec<Submitted>> {
    let token = system.tokens.of("channel-gateway").unwrap_or_default().to_string();
    let clients: Vec<_> = (0..4).map(|_| clients::intake(system.intake().address, &token)).collect::<Result<_, _>>()?;
    let run = uuid::Uuid::new_v4().simple().to_string();
    let submitted: Arc<Mutex<Vec<Submitted>>> = Arc::default();
    let measured = {
        let submitted = submitted.clone();
        load::open_loop(rate, Duration::ZERO, WARMUP + duration, move |n| {
            let mut client = clients[(n % 4) as usize].clone();
            let mut request = contact(&run, n, true);
            request.phone_number = format!("139{n:08}");
            request.occurred_at = Some(time::to_timestamp(chrono::Utc::now()));
            let submitted = submitted.clone();
            async move {
                let at = time::now_micros();
                let answer = match client.submit_contact(request).await {
                    Ok(answer) => answer,
                    Err(status) => {
                        load::note_error(&status);
                        return false;
                    }
                };
                let answered = time::now_micros();
                let order = answer.into_inner().work_order.map(|o| o.name).unwrap_or_default();
                submitted.lock().await.push((order, at, answered));
                true
            }
        })
        .await
    };
    if measured.errors > 0 {
        println!(
            "  {} submissions failed, the first with {}",
            measured.errors,
            load::first_error().unwrap_or_default()
        );
    }
    let mut submitted = std::mem::take(&mut *submitted.lock().await);
    submitted.sort_by_key(|(_, at, _)| *at);
    Ok(submitted)
}

/// Gives PostgreSQL statistics of the services' new tables once the warm-up has filled them. A
/// live database has them (autovacuum analyzes a table after its first few dozen changes, within
/// a minute); a database minutes old has none, and plans made for empty tables scan whole tables
/// once they are not empty. The run measures the steady state, not the first minute.
async fn analyze_after_warmup(databases: Vec<String>) {
    tokio::time::sleep(WARMUP).await;
    for url in databases {
        if let Ok(db) = sea_orm::Database::connect(url).await {
            let _ = sea_orm::ConnectionTrait::execute_unprepared(&db, "ANALYZE").await;
            let _ = db.close().await;
        }
    }
}

pub async fn run(backend: Backend, rate: u64, duration: Duration) -> anyhow::Result<()> {
    let system = Arc::new(System::start(&backend).await?);
    create_indicator(&system).await?;
    let stop = CancellationToken::new();
    let opened = Arc::new(Mutex::new(HashMap::new()));
    let follower = tokio::spawn(follow_cases(
        system.services[2].address,
        system.tokens.administrator().to_string(),
        opened.clone(),
        stop.clone(),
    ));
    let classified = Arc::new(Mutex::new(HashMap::new()));
    let classified_follower = tokio::spawn(follow_stamps::<WorkOrderClassified>(
        system.services[1].address,
        system.tokens.administrator().to_string(),
        |c| c.work_order.map(|o| o.name),
        classified.clone(),
        stop.clone(),
    ));
    let measurement = clients::measurement(system.measurement().address, system.tokens.administrator())?;
    let poller = poll_indicator(measurement, stop.clone());
    let lag_sampler = sample_lags(system.clone(), stop.clone());
    let pids = system.services.iter().zip(SERVICES).map(|(s, name)| (name.to_string(), s.pid())).collect();
    let cpu = CpuMeter::start(pids, matches!(backend, Backend::Postgres(_)));
    if matches!(backend, Backend::Postgres(_)) {
        tokio::spawn(analyze_after_warmup(system.services.iter().map(|s| s.database_url.clone()).collect()));
    }
    let started = Instant::now();
    let timed_from = time::now_micros() + WARMUP.as_micros() as i64;
    let submitted = submit(&system, rate, duration).await?;
    let offered = submitted.len() as f64 / started.elapsed().as_secs_f64();
    // The stragglers: every case open and every order counted, or 60 s.
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut measurement = clients::measurement(system.measurement().address, system.tokens.administrator())?;
    while Instant::now() < deadline {
        let cases = opened.lock().await.len();
        let count = counted(&mut measurement).await.unwrap_or(0);
        if cases >= submitted.len() && count >= submitted.len() as i64 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let costs = cpu.per_op(submitted.len() as u64);
    stop.cancel();
    follower.await??;
    classified_follower.await??;
    let counts = poller.await?;
    let lags = lag_sampler.await?;

    let opened = opened.lock().await;
    let classified = classified.lock().await;
    let (mut to_case, mut to_indicator) = (histogram(), histogram());
    // Submission to intake's answer, answer to WorkOrderClassified, WorkOrderClassified to CaseOpened.
    let mut stages = [histogram(), histogram(), histogram()];
    let (mut cases_missing, mut uncounted, mut unstamped) = (0, 0, 0);
    for (k, (order, at, answered)) in submitted.iter().enumerate() {
        let timed = *at >= timed_from;
        match opened.get(order) {
            Some(case_at) if timed => {
                to_case.saturating_record((case_at - at).max(1) as u64);
                let ends = [Some(*answered), classified.get(order).copied(), Some(*case_at)];
                unstamped += usize::from(ends[1].is_none());
                let mut from = Some(*at);
                for (stage, end) in stages.iter_mut().zip(ends) {
                    if let (Some(from), Some(end)) = (from, end) {
                        stage.saturating_record((end - from).max(1) as u64);
                    }
                    from = end;
                }
            }
            Some(_) => {}
            None => cases_missing += 1,
        }
        // The first poll at which the count had reached k + 1.
        let first = counts.partition_point(|(_, count)| *count < k as i64 + 1);
        match counts.get(first) {
            Some((when, _)) if timed => to_indicator.saturating_record((when - at).max(1) as u64),
            Some(_) => {}
            None => uncounted += 1,
        }
    }
    let ms = |h: &hdrhistogram::Histogram<u64>, q: f64| h.value_at_quantile(q) as f64 / 1000.0;
    let mut figures = Figures::default();
    figures.add("to_case_p50_ms", ms(&to_case, 0.5));
    figures.add("to_case_p99_ms", ms(&to_case, 0.99));
    figures.add("to_indicator_p50_ms", ms(&to_indicator, 0.5));
    figures.add("to_indicator_p99_ms", ms(&to_indicator, 0.99));
    println!(
        "pipeline, {}, {offered:.0} complaints/s offered for {:.0} s (+{} s warm-up): {} orders, {cases_missing} without a case, {uncounted} not counted",
        describe(&backend),
        duration.as_secs_f64(),
        WARMUP.as_secs(),
        submitted.len(),
    );
    println!(
        "  submission to case open: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        ms(&to_case, 0.5),
        ms(&to_case, 0.99),
        to_case.max() as f64 / 1000.0
    );
    println!(
        "  its stages, p50 / p99: intake answering {:.1} / {:.1} ms; then classification classifying it {:.1} / {:.1} ms; then its write and commit, the delivery and recovery's batch up to CaseOpened {:.1} / {:.1} ms ({unstamped} orders without a WorkOrderClassified left out)",
        ms(&stages[0], 0.5),
        ms(&stages[0], 0.99),
        ms(&stages[1], 0.5),
        ms(&stages[1], 0.99),
        ms(&stages[2], 0.5),
        ms(&stages[2], 0.99),
    );
    for (stage, histogram) in ["answered", "classified", "case"].iter().zip(&stages) {
        figures.add_named(format!("stage_{stage}_p50_ms"), ms(histogram, 0.5));
        figures.add_named(format!("stage_{stage}_p99_ms"), ms(histogram, 0.99));
    }
    println!(
        "  submission to the indicator counting it (polled every 50 ms): p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        ms(&to_indicator, 0.5),
        ms(&to_indicator, 0.99),
        to_indicator.max() as f64 / 1000.0
    );
    println!("  CPU per order: {}", costs_text(&costs));
    for (name, ms) in &costs {
        figures.add_named(format!("cpu_ms_{name}"), *ms);
    }
    println!("  consumer lag in events (sampled each second: first third of the run, last third, largest):");
    for (consumer, samples) in &lags {
        let third = (samples.len() / 3).max(1);
        let mean = |s: &[f64]| s.iter().sum::<f64>() / s.len().max(1) as f64;
        let largest = samples.iter().copied().fold(0.0, f64::max);
        let (first, last) =
            (mean(&samples[..third.min(samples.len())]), mean(&samples[samples.len() - third.min(samples.len())..]));
        println!("    {consumer}: {first:.0}, {last:.0}, {largest:.0}");
    }
    for (service, name) in system.services.iter().zip(SERVICES) {
        let (peak, _) = service.memory_mib();
        println!("  {name} RSS peak {peak:.0} MiB");
        figures.add_named(format!("rss_peak_mib_{name}"), peak);
    }
    figures.print();
    drop((opened, classified));
    Arc::into_inner(system).ok_or_else(|| anyhow::anyhow!("the system is still in use"))?.stop().await
}
