//! The sections of the HTML page made mostly of charts: each indicator's twelve months against
//! its target, as small multiples across the page's width, and the breakdowns by region,
//! channel and department (a bar chart of the first indicator beside the table of all).

use std::fmt::Write;

use super::{charts, empty, esc, opt_val};
use crate::report::render::ReportView;

pub(super) fn trends_section(h: &mut String, r: &ReportView) {
    h.push_str("<section id=\"trends\"><h2>2. 目标趋势 Trend against target, last 12 months</h2>\n");
    let with_data: Vec<_> = r.indicators.iter().filter(|i| i.months.iter().any(|(_, v)| v.is_some())).collect();
    if with_data.is_empty() {
        return empty(h, "近12个月没有指标数据。No indicator has data in the last twelve months.");
    }
    h.push_str("<p><small>蓝线为月度值，红色虚线为目标；红点未达标，绿点达标。Monthly value in blue, target dashed in red; red dots miss the target, green dots meet it.</small></p>\n<div class=\"grid\">\n");
    for i in with_data {
        w!(
            h,
            "<figure><figcaption>{} <small>{} · {}</small></figcaption>\n",
            esc(&i.name_zh),
            esc(&i.name_en),
            if i.higher_is_better { "越高越好 higher is better" } else { "越低越好 lower is better" }
        );
        charts::trend_chart(h, i);
        h.push_str("</figure>\n");
    }
    h.push_str("</div>\n</section>\n");
}

pub(super) fn breakdowns_section(h: &mut String, r: &ReportView) {
    h.push_str("<section id=\"breakdowns\"><h2>5. 分布 Breakdowns by region, channel and department</h2>\n");
    let tables: Vec<_> = r.breakdowns.iter().filter(|b| !b.rows.is_empty()).collect();
    if tables.is_empty() {
        return empty(h, "本期没有可分布的数据。Nothing to break down this period.");
    }
    for b in tables {
        w!(h, "<h3>按{} By {}</h3>\n<div class=\"pair\">\n", esc(&b.name_zh), esc(&b.name_en.to_lowercase()));
        if let Some((_, zh, en, unit)) = b.indicators.first() {
            let bars: Vec<(String, f64)> =
                b.rows.iter().filter_map(|row| Some((row.name_zh.clone(), row.values.first().copied()??))).collect();
            charts::bar_chart(h, &format!("{zh} {en}"), unit, &bars);
        }
        w!(h, "<div class=\"scroll\"><table><thead><tr><th>{} {}</th>", esc(&b.name_zh), esc(&b.name_en));
        for (_, zh, en, _) in &b.indicators {
            w!(h, "<th>{}<br><small>{}</small></th>", esc(zh), esc(en));
        }
        h.push_str("</tr></thead><tbody>\n");
        for row in &b.rows {
            let en = if row.name_en == row.name_zh {
                String::new()
            } else {
                format!(" <small>{}</small>", esc(&row.name_en))
            };
            w!(h, "<tr><td>{}{en}</td>", esc(&row.name_zh));
            for ((_, _, _, unit), value) in b.indicators.iter().zip(&row.values) {
                w!(h, "<td class=\"n\">{}</td>", esc(&opt_val(*value, unit)));
            }
            h.push_str("</tr>\n");
        }
        h.push_str("</tbody></table></div>\n</div>\n");
    }
    h.push_str("</section>\n");
}
