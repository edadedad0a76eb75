//! Measurement in process, on one core: absorbing the three upstream feeds (events decoded from
//! their wire encoding and applied in batches of 8,192 per transaction as measurement's consumer
//! applies them when behind, each batch decoded while the one before is written, SQLite with
//! durable commits; the time counted is that of decoding and applying, not of making the
//! events), then QuerySeries and the month report over everything absorbed, and the same
//! aggregation run directly over the raw work-order facts in SQLite and in PostgreSQL.

mod feeds;

use std::time::{Duration, Instant};

use anyhow::Context;
use csm_kit::{Database, config::DatabaseSettings, feed::READ_AHEAD_YIELD_EVERY, time};
use csm_measurement::{absorb, calendar::Calendar, catalogue, facts, report, series, store};
use csm_proto::{
    feed::v1::Event,
    measurement::v1::{Dimension, GetReportRequest, Granularity, QuerySeriesRequest},
};
use prost::Message;
use sea_orm::{ConnectionTrait, Statement, TransactionTrait};

use feeds::{Batches, HOUR};

/// Events per transaction, as measurement's default `feed.apply_batch`.
const BATCH: usize = 8192;

pub struct Figures {
    pub orders: u64,
    pub events: u64,
    pub absorb_seconds: f64,
    /// The same absorption on PostgreSQL, with `--postgres`.
    pub absorb_postgres_seconds: Option<f64>,
    pub report_ms: Vec<f64>,
    pub raw_sqlite_ms: Vec<f64>,
    pub raw_postgres_ms: Option<Vec<f64>>,
    pub cells: i64,
    /// Peak RSS of this process while it absorbed on SQLite: measurement's code and database
    /// connections, and the bench's events of the batch in flight.
    pub peak_rss_mib: f64,
    /// The same while it absorbed on PostgreSQL (the SQLite database still open beside it).
    pub postgres_peak_rss_mib: Option<f64>,
    /// QuerySeries latencies, in microseconds.
    pub series_us: hdrhistogram::Histogram<u64>,
}

/// Decodes and reads a batch of events as encoded on the wire, as the consumer does ahead of the
/// batch's transaction, yielding as often as it does to the statements of the batch before.
async fn read(wire: &[Vec<u8>]) -> anyhow::Result<Vec<facts::Update>> {
    let mut updates = Vec::with_capacity(wire.len());
    for (n, bytes) in wire.iter().enumerate() {
        if n % READ_AHEAD_YIELD_EVERY == READ_AHEAD_YIELD_EVERY - 1 {
            tokio::task::yield_now().await;
        }
        let event = Event::decode(bytes.as_slice()).map_err(|e| anyhow::anyhow!("{e}"))?;
        updates.push(facts::read(&event).map_err(|e| anyhow::anyhow!("{e}"))?);
    }
    Ok(updates)
}

/// Writes one batch's updates in its transaction, as the consumer does.
async fn write(
    db: &Database,
    cache: &absorb::FactCache,
    calendar: &Calendar,
    measures: &csm_measurement::cells::MeasureSet,
    updates: Vec<facts::Update>,
) -> anyhow::Result<()> {
    let txn = db.writer().begin().await?;
    store::lock_writers(&txn).await?;
    absorb::absorb(&txn, cache, calendar, measures, updates).await?;
    txn.commit().await?;
    Ok(())
}

/// Every event of `orders` work orders absorbed in batches as the consumers apply them when
/// behind: each batch read while the one before is written. Returns the time spent reading and
/// writing (making the events is the upstream's work and is not counted) and the events applied.
async fn absorb_all(
    db: &Database,
    calendar: &Calendar,
    measures: &csm_measurement::cells::MeasureSet,
    orders: u64,
    month_start: i64,
) -> anyhow::Result<(Duration, u64)> {
    // One process's, shared by its three feeds, as in the service.
    let cache = absorb::FactCache::new();
    let mut batches =
        Batches::new(orders, month_start).map(|batch| batch.iter().map(Message::encode_to_vec).collect::<Vec<_>>());
    let Some(first) = batches.next() else {
        return Ok((Duration::ZERO, 0));
    };
    let started = Instant::now();
    let mut updates = read(&first).await?;
    let mut absorbing = started.elapsed();
    let mut events = first.len() as u64;
    loop {
        let wire = batches.next();
        let started = Instant::now();
        let next = async {
            match &wire {
                Some(wire) => Some(read(wire).await),
                None => None,
            }
        };
        let (written, next) = tokio::join!(biased; write(db, &cache, calendar, measures, updates), next);
        written?;
        absorbing += started.elapsed();
        let (Some(wire), Some(next)) = (&wire, next) else {
            return Ok((absorbing, events));
        };
        updates = next?;
        events += wire.len() as u64;
    }
}

