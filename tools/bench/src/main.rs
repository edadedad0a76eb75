//! `csm-bench`: load generators for the csm services, each measuring a service running as its own
//! process on a fresh database. Build in release mode first:
//!
//! ```sh
//! cargo build --release -p csm-bench -p csm-intake
//! target/release/csm-bench intake unary      # throughput and latency at fixed concurrency
//! target/release/csm-bench intake rate       # latency at a fixed request rate
//! target/release/csm-bench intake ingest     # bulk ingest rows per second
//! cargo build --release -p csm-bench -p csm-recovery
//! target/release/csm-bench recovery dispatch     # WorkOrderClassified to CaseOpened at a fixed rate
//! target/release/csm-bench recovery transitions  # case transitions per second
//! cargo build --release -p csm-bench
//! target/release/csm-bench classification text  # text-model training, classifications/s, accuracy
//! target/release/csm-bench measurement absorb    # events absorbed per second on one core, month report
//! cargo build --release -p csm-bench -p csm-intake -p csm-classification -p csm-recovery -p csm-measurement
//! target/release/csm-bench pipeline --rate 300   # the four services as processes, submission to case and indicator
//! target/release/csm-bench compare --builds OLD_DIR,target/release -- intake unary   # two builds alternately
//! ```
//! Add `--postgres postgres://user@host:5432` to run against PostgreSQL instead of SQLite. Each
//! scenario prints the CPU per operation of the processes under test and ends with a `figures:`
//! line; intake's also measure their reference in the same run (see `intake`).

#![allow(clippy::print_stdout)]

mod accounting;
mod bare;
mod classification;
mod compare;
mod figures;
mod intake;
mod load;
mod measurement;
mod pipeline;
mod recovery;
mod reference;
mod service;
mod telemetry;
mod tmf;

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use clap::{Parser, Subcommand};
use intake::contact;
use service::{Backend, describe};

