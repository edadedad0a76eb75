//! Metrics, from one place for every service: OpenTelemetry instruments, read in Prometheus' text
//! format (written by [`exposition`]) on the metrics port (`telemetry.metrics_address`) and pushed over OTLP as well when an
//! endpoint is configured. Names follow the OpenTelemetry conventions (`rpc.server.call.duration`,
//! `db.client.connection.count`); the Prometheus form replaces dots with underscores and adds the
//! unit (`rpc_server_call_duration_seconds`). docs/operations.md says what each one means.
//!
//! The instruments live for the whole process, so `csm up` (four services in one process) serves
//! them all on one port; the `rpc_service` and `consumer` labels tell the services apart.

use std::{
    collections::HashMap,
    net::SocketAddr,
    sync::{Mutex, OnceLock},
    time::Duration,
};

pub use opentelemetry::KeyValue;
use opentelemetry::metrics::{Counter, Gauge, Histogram, Meter, MeterProvider as _, UpDownCounter};
use opentelemetry_sdk::{Resource, metrics::SdkMeterProvider};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// Call latencies from a tenth of a millisecond to a minute, in seconds.
const CALL_SECONDS: &[f64] =
    &[0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0];
/// Group-commit batch sizes.
const BATCH_ITEMS: &[f64] = &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0, 4096.0];
/// Training runs, seconds.
const TRAINING_SECONDS: &[f64] = &[0.1, 0.5, 1.0, 5.0, 15.0, 60.0, 300.0, 900.0, 3600.0];

/// Every instrument the kit and the services record into.
mod exposition;

use exposition::Exposition;

#[derive(Debug)]
pub struct Metrics {
    exposition: Exposition,
    provider: SdkMeterProvider,
    meter: Meter,
    /// `rpc.server.call.duration`: each call's time to its last byte, by service, method and
    /// gRPC status code; its count is the request rate, split by status the error rate.
    pub call_duration: Histogram<f64>,
    /// `rpc.server.active_calls`: calls in flight, the signal to scale replicas on.
    pub active_calls: UpDownCounter<i64>,
    /// `csm.rpc.server.shed`: calls refused RESOURCE_EXHAUSTED because the server (`scope=server`)
    /// or the caller's share (`scope=caller`) was full.
    pub shed: Counter<u64>,
    /// `csm.feed.consumer.applied`: events a consumer applied.
    pub feed_applied: Counter<u64>,
    /// `csm.feed.consumer.dead_letters`: events a consumer set aside as dead letters.
    pub feed_dead_letters: Counter<u64>,
    /// `csm.feed.consumer.read_ahead`: events a consumer read while it applied the batch before.
    pub feed_read_ahead: Counter<u64>,
    /// `csm.feed.consumer.interruptions`: times a consumer stopped following and resumed from its
    /// cursor, by `cause`: `apply` (a batch rolled back, to be tried again), `cursor` (its cursor
    /// could not be read) or `upstream` (the subscription could not start, broke or ended).
    pub feed_interruptions: Counter<u64>,
    /// `csm.feed.consumer.lag.events`: events published upstream after the consumer's cursor (0
    /// when it is waiting for new ones).
    pub feed_lag_events: Gauge<u64>,
    /// `csm.feed.consumer.lag`: how old the last applied event was when more were waiting; 0 when
    /// caught up.
    pub feed_lag_seconds: Gauge<f64>,
    /// `csm.feed.head`: the sequence of a service's last published event.
    pub feed_head: Gauge<u64>,
    /// `csm.feed.reads`: reads a feed's subscriptions made, by where they were served `from`: the
    /// in-memory tail of recent commits (`memory`) or the database's outbox (`outbox`).
    pub feed_reads: Counter<u64>,
    /// `csm.group_commit.batch.size`: writes committed together.
    pub group_commit_batch: Histogram<u64>,
    /// `csm.group_commit.duration`: one group commit, statements and flush.
    pub group_commit_duration: Histogram<f64>,
    /// `csm.training.jobs`: training jobs ended, by kind and state.
    pub training_jobs: Counter<u64>,
    /// `csm.training.duration`: a training job from start to end.
    pub training_duration: Histogram<f64>,
    /// `csm.classification.outcomes`: customers' outcomes classification learned from recovery's
    /// feed for the risk model, by label (`dissatisfied`, `recovered`) and source.
    pub outcomes_learned: Counter<u64>,
    /// `csm.recovery.cases.overdue`: open cases past their deadline, as of the last escalation
    /// sweep.
    pub cases_overdue: Gauge<u64>,
    /// `csm.recovery.escalations`: escalation steps taken (cases and programmes).
    pub escalations: Counter<u64>,
    /// `csm.recovery.detractors`: dissatisfied answers followed up, by `route` (reopened_case,
    /// care_task) and `contact_method` (phone, sms).
    pub detractors: Counter<u64>,
    /// `csm.recovery.detractors.recovered`: detractor loops a later, satisfied answer recovered.
    pub detractors_recovered: Counter<u64>,
    /// `csm.recovery.appeal_risks`: cases that came within the warning window of the regulator's
    /// answer due time (`past_due` false) or passed it (`past_due` true).
    pub appeal_risks: Counter<u64>,
    /// `csm.recovery.service_problems`: service problems (重大故障) opened, by `origin` (raised,
    /// detected).
    pub service_problems: Counter<u64>,
    /// `csm.recovery.problem_links`: cases linked to a service problem.
    pub problem_links: Counter<u64>,
    /// `csm.measurement.facts_read`: order facts a batch worked from, by `from` (`memory`: kept
    /// from an earlier batch; `database`: read).
    pub facts_read: Counter<u64>,
}

