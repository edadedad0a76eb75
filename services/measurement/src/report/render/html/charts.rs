//! The SVG charts of the HTML page: the inline daily trend of each indicator, each indicator's
//! months against its target, the root-cause Pareto (bars with the cumulative line and the 80 %
//! mark) and the bars of a breakdown. Each is drawn from the view alone, with a title and an
//! accessible label, prints in black and white, and marks every datum it draws with `data-value`
//! (what the browser check counts).

use std::fmt::Write;

use super::esc;
use crate::report::render::{
    CauseLine, IndicatorLine,
    format::{fin, fmt_num, format_value},
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
    let x = |i: usize| if n > 1 { 4.0 + i as f64 * 132.0 / (n - 1) as f64 } else { 70.0 };
    let y = |v: f64| if hi > lo { 30.0 - (v - lo) / (hi - lo) * 26.0 } else { 17.0 };
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
        "<svg class=\"spark\" width=\"140\" height=\"34\" viewBox=\"0 0 140 34\" role=\"img\" aria-label=\"趋势 Trend {} – {}\"><title>趋势 Trend: {} – {}</title>",
        fmt_num(lo, 2, true),
        fmt_num(hi, 2, true),
        fmt_num(lo, 2, true),
        fmt_num(hi, 2, true)
    );
    for seg in &segments {
        if let [(px, py)] = seg.as_slice() {
            w!(s, "<circle data-value=\"\" cx=\"{px:.1}\" cy=\"{py:.1}\" r=\"3\" fill=\"#0969da\"/>");
        } else {
            let points: Vec<String> = seg.iter().map(|(px, py)| format!("{px:.1},{py:.1}")).collect();
            w!(
                s,
                "<polyline data-value=\"\" points=\"{}\" fill=\"none\" stroke=\"#0969da\" stroke-width=\"2\"/>",
                points.join(" ")
            );
        }
    }
    s.push_str("</svg>");
    s
}

/// One indicator's months against its target: a line with a dot per month with data (green when
/// on the right side of target, red when not), the target as a dashed line, the value axis in
/// the indicator's unit and the months along the bottom. Nothing when no month has data.
pub(super) fn trend_chart(h: &mut String, i: &IndicatorLine) {
    let points: Vec<(usize, f64)> =
        i.months.iter().enumerate().filter_map(|(k, (_, v))| v.filter(|x| x.is_finite()).map(|x| (k, x))).collect();
    if points.is_empty() {
        return;
    }
    let target = i.target.filter(|t| t.is_finite());
    let values = points.iter().map(|(_, v)| *v).chain(target);
    let (mut lo, mut hi) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), v| (l.min(v), h.max(v)));
    let pad = if hi > lo { (hi - lo) * 0.12 } else { lo.abs().max(1.0) * 0.1 };
    (lo, hi) = (lo - pad, hi + pad);
    if lo < 0.0 && points.iter().all(|(_, v)| *v >= 0.0) && target.is_none_or(|t| t >= 0.0) {
        lo = 0.0;
    }
    let (left, right, top, bottom) = (64.0, 336.0, 14.0, 150.0);
    let n = i.months.len().max(2);
    let x = |k: usize| left + 8.0 + k as f64 * (right - left - 16.0) / (n - 1) as f64;
    let y = |v: f64| bottom - (v - lo) / (hi - lo) * (bottom - top);
    let label = format!("{} {}: 近12个月与目标 last 12 months against target", i.name_zh, i.name_en);
    w!(
        h,
        "<svg class=\"trend\" viewBox=\"0 0 360 184\" role=\"img\" aria-label=\"{}\"><title>{}</title>\n<g stroke=\"#8c959f\"><line x1=\"{left}\" y1=\"{top}\" x2=\"{left}\" y2=\"{bottom}\"/><line x1=\"{left}\" y1=\"{bottom}\" x2=\"{right}\" y2=\"{bottom}\"/></g>\n<g font-size=\"10\" fill=\"#57606a\">",
        esc(&label),
        esc(&label)
    );
    for f in [0.0, 0.5, 1.0] {
        let v = lo + (hi - lo) * f;
        w!(
            h,
            "<text x=\"{:.0}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
            left - 4.0,
            y(v) + 3.0,
            esc(&format_value(v, &i.unit))
        );
        w!(h, "<line x1=\"{left}\" x2=\"{right}\" y1=\"{:.1}\" y2=\"{:.1}\" stroke=\"#eaeef2\"/>", y(v), y(v));
    }
    for (k, (month, _)) in i.months.iter().enumerate() {
        if (i.months.len() - 1 - k).is_multiple_of(2) {
            w!(h, "<text x=\"{:.1}\" y=\"{:.0}\" text-anchor=\"middle\">{}</text>", x(k), bottom + 13.0, esc(month));
        }
    }
    w!(
        h,
        "<text x=\"{:.0}\" y=\"180\" text-anchor=\"middle\">月份 Month</text><text transform=\"translate(10 {:.0}) rotate(-90)\" text-anchor=\"middle\">{}</text></g>\n",
        (left + right) / 2.0,
        (top + bottom) / 2.0,
        esc(&i.unit)
    );
    if let Some(t) = target {
        w!(
            h,
            "<line class=\"target\" x1=\"{left}\" x2=\"{right}\" y1=\"{:.1}\" y2=\"{:.1}\" stroke=\"#cf222e\" stroke-width=\"1.5\" stroke-dasharray=\"6 4\"/><text x=\"{:.0}\" y=\"{:.1}\" font-size=\"10\" fill=\"#cf222e\" text-anchor=\"end\">目标 Target {}</text>\n",
            y(t),
            y(t),
            right,
            y(t) - 4.0,
            esc(&format_value(t, &i.unit))
        );
    }
    let line: Vec<String> = points.iter().map(|(k, v)| format!("{:.1},{:.1}", x(*k), y(*v))).collect();
    w!(h, "<polyline points=\"{}\" fill=\"none\" stroke=\"#0969da\" stroke-width=\"2\"/>\n", line.join(" "));
    for (k, v) in &points {
        let worse = target.is_some_and(|t| if i.higher_is_better { *v < t } else { *v > t });
        w!(
            h,
            "<circle data-value=\"{v}\" cx=\"{:.1}\" cy=\"{:.1}\" r=\"4\" fill=\"{}\" stroke=\"#fff\"><title>{}: {}</title></circle>",
            x(*k),
            y(*v),
            if worse {
                "#cf222e"
            } else if target.is_some() {
                "#1a7f37"
            } else {
                "#0969da"
            },
            esc(&i.months[*k].0),
            esc(&format_value(*v, &i.unit))
        );
    }
    h.push_str("\n</svg>\n");
}

