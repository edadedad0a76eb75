//! One caller cannot hurt the others. While one token keeps its share of each server full of heavy
//! calls (monthly reports rendered, 500-node index models stored, text models evaluated) and a crowd
//! of subscribers replays intake's feed from its first event, another caller's calls keep
//! succeeding, and quickly; the heavy caller's calls beyond its share are refused at once with
//! RESOURCE_EXHAUSTED instead of queueing in front of everyone else's.

use std::time::{Duration, Instant};

use csm_cli::clients;
use csm_proto::{
    classification::v1::{EvaluateTextModelsRequest, LabelledText},
    feed::v1::SubscribeRequest,
    intake::v1::{ContactType, ingest_request::Item},
    measurement::v1::{
        GetIndicatorRequest, GetReportRequest, IndexModel, IndexNode, PutIndexModelRequest, RenderReportRequest,
        ReportFormat,
    },
};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tonic::Code;

use crate::support::{TestSystem, complaint, ingest};

/// Calls one caller may have in flight at each server in this test.
const SHARE: usize = 4;
/// Contacts on intake's feed before the subscribers start replaying it.
const CONTACTS: usize = 3_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unrelated_call_stays_fast_while_heavy_calls_and_replaying_subscribers_run() {
    let t = TestSystem::start_with(|spec| spec.server.max_concurrent_requests_per_caller = SHARE).await;
    seed(&t).await;
    let idle = probe(&t, Duration::from_secs(1)).await;

    let stop = CancellationToken::new();
    let subscribers = replay(&t, stop.clone()).await;
    let mut heavy = JoinSet::new();
    heavy.spawn(render_reports(&t, stop.clone()));
    heavy.spawn(put_index_models(&t, stop.clone()));
    heavy.spawn(evaluate_text_models(&t, stop.clone()));
    // Let the heavy calls and the replays get going before measuring.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let loaded = probe(&t, Duration::from_secs(4)).await;
    stop.cancel();
    let mut heavy_calls = Vec::new();
    while let Some(tally) = heavy.join_next().await {
        heavy_calls.push(tally.unwrap());
    }
    let replayed = subscribers.finish().await;

    eprintln!("isolation: idle {idle}");
    eprintln!("isolation: loaded {loaded}");
    eprintln!("isolation: {replayed}");
    for tally in &heavy_calls {
        eprintln!("isolation: {tally}");
    }
    // The load was real: the subscribers replayed, and every heavy kind was served.
    assert!(replayed.events > CONTACTS as u64, "{replayed}");
    for tally in &heavy_calls {
        assert!(tally.served > 0, "{tally}");
    }
    // The heavy caller past its share was turned away, not queued.
    let refused: usize = heavy_calls.iter().map(|tally| tally.refused).sum();
    assert!(refused > 0, "no heavy call was refused: {heavy_calls:?}");
    // The unrelated callers were served every time, and quickly.
    for figures in [&idle, &loaded] {
        assert_eq!(figures.submitted.len(), figures.calls, "every SubmitContact succeeded: {figures}");
        assert_eq!(figures.read.len(), figures.calls, "every GetIndicator succeeded: {figures}");
    }
    // Bounds with a wide margin for a debug build sharing two cores with other tests, on SQLite or
    // PostgreSQL: measured there, SubmitContact took a median of 60 to 100 ms under this load on
    // SQLite (12 to 15 ms idle) and 283 ms on PostgreSQL, at most about 450 ms; GetIndicator, on
    // the server the heavy caller fills, up to 165 and 600 ms. Starved, as before callers had
    // shares, the same calls waited seconds.
    let (median, max) = (percentile(&loaded.submitted, 0.5), percentile(&loaded.submitted, 1.0));
    assert!(median < Duration::from_millis(1_000), "SubmitContact under load: {loaded}");
    assert!(max < Duration::from_secs(3), "SubmitContact under load: {loaded}");
    let (median, max) = (percentile(&loaded.read, 0.5), percentile(&loaded.read, 1.0));
    assert!(median < Duration::from_millis(1_500), "GetIndicator under load: {loaded}");
    assert!(max < Duration::from_secs(4), "GetIndicator under load: {loaded}");
    t.stop().await;
}

