//! The monthly report of a running system, opened in a real headless browser (Debian's
//! chromium): the page renders, logs no console error, and every chart on it has data.
//!
//! Without chromium the test says so and passes, unless `CSM_REQUIRE_BROWSER` is set (CI sets
//! it), where a missing browser fails it.

use std::{path::Path, process::Command};

use csm_proto::measurement::v1::{GetReportRequest, RenderReportRequest, Report, ReportFormat};

use super::{WAIT, beijing_noon, complaint_at};
use crate::support::{TestSystem, eventually};

/// Whether all `complaints` of the report's month have been classified (placed at a cause or
/// sent for review): none is left in the department split's "unclassified".
pub fn all_classified(report: &Report, complaints: usize) -> bool {
    let by_department =
        report.breakdowns.iter().find(|b| b.dimension == "department" && b.indicator == "indicators/complaints_opened");
    by_department.is_some_and(|b| {
        let total: f64 = b.values.iter().filter_map(|v| v.value).sum();
        total == complaints as f64 && b.values.iter().all(|v| v.key != "unclassified")
    })
}

const CHROMIUM: &str = "/usr/bin/chromium";

/// Run at the end of the page: every SVG chart must be laid out and hold at least one mark of
/// data (`data-value`); the verdict is written into the page, which chromium dumps.
const CHECK: &str = r#"<script>(function(){var bad=[],svgs=document.querySelectorAll('svg');
for(var k=0;k<svgs.length;k++){var s=svgs[k],r=s.getBoundingClientRect(),n=s.querySelectorAll('[data-value]').length;
if(n===0||r.width<20||r.height<10){bad.push((s.getAttribute('aria-label')||'svg')+' marks='+n+' size='+r.width+'x'+r.height);}}
var p=document.createElement('pre');p.id='csm-check';p.textContent='charts='+svgs.length+' bad='+bad.length+' '+bad.join(' | ');
document.body.appendChild(p);})();</script>"#;

fn chromium(dir: &Path, args: &[&str], page: &Path) -> std::process::Output {
    let profile = dir.join("profile");
    Command::new(CHROMIUM)
        .args(["--headless", "--no-sandbox", "--disable-gpu", "--enable-logging=stderr", "--v=0"])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .arg(format!("file://{}", page.display()))
        .output()
        .expect("chromium runs")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_report_renders_in_a_browser_without_console_errors_and_every_chart_has_data() {
    if !Path::new(CHROMIUM).exists() {
        assert!(
            std::env::var_os("CSM_REQUIRE_BROWSER").is_none(),
            "CSM_REQUIRE_BROWSER is set but {CHROMIUM} is missing"
        );
        eprintln!(
            "skipped: {CHROMIUM} is missing (apt-get install chromium; CSM_REQUIRE_BROWSER=1 makes this a failure)"
        );
        return;
    }
    let t = TestSystem::start().await;
    let (noon, start, _) = beijing_noon(0);
    let noon = noon.min(chrono::Utc::now());
    let texts = ["话费多扣了", "宽带一直断", "信号差", "手机没信号", "营业员态度差", "乱扣费"];
    for (i, text) in texts.into_iter().enumerate() {
        let region = if i % 2 == 0 { "GD-SZ" } else { "GD-GZ" };
        t.intake().submit_contact(complaint_at(&format!("1310000001{i}"), region, text, noon)).await.unwrap();
    }
    let zone: chrono_tz::Tz = "Asia/Shanghai".parse().unwrap();
    let month = start.with_timezone(&zone).format("%Y-%m").to_string();
    let request = GetReportRequest { month: month.clone(), top_causes: 10 };
    let analyst = t.measurement();
    eventually("every complaint in the report", WAIT, || {
        let (mut analyst, request) = (analyst.clone(), request.clone());
        async move {
            let report = analyst.get_report(request).await.ok()?.into_inner();
            all_classified(&report, texts.len()).then_some(())
        }
    })
    .await;
    let html = analyst
        .clone()
        .render_report(RenderReportRequest { report: Some(request), format: ReportFormat::Html as i32 })
        .await
        .unwrap()
        .into_inner();
    t.stop().await;

    let dir = tempfile::tempdir().unwrap();
    let page = String::from_utf8(html.content).unwrap();
    let checked = dir.path().join("checked.html");
    std::fs::write(&checked, page.replacen("</body>", &format!("{CHECK}</body>"), 1)).unwrap();
    let out = chromium(dir.path(), &["--dump-dom", "--virtual-time-budget=3000"], &checked);
    let (dom, log) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "chromium failed: {log}");
    let console: Vec<&str> = log.lines().filter(|l| l.contains("CONSOLE")).collect();
    assert!(console.is_empty(), "console messages: {console:#?}");
    let verdict = dom.split("<pre id=\"csm-check\">").nth(1).and_then(|v| v.split("</pre>").next());
    let verdict = verdict.unwrap_or_else(|| panic!("the check did not run; the page as rendered: {dom}"));
    let charts: usize = verdict.trim_start_matches("charts=").split(' ').next().unwrap().parse().unwrap();
    // The Pareto, the breakdowns' bars, a trend per indicator with data, and daily sparklines.
    assert!(charts >= 5, "{verdict}");
    assert!(verdict.contains(" bad=0 "), "charts without data: {verdict}");
    for section in ["indicators", "trends", "problems", "pareto", "breakdowns", "effects"] {
        assert!(dom.contains(&format!("<section id=\"{section}\">")), "{section}");
    }

    // A picture of the page as a person sees it, kept when CSM_REPORT_SCREENSHOT names a file.
    if let Some(path) = std::env::var_os("CSM_REPORT_SCREENSHOT") {
        let original = dir.path().join("report.html");
        std::fs::write(&original, &page).unwrap();
        let shot = format!("--screenshot={}", Path::new(&path).display());
        let out = chromium(dir.path(), &[&shot, "--window-size=1440,3200", "--hide-scrollbars"], &original);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
}
