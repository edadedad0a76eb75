//! Rendering of a period report for a service-quality manager: indicator state against target,
//! problems ranked by importance x gap, the root-cause Pareto and remediation effects.
//! Two outputs: RFC 4180 CSV (raw numbers) and one self-contained, printable HTML page.
//! Pure standard library; never panics on odd data (NaN, empty sections, zero targets).

use std::fmt::Write;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    OnTarget,
    Warning,
    OffTarget,
    NoTarget,
    NoData,
}

#[derive(Debug, Clone, PartialEq)]
pub struct IndicatorLine {
    pub key: String,
    pub name_zh: String,
    pub name_en: String,
    /// "KPI" | "KCI" | "KQI"
    pub kind: String,
    /// "complaint resolution", ...
    pub process: String,
    /// "count", "ratio", "score", "per 10,000 customers", "hours", "mbps", ...
    pub unit: String,
    pub higher_is_better: bool,
    pub value: Option<f64>,
    pub previous: Option<f64>,
    pub target: Option<f64>,
    pub warning: Option<f64>,
    pub status: Status,
    pub owner_department: String,
    /// one value per day of the period, oldest first, None when no data that day
    pub trend: Vec<Option<f64>>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    /// indicator key
    pub indicator: String,
    pub name: String,
    pub importance: f64,
    /// relative shortfall against target, 0.25 = 25 % worse than target
    pub gap: f64,
    /// importance x gap
    pub priority: f64,
    pub owner_department: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct CauseLine {
    pub leaf: String,
    pub name: String,
    pub department: String,
    pub complaints: u64,
    pub share: f64,
    pub cumulative_share: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct EffectLine {
    pub programme: String,
    pub title: String,
    pub indicator: String,
    pub before: Option<f64>,
    pub after: Option<f64>,
    pub change: Option<f64>,
    pub p_value: Option<f64>,
    pub significant: bool,
    pub improved: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ReportView {
    pub title: String,
    /// "2026-11"
    pub period: String,
    /// ISO dates
    pub period_start: String,
    pub period_end: String,
    pub time_zone: String,
    pub generated_at: String,
    pub indicators: Vec<IndicatorLine>,
    pub problems: Vec<Problem>,
    pub causes: Vec<CauseLine>,
    pub effects: Vec<EffectLine>,
}

/// `write!` into a String, whose fmt::Result cannot fail.
macro_rules! w { ($dst:expr, $($arg:tt)*) => { let _ = write!($dst, $($arg)*); }; }

impl Status {
    fn snake(&self) -> &'static str {
        match self {
            Status::OnTarget => "on_target",
            Status::Warning => "warning",
            Status::OffTarget => "off_target",
            Status::NoTarget => "no_target",
            Status::NoData => "no_data",
        }
    }
    /// Text label with a symbol, so the badge also reads in black-and-white print.
    fn label(&self) -> &'static str {
        match self {
            Status::OnTarget => "✓ 达标 On target",
            Status::Warning => "! 预警 Warning",
            Status::OffTarget => "✗ 未达标 Off target",
            Status::NoTarget => "– 无目标 No target",
            Status::NoData => "? 无数据 No data",
        }
    }
    fn colour(&self) -> &'static str {
        match self {
            Status::OnTarget => "#1a7f37",
            Status::Warning => "#b07d00",
            Status::OffTarget => "#cf222e",
            Status::NoTarget | Status::NoData => "#6e7781",
        }
    }
}

/// Human formatting: ratio -> "93.4 %"; count -> "12,345"; anything else at most 2 decimals,
/// trailing zeros trimmed ("2.5", "4"), thousands separated. Non-finite -> "—". The unit name
/// itself is not appended (tables show it next to the indicator name).
pub fn format_value(value: f64, unit: &str) -> String {
    if !value.is_finite() {
        return "—".to_string();
    }
    match unit {
        "ratio" => format!("{} %", fmt_num(value * 100.0, 1, false)),
        "count" => fmt_num(value, 0, false),
        _ => fmt_num(value, 2, true),
    }
}

