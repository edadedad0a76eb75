//! Measurement alone, following a stand-in for recovery's feed on which the test publishes the
//! closed loop by hand (detractor follow-ups, appeal risks): the closed-loop indicators are
//! served and reported from what the feed carried, on SQLite or PostgreSQL.

use std::net::SocketAddr;

use chrono::{DateTime, Utc};
use csm_cli::clients::{self, Authenticated};
use csm_kit::{
    config::{DatabaseSettings, UpstreamSettings},
    feed::StandaloneFeed,
    time,
};
use csm_proto::{
    measurement::v1::{
        Dimension, GetReportRequest, Granularity, QuerySeriesRequest, RenderReportRequest, ReportFormat,
        measurement_service_client::MeasurementServiceClient,
    },
    recovery::v1::{AppealRiskRaised, Case, ContactMethod, DetractorAnswer, DetractorFollowUp, DetractorRoute},
};
use tokio_util::sync::CancellationToken;

use super::{WAIT, beijing_noon};
use crate::support::{Backend, eventually, quick_feed, show_service_logs, tokens};

const HOUR: i64 = 3_600_000_000;

struct Alone {
    address: SocketAddr,
    analyst: String,
    recovery: StandaloneFeed,
    stop: CancellationToken,
    task: tokio::task::JoinHandle<Result<(), csm_kit::RunError>>,
    backend: Backend,
    _feed_dir: tempfile::TempDir,
}

impl Alone {
    async fn start() -> Self {
        show_service_logs();
        let stop = CancellationToken::new();
        let feed_dir = tempfile::tempdir().expect("temporary directory");
        let recovery =
            StandaloneFeed::start(&feed_dir.path().join("recovery.db"), "recovery", quick_feed(), stop.clone())
                .await
                .expect("stand-in feed");
        let backend = Backend::from_env();
        let (tokens, auth) = tokens();
        let mut config = csm_measurement::Config::default();
        config.common.database =
            DatabaseSettings { url: backend.url("measurement"), max_connections: 4, ..Default::default() };
        config.common.auth = auth;
        config.common.feed = quick_feed();
        let upstream = UpstreamSettings::new(recovery.url.clone(), "");
        config.upstream.intake = upstream.clone();
        config.upstream.classification = upstream.clone();
        config.upstream.recovery = upstream;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let address = listener.local_addr().expect("address");
        let task = tokio::spawn(csm_measurement::run(config, listener, stop.clone().cancelled_owned()));
        let analyst = tokens.of("analyst").expect("analyst token").to_string();
        Self { address, analyst, recovery, stop, task, backend, _feed_dir: feed_dir }
    }

    fn client(&self) -> MeasurementServiceClient<Authenticated> {
        clients::measurement(self.address, &self.analyst).expect("client")
    }

    async fn publish<M: prost::Name>(&self, subject: &str, payload: &M) {
        self.recovery.publish(subject, payload).await.expect("published");
    }

    /// The indicator's value on the Beijing day `[start, end)`, once `ready` holds for it.
    async fn day_value(&self, key: &str, (start, end): (DateTime<Utc>, DateTime<Utc>), ready: f64) -> f64 {
        eventually(&format!("{key} to reach {ready}"), WAIT, || {
            let mut client = self.client();
            async move {
                let request = QuerySeriesRequest {
                    indicator: format!("indicators/{key}"),
                    granularity: Granularity::Day as i32,
                    group_by: Dimension::None as i32,
                    start_time: Some(time::to_timestamp(start)),
                    end_time: Some(time::to_timestamp(end)),
                    ..Default::default()
                };
                let series = client.query_series(request).await.ok()?.into_inner();
                series.points.first().map(|p| p.value).filter(|v| (v - ready).abs() < 1e-9)
            }
        })
        .await
    }

    async fn stop(self) {
        self.stop.cancel();
        self.task.await.expect("task").expect("measurement stops cleanly");
        self.backend.cleanup().await;
    }
}

fn follow_up(id: &str, answered: i64, contact: Option<i64>, close: Option<i64>) -> DetractorFollowUp {
    let after = |offset: Option<i64>| offset.map(|o| time::timestamp_from_micros(answered + o));
    DetractorFollowUp {
        answer: Some(DetractorAnswer {
            survey_answer: format!("surveyAnswers/{id}"),
            scale: "SURVEY_SCALE_CSAT_5".into(),
            score: 2.0,
            answer_time: Some(time::timestamp_from_micros(answered)),
            ..Default::default()
        }),
        route: DetractorRoute::CareTask as i32,
        department: "service_centre".into(),
        contact_method: ContactMethod::Sms as i32,
        contact_time: after(contact),
        close_time: after(close),
        region: "GD-SZ".into(),
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closed_loop_indicators_are_served_and_reported_from_recoverys_feed() {
    let alone = Alone::start().await;
    let (noon, start, end) = beijing_noon(3);
    let answered = time::micros(noon);
    // Reached at exactly 48 h and closed after 10 h; reached 1 µs too late, closed after 30 h;
    // never reached. The second is first published unreached, then amended.
    alone.publish("a1", &follow_up("a1", answered, Some(48 * HOUR), Some(10 * HOUR))).await;
    alone.publish("a2", &follow_up("a2", answered, None, None)).await;
    alone.publish("a3", &follow_up("a3", answered, None, None)).await;
    alone.publish("a2", &follow_up("a2", answered, Some(48 * HOUR + 1), Some(30 * HOUR))).await;
    // Two steps of one case's appeal risk, raised now: one case entered the warning window.
    let case = Case {
        name: "cases/c1".into(),
        department: "billing".into(),
        contact_type: "CONTACT_TYPE_COMPLAINT".into(),
        ..Default::default()
    };
    for past_due in [false, true] {
        let raised =
            AppealRiskRaised { case: Some(case.clone()), escalate_to: "service quality office".into(), past_due };
        alone.publish("cases/c1", &raised).await;
    }

    let day = (start, end);
    let reached = alone.day_value("detractor_contact_within_48h_rate", day, 1.0 / 3.0).await;
    assert!((reached - 1.0 / 3.0).abs() < 1e-9);
    assert_eq!(alone.day_value("median_loop_close_hours", day, 20.0).await, 20.0, "(10 + 30) / 2");
    let (_, today_start, today_end) = beijing_noon(0);
    assert_eq!(alone.day_value("appeal_risk_cases", (today_start, today_end), 1.0).await, 1.0);

    // The month's page shows them under the closed loop of the complaint process.
    let zone: chrono_tz::Tz = "Asia/Shanghai".parse().unwrap();
    let month = start.with_timezone(&zone).format("%Y-%m").to_string();
    let request = GetReportRequest { month, top_causes: 5 };
    let rendered = alone
        .client()
        .render_report(RenderReportRequest { report: Some(request), format: ReportFormat::Html as i32 })
        .await
        .unwrap()
        .into_inner();
    let page = String::from_utf8(rendered.content).unwrap();
    let heading = page.find("环节 Stage: 闭环 closed loop").expect("a closed-loop stage");
    assert!(heading < page.find("闭环时长中位数").expect("the median's row"));
    alone.stop().await;
}
