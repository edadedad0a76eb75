//! What telemetry costs: a Prometheus scrape at a given number of series, and intake's unary
//! throughput with metrics recorded and scraped against the same with metrics off, run in
//! alternating rounds so a noisy machine affects both alike.

use std::time::{Duration, Instant};

use csm_kit::metrics::{self, KeyValue};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::{
    Backend, describe,
    intake::submitter,
    load::{self, median},
    service::{Service, free_port},
};

/// Renders the process's metrics with `series` counter series in them, 200 times, and prints the
/// median and p90 time of one scrape.
pub fn scrape(series: u64) {
    let Ok(installed) = metrics::install("csm-bench", None, true) else { return };
    // The SDK keeps at most 2,000 series per instrument, so the series are spread over several.
    let per_instrument = 1_000;
    let counters: Vec<_> = (0..series.div_ceil(per_instrument))
        .map(|i| installed.meter().u64_counter(format!("bench.series.{i}")).build())
        .collect();
    for n in 0..series {
        counters[(n / per_instrument) as usize].add(1, &[KeyValue::new("n", n as i64)]);
    }
    let mut times: Vec<Duration> = (0..200)
        .map(|_| {
            let started = Instant::now();
            std::hint::black_box(installed.render());
            started.elapsed()
        })
        .collect();
    times.sort();
    let rendered = installed.render();
    let lines = rendered.lines().filter(|line| !line.starts_with('#')).count();
    println!(
        "metrics scrape, {lines} series ({} KiB): median {:.3} ms, p90 {:.3} ms",
        rendered.len() / 1024,
        times[times.len() / 2].as_secs_f64() * 1e3,
        times[times.len() * 9 / 10].as_secs_f64() * 1e3
    );
}

/// Intake's SubmitContact throughput with metrics on (and scraped every second) and off, in
/// `rounds` alternating pairs of runs; prints each run, both medians and their ratio.
pub async fn cost(backend: Backend, concurrency: usize, duration: Duration, rounds: usize) -> anyhow::Result<()> {
    let mut on = Vec::new();
    let mut off = Vec::new();
    for round in 0..rounds {
        for enabled in [round % 2 == 0, round % 2 != 0] {
            let rate = run(&backend, concurrency, duration, enabled).await?;
            println!("round {}: metrics {}: {rate:.0} submissions/s", round + 1, if enabled { "on" } else { "off" });
            if enabled { on.push(rate) } else { off.push(rate) }
        }
    }
    let (on, off) = (median(&on), median(&off));
    println!(
        "intake SubmitContact, {}, {concurrency} in flight: metrics and tracing on (scraped every second) {on:.0}/s, \
         metrics off {off:.0}/s: {:.1} % of the throughput",
        describe(&backend),
        on / off * 100.0
    );
    Ok(())
}

async fn run(backend: &Backend, concurrency: usize, duration: Duration, enabled: bool) -> anyhow::Result<f64> {
    let metrics_port = free_port()?;
    let env = [
        ("CSM_UPSTREAM__CLASSIFICATION__URL", String::new()),
        ("CSM_TELEMETRY__METRICS", enabled.to_string()),
        ("CSM_TELEMETRY__METRICS_ADDRESS", format!("127.0.0.1:{metrics_port}")),
    ];
    let service = Service::start("csm-intake", backend, &env).await?;
    let call = submitter(&service)?;
    let scraper = tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_secs(1)).await;
            if let Ok(mut stream) = tokio::net::TcpStream::connect(("127.0.0.1", metrics_port)).await {
                let _ = stream.write_all(b"GET /metrics HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n").await;
                let mut body = Vec::new();
                let _ = stream.read_to_end(&mut body).await;
            }
        }
    });
    let measured = load::closed_loop(concurrency, Duration::from_secs(2), duration, move |n| call(n)).await;
    scraper.abort();
    service.stop().await?;
    Ok(measured.per_second())
}
