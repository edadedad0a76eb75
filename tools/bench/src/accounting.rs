//! What a run cost in CPU, from the kernel's own accounting of each process (`/proc/PID/stat`),
//! so a figure does not depend on how busy the shared machine was: a service doing the same work
//! costs the same CPU time whether it ran fast or waited for a core.
//!
//! For PostgreSQL the server's processes are counted too: a statement the service sends costs CPU
//! there, and moving work from the service into the database is not a saving.

use std::path::Path;

use crate::service::{Backend, Service};

/// The kernel reports CPU times in clock ticks of `USER_HZ`, which Linux fixes at 100 for every
/// architecture's user-space interface.
const TICKS_PER_SECOND: f64 = 100.0;

/// User plus system CPU seconds of the process or thread whose stat file is `stat`; zero when it
/// is gone.
fn cpu_seconds_of(stat: &Path) -> f64 {
    let Ok(text) = std::fs::read_to_string(stat) else {
        return 0.0;
    };
    // The command name, in parentheses, may hold spaces; the fields after it are fixed.
    let Some((_, rest)) = text.rsplit_once(')') else {
        return 0.0;
    };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After the name: state is field 3 of stat(5), so utime (14) and stime (15) are 11 and 12 here.
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / TICKS_PER_SECOND
}

/// CPU seconds of process `pid` so far, all its threads included.
pub fn process_cpu_seconds(pid: u32) -> f64 {
    cpu_seconds_of(Path::new(&format!("/proc/{pid}/stat")))
}

/// CPU seconds of every running PostgreSQL server process so far (postmaster, backends, writers).
pub fn postgres_cpu_seconds() -> f64 {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return 0.0;
    };
    entries
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().bytes().all(|b| b.is_ascii_digit()))
        .filter(|e| std::fs::read_to_string(e.path().join("comm")).is_ok_and(|c| c.trim() == "postgres"))
        .map(|e| cpu_seconds_of(&e.path().join("stat")))
        .sum()
}

/// CPU spent by a set of processes between [`CpuMeter::start`] and [`CpuMeter::per_op`].
pub struct CpuMeter {
    pids: Vec<(String, u32)>,
    at_start: Vec<f64>,
    postgres_at_start: Option<f64>,
}

impl CpuMeter {
    /// Starts counting the service under test, and PostgreSQL's processes when it runs on them.
    pub fn of_service(service: &Service, backend: &Backend) -> Self {
        Self::start(vec![("service".into(), service.pid())], matches!(backend, Backend::Postgres(_)))
    }

    /// Starts counting the named processes, and PostgreSQL's when `postgres` is set.
    pub fn start(pids: Vec<(String, u32)>, postgres: bool) -> Self {
        let at_start = pids.iter().map(|(_, pid)| process_cpu_seconds(*pid)).collect();
        Self { pids, at_start, postgres_at_start: postgres.then(postgres_cpu_seconds) }
    }

    /// Milliseconds of CPU per operation since the start, per process (PostgreSQL last).
    pub fn per_op(&self, ops: u64) -> Vec<(String, f64)> {
        let per_op = |seconds: f64| seconds * 1000.0 / ops.max(1) as f64;
        let mut costs: Vec<(String, f64)> = self
            .pids
            .iter()
            .zip(&self.at_start)
            .map(|((name, pid), start)| (name.clone(), per_op(process_cpu_seconds(*pid) - start)))
            .collect();
        if let Some(start) = self.postgres_at_start {
            costs.push(("postgresql".into(), per_op(postgres_cpu_seconds() - start)));
        }
        costs
    }
}

/// Milliseconds of CPU per operation of all the processes counted.
pub fn total(costs: &[(String, f64)]) -> f64 {
    costs.iter().map(|(_, ms)| ms).sum()
}

/// "service 0.412 ms, postgresql 0.210 ms".
pub fn costs_text(costs: &[(String, f64)]) -> String {
    costs.iter().map(|(name, ms)| format!("{name} {ms:.3} ms")).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_busy_process_is_charged_for_its_work() {
        let me = std::process::id();
        let before = process_cpu_seconds(me);
        let started = std::time::Instant::now();
        let mut x = 0u64;
        while started.elapsed().as_millis() < 300 {
            x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(7));
        }
        let spent = process_cpu_seconds(me) - before;
        assert!(spent >= 0.1, "300 ms of spinning charged only {spent} s");
        assert_eq!(process_cpu_seconds(u32::MAX), 0.0, "no such process");
    }
}
