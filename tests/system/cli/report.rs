//! `csm report export`: the period report rendered by measurement, written to a file that opens.

use csm_cli::output::Outcome;

use super::{csm, expect};
use crate::support::{TestSystem, complaint};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_report_is_exported_as_html_and_csv_files() {
    let t = TestSystem::start().await;
    t.intake().submit_contact(complaint("13800138001", "这个月话费莫名多扣了58元")).await.unwrap();
    let zone: chrono_tz::Tz = "Asia/Shanghai".parse().unwrap();
    let month = chrono::Utc::now().with_timezone(&zone).format("%Y-%m").to_string();
    let dir = tempfile::tempdir().unwrap();

    let html = dir.path().join("out/report.html");
    let args = ["report", "export", "--period", &month, "--format", "html", "--out", html.to_str().unwrap()];
    let out = expect(&t, "analyst", &args, Outcome::Done).await;
    assert!(out.contains("wrote") && out.contains("report.html"), "{out}");
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(page.trim_start().to_lowercase().starts_with("<!doctype html") && page.contains("</html>"), "{page}");
    assert!(page.contains(&month));

    // Into a directory: under the name the service gives.
    let tables = dir.path().join("tables/");
    let args = ["report", "export", "--period", &month, "--format", "csv", "--out", tables.to_str().unwrap(), "--json"];
    let out = expect(&t, "analyst", &args, Outcome::Done).await;
    let written: serde_json::Value = serde_json::from_str(&out).unwrap();
    let files = written["files"].as_array().unwrap();
    assert_eq!(files.len(), 6, "one file per table: {out}");
    for file in files {
        let path = file["path"].as_str().unwrap();
        assert!(path.starts_with(tables.to_str().unwrap()), "{path}");
        // Tidy: a header row, and every row as wide as it.
        let mut reader = csv::ReaderBuilder::new().from_path(path).unwrap();
        assert!(!reader.headers().unwrap().is_empty(), "{path} has a header row");
        let records: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
        if path.ends_with("indicators.csv") {
            assert!(!records.is_empty(), "{path} has a row per indicator");
        }
    }

    let (result, _) = csm(&t, "analyst", &["report", "export", "--period", "November"]).await;
    assert!(result.unwrap_err().to_string().contains("YYYY-MM"));
    t.stop().await;
}
