//! The report as RFC 4180 CSV: one section per part of the report, raw numbers (shortest
//! round-trip, empty when absent), text guarded against formula injection.

use std::fmt::Write;

use super::{ReportView, ranked_causes, ranked_problems, verdict};

/// Text field: formula-injection guard (leading = + - @ tab CR gets a "'"), then RFC 4180 quoting.
fn csv_text(s: &str) -> String {
    let guarded = if s.starts_with(['=', '+', '-', '@', '\t', '\r']) { format!("'{s}") } else { s.to_string() };
    if guarded.contains([',', '"', '\n', '\r']) { format!("\"{}\"", guarded.replace('"', "\"\"")) } else { guarded }
}

/// Numeric field: raw shortest round-trip representation, empty when absent or not finite.
fn csv_num(v: Option<f64>) -> String {
    match v {
        Some(x) if x.is_finite() => format!("{x}"),
        _ => String::new(),
    }
}

fn csv_row(out: &mut String, fields: &[String]) {
    out.push_str(&fields.join(","));
    out.push_str("\r\n");
}

fn csv_section(out: &mut String, name: &str, headers: &[&str]) {
    w!(out, "# {name}\r\n");
    out.push_str(&headers.join(","));
    out.push_str("\r\n");
}

pub fn to_csv(report: &ReportView) -> String {
    let mut out = String::new();
    csv_section(
        &mut out,
        "indicators",
        &[
            "key",
            "name_zh",
            "name_en",
            "kind",
            "process",
            "unit",
            "higher_is_better",
            "value",
            "previous",
            "target",
            "warning",
            "status",
            "owner_department",
            "stage",
        ],
    );
    for i in &report.indicators {
        csv_row(
            &mut out,
            &[
                csv_text(&i.key),
                csv_text(&i.name_zh),
                csv_text(&i.name_en),
                csv_text(&i.kind),
                csv_text(&i.process),
                csv_text(&i.unit),
                i.higher_is_better.to_string(),
                csv_num(i.value),
                csv_num(i.previous),
                csv_num(i.target),
                csv_num(i.warning),
                i.status.snake().to_string(),
                csv_text(&i.owner_department),
                csv_text(&i.stage),
            ],
        );
    }
    csv_section(
        &mut out,
        "problems",
        &["rank", "indicator", "name", "importance", "gap", "priority", "owner_department"],
    );
    for (k, p) in ranked_problems(report).into_iter().enumerate() {
        csv_row(
            &mut out,
            &[
                (k + 1).to_string(),
                csv_text(&p.indicator),
                csv_text(&p.name),
                csv_num(Some(p.importance)),
                csv_num(Some(p.gap)),
                csv_num(Some(p.priority)),
                csv_text(&p.owner_department),
            ],
        );
    }
    csv_section(
        &mut out,
        "causes",
        &["rank", "leaf", "name", "department", "complaints", "share", "cumulative_share", "vital_few"],
    );
    for (k, (c, vital)) in ranked_causes(report).into_iter().enumerate() {
        csv_row(
            &mut out,
            &[
                (k + 1).to_string(),
                csv_text(&c.leaf),
                csv_text(&c.name),
                csv_text(&c.department),
                c.complaints.to_string(),
                csv_num(Some(c.share)),
                csv_num(Some(c.cumulative_share)),
                vital.to_string(),
            ],
        );
    }
    csv_section(
        &mut out,
        "effects",
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
    );
    for e in &report.effects {
        csv_row(
            &mut out,
            &[
                csv_text(&e.programme),
                csv_text(&e.title),
                csv_text(&e.indicator),
                csv_num(e.before),
                csv_num(e.after),
                csv_num(e.change),
                csv_num(e.p_value),
                e.significant.to_string(),
                e.improved.to_string(),
                csv_text(verdict(e).0),
            ],
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::render::fixtures::{empty_report, sample};

    /// (section, records including the header row), splitting on CRLF (sample newlines are bare LF).
    fn sections(csv: &str) -> Vec<(String, usize)> {
        let mut out: Vec<(String, usize)> = Vec::new();
        for line in csv.split("\r\n").filter(|l| !l.is_empty()) {
            match (line.strip_prefix("# "), out.last_mut()) {
                (Some(name), _) => out.push((name.to_string(), 0)),
                (None, Some(last)) => last.1 += 1,
                (None, None) => panic!("row before section"),
            }
        }
        out
    }

    #[test]
    fn csv_quoting_and_formula_guard() {
        assert_eq!(csv_text("plain"), "plain");
        assert_eq!(csv_text("a,b"), "\"a,b\"");
        assert_eq!(csv_text("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_text("x\ny"), "\"x\ny\"");
        assert_eq!(csv_text("=1+1"), "'=1+1");
        assert_eq!(csv_text("+7"), "'+7");
        assert_eq!(csv_text("-2"), "'-2");
        assert_eq!(csv_text("@a,b"), "\"'@a,b\"");
        assert_eq!(csv_num(Some(-3.5)), "-3.5");
        assert_eq!(csv_num(Some(0.1 + 0.2)), "0.30000000000000004");
        assert_eq!(csv_num(None), "");
        assert_eq!(csv_num(Some(f64::NAN)), "");
        let csv = to_csv(&sample());
        assert!(csv.contains("\"Complaints per 10,000 customers\""));
        assert!(csv.contains(",\"'=HYPERLINK(\"\"http://x\"\")\","));
        assert!(csv.contains(",\"say \"\"hi\"\"\nthere\",\r\n"), "the owner, then the stage (none here)");
        assert!(csv.contains(",true,-3.5,,,,no_target,"), "numeric fields are never prefixed");
        assert!(csv.contains("3,x,'-1 sneaky,0.1,0.1,,'@ops\r\n"), "NaN priority ranks last and is empty");
        assert!(csv.contains("1,complaint_rate,投诉率高,0.9,0.25,0.225,客服部\r\n"));
        assert!(csv.contains(",0.91,0.934,0.02400000000000002,0.002,true,true,\"improved, significant\"\r\n"));
    }

    #[test]
    fn csv_sections_and_row_counts() {
        let csv = to_csv(&sample());
        assert!(csv.starts_with("# indicators\r\nkey,name_zh,name_en,kind,"));
        let expected: Vec<(String, usize)> = [("indicators", 6), ("problems", 4), ("causes", 6), ("effects", 4)]
            .iter()
            .map(|(s, n)| (s.to_string(), *n))
            .collect();
        assert_eq!(sections(&csv), expected);
        for st in ["on_target", "warning", "off_target", "no_target", "no_data"] {
            assert!(csv.contains(&format!(",{st},")), "{st}");
        }
        assert!(csv.contains("\r\n1,net.coverage,室内覆盖弱,网络部,420,0.442,0.442,true\r\n2,bill.error,"));
        assert!(csv.contains("\r\n3,net.speed,网速慢,网络部,130,0.137,0.853,true\r\n4,svc.wait,"));
        assert!(csv.contains(",0.947,false\r\n"));
        let empty: Vec<(String, usize)> =
            ["indicators", "problems", "causes", "effects"].iter().map(|s| (s.to_string(), 1)).collect();
        assert_eq!(sections(&to_csv(&empty_report())), empty);
    }
}
