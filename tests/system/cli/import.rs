//! `csm import`: rows through intake's Ingest, refused rows to a rejects file, exit code 2 when any
//! row was refused.

use chrono::{Duration, Utc};
use csm_cli::output::Outcome;
use csm_proto::intake::v1::{Channel, ListWorkOrdersRequest};

use super::{csm, expect};
use crate::support::TestSystem;

/// An hour ago as the operator writes local times.
fn local_time() -> String {
    let zone: chrono_tz::Tz = "Asia/Shanghai".parse().unwrap();
    (Utc::now() - Duration::hours(1)).with_timezone(&zone).format("%Y-%m-%d %H:%M").to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_import_loads_the_good_rows_and_writes_the_bad_ones_with_their_reasons() {
    let t = TestSystem::start().await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("contacts.csv");
    let at = local_time();
    std::fs::write(
        &file,
        format!(
            "channel,phone,type,text,occurred_at,region\n\
             app,13800138001,complaint,这个月话费莫名多扣了58元,{at},GD-SZ\n\
             CHANNEL_HOTLINE_AGENT,13900139002,COMPLAINT,手机里有一笔信息费,{at},GD-GZ\n\
             微信,13700137003,投诉,家里宽带断网两天了,{at},GD-FS\n\
             pigeon,13600136004,complaint,小区里信号差,{at},GD-SZ\n\
             hotline,12,complaint,打电话经常掉话,{at},GD-SZ\n"
        ),
    )
    .unwrap();
    let path = file.to_str().unwrap();

    let out = expect(&t, "channel-gateway", &["import", "contacts", path], Outcome::Partly).await;
    assert!(out.contains("5 rows; 3 accepted, 0 already stored, 2 rejected; 3 work orders opened"), "{out}");
    let rejects = dir.path().join("contacts.csv.rejects.csv");
    assert!(out.contains(rejects.to_str().unwrap()), "{out}");
    assert_eq!(Outcome::Partly.code(), 2);

    let mut reader = csv::Reader::from_path(&rejects).unwrap();
    let header: Vec<String> = reader.headers().unwrap().iter().map(str::to_string).collect();
    assert_eq!(header, ["row", "reason", "channel", "phone", "type", "text", "occurred_at", "region"]);
    let rows: Vec<Vec<String>> = reader.records().map(|r| r.unwrap().iter().map(str::to_string).collect()).collect();
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert_eq!((rows[0][0].as_str(), rows[0][2].as_str()), ("5", "pigeon"));
    assert!(rows[0][1].contains("unknown channel \"pigeon\""), "{rows:?}");
    assert!(rows[0][1].contains("mobile_app (app, 手机营业厅)"), "the reason lists the accepted names: {rows:?}");
    assert_eq!((rows[1][0].as_str(), rows[1][3].as_str()), ("6", "12"));
    assert!(rows[1][1].contains("phone_number"), "intake's own reason: {rows:?}");

    // Friendly names reached intake as the contract's values.
    let listed = t
        .intake()
        .list_work_orders(ListWorkOrdersRequest { channel: Channel::MobileApp as i32, ..Default::default() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.work_orders.len(), 1);
    assert_eq!(listed.work_orders[0].phone_number, "13800138001");

    // The same file again stores nothing twice.
    let out = expect(&t, "channel-gateway", &["import", "contacts", path], Outcome::Partly).await;
    assert!(out.contains("0 accepted, 3 already stored, 2 rejected"), "{out}");
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn usage_events_and_survey_answers_load_from_json_lines_and_csv() {
    let t = TestSystem::start().await;
    let dir = tempfile::tempdir().unwrap();
    let at = (Utc::now() - Duration::hours(2)).to_rfc3339();
    let events = dir.path().join("events.jsonl");
    std::fs::write(
        &events,
        format!(
            "{{\"kind\": \"kqi\", \"phone\": \"13800138001\", \"product\": \"FTTH-1000M\", \"metric\": \"broadband_speed_mbps\", \"value\": 87.5, \"unit\": \"Mbps\", \"occurred_at\": \"{at}\"}}\n\
             \n\
             {{\"kind\": \"Billing\", \"phone\": \"13800138001\", \"product\": \"5G-199\", \"period\": \"2026-11\", \"amount_fen\": 19900, \"occurred_at\": \"{at}\"}}\n"
        ),
    )
    .unwrap();
    let out =
        expect(&t, "channel-gateway", &["import", "events", events.to_str().unwrap(), "--json"], Outcome::Done).await;
    let summary: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!((summary["rows"].as_u64(), summary["accepted"].as_u64()), (Some(2), Some(2)), "{out}");
    assert!(!dir.path().join("events.jsonl.rejects.csv").exists());

    let surveys = dir.path().join("answers.txt");
    std::fs::write(
        &surveys,
        format!("Phone Number,scale,score,question,channel,occurred_at\n13800138001,nps,9,overall,callback,{at}\n"),
    )
    .unwrap();
    let path = surveys.to_str().unwrap();
    let (result, _) = csm(&t, "channel-gateway", &["import", "surveys", path]).await;
    let error = result.unwrap_err().to_string();
    assert!(error.contains("--format csv"), "{error}");
    let out = expect(&t, "channel-gateway", &["import", "surveys", path, "--format", "csv"], Outcome::Done).await;
    assert!(out.contains("1 accepted"), "{out}");
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_intake_is_named_with_what_to_do() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("contacts.csv");
    std::fs::write(&file, "channel,phone,type,text,occurred_at\napp,13800138001,complaint,x,2026-11-03 09:30\n")
        .unwrap();
    let address = format!("127.0.0.1:{port}");
    let argv = ["csm", "import", "contacts", file.to_str().unwrap(), "--address", &address, "--token", "t"];
    let (result, _) = super::offline(argv.iter().map(|s| s.to_string()).collect()).await;
    let error = format!("{:#}", result.unwrap_err());
    assert!(error.contains(&address) && error.contains("csm up"), "{error}");
}
