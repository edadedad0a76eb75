//! The report as one self-contained, printable HTML page: the page itself (style, header, the
//! order of its sections) and the escaping and value cells its sections share. The tables are
//! in `tables`, the SVG charts in `charts`.

mod charts;
mod tables;

use std::fmt::Write;

use super::{ReportView, Status, format::format_value};

const CSS: &str = "@page{size:A4;margin:14mm}*{box-sizing:border-box}\
body{font-family:\"PingFang SC\",\"Microsoft YaHei\",\"Noto Sans CJK SC\",system-ui,sans-serif;color:#1f2328;max-width:200mm;margin:0 auto;padding:12px;font-size:13px;line-height:1.45}\
h1{font-size:22px;margin:0 0 4px}h2{font-size:16px;border-bottom:2px solid #d0d7de;padding-bottom:3px;margin:24px 0 8px;break-after:avoid}\
table{border-collapse:collapse;width:100%;margin:6px 0}th,td{border-bottom:1px solid #d8dee4;padding:3px 5px;text-align:left;vertical-align:middle}\
th{background:#f6f8fa;font-weight:600}td.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}tr{break-inside:avoid}\
tr.grp th{background:#eaeef2}tr.stage th{background:#fff;font-weight:600;color:#57606a;padding-left:14px}small,.meta{color:#57606a}.b{display:inline-block;padding:1px 7px;border-radius:9px;color:#fff;font-size:11px;white-space:nowrap}\
.summary .b{margin-right:4px}.summary span.item{margin-right:14px}.better{color:#1a7f37}.worse{color:#cf222e}.same{color:#6e7781}\
tr.vital td{background:#fff8c5;font-weight:600}svg{max-width:100%;height:auto;font-family:inherit}.empty{color:#57606a;font-style:italic}\
@media print{body{max-width:none;padding:0}*{-webkit-print-color-adjust:exact;print-color-adjust:exact}svg{break-inside:avoid}}";

fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            _ => o.push(c),
        }
    }
    o
}

fn opt_val(v: Option<f64>, unit: &str) -> String {
    v.map(|x| format_value(x, unit)).unwrap_or_else(|| "—".to_string())
}

fn empty(h: &mut String, text: &str) {
    w!(h, "<p class=\"empty\">{}</p>\n</section>\n", esc(text));
}

fn header(h: &mut String, r: &ReportView) {
    let count = |f: &dyn Fn(&Status) -> bool| r.indicators.iter().filter(|i| f(&i.status)).count();
    w!(
        h,
        "<header><h1>{}</h1>\n<p class=\"meta\">报告期 Period <b>{}</b> · {} – {} · 时区 Time zone {} · 生成于 Generated {}</p>\n",
        esc(&r.title),
        esc(&r.period),
        esc(&r.period_start),
        esc(&r.period_end),
        esc(&r.time_zone),
        esc(&r.generated_at)
    );
    w!(h, "<p class=\"summary\">共 {} 项指标 indicators: ", r.indicators.len());
    for (st, n) in [
        (Status::OnTarget, count(&|s| *s == Status::OnTarget)),
        (Status::Warning, count(&|s| *s == Status::Warning)),
        (Status::OffTarget, count(&|s| *s == Status::OffTarget)),
    ] {
        w!(
            h,
            "<span class=\"item\"><span class=\"b\" style=\"background:{}\">{}</span> <b>{n}</b></span>",
            st.colour(),
            st.label()
        );
    }
    w!(
        h,
        "<span class=\"item\">无目标/无数据 No target/data <b>{}</b></span></p></header>\n",
        count(&|s| matches!(s, Status::NoTarget | Status::NoData))
    );
}