/// Fixed decimals, optional trimming, thousands separators, no "-0".
fn fmt_num(v: f64, decimals: usize, trim: bool) -> String {
    if !v.is_finite() {
        return "—".to_string();
    }
    let s = format!("{:.*}", decimals, v.abs());
    let (int, frac) = s.split_once('.').unwrap_or((s.as_str(), ""));
    let frac = if trim { frac.trim_end_matches('0') } else { frac };
    let negative = v < 0.0 && s.bytes().any(|b| b.is_ascii_digit() && b != b'0');
    let mut out = String::from(if negative { "-" } else { "" });
    let len = int.len();
    for (k, c) in int.chars().enumerate() {
        if k > 0 && (len - k) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if !frac.is_empty() {
        out.push('.');
        out.push_str(frac);
    }
    out
}

/// A difference with an explicit sign; ratios in percentage points.
fn signed(d: f64, unit: &str) -> String {
    let sign = if d > 0.0 {
        "+"
    } else if d < 0.0 {
        "−"
    } else {
        ""
    };
    if unit == "ratio" {
        format!("{sign}{} pp", fmt_num(d.abs() * 100.0, 1, false))
    } else {
        format!("{sign}{}", format_value(d.abs(), unit))
    }
}

fn fin(x: f64) -> f64 {
    if x.is_finite() { x } else { 0.0 }
}

fn verdict(e: &EffectLine) -> (&'static str, &'static str) {
    match (e.significant, e.improved) {
        (true, true) => ("improved, significant", "better"),
        (true, false) => ("worse, significant", "worse"),
        _ => ("no significant change", "same"),
    }
}

/// Problems by priority, highest first; non-finite priorities last.
fn ranked_problems(r: &ReportView) -> Vec<&Problem> {
    let key = |p: &Problem| if p.priority.is_finite() { p.priority } else { f64::NEG_INFINITY };
    let mut v: Vec<&Problem> = r.problems.iter().collect();
    v.sort_by(|a, b| key(b).total_cmp(&key(a)));
    v
}

/// Causes by complaints, descending (stable), each flagged "vital few": those needed to reach 80 %.
fn ranked_causes(r: &ReportView) -> Vec<(&CauseLine, bool)> {
    let mut v: Vec<&CauseLine> = r.causes.iter().collect();
    v.sort_by_key(|c| std::cmp::Reverse(c.complaints));
    let mut prev = 0.0;
    v.into_iter()
        .map(|c| {
            let vital = prev < 0.8 - 1e-9;
            prev = fin(c.cumulative_share);
            (c, vital)
        })
        .collect()
}

// ---------------------------------------------------------------- CSV

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

// ---------------------------------------------------------------- HTML

const CSS: &str = "@page{size:A4;margin:14mm}*{box-sizing:border-box}\
body{font-family:\"PingFang SC\",\"Microsoft YaHei\",\"Noto Sans CJK SC\",system-ui,sans-serif;color:#1f2328;max-width:200mm;margin:0 auto;padding:12px;font-size:13px;line-height:1.45}\
h1{font-size:22px;margin:0 0 4px}h2{font-size:16px;border-bottom:2px solid #d0d7de;padding-bottom:3px;margin:24px 0 8px;break-after:avoid}\
table{border-collapse:collapse;width:100%;margin:6px 0}th,td{border-bottom:1px solid #d8dee4;padding:3px 5px;text-align:left;vertical-align:middle}\
th{background:#f6f8fa;font-weight:600}td.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}tr{break-inside:avoid}\
tr.grp th{background:#eaeef2}small,.meta{color:#57606a}.b{display:inline-block;padding:1px 7px;border-radius:9px;color:#fff;font-size:11px;white-space:nowrap}\
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

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n { s.to_string() } else { s.chars().take(n.saturating_sub(1)).chain(['…']).collect() }
}

fn kind_rank(kind: &str) -> u8 {
    match kind {
        "KPI" => 0,
        "KCI" => 1,
        "KQI" => 2,
        _ => 3,
    }
}

fn empty(h: &mut String, text: &str) {
    w!(h, "<p class=\"empty\">{}</p>\n</section>\n", esc(text));
}

