//! Intake under load, each figure beside its reference from the same run:
//! - `unary`: SubmitContact at a fixed number of calls in flight, against the bare tonic server
//!   ([`crate::bare`]) at the same concurrency;
//! - `rate`: SubmitContact at a fixed rate, against the disk's own flush latency, and the bare
//!   server at the same rate for the framework's CPU per call;
//! - `ingest`: a stream of contacts, against the same rows written straight through the driver.
//!
//! Each prints the CPU the service (and PostgreSQL's processes, on PostgreSQL) spent per call.

use std::time::{Duration, Instant};

use csm_cli::clients;
use csm_kit::time;
use csm_proto::intake::v1::{
    Channel, ContactType, CustomerProfile, IngestOutcome, IngestRequest, SubmitContactRequest, ingest_request::Item,
};

use crate::{
    IntakeScenario,
    accounting::{CpuMeter, costs_text, total},
    figures::Figures,
    load::{self, Measured},
    reference,
    service::{Backend, Service, describe},
};

/// Measured calls are numbered from here, so their request ids never repeat the warm-up's.
const MEASURED_FROM: u64 = 1 << 40;

const TEXTS: [&str; 8] = [
    "这个月话费莫名多扣了58元，要求退还",
    "家里宽带断网两天了，光猫红灯一直闪",
    "小区里信号差，室内经常没信号",
    "手机里有一笔信息费，我从来没有订购过",
    "I was overcharged on my bill again this month",
    "Calls drop every evening at home",
    "The agent was rude and hung up on me",
    "营业厅工作人员态度很差",
];
const CHANNELS: [Channel; 6] = [
    Channel::HotlineAgent,
    Channel::HotlineIvr,
    Channel::Wechat,
    Channel::MobileApp,
    Channel::PhysicalStore,
    Channel::OnlineStore,
];
const OTHER_TYPES: [ContactType; 4] =
    [ContactType::Inquiry, ContactType::Transaction, ContactType::Suggestion, ContactType::Praise];

/// Customers the load is spread over: enough that most complaints come from different customers,
/// few enough that repeats and high-frequency complainants occur.
const CUSTOMERS: u64 = 200_000;

/// The `n`th contact of a run: a complaint, or (when `complaint` is false) another contact type.
pub fn contact(run: &str, n: u64, complaint: bool) -> SubmitContactRequest {
    let mix = n.wrapping_mul(2_654_435_761);
    let customer = mix % CUSTOMERS;
    // Most contacts arrive as they happen; one in ten is delivered late, up to 30 days.
    let minutes_ago = if (mix / 7).is_multiple_of(10) { (mix / 11) % (30 * 24 * 60) } else { (mix / 11) % 60 };
    SubmitContactRequest {
        request_id: format!("{run}-{n}"),
        channel: CHANNELS[(mix % 6) as usize] as i32,
        phone_number: format!("138{customer:08}"),
        contact_type: if complaint { ContactType::Complaint } else { OTHER_TYPES[(mix % 4) as usize] } as i32,
        text: TEXTS[(mix % 8) as usize].to_string(),
        occurred_at: Some(time::to_timestamp(chrono::Utc::now() - chrono::Duration::minutes(minutes_ago as i64))),
        problem_code: if mix.is_multiple_of(2) { format!("P{}", mix % 40) } else { String::new() },
        customer_profile: Some(CustomerProfile {
            segment: ["premium", "youth", "prepaid", "family"][(customer % 4) as usize].into(),
            vip_level: (customer % 4) as i32,
            region: ["GD-SZ", "GD-GZ", "GD-FS", "GD-DG"][(customer % 4) as usize].into(),
            products: vec!["mobile".into()],
        }),
        ..Default::default()
    }
}

/// The bench's calls: `n` is the call's number in the run.
type Call = std::sync::Arc<dyn Fn(u64) -> std::pin::Pin<Box<dyn Future<Output = bool> + Send>> + Send + Sync>;

