//! The metrics port, scraped as Prometheus would: calls by method and status code, the feeds'
//! progress, group commits and the database pools move as the system works.

use std::{net::SocketAddr, time::Duration};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tonic::Code;

use crate::support::{TestSystem, complaint, eventually};

/// `GET /metrics` over a plain connection, the body returned.
async fn scrape(address: SocketAddr) -> String {
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    stream.write_all(b"GET /metrics HTTP/1.1\r\nHost: csm\r\nConnection: close\r\n\r\n").await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{}", &response[..response.len().min(200)]);
    response.split_once("\r\n\r\n").map(|(_, body)| body.to_string()).unwrap_or_default()
}

/// The sum of every sample of `metric` whose labels include all of `labels` (`name="value"`).
pub fn sum(text: &str, metric: &str, labels: &[&str]) -> f64 {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| line.rsplit_once(' '))
        .filter(|(series, _)| {
            let name = series.split('{').next().unwrap_or_default();
            name == metric && labels.iter().all(|label| series.contains(label))
        })
        .filter_map(|(_, value)| value.parse::<f64>().ok())
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_metrics_port_shows_calls_feeds_commits_and_pools_move() {
    let asked: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let t = TestSystem::start_with(|spec| spec.metrics_address = Some(asked)).await;
    let address = eventually("the metrics port to open", Duration::from_secs(10), || async {
        csm_kit::metrics::serving_on(asked)
    })
    .await;
    let submit = ["rpc_service=\"csm.intake.v1.IntakeService\"", "rpc_method=\"SubmitContact\""];
    let ok = [submit[0], submit[1], "rpc_grpc_status_code=\"0\""];
    let refused = [submit[0], submit[1], "rpc_grpc_status_code=\"3\""];
    let calls = "rpc_server_call_duration_seconds_count";
    let applied = "csm_feed_consumer_applied_total";
    let before = scrape(address).await;

    t.intake().submit_contact(complaint("13900000001", "信号很差，打不了电话")).await.unwrap();
    let status = t.intake().submit_contact(complaint("", "")).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);

    let after = eventually("the consumers to count the complaint", Duration::from_secs(30), || async {
        let text = scrape(address).await;
        let followed = ["service=\"classification\"", "service=\"recovery\"", "service=\"measurement\""]
            .iter()
            .all(|service| sum(&text, applied, &[service]) > sum(&before, applied, &[service]));
        followed.then_some(text)
    })
    .await;
    assert!(sum(&after, calls, &ok) >= sum(&before, calls, &ok) + 1.0, "{}", sum(&after, calls, &ok));
    assert!(sum(&after, calls, &refused) >= sum(&before, calls, &refused) + 1.0);
    assert!(sum(&after, "rpc_server_call_duration_seconds_bucket", &[ok[1], "le=\"+Inf\""]) >= 1.0);
    assert!(
        sum(&after, "csm_group_commit_batch_size_count", &[]) > sum(&before, "csm_group_commit_batch_size_count", &[])
    );
    assert!(sum(&after, "csm_feed_head", &["service=\"intake\""]) >= 1.0);
    assert!(after.contains("db_client_connection_count{"), "pool gauge missing");
    assert!(after.contains("csm_feed_consumer_lag_seconds{"), "lag gauge missing");
    // Paths outside the contracts share one label, so callers cannot mint series.
    assert!(!after.contains("NoSuchMethod"));
    t.stop().await;
}