/// Inline sparkline, one segment per run of consecutive days with data (gaps stay gaps).
fn sparkline(trend: &[Option<f64>]) -> String {
    let pts: Vec<(usize, f64)> =
        trend.iter().enumerate().filter_map(|(i, v)| v.filter(|x| x.is_finite()).map(|x| (i, x))).collect();
    if pts.is_empty() {
        return "—".to_string();
    }
    let (lo, hi) = pts.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), &(_, v)| (l.min(v), h.max(v)));
    let n = trend.len();
    let x = |i: usize| if n > 1 { 2.0 + i as f64 * 96.0 / (n - 1) as f64 } else { 50.0 };
    let y = |v: f64| if hi > lo { 22.0 - (v - lo) / (hi - lo) * 20.0 } else { 12.0 };
    let mut segments: Vec<Vec<(f64, f64)>> = Vec::new();
    let mut last: Option<usize> = None;
    for &(i, v) in &pts {
        if last.is_none_or(|j| i != j + 1) {
            segments.push(Vec::new());
        }
        if let Some(seg) = segments.last_mut() {
            seg.push((x(i), y(v)));
        }
        last = Some(i);
    }
    let mut s = String::new();
    w!(
        s,
        "<svg class=\"spark\" width=\"100\" height=\"24\" viewBox=\"0 0 100 24\" role=\"img\" aria-label=\"趋势 Trend {} – {}\"><title>趋势 Trend: {} – {}</title>",
        fmt_num(lo, 2, true),
        fmt_num(hi, 2, true),
        fmt_num(lo, 2, true),
        fmt_num(hi, 2, true)
    );
    for seg in &segments {
        if let [(px, py)] = seg.as_slice() {
            w!(s, "<circle cx=\"{px:.1}\" cy=\"{py:.1}\" r=\"1.5\" fill=\"#0969da\"/>");
        } else {
            let points: Vec<String> = seg.iter().map(|(px, py)| format!("{px:.1},{py:.1}")).collect();
            w!(s, "<polyline points=\"{}\" fill=\"none\" stroke=\"#0969da\" stroke-width=\"1.5\"/>", points.join(" "));
        }
    }
    s.push_str("</svg>");
    s
}

