//! Driving load: closed loop (a fixed number of calls in flight, each worker calling again as soon
//! as its call returns) for throughput, and open loop (calls started on a fixed schedule) for
//! latency at a given rate. In the open loop latency is counted from when a call was due, not when
//! it was sent, so a slow service cannot hide queueing behind it (coordinated omission).

use std::{
    future::Future,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use hdrhistogram::Histogram;

/// What a run measured.
pub struct Measured {
    pub calls: u64,
    pub errors: u64,
    pub elapsed: Duration,
    /// Latencies in microseconds.
    pub latency: Histogram<u64>,
    /// In an open loop, how late after its due time each call started, in microseconds.
    pub started_late: Option<Histogram<u64>>,
}

/// The median of `values` (NaN when there are none).
pub fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted.get(sorted.len() / 2).copied().unwrap_or(f64::NAN)
}

/// The first error a call of the run met, shown with the figures: errors are load shed or a
/// broken run, and the first says which.
static FIRST_ERROR: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// Keeps `status` if it is the run's first error.
pub fn note_error(status: &tonic::Status) {
    let _ = FIRST_ERROR.set(format!("{:?}: {}", status.code(), status.message()));
}

pub fn first_error() -> Option<&'static str> {
    FIRST_ERROR.get().map(String::as_str)
}

/// 1 µs to 60 s at three significant figures.
#[allow(clippy::expect_used)]
pub fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000, 3).expect("constant bounds are valid")
}

impl Measured {
    pub fn per_second(&self) -> f64 {
        self.calls as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// The latency at `quantile`, in milliseconds.
    pub fn ms(&self, quantile: f64) -> f64 {
        self.latency.value_at_quantile(quantile) as f64 / 1000.0
    }

    pub fn summary(&self, unit: &str) -> String {
        let late = self.started_late.as_ref().map_or(String::new(), |late| {
            format!(
                "; calls started late by p50 {:.2} ms, p99 {:.2} ms",
                late.value_at_quantile(0.5) as f64 / 1000.0,
                late.value_at_quantile(0.99) as f64 / 1000.0
            )
        });
        let line = format!(
            "{:.0} {unit}/s over {:.1} s ({} calls, {} errors); latency p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, p99.9 {:.2} ms, max {:.2} ms",
            self.per_second(),
            self.elapsed.as_secs_f64(),
            self.calls,
            self.errors,
            self.ms(0.5),
            self.ms(0.9),
            self.ms(0.99),
            self.ms(0.999),
            self.latency.max() as f64 / 1000.0,
        );
        line + &late
    }
}

/// `concurrency` workers call back to back; calls during `warmup` are not counted.
pub async fn closed_loop<F, Fut>(concurrency: usize, warmup: Duration, duration: Duration, call: F) -> Measured
where
    F: Fn(u64) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = bool> + Send,
{
    let start = Instant::now();
    let measure_from = start + warmup;
    let end = measure_from + duration;
    let mut workers = Vec::new();
    for worker in 0..concurrency {
        let call = call.clone();
        workers.push(tokio::spawn(async move {
            let mut latency = histogram();
            let (mut calls, mut errors) = (0u64, 0u64);
            let mut n = worker as u64;
            loop {
                let began = Instant::now();
                if began >= end {
                    break;
                }
                let ok = call(n).await;
                n += concurrency as u64;
                if began >= measure_from {
                    calls += 1;
                    errors += u64::from(!ok);
                    let _ = latency.record(began.elapsed().as_micros() as u64);
                }
            }
            (calls, errors, latency)
        }));
    }
    let mut measured = Measured { calls: 0, errors: 0, elapsed: duration, latency: histogram(), started_late: None };
    for worker in workers {
        if let Ok((calls, errors, latency)) = worker.await {
            measured.calls += calls;
            measured.errors += errors;
            let _ = measured.latency.add(latency);
        }
    }
    measured
}

/// Calls started `rate` times a second for `duration`, after `warmup` at the same rate.
///
/// The schedule is kept by a thread of its own sleeping to each due time, since the runtime's timer
/// ticks in whole milliseconds: at 2,000 calls a second, calls would start in pairs up to a
/// millisecond late, and that lateness would be counted as the service's latency. How late calls
/// did start is reported beside the latency, so a generator starved of CPU shows.
pub async fn open_loop<F, Fut>(rate: u64, warmup: Duration, duration: Duration, call: F) -> Measured
where
    F: Fn(u64) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = bool> + Send + 'static,
{
    let latency = Arc::new(Mutex::new(histogram()));
    let errors = Arc::new(AtomicU64::new(0));
    let period = Duration::from_secs_f64(1.0 / rate.max(1) as f64);
    let total = ((warmup + duration).as_secs_f64() * rate as f64) as u64;
    let runtime = tokio::runtime::Handle::current();
    let schedule = {
        let (latency, errors) = (latency.clone(), errors.clone());
        tokio::task::spawn_blocking(move || {
            let start = Instant::now();
            let measure_from = start + warmup;
            let (mut in_flight, mut late, mut measured_calls) = (Vec::new(), histogram(), 0);
            for n in 0..total {
                let due = start + period.mul_f64(n as f64);
                if let Some(wait) = due.checked_duration_since(Instant::now()) {
                    std::thread::sleep(wait);
                }
                let counted = due >= measure_from;
                if counted {
                    measured_calls += 1;
                    let _ = late.record(due.elapsed().as_micros() as u64);
                }
                let (call, latency, errors) = (call.clone(), latency.clone(), errors.clone());
                in_flight.push(runtime.spawn(async move {
                    let ok = call(n).await;
                    if counted {
                        let _ = latency.lock().map(|mut l| l.record(due.elapsed().as_micros() as u64));
                        if !ok {
                            errors.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }));
            }
            (in_flight, late, measured_calls)
        })
    };
    let (in_flight, late, calls) = schedule.await.unwrap_or_else(|_| (Vec::new(), histogram(), 0));
    for call in in_flight {
        let _ = call.await;
    }
    let latency = latency.lock().map(|mut l| std::mem::replace(&mut *l, histogram())).unwrap_or_else(|_| histogram());
    Measured { calls, errors: errors.load(Ordering::Relaxed), elapsed: duration, latency, started_late: Some(late) }
}