/// Calls SubmitContact on `service` over a few connections, as a handful of channel gateways
/// would open.
pub fn submitter(service: &Service) -> anyhow::Result<Call> {
    let token = service.tokens.of("channel-gateway").unwrap_or_default().to_string();
    let run = uuid::Uuid::new_v4().simple().to_string();
    let clients: Vec<_> = (0..4).map(|_| clients::intake(service.address, &token)).collect::<Result<_, _>>()?;
    Ok(std::sync::Arc::new(move |n: u64| {
        let mut client = clients[(n % 4) as usize].clone();
        let request = contact(&run, n, true);
        Box::pin(async move {
            match client.submit_contact(request).await {
                Ok(_) => true,
                Err(status) => {
                    load::note_error(&status);
                    false
                }
            }
        })
    }))
}

/// How a run offers its calls.
#[derive(Debug, Clone, Copy)]
enum Offered {
    /// A fixed number in flight (closed loop).
    InFlight(usize),
    /// A fixed rate, per second (open loop).
    PerSecond(u64),
}

/// One run against `service` offering calls as `offered`, after 3 s to warm up, with its CPU per
/// call.
async fn measure(
    service: &Service,
    backend: &Backend,
    offered: Offered,
    duration: Duration,
) -> anyhow::Result<(Measured, Vec<(String, f64)>)> {
    let call = submitter(service)?;
    drive(offered, Duration::from_secs(3), Duration::ZERO, call.clone(), 0).await;
    let cpu = CpuMeter::of_service(service, backend);
    let measured = drive(offered, Duration::ZERO, duration, call, MEASURED_FROM).await;
    let costs = cpu.per_op(measured.calls);
    Ok((measured, costs))
}

/// Calls `call` as `offered` for `warmup` then `duration`, numbering the calls from `first`.
async fn drive(offered: Offered, warmup: Duration, duration: Duration, call: Call, first: u64) -> Measured {
    let numbered = move |n| call(n + first);
    match offered {
        Offered::InFlight(concurrency) => load::closed_loop(concurrency, warmup, duration, numbered).await,
        Offered::PerSecond(rate) => load::open_loop(rate, warmup, duration, numbered).await,
    }
}

pub async fn run(scenario: IntakeScenario, backend: Backend) -> anyhow::Result<()> {
    let mut env = vec![
        // Following classification is not part of intake's own cost.
        ("CSM_UPSTREAM__CLASSIFICATION__URL", String::new()),
        // The bench is one caller standing for several channel gateways: its calls are not shed
        // as one caller's excess.
        ("CSM_SERVER__MAX_CONCURRENT_REQUESTS_PER_CALLER", "512".to_string()),
    ];
    if let IntakeScenario::Ingest { batch, .. } = scenario {
        env.push(("CSM_INTAKE__WRITE_BATCH", batch.to_string()));
    }
    let mut figures = Figures::default();
    let service = Service::start("csm-intake", &backend, &env).await?;
    let line = match scenario {
        IntakeScenario::Unary { concurrency, duration } => {
            let (measured, costs) = measure(&service, &backend, Offered::InFlight(concurrency), duration).await?;
            let bare = Service::start("bare-server", &Backend::Sqlite, &[]).await?;
            let (reference, bare_costs) =
                measure(&bare, &Backend::Sqlite, Offered::InFlight(concurrency), duration).await?;
            bare.stop().await?;
            let ratio = measured.per_second() / reference.per_second();
            figures.add("submissions_per_s", measured.per_second());
            figures.add("p99_ms", measured.ms(0.99));
            figures.add("bare_per_s", reference.per_second());
            figures.add("share_of_bare", ratio);
            figures.add("cpu_ms_per_submission", total(&costs));
            format!(
                "intake SubmitContact, {}, {concurrency} in flight: {}\n  CPU per submission: {}\n  reference, bare tonic server, same calls: {:.0}/s, CPU per call {}\n  intake = {:.1} % of the bare server's rate",
                describe(&backend),
                measured.summary("submissions"),
                costs_text(&costs),
                reference.per_second(),
                costs_text(&bare_costs),
                ratio * 100.0
            )
        }
        IntakeScenario::Rate { rate, duration } => {
            let flush = reference::disk_flush(service.dir(), 2000)?;
            let (measured, costs) = measure(&service, &backend, Offered::PerSecond(rate), duration).await?;
            // The framework's own cost at this rate: at a call or two per commit, waking threads
            // for each call is a larger share than at 256 in flight.
            let bare = Service::start("bare-server", &Backend::Sqlite, &[]).await?;
            let (reference, bare_costs) = measure(&bare, &Backend::Sqlite, Offered::PerSecond(rate), duration).await?;
            bare.stop().await?;
            let p99 = measured.ms(0.99);
            let flush_p99 = flush.value_at_quantile(0.99) as f64 / 1000.0;
            figures.add("p50_ms", measured.ms(0.5));
            figures.add("p99_ms", p99);
            figures.add("flush_p99_ms", flush_p99);
            figures.add("p99_above_flush_ms", p99 - flush_p99);
            figures.add("cpu_ms_per_submission", total(&costs));
            figures.add("bare_cpu_ms_per_call", total(&bare_costs));
            format!(
                "intake SubmitContact, {}, {rate}/s offered: {}\n  CPU per submission: {}\n  reference, {}\n  p99 = disk flush p99 + {:.2} ms\n  reference, bare tonic server, same calls at the same rate: p99 {:.2} ms, CPU per call {}",
                describe(&backend),
                measured.summary("submissions"),
                costs_text(&costs),
                reference::describe_flush(&flush),
                p99 - flush_p99,
                reference.ms(0.99),
                costs_text(&bare_costs),
            )
        }
        IntakeScenario::Ingest { items, batch } => return ingest(service, items, batch, &backend, figures).await,
    };
    let (peak, current) = service.memory_mib();
    figures.add("rss_peak_mib", peak);
    println!("{line}\n  service RSS peak {peak:.0} MiB (now {current:.0} MiB)");
    if let Some(error) = load::first_error() {
        println!("  first error: {error}");
    }
    figures.print();
    service.stop().await
}