#[derive(Debug, Parser)]
#[command(name = "csm-bench", about = "Load generators for the csm services")]
struct Cli {
    #[command(subcommand)]
    target: Target,
    /// Run the service on this PostgreSQL server instead of SQLite.
    #[arg(long, global = true, value_name = "URL")]
    postgres: Option<String>,
    /// Run the services built in this directory rather than those beside the bench.
    #[arg(long, global = true, value_name = "DIR")]
    bin_dir: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
enum Target {
    /// One scenario on two builds of the services, alternately, with the medians side by side.
    Compare {
        /// Two directories of service binaries: A (the baseline) and B, e.g.
        /// `../previous-target/release,target/release`.
        #[arg(long, value_delimiter = ',', required = true)]
        builds: Vec<PathBuf>,
        /// Runs on each build.
        #[arg(long, default_value_t = 3)]
        rounds: usize,
        /// The scenario, as csm-bench's own arguments: `-- intake unary --concurrency 256`.
        #[arg(last = true, required = true)]
        scenario: Vec<String>,
    },
    /// All four services, each its own process, following one another's feeds: contacts at a
    /// fixed rate, timed to their case and to the indicator that counts them.
    Pipeline {
        #[arg(long, default_value_t = 1000)]
        rate: u64,
        #[arg(long, default_value = "60s", value_parser = humantime)]
        duration: Duration,
    },
    /// The bare tonic server the intake figures are compared with (started by the bench itself).
    #[command(hide = true)]
    BareServer {
        #[arg(long)]
        listen: SocketAddr,
    },
    /// The intake service.
    Intake {
        #[command(subcommand)]
        scenario: IntakeScenario,
    },
    /// Classification's text model, in process on one core.
    Classification {
        #[command(subcommand)]
        scenario: ClassificationScenario,
    },
    /// The recovery service, following a feed the bench publishes classified work orders on.
    Recovery {
        #[command(subcommand)]
        scenario: RecoveryScenario,
    },
    /// Measurement's absorption and month report, in process on one core.
    Measurement {
        #[command(subcommand)]
        scenario: MeasurementScenario,
    },
    /// The TM Forum adapter: hub notifications of case changes.
    Tmf {
        #[command(subcommand)]
        scenario: TmfScenario,
    },
    /// What metrics and traces cost.
    Telemetry {
        #[command(subcommand)]
        scenario: TelemetryScenario,
    },
}

#[derive(Debug, Subcommand)]
enum TelemetryScenario {
    /// One Prometheus scrape of the process's metrics with this many series in them.
    Scrape {
        #[arg(long, default_value_t = 10_000)]
        series: u64,
    },
    /// Intake's SubmitContact throughput with metrics on and scraped, against metrics off.
    Cost {
        #[arg(long, default_value_t = 64)]
        concurrency: usize,
        #[arg(long, default_value = "10s", value_parser = humantime)]
        duration: Duration,
        /// Pairs of runs, alternating which goes first.
        #[arg(long, default_value_t = 3)]
        rounds: usize,
    },
}

#[derive(Debug, Subcommand)]
enum MeasurementScenario {
    /// Absorb a month of work orders from the three feeds (six events each), then build the
    /// month report and run the same aggregation over the raw facts (and in PostgreSQL with
    /// `--postgres`).
    Absorb {
        #[arg(long, default_value_t = 200_000)]
        orders: u64,
    },
}

#[derive(Debug, Subcommand)]
enum ClassificationScenario {
    /// Train the text model, classify held-out texts on one core, and score them.
    Text {
        #[arg(long, default_value_t = 100_000)]
        examples: usize,
    },
    /// Write the same corpus (train and test split) as TSV for the scikit-learn baseline.
    Export {
        #[arg(long, default_value_t = 100_000)]
        examples: usize,
    },
    /// Write the starter corpus (train) and its independent evaluation set (test) as TSV, of one
    /// language, optionally only the first N training rows of every leaf's share (a small set).
    Starter {
        /// "zh" or "en"; both when absent.
        #[arg(long)]
        language: Option<String>,
        /// Keep about this many training rows in all, spread over the leaves.
        #[arg(long)]
        train_rows: Option<usize>,
    },
    /// Train on the `train` rows of a `split<TAB>leaf<TAB>text` file and score the `test` rows, as
    /// the scikit-learn baseline does on the same file.
    File { path: std::path::PathBuf },
}

#[derive(Debug, Subcommand)]
enum TmfScenario {
    /// Cases put on hold at a fixed rate; time from each change to its notification at a listener.
    Notify {
        #[arg(long, default_value_t = 100)]
        rate: u64,
        #[arg(long, default_value = "20s", value_parser = humantime)]
        duration: Duration,
    },
}

#[derive(Debug, Subcommand)]
enum RecoveryScenario {
    /// Work orders classified at a fixed rate; time from WorkOrderClassified to CaseOpened.
    Dispatch {
        #[arg(long, default_value_t = 1000)]
        rate: u64,
        #[arg(long, default_value = "20s", value_parser = humantime)]
        duration: Duration,
        /// Raise an open service problem of the orders' leaf and region first, so every case is
        /// linked to it.
        #[arg(long)]
        link: bool,
    },
    /// Cases worked end to end (accept, start, resolve, callback, close) by many callers at once.
    Transitions {
        #[arg(long, default_value_t = 5000)]
        cases: u64,
        #[arg(long, default_value_t = 64)]
        concurrency: usize,
    },
}

#[derive(Debug, Subcommand)]
enum IntakeScenario {
    /// SubmitContact (complaints) with a fixed number of calls in flight.
    Unary {
        #[arg(long, default_value_t = 64)]
        concurrency: usize,
        #[arg(long, default_value = "20s", value_parser = humantime)]
        duration: Duration,
    },
    /// SubmitContact (complaints) at a fixed rate, latency from when each call was due.
    Rate {
        #[arg(long, default_value_t = 2000)]
        rate: u64,
        #[arg(long, default_value = "20s", value_parser = humantime)]
        duration: Duration,
    },
    /// Ingest a stream of contacts (one in five a complaint).
    Ingest {
        #[arg(long, default_value_t = 1_000_000)]
        items: u64,
        /// Items the service commits in one transaction (`intake.write_batch`, set on the service
        /// run; the service's default). The driver-only reference commits the same rows in as
        /// many transactions.
        #[arg(long, default_value_t = 1024)]
        batch: u64,
    },
}

fn humantime(text: &str) -> Result<Duration, String> {
    let (number, unit) = text.split_at(text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len()));
    let n: u64 = number.parse().map_err(|_| format!("not a duration: {text}"))?;
    match unit {
        "ms" => Ok(Duration::from_millis(n)),
        "s" | "" => Ok(Duration::from_secs(n)),
        "m" => Ok(Duration::from_secs(n * 60)),
        _ => Err(format!("not a duration: {text}")),
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    if let Some(dir) = cli.bin_dir {
        service::use_binaries_from(dir);
    }
    let postgres = cli.postgres.clone();
    let backend = cli.postgres.map_or(Backend::Sqlite, Backend::Postgres);
    match cli.target {
        Target::Intake { scenario } => intake::run(scenario, backend).await,
        Target::Compare { builds, rounds, scenario } => compare::run(&builds, rounds, postgres.as_deref(), &scenario),
        Target::Pipeline { rate, duration } => pipeline::run(backend, rate, duration).await,
        Target::BareServer { listen } => bare::serve(listen).await,
        Target::Telemetry { scenario: TelemetryScenario::Scrape { series } } => {
            telemetry::scrape(series);
            Ok(())
        }
        Target::Telemetry { scenario: TelemetryScenario::Cost { concurrency, duration, rounds } } => {
            telemetry::cost(backend, concurrency, duration, rounds).await
        }
        Target::Recovery { scenario: RecoveryScenario::Dispatch { rate, duration, link } } => {
            recovery::dispatch(backend, rate, duration, link).await
        }
        Target::Tmf { scenario: TmfScenario::Notify { rate, duration } } => tmf::notify(backend, rate, duration).await,
        Target::Recovery { scenario: RecoveryScenario::Transitions { cases, concurrency } } => {
            recovery::transitions(backend, cases, concurrency).await
        }
        Target::Classification { scenario: ClassificationScenario::Text { examples } } => {
            println!("{}", classification::run(examples));
            Ok(())
        }
        Target::Measurement { scenario: MeasurementScenario::Absorb { orders } } => {
            // One core: a single-threaded runtime on a thread of its own.
            let figures = std::thread::spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
                runtime.block_on(measurement::run(orders, postgres.as_deref()))
            })
            .join()
            .map_err(|_| anyhow::anyhow!("the measurement bench panicked"))??;
            print_measurement(&figures);
            Ok(())
        }
        Target::Classification { scenario: ClassificationScenario::Export { examples } } => {
            Ok(classification::export(examples, &mut std::io::stdout().lock())?)
        }
        Target::Classification { scenario: ClassificationScenario::Starter { language, train_rows } } => {
            classification::export_starter(language.as_deref(), train_rows, &mut std::io::stdout().lock())
        }
        Target::Classification { scenario: ClassificationScenario::File { path } } => {
            println!("{}", classification::run_file(&path)?);
            Ok(())
        }
    }
}

