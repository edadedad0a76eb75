//! `csm feed tail`: a feed's events decoded from `Any`, as lines people read or as JSON.

use csm_cli::output::Outcome;

use super::{csm, expect};
use crate::support::{TestSystem, complaint};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tailed_feed_prints_decoded_events() {
    let t = TestSystem::start().await;
    let opened = t.intake().submit_contact(complaint("13800138001", "这个月话费莫名多扣了58元")).await.unwrap();
    let work_order = opened.into_inner().work_order.unwrap().name;

    let args = ["feed", "tail", "intake", "--from-start", "--types", "WorkOrderOpened", "--limit", "1"];
    let out = expect(&t, "administrator", &args, Outcome::Done).await;
    let line = out.lines().next().unwrap();
    assert!(line.contains("intake WorkOrderOpened") && line.contains(&work_order), "{out}");
    assert!(line.contains("channel=CHANNEL_HOTLINE_AGENT"), "key fields of the payload: {out}");
    assert!(line.contains("138****8001") && !line.contains("13800138001"), "the number is masked: {out}");

    let args = ["feed", "tail", "intake", "--from-start", "--limit", "2", "--json"];
    let out = expect(&t, "administrator", &args, Outcome::Done).await;
    let events: Vec<serde_json::Value> = out.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(events.len(), 2);
    let opened = events
        .iter()
        .find(|e| e["payload"]["@type"] == "type.googleapis.com/csm.intake.v1.WorkOrderOpened")
        .unwrap_or_else(|| panic!("{out}"));
    assert_eq!(opened["payload"]["workOrder"]["name"], work_order.as_str());
    assert_eq!(opened["payload"]["workOrder"]["channel"], "CHANNEL_HOTLINE_AGENT");
    assert_eq!(opened["source"], "intake");

    // Classification's feed, by the event a later service publishes.
    let args = ["feed", "tail", "classification", "--from-start", "--types", "WorkOrderClassified", "--limit", "1"];
    let out = expect(&t, "administrator", &args, Outcome::Done).await;
    assert!(out.contains("classification WorkOrderClassified"), "{out}");

    let (result, _) = csm(&t, "administrator", &["feed", "tail", "intake", "--types", "Nonsense"]).await;
    assert!(result.unwrap_err().to_string().contains("WorkOrderOpened"));
    t.stop().await;
}