/// Contacts in one ingest stream, then the same rows again through the driver alone.
async fn ingest(
    mut service: Service,
    items: u64,
    batch: u64,
    backend: &Backend,
    mut figures: Figures,
) -> anyhow::Result<()> {
    let token = service.tokens.of("channel-gateway").unwrap_or_default().to_string();
    let run = uuid::Uuid::new_v4().simple().to_string();
    let (tx, rx) = tokio::sync::mpsc::channel(8192);
    tokio::spawn(async move {
        for n in 0..items {
            let item = IngestRequest {
                item_id: String::new(),
                item: Some(Item::Contact(contact(&run, n, n.is_multiple_of(5)))),
            };
            if tx.send(item).await.is_err() {
                return;
            }
        }
    });
    let cpu = CpuMeter::of_service(&service, backend);
    let started = Instant::now();
    let mut results = clients::intake(service.address, &token)?
        .max_decoding_message_size(64 << 20)
        .ingest(tokio_stream::wrappers::ReceiverStream::new(rx))
        .await?
        .into_inner();
    let (mut accepted, mut other) = (0u64, 0u64);
    while let Some(result) = results.message().await? {
        if result.outcome() == IngestOutcome::Accepted {
            accepted += 1;
        } else {
            other += 1;
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    let costs = cpu.per_op(items);
    let (peak, _) = service.memory_mib();
    service.halt().await?;
    // As few durable transactions as batches of `batch` items need.
    let transactions = items.div_ceil(batch.max(1)) as usize;
    let (rows, seconds) = match backend {
        Backend::Sqlite => reference::sqlite_rewrite(&service.dir().join("service.db"), transactions)?,
        Backend::Postgres(_) => reference::postgres_rewrite(&service.database_url, transactions).await?,
    };
    let rate = items as f64 / elapsed;
    let driver_rate = items as f64 / seconds;
    figures.add("contacts_per_s", rate);
    figures.add("driver_only_contacts_per_s", driver_rate);
    figures.add("share_of_driver_only", rate / driver_rate);
    figures.add("cpu_ms_per_contact", total(&costs));
    figures.add("rss_peak_mib", peak);
    println!(
        "intake Ingest, {}: {items} contacts (1 in 5 a complaint) in {elapsed:.1} s = {rate:.0} contacts/s ({accepted} accepted, {other} not)\n  CPU per contact: {}\n  reference, the same {rows} rows through the driver alone in {transactions} transactions: {seconds:.2} s = {driver_rate:.0} contacts/s\n  intake = {:.1} % of the driver-only rate\n  service RSS peak {peak:.0} MiB",
        describe(backend),
        costs_text(&costs),
        rate / driver_rate * 100.0
    );
    figures.print();
    service.stop().await
}
