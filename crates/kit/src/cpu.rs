//! CPU-heavy work off the async runtime, a bounded number at a time.
//!
//! Model fitting, evaluations, analyses, index trees and report rendering run here rather than on
//! the runtime's worker threads, which must stay free to answer calls. They run on Tokio's
//! blocking threads, but at most as many at once per process as the machine has cores: more would
//! only share the same cores more finely while holding more memory. Work waits for a slot in the
//! order it asked for one, so a queue of one caller's reports cannot starve another's analysis.
//!
//! Each piece of work is a `cpu.run` span naming it, with how long it waited for a slot
//! (`queue_wait_ms`) and how long it ran (`run_ms`); the work's own events are inside it.

use std::{
    any::Any,
    sync::OnceLock,
    time::{Duration, Instant},
};

use tokio::sync::Semaphore;
use tracing::{Instrument, field::Empty};

/// Why CPU-bound work gave no result.
#[derive(Debug, thiserror::Error)]
pub enum CpuError {
    /// The work panicked; the panic stays in the pool, and this is its message.
    #[error("{what} failed: it panicked ({message})")]
    Panicked { what: &'static str, message: String },
    /// The runtime shut down before the work could run.
    #[error("{what} did not run: the service is stopping")]
    Stopped { what: &'static str },
}

/// Runs `work` on a blocking thread once one of the process's slots is free, and returns what it
/// returned. `what` names the work in traces and errors ("report rendering"). A panic in the work
/// becomes [`CpuError::Panicked`]; it never reaches the caller's task.
///
/// Abandoning the returned future (the caller gave up) leaves the queue, or, once the work has
/// started, lets it finish in the background still holding its slot: a thread cannot be stopped
/// mid-computation, and the slot counts a core that is busy.
pub async fn run<T, F>(what: &'static str, work: F) -> Result<T, CpuError>
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    let span = tracing::info_span!("cpu.run", work = what, queue_wait_ms = Empty, run_ms = Empty);
    async move {
        let asked = Instant::now();
        // The semaphore lives as long as the process and is never closed.
        let Ok(slot) = slots().acquire().await else {
            return Err(CpuError::Stopped { what });
        };
        let span = tracing::Span::current();
        span.record("queue_wait_ms", millis(asked.elapsed()));
        let running = span.clone();
        let done = tokio::task::spawn_blocking(move || {
            // The slot is given back when the work ends, unwinding included, not when the caller
            // stops waiting for it.
            let _slot = slot;
            let started = Instant::now();
            let result = running.in_scope(work);
            running.record("run_ms", millis(started.elapsed()));
            result
        })
        .await;
        match done {
            Ok(result) => Ok(result),
            Err(error) if error.is_panic() => {
                let message = panic_message(error.into_panic());
                tracing::error!(work = what, panic = %message, "CPU-bound work panicked");
                Err(CpuError::Panicked { what, message })
            }
            Err(_) => Err(CpuError::Stopped { what }),
        }
    }
    .instrument(span)
    .await
}

/// How many pieces of work may run at once in this process: one per core the process may use.
pub fn slot_count() -> usize {
    std::thread::available_parallelism().map_or(1, std::num::NonZero::get).max(1)
}

fn slots() -> &'static Semaphore {
    static SLOTS: OnceLock<Semaphore> = OnceLock::new();
    SLOTS.get_or_init(|| Semaphore::new(slot_count()))
}

fn millis(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

fn panic_message(payload: Box<dyn Any + Send>) -> String {
    match payload.downcast::<String>() {
        Ok(message) => *message,
        Err(payload) => match payload.downcast::<&'static str>() {
            Ok(message) => (*message).to_string(),
            Err(_) => "no message".to_string(),
        },
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    };

    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn work_returns_its_result_and_a_panic_becomes_an_error() {
        assert_eq!(run("adding", || 2 + 2).await.unwrap(), 4);
        let failed = run("failing", || -> u32 { panic!("bad data") }).await.unwrap_err();
        assert!(matches!(&failed, CpuError::Panicked { message, .. } if message == "bad data"), "{failed}");
        assert!(failed.to_string().contains("failing failed"), "{failed}");
        // The panicking work gave its slot back.
        let all: Vec<_> = (0..slot_count() * 2).map(|i| tokio::spawn(run("after", move || i))).collect();
        for (i, handle) in all.into_iter().enumerate() {
            assert_eq!(handle.await.unwrap().unwrap(), i);
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn no_more_run_at_once_than_there_are_slots_and_the_runtime_stays_free() {
        let running = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let jobs: Vec<_> = (0..slot_count() * 3)
            .map(|_| {
                let (running, most) = (running.clone(), most.clone());
                tokio::spawn(run("busy", move || {
                    let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                    most.fetch_max(now, Ordering::SeqCst);
                    std::thread::sleep(Duration::from_millis(30));
                    running.fetch_sub(1, Ordering::SeqCst);
                }))
            })
            .collect();
        // The worker threads still answer while every slot is busy.
        let started = Instant::now();
        tokio::time::sleep(Duration::from_millis(5)).await;
        assert!(started.elapsed() < Duration::from_millis(500));
        for job in jobs {
            job.await.unwrap().unwrap();
        }
        assert!(most.load(Ordering::SeqCst) <= slot_count(), "{} at once", most.load(Ordering::SeqCst));
    }
}