/// Contacts through intake's bulk ingest: mostly inquiries, which open no work order, so the
/// other services have little to do with them; a few complaints for the reports.
async fn seed(t: &TestSystem) {
    let contacts = (0..CONTACTS)
        .map(|i| {
            let mut contact = complaint(&format!("137{i:08}"), "请问本月套餐余量还有多少");
            if i % 100 != 0 {
                contact.contact_type = ContactType::Inquiry as i32;
            } else {
                contact.text = "这个月话费多扣了".into();
            }
            Item::Contact(contact)
        })
        .collect();
    ingest(t, contacts).await;
}

/// What the unrelated callers saw: a channel system submitting a complaint to intake, and an agent
/// reading an indicator from measurement, once every 20 ms each.
struct Probed {
    calls: usize,
    submitted: Vec<Duration>,
    read: Vec<Duration>,
    failures: Vec<String>,
}

impl std::fmt::Display for Probed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let figures = |latencies: &[Duration]| {
            format!(
                "median {:?}, p90 {:?}, max {:?}",
                percentile(latencies, 0.5),
                percentile(latencies, 0.9),
                percentile(latencies, 1.0)
            )
        };
        write!(
            f,
            "{} calls each; SubmitContact {}; GetIndicator {}; failures {:?}",
            self.calls,
            figures(&self.submitted),
            figures(&self.read),
            self.failures
        )
    }
}

async fn probe(t: &TestSystem, period: Duration) -> Probed {
    let mut intake = t.intake();
    let mut measurement = clients::measurement(t.system.addresses.measurement, t.token("agent")).unwrap();
    let mut probed = Probed { calls: 0, submitted: Vec::new(), read: Vec::new(), failures: Vec::new() };
    let mut ticks = tokio::time::interval(Duration::from_millis(20));
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let end = Instant::now() + period;
    while Instant::now() < end {
        ticks.tick().await;
        probed.calls += 1;
        let phone = format!("139{:08}", rand::random_range(0..100_000_000u32));
        let started = Instant::now();
        match intake.submit_contact(complaint(&phone, "家里宽带晚上总是断网")).await {
            Ok(_) => probed.submitted.push(started.elapsed()),
            Err(status) => probed.failures.push(format!("SubmitContact: {status:?}")),
        }
        let started = Instant::now();
        let request = GetIndicatorRequest { name: "indicators/complaints_opened".into() };
        match measurement.get_indicator(request).await {
            Ok(_) => probed.read.push(started.elapsed()),
            Err(status) => probed.failures.push(format!("GetIndicator: {status:?}")),
        }
    }
    probed
}

fn percentile(latencies: &[Duration], at: f64) -> Duration {
    let mut sorted = latencies.to_vec();
    sorted.sort();
    let index = ((sorted.len() as f64 - 1.0) * at).round() as usize;
    sorted.get(index).copied().unwrap_or_default()
}

/// Subscribers replaying intake's feed from its first event.
struct Replays {
    tasks: JoinSet<u64>,
    opened: usize,
}

struct Replayed {
    subscribers: usize,
    events: u64,
}

impl std::fmt::Display for Replayed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} subscribers replayed {} events of intake's feed", self.subscribers, self.events)
    }
}

impl Replays {
    async fn finish(mut self) -> Replayed {
        let mut events = 0;
        while let Some(read) = self.tasks.join_next().await {
            events += read.unwrap();
        }
        Replayed { subscribers: self.opened, events }
    }
}

/// As many subscribers as intake serves at once (the services' own consumers hold a few of the
/// places), half of them reading as fast as they can, half slowly, until `stop`.
async fn replay(t: &TestSystem, stop: CancellationToken) -> Replays {
    let cap = csm_kit::config::FeedSettings::default().max_subscribers;
    let mut replays = Replays { tasks: JoinSet::new(), opened: 0 };
    for i in 0..cap {
        let mut feed = clients::feed(t.system.addresses.intake, t.token("csm-services")).unwrap();
        let request = SubscribeRequest { after_sequence: 0, event_types: Vec::new() };
        let mut stream = match feed.subscribe(request).await {
            Ok(stream) => stream.into_inner(),
            Err(status) => {
                assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
                continue;
            }
        };
        replays.opened += 1;
        let stop = stop.clone();
        replays.tasks.spawn(async move {
            let mut read = 0;
            loop {
                tokio::select! {
                    () = stop.cancelled() => return read,
                    next = stream.message() => match next {
                        Ok(Some(_)) => read += 1,
                        _ => return read,
                    },
                }
                if i % 2 == 1 {
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
            }
        });
    }
    assert!(replays.opened + 8 >= cap, "only {} of {cap} subscribers served", replays.opened);
    replays
}

/// Heavy calls of one kind, from one caller (the administrator), sent in bursts of twice its share.
#[derive(Debug)]
struct Tally {
    kind: &'static str,
    served: usize,
    refused: usize,
}

impl std::fmt::Display for Tally {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {} served, {} refused (RESOURCE_EXHAUSTED)", self.kind, self.served, self.refused)
    }
}