/// Horizontal bars of one breakdown column, largest first (as the rows come), labelled with the
/// value's names and the figure in its unit. Nothing without a value.
pub(super) fn bar_chart(h: &mut String, title: &str, unit: &str, bars: &[(String, f64)]) {
    let bars: Vec<&(String, f64)> = bars.iter().filter(|(_, v)| v.is_finite()).take(20).collect();
    let max = bars.iter().map(|(_, v)| *v).fold(0.0f64, f64::max);
    if bars.is_empty() || max <= 0.0 {
        return;
    }
    let (left, width, row) = (190.0, 440.0, 22.0);
    let height = 24.0 + bars.len() as f64 * row;
    w!(
        h,
        "<svg class=\"bars\" viewBox=\"0 0 720 {height:.0}\" role=\"img\" aria-label=\"{}\"><title>{}</title>\n",
        esc(title),
        esc(title)
    );
    w!(h, "<text x=\"{left}\" y=\"12\" font-size=\"11\" fill=\"#57606a\">{}</text>\n", esc(title));
    for (k, (name, v)) in bars.iter().enumerate() {
        let y0 = 20.0 + k as f64 * row;
        let w = v.max(0.0) / max * width;
        w!(
            h,
            "<text x=\"{:.0}\" y=\"{:.1}\" font-size=\"11\" text-anchor=\"end\">{}</text><rect data-value=\"{v}\" x=\"{left}\" y=\"{:.1}\" width=\"{w:.1}\" height=\"{:.1}\" fill=\"#2f5d8a\"/><text x=\"{:.1}\" y=\"{:.1}\" font-size=\"10\">{}</text>\n",
            left - 6.0,
            y0 + row / 2.0 + 4.0,
            esc(&truncate(name, 28)),
            y0 + 3.0,
            row - 6.0,
            left + w + 4.0,
            y0 + row / 2.0 + 4.0,
            esc(&format_value(*v, unit))
        );
    }
    h.push_str("</svg>\n");
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
            "<rect class=\"bar\" data-value=\"{}\" x=\"{:.1}\" y=\"{y:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"{}\"><title>{}. {}: {}</title></rect>\n",
            c.complaints,
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
            "<circle class=\"dot\" data-value=\"{}\" cx=\"{:.1}\" cy=\"{:.1}\" r=\"3\" fill=\"#cf6a00\"><title>{} %</title></circle>",
            fin(c.cumulative_share),
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

    #[test]
    fn a_trend_has_a_mark_per_month_with_data_the_target_and_labelled_axes() {
        let mut line = crate::report::render::fixtures::sample().indicators.remove(3);
        let mut h = String::new();
        trend_chart(&mut h, &line);
        let with_data = line.months.iter().filter(|(_, v)| v.is_some()).count();
        assert_eq!(h.matches("<circle data-value=").count(), with_data);
        assert_eq!(h.matches("class=\"target\"").count(), 1);
        assert!(h.contains("月份 Month") && h.contains(">hours</text>") && h.contains(">2026-11</text>"));
        assert!(h.contains("目标 Target 4"));
        line.months.iter_mut().for_each(|(_, v)| *v = None);
        let mut none = String::new();
        trend_chart(&mut none, &line);
        assert!(none.is_empty(), "no chart without data");
    }
}