#[derive(Debug, thiserror::Error)]
pub enum MetricsError {
    #[error("OTLP metrics exporter: {0}")]
    Exporter(#[from] opentelemetry_otlp::ExporterBuildError),
    #[error("metrics address {address}: {source}")]
    Bind { address: SocketAddr, source: std::io::Error },
}

static METRICS: OnceLock<Metrics> = OnceLock::new();

/// Builds the process's instruments, pushing them over OTLP to `otlp_endpoint` every 15 s when
/// given, or instruments that record nothing when not `enabled`. The first call decides; later
/// ones (another service of `csm up`) share what it built.
pub fn install(
    service_name: &str,
    otlp_endpoint: Option<&str>,
    enabled: bool,
) -> Result<&'static Metrics, MetricsError> {
    if let Some(metrics) = METRICS.get() {
        return Ok(metrics);
    }
    let exposition = Exposition::new();
    if !enabled {
        // A provider without readers hands out instruments that drop every measurement.
        return Ok(METRICS.get_or_init(|| Metrics::new(exposition, SdkMeterProvider::default())));
    }
    let mut builder = SdkMeterProvider::builder()
        .with_resource(Resource::builder().with_service_name(service_name.to_string()).build())
        .with_reader(exposition.clone());
    if let Some(endpoint) = otlp_endpoint {
        use opentelemetry_otlp::WithExportConfig;
        let exporter = opentelemetry_otlp::MetricExporter::builder().with_tonic().with_endpoint(endpoint).build()?;
        let periodic = opentelemetry_sdk::metrics::PeriodicReader::builder(exporter)
            .with_interval(Duration::from_secs(15))
            .build();
        builder = builder.with_reader(periodic);
    }
    let provider = builder.build();
    Ok(METRICS.get_or_init(|| Metrics::new(exposition, provider)))
}

/// The process's instruments; built without OTLP export if nothing installed them yet.
pub fn get() -> &'static Metrics {
    match install("csm", None, true) {
        Ok(metrics) => metrics,
        // Only the OTLP exporter can fail to build, and none is asked for here.
        Err(_) => METRICS.get_or_init(|| Metrics::new(Exposition::new(), SdkMeterProvider::default())),
    }
}