/// Sends `call` in bursts of twice the caller's share until `stop`; every answer must be served
/// or refused for the share, nothing else.
async fn bursts<F, Fut>(kind: &'static str, burst: usize, stop: CancellationToken, call: F) -> Tally
where
    F: Fn(usize) -> Fut,
    Fut: Future<Output = Result<(), tonic::Status>> + Send + 'static,
{
    let mut tally = Tally { kind, served: 0, refused: 0 };
    let mut round = 0;
    while !stop.is_cancelled() {
        let mut calls = JoinSet::new();
        for _ in 0..burst {
            round += 1;
            calls.spawn(call(round));
        }
        let mut refused = false;
        while let Some(outcome) = calls.join_next().await {
            match outcome.unwrap() {
                Ok(()) => tally.served += 1,
                Err(status) if status.code() == Code::ResourceExhausted => {
                    assert!(status.message().contains("this caller has"), "{kind}: {status:?}");
                    tally.refused += 1;
                    refused = true;
                }
                Err(status) => panic!("{kind}: {status:?}"),
            }
        }
        if refused {
            // As a client backing off would; a tight loop of refusals is not the load meant here.
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    tally
}

fn render_reports(t: &TestSystem, stop: CancellationToken) -> impl Future<Output = Tally> + Send + 'static {
    let measurement = clients::measurement(t.system.addresses.measurement, t.admin()).unwrap();
    let month = chrono::Utc::now().with_timezone(&chrono_tz::Asia::Shanghai).format("%Y-%m").to_string();
    bursts("RenderReport", SHARE * 2, stop, move |_| {
        let (mut measurement, month) = (measurement.clone(), month.clone());
        async move {
            let report = GetReportRequest { month, top_causes: 10 };
            let request = RenderReportRequest { report: Some(report), format: ReportFormat::Html as i32 };
            measurement.render_report(request).await.map(|_| ())
        }
    })
}

/// A satisfaction-index model of 500 nodes (20 areas of 24 questions), its questions new each time
/// so that their measures are counted over the history.
fn index_model(round: usize) -> IndexModel {
    let node = |key: String, question: String, children: Vec<IndexNode>| IndexNode {
        name: key.clone(),
        key,
        weight: 1.0,
        question,
        children,
        ..Default::default()
    };
    let areas = (0..20)
        .map(|a| {
            let questions = (0..24).map(|q| node(format!("q{a}.{q}"), format!("load{round}_{a}_{q}"), Vec::new()));
            node(format!("area{a}"), String::new(), questions.take(if a == 0 { 23 } else { 24 }).collect())
        })
        .collect();
    IndexModel {
        key: format!("load_{round}"),
        title: "load".into(),
        root: Some(node("root".into(), String::new(), areas)),
        ..Default::default()
    }
}

fn put_index_models(t: &TestSystem, stop: CancellationToken) -> impl Future<Output = Tally> + Send + 'static {
    let measurement = clients::measurement(t.system.addresses.measurement, t.admin()).unwrap();
    bursts("PutIndexModel", 1, stop, move |round| {
        let mut measurement = measurement.clone();
        async move {
            let request = PutIndexModelRequest { model: Some(index_model(round)) };
            measurement.put_index_model(request).await.map(|_| ())
        }
    })
}

fn evaluate_text_models(t: &TestSystem, stop: CancellationToken) -> impl Future<Output = Tally> + Send + 'static {
    let classification = clients::classification(t.system.addresses.classification, t.admin()).unwrap();
    let examples: Vec<LabelledText> = (0..2_000)
        .map(|i| LabelledText {
            text: format!("宽带又断网了第{i}次，师傅一直没来修，请尽快处理"),
            leaves: [("cause".to_string(), "system.broadband_fault".to_string())].into(),
        })
        .collect();
    bursts("EvaluateTextModels", SHARE * 2, stop, move |_| {
        let (mut classification, examples) = (classification.clone(), examples.clone());
        async move {
            let request = EvaluateTextModelsRequest { examples, text_models: Vec::new() };
            classification.evaluate_text_models(request).await.map(|_| ())
        }
    })
}
