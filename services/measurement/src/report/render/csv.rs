//! The report as tidy RFC 4180 CSV tables, one per file, so a spreadsheet or BI tool loads each
//! as it is: a header row, one row per record, one kind of record per table; numbers rounded for
//! their unit (ratios to 4 decimals, counts whole, the rest to 2), empty when absent; text guarded
//! against formula injection.

use super::{ReportView, ranked_causes, ranked_problems, verdict};

/// Text field: formula-injection guard (leading = + - @ tab CR gets a "'"), then RFC 4180 quoting.
fn csv_text(s: &str) -> String {
    let guarded = if s.starts_with(['=', '+', '-', '@', '\t', '\r']) { format!("'{s}") } else { s.to_string() };
    if guarded.contains([',', '"', '\n', '\r']) { format!("\"{}\"", guarded.replace('"', "\"\"")) } else { guarded }
}

/// Numeric field rounded for `unit`, empty when absent or not finite.
fn csv_num(v: Option<f64>, unit: &str) -> String {
    let decimals = match unit {
        "ratio" => 4,
        "count" => 0,
        _ => 2,
    };
    match v {
        Some(x) if x.is_finite() => {
            let scale = 10f64.powi(decimals);
            let rounded = (x * scale).round() / scale;
            format!("{}", if rounded == 0.0 { 0.0 } else { rounded })
        }
        _ => String::new(),
    }
}

fn table(headers: &[&str], rows: impl IntoIterator<Item = Vec<String>>) -> String {
    let mut out = headers.join(",");
    out.push_str("\r\n");
    for row in rows {
        out.push_str(&row.join(","));
        out.push_str("\r\n");
    }
    out
}