impl Metrics {
    fn new(exposition: Exposition, provider: SdkMeterProvider) -> Self {
        let meter = provider.meter("csm");
        Self {
            call_duration: meter
                .f64_histogram("rpc.server.call.duration")
                .with_unit("s")
                .with_description("gRPC calls served, by method and status code, and how long each took")
                .with_boundaries(CALL_SECONDS.to_vec())
                .build(),
            active_calls: meter
                .i64_up_down_counter("rpc.server.active_calls")
                .with_unit("{call}")
                .with_description("gRPC calls in flight")
                .build(),
            shed: meter
                .u64_counter("csm.rpc.server.shed")
                .with_unit("{call}")
                .with_description("calls refused because the server or the caller's share was full")
                .build(),
            feed_applied: meter
                .u64_counter("csm.feed.consumer.applied")
                .with_unit("{event}")
                .with_description("events applied by a feed consumer")
                .build(),
            feed_dead_letters: meter
                .u64_counter("csm.feed.consumer.dead_letters")
                .with_unit("{event}")
                .with_description("events a feed consumer rejected and kept as dead letters")
                .build(),
            feed_read_ahead: meter
                .u64_counter("csm.feed.consumer.read_ahead")
                .with_unit("{event}")
                .with_description("events a feed consumer read while it applied the batch before")
                .build(),
            feed_interruptions: meter
                .u64_counter("csm.feed.consumer.interruptions")
                .with_unit("{interruption}")
                .with_description("times a feed consumer resumed from its cursor, by cause: apply, cursor, upstream")
                .build(),
            feed_lag_events: meter
                .u64_gauge("csm.feed.consumer.lag.events")
                .with_unit("{event}")
                .with_description("events published upstream after a busy consumer's cursor")
                .build(),
            feed_lag_seconds: meter
                .f64_gauge("csm.feed.consumer.lag")
                .with_unit("s")
                .with_description("age of the event a busy consumer applied last; 0 when caught up")
                .build(),
            feed_head: meter
                .u64_gauge("csm.feed.head")
                .with_unit("{event}")
                .with_description("sequence of the last event a service published")
                .build(),
            feed_reads: meter
                .u64_counter("csm.feed.reads")
                .with_unit("{read}")
                .with_description("reads made by a feed's subscriptions, from the in-memory tail or the outbox")
                .build(),
            group_commit_batch: meter
                .u64_histogram("csm.group_commit.batch.size")
                .with_unit("{write}")
                .with_description("writes committed in one transaction")
                .with_boundaries(BATCH_ITEMS.to_vec())
                .build(),
            group_commit_duration: meter
                .f64_histogram("csm.group_commit.duration")
                .with_unit("s")
                .with_description("time to write and commit one group of writes")
                .with_boundaries(CALL_SECONDS.to_vec())
                .build(),
            training_jobs: meter
                .u64_counter("csm.training.jobs")
                .with_unit("{job}")
                .with_description("training jobs ended, by kind and final state")
                .build(),
            training_duration: meter
                .f64_histogram("csm.training.duration")
                .with_unit("s")
                .with_description("training jobs from start to end")
                .with_boundaries(TRAINING_SECONDS.to_vec())
                .build(),
            outcomes_learned: meter
                .u64_counter("csm.classification.outcomes")
                .with_unit("{outcome}")
                .with_description("customers' outcomes learned for the risk model, by label and source")
                .build(),
            cases_overdue: meter
                .u64_gauge("csm.recovery.cases.overdue")
                .with_unit("{case}")
                .with_description("open cases past their deadline at the last escalation sweep")
                .build(),
            escalations: meter
                .u64_counter("csm.recovery.escalations")
                .with_unit("{step}")
                .with_description("escalation steps taken on overdue cases and programmes")
                .build(),
            detractors: meter
                .u64_counter("csm.recovery.detractors")
                .with_unit("{answer}")
                .with_description("dissatisfied survey answers followed up, by route and contact method")
                .build(),
            detractors_recovered: meter
                .u64_counter("csm.recovery.detractors.recovered")
                .with_unit("{answer}")
                .with_description("detractor loops recovered by a later answer no longer dissatisfied")
                .build(),
            appeal_risks: meter
                .u64_counter("csm.recovery.appeal_risks")
                .with_unit("{case}")
                .with_description("cases at appeal risk under the regulator's answer clock, and past it")
                .build(),
            service_problems: meter
                .u64_counter("csm.recovery.service_problems")
                .with_unit("{problem}")
                .with_description("service problems opened, raised by a caller or detected from a surge")
                .build(),
            problem_links: meter
                .u64_counter("csm.recovery.problem_links")
                .with_unit("{case}")
                .with_description("cases linked to a service problem")
                .build(),
            facts_read: meter
                .u64_counter("csm.measurement.facts_read")
                .with_unit("{fact}")
                .with_description("order facts a batch worked from, kept in memory from an earlier batch or read")
                .build(),
            meter,
            exposition,
            provider,
        }
    }

