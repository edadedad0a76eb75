//! `csm-bench compare`: one scenario run on two builds of the services, alternately (A B, then
//! B A, ...), each run by this same load generator, and the median of every figure set side by
//! side with the ratio. Alternating spreads the machine's swings over both builds, so a
//! regression shows the day it lands rather than hiding in the noise between two days.
//!
//! ```sh
//! git worktree add ../csm-previous v1.4.0
//! (cd ../csm-previous && cargo build --release -p csm-intake --target-dir ../previous-target)
//! target/release/csm-bench compare --builds ../previous-target/release,target/release -- intake unary
//! ```

use std::{collections::BTreeMap, path::PathBuf, process::Command};

use anyhow::{Context, bail};

use crate::{figures, load::median};

/// Runs `scenario` (csm-bench's own arguments) `rounds` times on each of `builds` (directories
/// holding the service binaries) and prints each run's output and the medians.
pub fn run(builds: &[PathBuf], rounds: usize, postgres: Option<&str>, scenario: &[String]) -> anyhow::Result<()> {
    if builds.len() != 2 {
        bail!("--builds names two directories of binaries, separated by a comma");
    }
    let me = std::env::current_exe()?;
    let mut figures: Vec<BTreeMap<String, Vec<f64>>> = vec![BTreeMap::new(), BTreeMap::new()];
    let mut order = Vec::new();
    for round in 0..rounds {
        order.extend(if round % 2 == 0 { [0, 1] } else { [1, 0] });
    }
    for (i, build) in order.into_iter().enumerate() {
        let mut command = Command::new(&me);
        command.arg("--bin-dir").arg(&builds[build]);
        if let Some(url) = postgres {
            command.args(["--postgres", url]);
        }
        let output = command.args(scenario).output().with_context(|| format!("running {}", me.display()))?;
        let text = String::from_utf8_lossy(&output.stdout);
        println!("--- run {} on {} ({}):", i + 1, label(build), builds[build].display());
        print!("{text}");
        if !output.status.success() {
            bail!("the run failed: {}", String::from_utf8_lossy(&output.stderr));
        }
        for (name, value) in figures::parse(&text) {
            figures[build].entry(name).or_default().push(value);
        }
    }
    println!("\n{:<32} {:>14} {:>14} {:>8}", "figure (median)", "A", "B", "B/A");
    for (name, a) in &figures[0] {
        let Some(b) = figures[1].get(name) else { continue };
        let (a, b) = (median(a), median(b));
        println!("{name:<32} {a:>14.3} {b:>14.3} {:>8.3}", b / a);
    }
    Ok(())
}

fn label(build: usize) -> &'static str {
    if build == 0 { "A" } else { "B" }
}