/// Each table's name (the end of its file name) and content, in the order a reader takes them.
pub fn to_csv_tables(report: &ReportView) -> Vec<(&'static str, String)> {
    let unit_of = |key: &str| report.indicators.iter().find(|i| i.key == key).map_or("", |i| i.unit.as_str());
    let indicators = table(
        &[
            "period",
            "key",
            "name_zh",
            "name_en",
            "kind",
            "process",
            "stage",
            "unit",
            "higher_is_better",
            "value",
            "previous",
            "target",
            "warning",
            "gap",
            "status",
            "owner_department",
        ],
        report.indicators.iter().map(|i| {
            vec![
                report.period.clone(),
                csv_text(&i.key),
                csv_text(&i.name_zh),
                csv_text(&i.name_en),
                csv_text(&i.kind),
                csv_text(&i.process),
                csv_text(&i.stage),
                csv_text(&i.unit),
                i.higher_is_better.to_string(),
                csv_num(i.value, &i.unit),
                csv_num(i.previous, &i.unit),
                csv_num(i.target, &i.unit),
                csv_num(i.warning, &i.unit),
                csv_num(i.gap, &i.unit),
                i.status.snake().to_string(),
                csv_text(&i.owner_department),
            ]
        }),
    );
    let trends = table(
        &["indicator", "month", "value", "target"],
        report.indicators.iter().flat_map(|i| {
            i.months.iter().map(move |(month, value)| {
                vec![csv_text(&i.key), month.clone(), csv_num(*value, &i.unit), csv_num(i.target, &i.unit)]
            })
        }),
    );
    let problems = table(
        &["period", "rank", "indicator", "name", "importance", "gap", "unit", "priority", "owner_department"],
        ranked_problems(report).into_iter().enumerate().map(|(k, p)| {
            let unit = unit_of(&p.indicator);
            let gap = report.indicators.iter().find(|i| i.key == p.indicator).and_then(|i| i.gap);
            vec![
                report.period.clone(),
                (k + 1).to_string(),
                csv_text(&p.indicator),
                csv_text(&p.name),
                csv_num(Some(p.importance), ""),
                csv_num(gap, unit),
                csv_text(unit),
                csv_num(Some(p.priority), "ratio"),
                csv_text(&p.owner_department),
            ]
        }),
    );
    let causes = table(
        &[
            "period",
            "rank",
            "leaf",
            "name_zh",
            "name_en",
            "department",
            "complaints",
            "share",
            "cumulative_share",
            "vital_few",
        ],
        ranked_causes(report).into_iter().enumerate().map(|(k, (c, vital))| {
            vec![
                report.period.clone(),
                (k + 1).to_string(),
                csv_text(&c.leaf),
                csv_text(&c.name),
                csv_text(&c.name_en),
                csv_text(&c.department),
                c.complaints.to_string(),
                csv_num(Some(c.share), "ratio"),
                csv_num(Some(c.cumulative_share), "ratio"),
                vital.to_string(),
            ]
        }),
    );
    let breakdowns = table(
        &["period", "dimension", "key", "name_zh", "name_en", "indicator", "value"],
        report.breakdowns.iter().flat_map(|b| {
            b.rows.iter().flat_map(move |row| {
                b.indicators.iter().zip(&row.values).map(move |((key, _, _, unit), value)| {
                    vec![
                        report.period.clone(),
                        csv_text(&b.dimension),
                        csv_text(&row.key),
                        csv_text(&row.name_zh),
                        csv_text(&row.name_en),
                        csv_text(key),
                        csv_num(*value, unit),
                    ]
                })
            })
        }),
    );
    let effects = table(
        &[
            "programme",
            "title",
            "indicator",
            "before",
            "after",
            "change",
            "p_value",
            "significant",
            "improved",
            "verdict",
        ],
        report.effects.iter().map(|e| {
            let unit = unit_of(&e.indicator);
            vec![
                csv_text(&e.programme),
                csv_text(&e.title),
                csv_text(&e.indicator),
                csv_num(e.before, unit),
                csv_num(e.after, unit),
                csv_num(e.change, unit),
                csv_num(e.p_value, "ratio"),
                e.significant.to_string(),
                e.improved.to_string(),
                csv_text(verdict(e).0),
            ]
        }),
    );
    vec![
        ("indicators", indicators),
        ("trends", trends),
        ("problems", problems),
        ("causes", causes),
        ("breakdowns", breakdowns),
        ("effects", effects),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::render::fixtures::{empty_report, sample};

    fn tables(report: &ReportView) -> std::collections::HashMap<&'static str, String> {
        to_csv_tables(report).into_iter().collect()
    }

    #[test]
    fn csv_quoting_rounding_and_formula_guard() {
        assert_eq!(csv_text("plain"), "plain");
        assert_eq!(csv_text("a,b"), "\"a,b\"");
        assert_eq!(csv_text("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_text("=1+1"), "'=1+1");
        assert_eq!(csv_text("@a,b"), "\"'@a,b\"");
        assert_eq!(csv_num(Some(0.1 + 0.2), "ratio"), "0.3");
        assert_eq!(csv_num(Some(0.912345), "ratio"), "0.9123");
        assert_eq!(csv_num(Some(12.344999), "hours"), "12.34");
        assert_eq!(csv_num(Some(-0.001), "hours"), "0");
        assert_eq!(csv_num(Some(12345.4), "count"), "12345");
        assert_eq!(csv_num(None, "ratio"), "");
        assert_eq!(csv_num(Some(f64::NAN), "ratio"), "");
        let t = tables(&sample());
        assert!(t["indicators"].contains("\"Complaints per 10,000 customers\""));
        assert!(t["indicators"].contains(",\"'=HYPERLINK(\"\"http://x\"\")\","));
        assert!(t["indicators"].contains(",true,-3.5,,,,,no_target,"), "numeric fields are never prefixed");
        assert!(
            t["problems"].contains(
                "2026-11,1,complaint_rate,投诉率高,0.9,2.5,per 10,000 customers"
                    .replace("per 10,000 customers", "\"per 10,000 customers\"")
                    .as_str()
            )
        );
        assert!(t["breakdowns"].contains("2026-11,channel,hotline_agent,热线人工,Hotline agent,fcr,0.9123\r\n"));
        assert!(t["breakdowns"].contains("2026-11,channel,wechat,微信,WeChat,fcr,\r\n"));
    }

    #[test]
    fn every_table_is_one_header_row_and_rows_of_the_same_width() {
        for report in [sample(), empty_report()] {
            for (name, csv) in to_csv_tables(&report) {
                assert!(!csv.contains("\r\n# ") && !csv.starts_with('#'), "{name}: no section markers");
                let header = csv.split("\r\n").next().unwrap();
                assert!(!header.is_empty(), "{name} has a header");
                // Rows of the sample hold no quoted line breaks except the owner of "evil".
                if name != "indicators" {
                    let width = header.split(',').count();
                    for row in csv.split("\r\n").filter(|r| !r.is_empty() && !r.contains('"')) {
                        assert_eq!(row.split(',').count(), width, "{name}: {row}");
                    }
                }
            }
        }
        let t = tables(&sample());
        assert_eq!(t["trends"].split("\r\n").filter(|r| !r.is_empty()).count(), 1 + 12 * 5);
        assert!(
            t["causes"].contains(
                "\r\n1,net.coverage,室内覆盖弱,net.coverage (en),网络部,420,0.442,0.442,true\r\n"
                    .replace("\r\n1,", "\r\n2026-11,1,")
                    .as_str()
            )
        );
        assert_eq!(tables(&empty_report())["causes"].matches("\r\n").count(), 1);
    }
}