fn change_cell(i: &IndicatorLine) -> String {
    match (i.value, i.previous) {
        (Some(v), Some(p)) if v.is_finite() && p.is_finite() => {
            let d = v - p;
            if d.abs() <= 1e-12 * v.abs().max(p.abs()).max(1.0) {
                return "<span class=\"same\">→ 0</span>".to_string();
            }
            let better = (d > 0.0) == i.higher_is_better;
            format!(
                "<span class=\"{}\" title=\"{}\">{} {}</span>",
                if better { "better" } else { "worse" },
                if better { "改善 better" } else { "变差 worse" },
                if d > 0.0 { "▲" } else { "▼" },
                esc(&signed(d, &i.unit))
            )
        }
        _ => "—".to_string(),
    }
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

fn indicator_section(h: &mut String, r: &ReportView) {
    h.push_str("<section id=\"indicators\"><h2>1. 指标状态 Indicator status</h2>\n");
    if r.indicators.is_empty() {
        return empty(h, "本期没有指标数据。No indicator data for this period.");
    }
    let mut processes: Vec<&str> = Vec::new();
    for i in &r.indicators {
        if !processes.contains(&i.process.as_str()) {
            processes.push(&i.process);
        }
    }
    h.push_str("<table><thead><tr><th>指标 Indicator</th><th>类型 Kind</th><th>当前值 Value</th><th>目标 Target</th><th>状态 Status</th><th>环比 vs previous</th><th>责任部门 Owner</th><th>趋势 Trend</th></tr></thead>\n");
    for p in processes {
        let mut rows: Vec<&IndicatorLine> = r.indicators.iter().filter(|i| i.process == p).collect();
        rows.sort_by_key(|i| kind_rank(&i.kind));
        w!(
            h,
            "<tbody><tr class=\"grp\"><th colspan=\"8\">流程 Process: {}</th></tr>\n",
            esc(if p.is_empty() { "—" } else { p })
        );
        for i in rows {
            let warn = i
                .warning
                .map(|v| format!("<br><small>预警 warning {}</small>", esc(&format_value(v, &i.unit))))
                .unwrap_or_default();
            w!(
                h,
                "<tr><td>{}<br><small>{} · {} · {}</small></td><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}{warn}</td><td><span class=\"b\" style=\"background:{}\">{}</span></td><td class=\"n\">{}</td><td>{}</td><td>{}</td></tr>\n",
                esc(&i.name_zh),
                esc(&i.name_en),
                esc(&i.unit),
                if i.higher_is_better { "越高越好 higher is better" } else { "越低越好 lower is better" },
                esc(&i.kind),
                esc(&opt_val(i.value, &i.unit)),
                esc(&opt_val(i.target, &i.unit)),
                i.status.colour(),
                i.status.label(),
                change_cell(i),
                esc(&i.owner_department),
                sparkline(&i.trend)
            );
        }
        h.push_str("</tbody>\n");
    }
    h.push_str("</table>\n</section>\n");
}

fn attainment_chart(h: &mut String, r: &ReportView) {
    h.push_str("<section id=\"attainment\"><h2>2. 目标达成率 Value as % of target</h2>\n");
    let items: Vec<(&IndicatorLine, f64)> = r
        .indicators
        .iter()
        .filter_map(|i| {
            let (v, t) = (i.value?, i.target?);
            let pct = if i.higher_is_better { v / t * 100.0 } else { t / v * 100.0 };
            pct.is_finite().then_some((i, pct))
        })
        .collect();
    if items.is_empty() {
        return empty(h, "没有同时具备目标值与当前值的指标。No indicator has both a target and a value.");
    }
    let top = (items.iter().fold(110.0f64, |m, &(_, p)| m.max(p)).min(200.0) / 10.0).ceil() * 10.0;
    let (left, width, row, y0) = (220.0, 400.0, 22.0, 26.0);
    let height = y0 + items.len() as f64 * row + 8.0;
    let x = |p: f64| left + p.clamp(0.0, top) / top * width;
    w!(
        h,
        "<svg viewBox=\"0 0 720 {height:.0}\" role=\"img\" aria-label=\"目标达成率 Value as % of target\"><title>目标达成率 Value as % of target (lower-is-better: target / value)</title>\n"
    );
    w!(
        h,
        "<g font-size=\"10\" fill=\"#57606a\" text-anchor=\"middle\"><text x=\"{left}\" y=\"12\">0 %</text><text x=\"{:.1}\" y=\"12\">{top:.0} %</text></g>\n",
        left + width
    );
    for (k, (i, p)) in items.iter().enumerate() {
        let y = y0 + k as f64 * row;
        w!(
            h,
            "<text x=\"{:.0}\" y=\"{:.1}\" font-size=\"11\" text-anchor=\"end\">{}</text>",
            left - 8.0,
            y + row / 2.0 + 4.0,
            esc(&truncate(&i.name_zh, 16))
        );
        w!(
            h,
            "<rect x=\"{left}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"{}\"><title>{}: {} / {}</title></rect>",
            y + 4.0,
            x(*p) - left,
            row - 8.0,
            i.status.colour(),
            esc(&i.name_zh),
            esc(&opt_val(i.value, &i.unit)),
            esc(&opt_val(i.target, &i.unit))
        );
        w!(
            h,
            "<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"10\">{} %</text>\n",
            x(*p) + 4.0,
            y + row / 2.0 + 4.0,
            fmt_num(*p, 1, false)
        );
    }
    let x100 = x(100.0);
    w!(
        h,
        "<line class=\"ref100\" x1=\"{x100:.1}\" x2=\"{x100:.1}\" y1=\"16\" y2=\"{:.1}\" stroke=\"#1f2328\" stroke-dasharray=\"4 3\"/><text x=\"{x100:.1}\" y=\"12\" font-size=\"10\" text-anchor=\"middle\">100 %</text>\n</svg>\n</section>\n",
        height - 4.0
    );
}

fn problems_section(h: &mut String, r: &ReportView) {
    h.push_str("<section id=\"problems\"><h2>3. 问题排序 Problems ranked by priority (importance × gap)</h2>\n");
    if r.problems.is_empty() {
        return empty(h, "本期没有未达标的问题。No problems this period.");
    }
    h.push_str("<table><thead><tr><th>#</th><th>问题 Problem</th><th>重要度 Importance</th><th>差距 Gap</th><th>优先级 Priority</th><th>责任部门 Owner</th></tr></thead><tbody>\n");
    for (k, p) in ranked_problems(r).into_iter().enumerate() {
        w!(
            h,
            "<tr><td class=\"n\">{}</td><td>{}<br><small>{}</small></td><td class=\"n\">{}</td><td class=\"n\">{} %</td><td class=\"n\"><b>{}</b></td><td>{}</td></tr>\n",
            k + 1,
            esc(&p.name),
            esc(&p.indicator),
            fmt_num(p.importance, 2, true),
            fmt_num(p.gap * 100.0, 1, false),
            fmt_num(p.priority, 3, true),
            esc(&p.owner_department)
        );
    }
    h.push_str("</tbody></table>\n</section>\n");
}

fn pareto_section(h: &mut String, r: &ReportView) {
    h.push_str("<section id=\"pareto\"><h2>4. 根因帕累托 Root-cause Pareto</h2>\n");
    let causes = ranked_causes(r);
    if causes.is_empty() {
        return empty(h, "本期没有归因到根因的投诉。No complaints attributed to root causes this period.");
    }
    let n = causes.len();
    let max_c = causes.iter().map(|(c, _)| c.complaints).max().unwrap_or(0).max(1) as f64;
    let (left, right, top, bottom) = (60.0, 650.0, 20.0, 230.0);
    let band = (right - left) / n as f64;
    let y_c = |c: f64| bottom - c / max_c * (bottom - top);
    let y_s = |s: f64| bottom - fin(s).clamp(0.0, 1.0) * (bottom - top);
    let cx = |k: usize| left + (k as f64 + 0.5) * band;
    w!(
        h,
        "<svg viewBox=\"0 0 720 290\" role=\"img\" aria-label=\"根因帕累托图 Pareto of root causes\"><title>根因帕累托图：投诉量（柱）与累计占比（线）Pareto: complaints per cause and cumulative share</title>\n"
    );
    w!(
        h,
        "<g stroke=\"#1f2328\"><line x1=\"{left}\" y1=\"{top}\" x2=\"{left}\" y2=\"{bottom}\"/><line x1=\"{left}\" y1=\"{bottom}\" x2=\"{right}\" y2=\"{bottom}\"/><line x1=\"{right}\" y1=\"{top}\" x2=\"{right}\" y2=\"{bottom}\"/></g>\n<g font-size=\"10\" fill=\"#57606a\">"
    );
    for f in [0.0, 0.5, 1.0] {
        w!(
            h,
            "<text x=\"{:.0}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
            left - 4.0,
            y_c(max_c * f) + 3.0,
            fmt_num(max_c * f, 0, false)
        );
        w!(h, "<text x=\"{:.0}\" y=\"{:.1}\">{:.0} %</text>", right + 4.0, y_s(f) + 3.0, f * 100.0);
    }
    let step = n.div_ceil(30);
    for k in (0..n).step_by(step) {
        w!(h, "<text x=\"{:.1}\" y=\"{:.0}\" text-anchor=\"middle\">{}</text>", cx(k), bottom + 13.0, k + 1);
    }
    w!(
        h,
        "</g>\n<g font-size=\"11\" text-anchor=\"middle\"><text transform=\"translate(16 {m:.0}) rotate(-90)\">投诉量 Complaints</text><text transform=\"translate(708 {m:.0}) rotate(-90)\">累计占比 Cumulative share</text><text x=\"{:.0}\" y=\"270\">根因（按投诉量降序，编号对应下表）Root causes, ranked; numbers refer to the table</text></g>\n",
        (left + right) / 2.0,
        m = (top + bottom) / 2.0
    );
    for (k, (c, vital)) in causes.iter().enumerate() {
        let y = y_c(c.complaints as f64);
        w!(
            h,
            "<rect class=\"bar\" x=\"{:.1}\" y=\"{y:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"{}\"><title>{}. {}: {}</title></rect>\n",
            cx(k) - band * 0.35,
            band * 0.7,
            bottom - y,
            if *vital { "#2f5d8a" } else { "#9db4cc" },
            k + 1,
            esc(&c.name),
            c.complaints
        );
    }
    let points: Vec<String> =
        causes.iter().enumerate().map(|(k, (c, _))| format!("{:.1},{:.1}", cx(k), y_s(c.cumulative_share))).collect();
    w!(
        h,
        "<polyline class=\"cum\" points=\"{}\" fill=\"none\" stroke=\"#cf6a00\" stroke-width=\"2\"/>\n",
        points.join(" ")
    );
    for (k, (c, _)) in causes.iter().enumerate() {
        w!(
            h,
            "<circle class=\"dot\" cx=\"{:.1}\" cy=\"{:.1}\" r=\"3\" fill=\"#cf6a00\"><title>{} %</title></circle>",
            cx(k),
            y_s(c.cumulative_share),
            fmt_num(c.cumulative_share * 100.0, 1, false)
        );
    }
    let y80 = y_s(0.8);
    w!(
        h,
        "\n<line class=\"ref80\" x1=\"{left}\" x2=\"{right}\" y1=\"{y80:.1}\" y2=\"{y80:.1}\" stroke=\"#cf222e\" stroke-dasharray=\"6 4\"/><text x=\"{:.0}\" y=\"{:.1}\" font-size=\"10\" fill=\"#cf222e\" text-anchor=\"end\">80 %</text>\n</svg>\n",
        right - 4.0,
        y80 - 4.0
    );
    h.push_str("<p><small>★ 关键少数（累计至 80 %）Vital few, up to 80 % cumulative</small></p>\n<table><thead><tr><th>#</th><th>根因 Cause</th><th>责任部门 Department</th><th>投诉量 Complaints</th><th>占比 Share</th><th>累计 Cumulative</th></tr></thead><tbody>\n");
    for (k, (c, vital)) in causes.iter().enumerate() {
        w!(
            h,
            "<tr{}><td class=\"n\">{}{}</td><td>{}<br><small>{}</small></td><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{} %</td><td class=\"n\">{} %</td></tr>\n",
            if *vital { " class=\"vital\"" } else { "" },
            if *vital { "★ " } else { "" },
            k + 1,
            esc(&c.name),
            esc(&c.leaf),
            esc(&c.department),
            fmt_num(c.complaints as f64, 0, false),
            fmt_num(c.share * 100.0, 1, false),
            fmt_num(c.cumulative_share * 100.0, 1, false)
        );
    }
    h.push_str("</tbody></table>\n</section>\n");
}

fn effects_section(h: &mut String, r: &ReportView) {
    h.push_str("<section id=\"effects\"><h2>5. 改进项目效果 Programme effects</h2>\n");
    if r.effects.is_empty() {
        return empty(h, "本期没有可评估的改进项目。No programme effects to report this period.");
    }
    h.push_str("<table><thead><tr><th>项目 Programme</th><th>指标 Indicator</th><th>之前 Before</th><th>之后 After</th><th>变化 Change</th><th>p 值 p-value</th><th>结论 Verdict</th></tr></thead><tbody>\n");
    for e in &r.effects {
        let ind = r.indicators.iter().find(|i| i.key == e.indicator);
        let unit = ind.map(|i| i.unit.as_str()).unwrap_or("");
        let change = e.change.filter(|c| c.is_finite()).map(|c| signed(c, unit)).unwrap_or_else(|| "—".to_string());
        let p = e
            .p_value
            .filter(|p| p.is_finite())
            .map(|p| if p < 0.001 { "< 0.001".to_string() } else { format!("{p:.3}") })
            .unwrap_or_else(|| "—".to_string());
        let (text, class) = verdict(e);
        let zh = match class {
            "better" => "显著改善",
            "worse" => "显著变差",
            _ => "无显著变化",
        };
        w!(
            h,
            "<tr><td>{}<br><small>{}</small></td><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"{class}\"><b>{zh}</b> {text}</td></tr>\n",
            esc(&e.title),
            esc(&e.programme),
            esc(ind.map(|i| i.name_zh.as_str()).unwrap_or(&e.indicator)),
            esc(&opt_val(e.before, unit)),
            esc(&opt_val(e.after, unit)),
            esc(&change),
            esc(&p)
        );
    }
    h.push_str("</tbody></table>\n</section>\n");
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
    indicator_section(&mut h, report);
    attainment_chart(&mut h, report);
    problems_section(&mut h, report);
    pareto_section(&mut h, report);
    effects_section(&mut h, report);
    h.push_str("</body>\n</html>\n");
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[allow(clippy::too_many_arguments)]
    fn ind(
        key: &str,
        zh: &str,
        en: &str,
        kind: &str,
        process: &str,
        unit: &str,
        hib: bool,
        v: [Option<f64>; 4],
        status: Status,
        owner: &str,
        trend: Vec<Option<f64>>,
    ) -> IndicatorLine {
        IndicatorLine {
            key: key.into(),
            name_zh: zh.into(),
            name_en: en.into(),
            kind: kind.into(),
            process: process.into(),
            unit: unit.into(),
            higher_is_better: hib,
            value: v[0],
            previous: v[1],
            target: v[2],
            warning: v[3],
            status,
            owner_department: owner.into(),
            trend,
        }
    }

    fn cause(leaf: &str, name: &str, n: u64, share: f64, cum: f64) -> CauseLine {
        CauseLine {
            leaf: leaf.into(),
            name: name.into(),
            department: "网络部".into(),
            complaints: n,
            share,
            cumulative_share: cum,
        }
    }

    fn effect(
        programme: &str,
        indicator: &str,
        b: f64,
        a: f64,
        p: f64,
        significant: bool,
        improved: bool,
    ) -> EffectLine {
        EffectLine {
            programme: programme.into(),
            title: format!("{programme} 专项整治"),
            indicator: indicator.into(),
            before: Some(b),
            after: Some(a),
            change: Some(a - b),
            p_value: Some(p),
            significant,
            improved,
        }
    }

    fn empty_report() -> ReportView {
        ReportView {
            title: "客户满意度月报".into(),
            period: "2026-11".into(),
            period_start: "2026-11-01".into(),
            period_end: "2026-11-30".into(),
            time_zone: "Asia/Shanghai".into(),
            generated_at: "2026-12-01T08:00:00+08:00".into(),
            indicators: vec![],
            problems: vec![],
            causes: vec![],
            effects: vec![],
        }
    }

    fn sample() -> ReportView {
        let trend: Vec<Option<f64>> = (0..30)
            .map(|d| if (10..13).contains(&d) { None } else { Some(14.0 - d as f64 * 0.05 + (d % 4) as f64 * 0.3) })
            .collect();
        ReportView {
            indicators: vec![
                ind(
                    "complaint_rate",
                    "万户投诉率",
                    "Complaints per 10,000 customers",
                    "KQI",
                    "complaint resolution",
                    "per 10,000 customers",
                    false,
                    [Some(12.5), Some(14.0), Some(10.0), Some(12.0)],
                    Status::OffTarget,
                    "客服部",
                    trend,
                ),
                ind(
                    "fcr",
                    "一次解决率",
                    "First-contact resolution",
                    "KPI",
                    "complaint resolution",
                    "ratio",
                    true,
                    [Some(0.934), Some(0.91), Some(0.9), Some(0.88)],
                    Status::OnTarget,
                    "客服部",
                    vec![Some(0.9), Some(0.92), Some(0.93), None, Some(0.934)],
                ),
                ind(
                    "evil",
                    "<script>alert('x')</script>",
                    "=HYPERLINK(\"http://x\")",
                    "KCI",
                    "network",
                    "score",
                    true,
                    [Some(-3.5), None, None, None],
                    Status::NoTarget,
                    "say \"hi\"\nthere",
                    vec![],
                ),
                ind(
                    "mttr",
                    "故障修复时长",
                    "Mean time to repair",
                    "KPI",
                    "network",
                    "hours",
                    false,
                    [Some(4.6), Some(4.2), Some(4.0), Some(5.0)],
                    Status::Warning,
                    "网络部",
                    vec![Some(4.2), Some(4.6)],
                ),
                ind(
                    "calls",
                    "投诉量",
                    "Complaints",
                    "KPI",
                    "complaint resolution",
                    "count",
                    false,
                    [Some(12345.0), Some(13000.0), None, None],
                    Status::NoData,
                    "客服部",
                    vec![None, None],
                ),
            ],
            problems: vec![
                Problem {
                    indicator: "mttr".into(),
                    name: "故障修复慢".into(),
                    importance: 0.6,
                    gap: 0.15,
                    priority: 0.09,
                    owner_department: "网络部".into(),
                },
                Problem {
                    indicator: "complaint_rate".into(),
                    name: "投诉率高".into(),
                    importance: 0.9,
                    gap: 0.25,
                    priority: 0.225,
                    owner_department: "客服部".into(),
                },
                Problem {
                    indicator: "x".into(),
                    name: "-1 sneaky".into(),
                    importance: 0.1,
                    gap: 0.1,
                    priority: f64::NAN,
                    owner_department: "@ops".into(),
                },
            ],
            causes: vec![
                cause("net.coverage", "室内覆盖弱", 420, 0.442, 0.442),
                cause("bill.error", "计费差错", 260, 0.274, 0.716),
                cause("net.speed", "网速慢", 130, 0.137, 0.853),
                cause("svc.wait", "等待时间长", 90, 0.095, 0.947),
                cause("other", "其他", 50, 0.053, 1.0),
            ],
            effects: vec![
                effect("P-01", "fcr", 0.91, 0.934, 0.002, true, true),
                effect("P-02", "mttr", 4.2, 4.6, 0.03, true, false),
                effect("P-03", "unknown", 3.0, 3.1, 0.4, false, true),
            ],
            ..empty_report()
        }
    }

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
        assert!(csv.contains(",\"say \"\"hi\"\"\nthere\"\r\n"));
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
    fn sparkline_keeps_gaps() {
        let s = sparkline(&[Some(1.0), Some(2.0), None, Some(3.0), Some(4.0), None, Some(2.0)]);
        assert_eq!(s.matches("<polyline").count(), 2);
        assert_eq!(s.matches("<circle").count(), 1);
        assert_eq!(sparkline(&[None, None]), "—");
        assert_eq!(sparkline(&[Some(5.0)]).matches("<circle").count(), 1);
    }

    #[test]
    fn format_value_cases() {
        let cases: [(f64, &str, &str); 14] = [
            (0.934, "ratio", "93.4 %"),
            (0.9, "ratio", "90.0 %"),
            (0.0, "ratio", "0.0 %"),
            (1.0, "ratio", "100.0 %"),
            (12345.0, "count", "12,345"),
            (1234567.4, "count", "1,234,567"),
            (-1234.0, "count", "-1,234"),
            (999.0, "count", "999"),
            (7.12345, "score", "7.12"),
            (2.5, "hours", "2.5"),
            (4.0, "mbps", "4"),
            (-0.001, "hours", "0"),
            (1234.5, "per 10,000 customers", "1,234.5"),
            (f64::NAN, "ratio", "—"),
        ];
        for (v, unit, want) in cases {
            assert_eq!(format_value(v, unit), want, "{v} {unit}");
        }
        assert_eq!(signed(-0.05, "ratio"), "−5.0 pp");
        assert_eq!(signed(1500.0, "count"), "+1,500");
    }

    #[test]
    fn writes_sample_page() {
        let path = std::env::temp_dir().join("report-sample.html");
        std::fs::write(&path, to_html(&sample())).unwrap();
        assert!(std::fs::metadata(&path).unwrap().len() > 4000);
    }
}