pub fn to_html(report: &ReportView) -> String {
    let mut h = String::with_capacity(32 * 1024);
    w!(
        h,
        "<!doctype html>\n<html lang=\"zh-CN\">\n<head>\n<meta charset=\"utf-8\">\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>{} · {}</title>\n<style>{CSS}</style>\n</head>\n<body>\n",
        esc(&report.title),
        esc(&report.period)
    );
    header(&mut h, report);
    tables::indicator_section(&mut h, report);
    charts::attainment_chart(&mut h, report);
    tables::problems_section(&mut h, report);
    tables::pareto_section(&mut h, report);
    tables::effects_section(&mut h, report);
    h.push_str("</body>\n</html>\n");
    h
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::render::{
        fixtures::{cause, empty_report, sample},
        to_csv,
    };

    #[test]
    fn html_escapes_and_has_every_section() {
        let html = to_html(&sample());
        assert!(html.starts_with("<!doctype html>\n<html lang=\"zh-CN\">"));
        assert!(!html.contains("<script"));
        assert!(html.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"));
        assert!(html.contains("=HYPERLINK(&quot;http://x&quot;)"));
        assert!(!html.contains("http://x\""), "no raw attribute-breaking quote");
        assert!(!html.contains("src=") && !html.contains("href=") && !html.contains("@import"), "self-contained");
        for id in ["indicators", "attainment", "problems", "pareto", "effects"] {
            assert!(html.contains(&format!("<section id=\"{id}\">")), "{id}");
        }
        assert!(html.contains("Asia/Shanghai") && html.contains("2026-11-01 – 2026-11-30"));
        for label in ["达标 On target", "预警 Warning", "未达标 Off target", "无目标 No target", "无数据 No data"]
        {
            assert!(html.contains(label));
        }
        for v in ["improved, significant", "worse, significant", "no significant change"] {
            assert!(html.contains(v));
        }
        assert!(html.contains("class=\"ref100\""));
        assert!(
            html.contains("<span class=\"better\" title=\"改善 better\">▼ −1.5</span>"),
            "lower-is-better drop is good"
        );
        assert!(html.contains("<span class=\"better\" title=\"改善 better\">▲ +2.4 pp</span>"));
        assert!(html.contains("<span class=\"worse\" title=\"变差 worse\">▲ +0.4</span>"));
        // grouped by process, KPI before KQI inside "complaint resolution"
        let (fcr, rate, mttr) = (
            html.find("一次解决率").unwrap(),
            html.find("万户投诉率").unwrap(),
            html.find("故障修复时长<br>").unwrap(),
        );
        assert!(fcr < rate && rate < mttr);
        assert_eq!(html.matches("<svg").count(), html.matches("</svg>").count());
        assert_eq!(html.matches("<svg").count(), html.matches("role=\"img\"").count());
        assert_eq!(html.matches("<svg").count(), html.matches("viewBox=").count());
    }

    #[test]
    fn indicators_sit_under_their_stage_in_the_order_work_passes_through_it() {
        let mut report = sample();
        for (key, stage) in [("complaint_rate", "closed_loop"), ("fcr", "handling")] {
            report.indicators.iter_mut().find(|i| i.key == key).unwrap().stage = stage.into();
        }
        let html = to_html(&report);
        let (handling, fcr, closed_loop, rate) = (
            html.find("环节 Stage: 处理 handling").unwrap(),
            html.find("一次解决率").unwrap(),
            html.find("环节 Stage: 闭环 closed loop").unwrap(),
            html.find("万户投诉率").unwrap(),
        );
        assert!(handling < fcr && fcr < closed_loop && closed_loop < rate, "handling before the closed loop");
        assert_eq!(html.matches("<tr class=\"stage\">").count(), 2, "no heading for indicators without a stage");
        assert!(to_csv(&report).contains(",客服部,closed_loop\r\n"));
    }

    #[test]
    fn pareto_has_one_bar_per_cause_and_80_line() {
        let html = to_html(&sample());
        let pareto = html.split("<section id=\"pareto\">").nth(1).unwrap().split("</section>").next().unwrap();
        assert_eq!(pareto.matches("class=\"bar\"").count(), 5);
        assert_eq!(pareto.matches("class=\"dot\"").count(), 5);
        assert_eq!(pareto.matches("class=\"ref80\"").count(), 1);
        assert!(pareto.contains("stroke-dasharray") && pareto.contains(">80 %</text>"));
        assert!(pareto.contains("role=\"img\"") && pareto.contains("viewBox=\"0 0 720 290\""));
        assert_eq!(pareto.matches("<tr class=\"vital\">").count(), 3);
        assert!(pareto.contains("投诉量 Complaints") && pareto.contains("累计占比 Cumulative share"));
    }

    #[test]
    fn empty_report_renders_without_charts() {
        let html = to_html(&empty_report());
        assert!(!html.contains("<svg"));
        assert!(!html.contains("<table"));
        assert_eq!(html.matches("<p class=\"empty\">").count(), 5);
        assert!(html.contains("共 0 项指标"));
        // odd data must not panic either
        let mut odd = sample();
        odd.indicators[0].value = Some(0.0);
        odd.indicators[1].target = Some(0.0);
        odd.indicators[1].trend = vec![Some(f64::NAN), Some(f64::INFINITY)];
        odd.causes = vec![cause("z", "零", 0, f64::NAN, f64::NAN)];
        assert!(to_html(&odd).contains("class=\"bar\""));
        assert!(to_csv(&odd).contains(",0,,,true\r\n"));
    }

    #[test]
    fn writes_sample_page() {
        let path = std::env::temp_dir().join("report-sample.html");
        std::fs::write(&path, to_html(&sample())).unwrap();
        assert!(std::fs::metadata(&path).unwrap().len() > 4000);
    }
}