/// As [`absorb_all`] on a fresh PostgreSQL database on the server `url`; seconds spent applying.
async fn absorb_on_postgres(url: &str, calendar: &Calendar, orders: u64, month_start: i64) -> anyhow::Result<f64> {
    let server = url.trim_end_matches('/');
    let name = format!("csm_bench_measurement_{}", uuid::Uuid::new_v4().simple());
    // Created by `Database::open`, as the service creates its own.
    let settings = DatabaseSettings { url: format!("{server}/{name}"), ..DatabaseSettings::default() };
    let absorbed = async {
        let db = Database::open::<store::migration::Migrator>(&settings).await?;
        catalogue::seed(db.writer(), calendar).await.map_err(|e| anyhow::anyhow!("{e}"))?;
        let measures = catalogue::measure_set(db.writer()).await?;
        let (absorbing, _) = absorb_all(&db, calendar, &measures, orders, month_start).await?;
        db.close().await;
        anyhow::Ok(absorbing.as_secs_f64())
    }
    .await;
    crate::service::drop_database(server, &name).await?;
    absorbed
}

pub async fn run(orders: u64, postgres: Option<&str>) -> anyhow::Result<Figures> {
    let dir = tempfile::Builder::new().prefix("csm-bench-measurement-").tempdir()?;
    let db = Database::open::<store::migration::Migrator>(&DatabaseSettings::sqlite(dir.path().join("m.db"))).await?;
    let calendar = Calendar::new("Asia/Shanghai").map_err(anyhow::Error::msg)?;
    catalogue::seed(db.writer(), &calendar).await.map_err(|e| anyhow::anyhow!("{e}"))?;
    let measures = catalogue::measure_set(db.writer()).await?;
    let (month_start, month_end) = calendar.month("2026-10").context("month")?;

    reset_peak_rss();
    let (absorbing, events) = absorb_all(&db, &calendar, &measures, orders, month_start).await?;
    let sqlite_peak = peak_rss_mib();
    let (absorb_postgres_seconds, postgres_peak_rss_mib) = match postgres {
        Some(url) => {
            reset_peak_rss();
            let seconds = absorb_on_postgres(url, &calendar, orders, month_start).await?;
            (Some(seconds), Some(peak_rss_mib()))
        }
        None => (None, None),
    };
    let absorb_seconds = absorbing.as_secs_f64();

    let catalogue = catalogue::load(db.reader()).await.map_err(|e| anyhow::anyhow!("{e}"))?;
    let request = GetReportRequest { month: "2026-10".into(), top_causes: 10 };
    let mut report_ms = Vec::new();
    for _ in 0..5 {
        let started = Instant::now();
        let report =
            report::build(db.reader(), &calendar, &catalogue, &Default::default(), &request, time::now_micros())
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
        report_ms.push(started.elapsed().as_secs_f64() * 1000.0);
        anyhow::ensure!(
            report.causes.iter().map(|c| c.complaints).sum::<i64>() == orders as i64,
            "every order in the Pareto"
        );
    }
    let series_us = series_latencies(&db, &calendar, &catalogue, (month_start, month_end)).await?;
    let cells = db
        .reader()
        .query_one_raw(Statement::from_string(db.backend(), "SELECT COUNT(*) AS n FROM cell"))
        .await?
        .map_or(Ok(0), |row| row.try_get::<i64>("", "n"))?;
    let raw_sqlite_ms = raw_aggregation(db.reader(), (month_start, month_end), "order_fact").await?;
    let raw_postgres_ms = match postgres {
        Some(url) => Some(postgres_aggregation(&db, url, (month_start, month_end)).await?),
        None => None,
    };
    db.close().await;
    Ok(Figures {
        orders,
        events,
        absorb_seconds,
        absorb_postgres_seconds,
        report_ms,
        raw_sqlite_ms,
        raw_postgres_ms,
        cells,
        peak_rss_mib: sqlite_peak,
        postgres_peak_rss_mib,
        series_us,
    })
}

/// QuerySeries as its handler answers it, over the absorbed month: every indicator by hour over
/// the first day, and by day, week and month, unsplit and split by region, root cause and
/// department; each combination 5 times.
async fn series_latencies(
    db: &Database,
    calendar: &Calendar,
    catalogue: &catalogue::Catalogue,
    (start, end): (i64, i64),
) -> anyhow::Result<hdrhistogram::Histogram<u64>> {
    let mut latencies = crate::load::histogram();
    let range = |to: i64| (Some(time::timestamp_from_micros(start)), Some(time::timestamp_from_micros(to)));
    let mut requests = Vec::new();
    for entry in &catalogue.entries {
        let indicator = format!("indicators/{}", entry.indicator.key);
        let (start_time, end_time) = range(start + 24 * HOUR);
        requests.push(QuerySeriesRequest {
            indicator: indicator.clone(),
            granularity: Granularity::Hour as i32,
            group_by: Dimension::None as i32,
            start_time,
            end_time,
            ..Default::default()
        });
        for granularity in [Granularity::Day, Granularity::Week, Granularity::Month] {
            for group_by in [Dimension::None, Dimension::Region, Dimension::RootCause, Dimension::Department] {
                let (start_time, end_time) = range(end);
                requests.push(QuerySeriesRequest {
                    indicator: indicator.clone(),
                    granularity: granularity as i32,
                    group_by: group_by as i32,
                    start_time,
                    end_time,
                    ..Default::default()
                });
            }
        }
    }
    for _ in 0..5 {
        for request in &requests {
            let started = Instant::now();
            let answered = series::query(db.reader(), calendar, catalogue, request).await;
            let _ = latencies.record(started.elapsed().as_micros() as u64);
            answered.map_err(|e| anyhow::anyhow!("{}: {e}", request.indicator))?;
        }
    }
    Ok(latencies)
}