    /// The meter, for an instrument only one service records (overdue cases, say).
    pub fn meter(&self) -> &Meter {
        &self.meter
    }

    /// Every metric in Prometheus' text exposition format.
    pub fn render(&self) -> String {
        self.exposition.render()
    }

    /// Pushes what is pending over OTLP, if configured; called as the process stops.
    pub fn flush(&self) {
        let _ = self.provider.force_flush();
    }
}

/// Observable gauges registered by the services, kept for the life of the process.
static OBSERVED: Mutex<Vec<opentelemetry::metrics::ObservableGauge<i64>>> = Mutex::new(Vec::new());

/// Registers a gauge read when metrics are collected: `read` gets a function to report each value
/// with its labels.
pub fn observe_gauge(
    name: &'static str,
    unit: &'static str,
    description: &'static str,
    read: impl Fn(&dyn Fn(i64, &[KeyValue])) + Send + Sync + 'static,
) {
    let gauge = get()
        .meter
        .i64_observable_gauge(name)
        .with_unit(unit)
        .with_description(description)
        .with_callback(move |observer| read(&|value, labels| observer.observe(value, labels)))
        .build();
    if let Ok(mut observed) = OBSERVED.lock() {
        observed.push(gauge);
    }
}

/// Addresses the metrics are served on, by the address asked for: the services of one process
/// share one endpoint.
static SERVING: Mutex<Option<HashMap<SocketAddr, SocketAddr>>> = Mutex::new(None);

/// Serves `GET /metrics` on `address` until `stop`, unless this process already does; returns the
/// bound address (useful with port 0).
pub async fn serve(address: SocketAddr, stop: CancellationToken) -> Result<SocketAddr, MetricsError> {
    if let Some(bound) = serving_on(address) {
        return Ok(bound);
    }
    let listener = TcpListener::bind(address).await.map_err(|source| MetricsError::Bind { address, source })?;
    let bound = listener.local_addr().map_err(|source| MetricsError::Bind { address, source })?;
    if let Ok(mut serving) = SERVING.lock() {
        serving.get_or_insert_with(HashMap::new).insert(address, bound);
    }
    let app = axum::Router::new().route("/metrics", axum::routing::get(async || get().render()));
    tokio::spawn(async move {
        let served = axum::serve(listener, app).with_graceful_shutdown(stop.cancelled_owned()).await;
        if let Ok(mut serving) = SERVING.lock() {
            serving.get_or_insert_with(HashMap::new).remove(&address);
        }
        if let Err(error) = served {
            tracing::warn!(%error, %bound, "metrics endpoint stopped");
        }
    });
    tracing::info!(%bound, "metrics served at /metrics");
    Ok(bound)
}

/// Where this process serves the metrics asked for on `address`, if it does.
pub fn serving_on(address: SocketAddr) -> Option<SocketAddr> {
    SERVING.lock().ok().and_then(|serving| serving.as_ref().and_then(|s| s.get(&address).copied()))
}