fn print_measurement(f: &measurement::Figures) {
    let report = load::median(&f.report_ms);
    let sqlite = load::median(&f.raw_sqlite_ms);
    println!(
        "measurement absorb (one core, SQLite, durable): {} work orders, {} events absorbed in {:.1} s = {:.0} events/s; {} cells; peak RSS while absorbing {:.0} MiB",
        f.orders,
        f.events,
        f.absorb_seconds,
        f.events as f64 / f.absorb_seconds,
        f.cells,
        f.peak_rss_mib
    );
    let mut figures = figures::Figures::default();
    figures.add("events_per_s", f.events as f64 / f.absorb_seconds);
    figures.add("rss_peak_mib", f.peak_rss_mib);
    if let Some(seconds) = f.absorb_postgres_seconds {
        let peak = f.postgres_peak_rss_mib.unwrap_or_default();
        println!(
            "the same events absorbed on PostgreSQL (one core, durable): {seconds:.1} s = {:.0} events/s; peak RSS while absorbing {peak:.0} MiB",
            f.events as f64 / seconds
        );
        figures.add("postgres_events_per_s", f.events as f64 / seconds);
        figures.add("postgres_rss_peak_mib", peak);
    }
    let series = |q: f64| f.series_us.value_at_quantile(q) as f64 / 1000.0;
    println!(
        "QuerySeries ({} calls: every indicator by hour, and by day, week and month split four ways): p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        f.series_us.len(),
        series(0.5),
        series(0.99),
        f.series_us.max() as f64 / 1000.0
    );
    println!("month report (median of 5): {report:.1} ms");
    println!(
        "same aggregation over the raw facts in SQLite (median of 3): {sqlite:.1} ms = {:.1}x the report",
        sqlite / report
    );
    if let Some(pg) = &f.raw_postgres_ms {
        let pg = load::median(pg);
        println!(
            "same aggregation over the raw facts in PostgreSQL (median of 3): {pg:.1} ms = {:.1}x the report",
            pg / report
        );
    }
    figures.print();
}
