//! Competitor gap tables, mystery-shopper audits, and the monthly report as data, CSV and HTML.

use csm_kit::time;
use csm_proto::measurement::v1::{
    AuditChecklist, AuditItem, AuditResult, BenchmarkScore, GetBenchmarkGapsRequest, GetReportRequest,
    ImportBenchmarkRequest, IndicatorStatus, ListAuditsRequest, PutAuditChecklistRequest, RecordAuditRequest,
    RenderReportRequest, ReportFormat,
};
use tonic::Code;

use super::{WAIT, beijing_noon, complaint_at};
use crate::support::{TestSystem, eventually};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn benchmarks_read_as_gaps_and_audits_count_points_lost_per_item() {
    let t = TestSystem::start().await;
    let mut analyst = t.measurement();
    let score = |item: &str, own: f64, theirs: f64| BenchmarkScore {
        item: item.into(),
        item_name: String::new(),
        own_score: own,
        competitor_score: theirs,
    };
    let import = ImportBenchmarkRequest {
        competitor: "operator_b".into(),
        period: "2026-Q3".into(),
        scores: vec![score("network_quality", 71.73, 87.2), score("complaint_handling", 62.99, 57.7)],
        source: "third-party survey".into(),
    };
    analyst.import_benchmark(import.clone()).await.unwrap();
    let gaps = analyst
        .get_benchmark_gaps(GetBenchmarkGapsRequest { competitor: "operator_b".into(), period: "2026-Q3".into() })
        .await
        .unwrap()
        .into_inner();
    let table: Vec<(&str, f64)> = gaps.gaps.iter().map(|g| (g.item.as_str(), g.gap)).collect();
    assert_eq!(table.len(), 2);
    assert_eq!(table[0].0, "network_quality", "the worst gap first");
    assert!((table[0].1 - (71.73 - 87.2)).abs() < 1e-9 && (table[1].1 - (62.99 - 57.7)).abs() < 1e-9);
    let bad = ImportBenchmarkRequest { scores: vec![score("x", f64::NAN, 1.0), score("x", 1.0, 1.0)], ..import };
    let status = analyst.import_benchmark(bad).await.unwrap_err();
    assert!(status.message().contains("scores[0].own_score") && status.message().contains("scores[1].item"));

    let admin = csm_cli::clients::measurement(t.system.addresses.measurement, t.admin()).unwrap();
    let item = |key: &str, points: f64| AuditItem { key: key.into(), title: key.into(), points };
    let checklist = AuditChecklist {
        key: "store_visit".into(),
        title: "营业厅暗访".into(),
        items: vec![item("environment", 8.0), item("signage", 11.0), item("facilities", 10.0), item("service", 71.0)],
        ..Default::default()
    };
    let stored =
        admin.clone().put_audit_checklist(PutAuditChecklistRequest { checklist: Some(checklist) }).await.unwrap();
    assert_eq!(stored.into_inner().total_points, 100.0);
    let result =
        |item: &str, earned: f64| AuditResult { item: item.into(), points_earned: earned, note: String::new() };
    let visit = RecordAuditRequest {
        checklist: "auditChecklists/store_visit".into(),
        outlet: "SZ-001".into(),
        visit_time: Some(time::to_timestamp(chrono::Utc::now())),
        results: vec![
            result("environment", 6.0),
            result("signage", 11.0),
            result("facilities", 7.0),
            result("service", 60.0),
        ],
        auditor: "shopper-7".into(),
        request_id: "visit-1".into(),
    };
    let audit = analyst.record_audit(visit.clone()).await.unwrap().into_inner();
    assert_eq!((audit.points_earned, audit.points_lost), (84.0, 16.0));
    let again = analyst.record_audit(visit.clone()).await.unwrap().into_inner();
    assert_eq!(again, audit, "a retry returns the first audit");
    let over = RecordAuditRequest {
        request_id: "visit-2".into(),
        results: vec![result("environment", 9.0), result("signage", 1.0)],
        ..visit
    };
    let status = analyst.record_audit(over).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(status.message().contains("results[0].points_earned") && status.message().contains("facilities"));
    let listed =
        analyst.list_audits(ListAuditsRequest { outlet: "SZ-001".into(), ..Default::default() }).await.unwrap();
    let listed = listed.into_inner();
    assert_eq!(listed.audits.len(), 1, "the refused audit was not stored");
    let worst = &listed.outlets[0].items[0];
    assert_eq!((worst.item.as_str(), worst.points_lost), ("service", 11.0));
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_monthly_report_states_each_indicator_ranks_problems_and_renders() {
    let t = TestSystem::start().await;
    let (noon, start, _) = beijing_noon(0);
    let noon = noon.min(chrono::Utc::now());
    for (i, text) in ["话费多扣了", "宽带一直断", "信号差"].into_iter().enumerate() {
        t.intake().submit_contact(complaint_at(&format!("1310000000{i}"), "GD-SZ", text, noon)).await.unwrap();
    }
    let zone: chrono_tz::Tz = "Asia/Shanghai".parse().unwrap();
    let month = start.with_timezone(&zone).format("%Y-%m").to_string();
    let mut analyst = t.measurement();
    let request = GetReportRequest { month: month.clone(), top_causes: 5 };
    let report = eventually("three classified complaints in the report", WAIT, || {
        let (mut analyst, request) = (analyst.clone(), request.clone());
        async move {
            let report = analyst.get_report(request).await.ok()?.into_inner();
            let named = report.causes.iter().all(|c| c.name_zh != c.leaf);
            (super::browser::all_classified(&report, 3) && named).then_some(report)
        }
    })
    .await;
    let opened = report.indicators.iter().find(|i| i.indicator == "indicators/complaints_opened").unwrap();
    assert_eq!(opened.value, Some(3.0));
    assert_eq!(opened.status, IndicatorStatus::NoTarget as i32);
    let csat = report.indicators.iter().find(|i| i.indicator == "indicators/csat").unwrap();
    assert_eq!(csat.status, IndicatorStatus::NoData as i32);
    assert!(
        report.causes.last().is_some_and(|c| (c.cumulative_share - 1.0).abs() < 1e-9),
        "the causes add up to every classified complaint: {:?}, {} not placed at a cause",
        report.causes,
        report.unclassified_complaints
    );
    assert!(report.causes.iter().all(|c| !c.department.is_empty() && !c.name_en.is_empty()), "{:?}", report.causes);
    assert!(
        report.causes.iter().all(|c| !c.leaf.starts_with("triage")),
        "review work is no cause: {:?}",
        report.causes
    );
    let owners = report.departments.iter().find(|d| d.key == "service_centre").unwrap();
    assert_eq!((owners.name_zh.as_str(), owners.name_en.as_str()), ("客户服务中心", "Service centre"));
    assert_eq!(opened.months.len(), 12);
    assert_eq!(opened.months.last().map(|m| (m.month.as_str(), m.value)), Some((month.as_str(), Some(3.0))));
    let by_channel = report.breakdowns.iter().find(|b| b.dimension == "channel").unwrap();
    assert_eq!(by_channel.values[0].name_en, "Hotline agent");
    assert!(report.problems.windows(2).all(|w| w[0].priority >= w[1].priority));

    let html = analyst
        .render_report(RenderReportRequest { report: Some(request.clone()), format: ReportFormat::Html as i32 })
        .await
        .unwrap()
        .into_inner();
    assert!(html.content_type.starts_with("text/html"));
    assert_eq!(html.file_name, format!("csm-report-{month}.html"));
    let page = String::from_utf8(html.content).unwrap();
    assert!(page.contains("<svg") && page.contains("投诉工单量") && page.contains(&month));
    let csv = analyst
        .render_report(RenderReportRequest { report: Some(request.clone()), format: ReportFormat::Csv as i32 })
        .await
        .unwrap()
        .into_inner();
    let names: Vec<&str> = csv.files.iter().map(|f| f.name.as_str()).collect();
    for table in ["indicators", "trends", "problems", "causes", "breakdowns", "effects"] {
        assert!(names.contains(&format!("csm-report-{month}-{table}.csv").as_str()), "{names:?}");
    }
    let indicators = String::from_utf8(csv.content).unwrap();
    assert!(indicators.starts_with("period,key,") && indicators.contains(&format!("{month},complaints_opened,")));

    let status = analyst.get_report(GetReportRequest { month: "2026-13".into(), top_causes: 0 }).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(status.message().contains("month"));
    t.stop().await;
}