/// The month report's work-order figures computed from the raw facts: per day, complaints with
/// repeats and appeals; per day, resolutions with on-time and unreopened counts and handling
/// hours; and complaints per root cause for the Pareto. Median of 3 runs, in ms.
async fn raw_aggregation(db: &impl ConnectionTrait, (start, end): (i64, i64), table: &str) -> anyhow::Result<Vec<f64>> {
    let backend = db.get_database_backend();
    // The Beijing day of an instant (UTC+8 has no daylight saving), the same on both databases.
    let day = |column: &str| format!("(({column} + 28800000000) / 86400000000)");
    let queries = [
        format!(
            "SELECT {d} AS day, COUNT(*), SUM(CASE WHEN kind = 'repeat' THEN 1 ELSE 0 END), SUM(CASE WHEN appeal = 'regulator' THEN 1 ELSE 0 END) FROM {table} WHERE opened_at >= {start} AND opened_at < {end} GROUP BY {d}",
            d = day("opened_at")
        ),
        format!(
            "SELECT {d} AS day, COUNT(*), SUM(CASE WHEN on_time THEN 1 ELSE 0 END), SUM(CASE WHEN reopen_count = 0 THEN 1 ELSE 0 END), AVG((resolved_at - opened_at) / 3600000000.0) FROM {table} WHERE resolved_at >= {start} AND resolved_at < {end} GROUP BY {d}",
            d = day("resolved_at")
        ),
        format!(
            "SELECT path, department, COUNT(*) AS n FROM {table} WHERE opened_at >= {start} AND opened_at < {end} GROUP BY path, department ORDER BY n DESC"
        ),
    ];
    let mut runs = Vec::new();
    for _ in 0..3 {
        let started = Instant::now();
        for query in &queries {
            db.query_all_raw(Statement::from_string(backend, query.clone())).await?;
        }
        runs.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    Ok(runs)
}

/// Copies the facts into a PostgreSQL table of their own and runs the same aggregation there.
async fn postgres_aggregation(db: &Database, url: &str, month: (i64, i64)) -> anyhow::Result<Vec<f64>> {
    let pg = sea_orm::Database::connect(format!("{}/postgres", url.trim_end_matches('/'))).await?;
    let backend = sea_orm::DbBackend::Postgres;
    pg.execute_unprepared("DROP TABLE IF EXISTS csm_bench_order_fact").await?;
    pg.execute_unprepared(
        "CREATE UNLOGGED TABLE csm_bench_order_fact (work_order_id TEXT PRIMARY KEY, opened_at BIGINT, kind TEXT, appeal TEXT, path TEXT, department TEXT, resolved_at BIGINT, on_time BOOLEAN, reopen_count INT)",
    )
    .await?;
    let mut after = String::new();
    loop {
        let page = store::scan_facts(db.reader(), &after, 5_000).await?;
        let Some((last, _)) = page.last() else { break };
        let values: Vec<String> = page
            .iter()
            .map(|(id, f)| {
                let opt = |v: Option<i64>| v.map_or("NULL".to_string(), |v| v.to_string());
                format!(
                    "('{id}', {}, '{}', '{}', '{}', '{}', {}, {}, {})",
                    opt(f.opened_at),
                    f.kind,
                    f.appeal,
                    f.path.join("/"),
                    f.department,
                    opt(f.resolved_at),
                    f.on_time.map_or("NULL".to_string(), |b| b.to_string()),
                    f.reopen_count
                )
            })
            .collect();
        pg.execute_raw(Statement::from_string(
            backend,
            format!("INSERT INTO csm_bench_order_fact VALUES {}", values.join(",")),
        ))
        .await?;
        after.clone_from(last);
        if page.len() < 5_000 {
            break;
        }
    }
    pg.execute_unprepared("ANALYZE csm_bench_order_fact").await?;
    let runs = raw_aggregation(&pg, month, "csm_bench_order_fact").await?;
    pg.execute_unprepared("DROP TABLE csm_bench_order_fact").await?;
    Ok(runs)
}

/// Starts this process's peak RSS afresh from what it holds now (Linux's `clear_refs` 5), so a
/// phase's peak is its own and not that of the month report and raw aggregations run after it.
/// Where the kernel refuses, the peak counts from the process's start, and the bench says so.
fn reset_peak_rss() {
    if let Err(error) = std::fs::write("/proc/self/clear_refs", "5") {
        eprintln!("peak RSS could not be started afresh ({error}): it counts from the bench's start");
    }
}

/// This process's peak resident set since the last [`reset_peak_rss`], in MiB.
fn peak_rss_mib() -> f64 {
    crate::service::memory_mib("self").0
}
