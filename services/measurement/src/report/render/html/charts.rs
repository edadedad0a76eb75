//! The SVG charts of the HTML page: the inline trend line of each indicator, value as a share of
//! target, and the root-cause Pareto (bars with the cumulative line and the 80 % mark). Each is
//! drawn from the view alone, with a title and an accessible label, and prints in black and white.

use std::fmt::Write;

use super::{empty, esc, opt_val};
use crate::report::render::{
    CauseLine, IndicatorLine, ReportView,
    format::{fin, fmt_num},
};

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n { s.to_string() } else { s.chars().take(n.saturating_sub(1)).chain(['…']).collect() }
}

/// Inline sparkline, one segment per run of consecutive days with data (gaps stay gaps).
pub(super) fn sparkline(trend: &[Option<f64>]) -> String {
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

pub(super) fn attainment_chart(h: &mut String, r: &ReportView) {
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

/// The Pareto chart of `causes` (ranked, each flagged "vital few"), drawn inside the Pareto
/// section before its table.
pub(super) fn pareto_chart(h: &mut String, causes: &[(&CauseLine, bool)]) {
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sparkline_keeps_gaps() {
        let s = sparkline(&[Some(1.0), Some(2.0), None, Some(3.0), Some(4.0), None, Some(2.0)]);
        assert_eq!(s.matches("<polyline").count(), 2);
        assert_eq!(s.matches("<circle").count(), 1);
        assert_eq!(sparkline(&[None, None]), "—");
        assert_eq!(sparkline(&[Some(5.0)]).matches("<circle").count(), 1);
    }
}
