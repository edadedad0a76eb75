//! The tables of the HTML page: indicator status grouped by process and stage, problems by
//! priority, the Pareto's causes (after its chart) and programme effects, each with its
//! empty-section text.

use std::fmt::Write;

use super::{charts, empty, esc, opt_val};
use crate::report::render::{
    IndicatorLine, ReportView,
    format::{fmt_num, format_value, signed},
    ranked_causes, ranked_problems, verdict,
};

fn kind_rank(kind: &str) -> u8 {
    match kind {
        "KPI" => 0,
        "KCI" => 1,
        "KQI" => 2,
        _ => 3,
    }
}

/// The stages of the three core processes in the order work passes through them, with their
/// Chinese names: a manager reads a process from prevention to the closed loop.
const STAGES: &[(&str, &str)] = &[
    ("prevention", "预防"),
    ("intake", "受理"),
    ("handling", "处理"),
    ("root_cause", "溯源"),
    ("remediation", "整改"),
    ("callback", "回访"),
    ("closed_loop", "闭环"),
    ("discovery", "认知"),
    ("order", "订购"),
    ("activation", "开通"),
    ("billing", "计费"),
    ("use", "使用"),
    ("unsubscribe", "退订"),
    ("research", "需求调研"),
    ("design", "设计"),
    ("build", "开发"),
    ("test", "测试"),
    ("trial", "试运行"),
    ("launch", "商用"),
    ("marketing", "营销"),
    ("retirement", "退市"),
];

/// Where a stage comes in its process; stages the list does not know come after, by name.
fn stage_rank(stage: &str) -> (usize, &str) {
    (STAGES.iter().position(|(key, _)| *key == stage).unwrap_or(STAGES.len()), stage)
}

fn stage_heading(stage: &str) -> String {
    let english = stage.replace('_', " ");
    match STAGES.iter().find(|(key, _)| *key == stage) {
        Some((_, zh)) => format!("环节 Stage: {zh} {english}"),
        None => format!("环节 Stage: {english}"),
    }
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

pub(super) fn indicator_section(h: &mut String, r: &ReportView) {
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
        rows.sort_by(|a, b| {
            stage_rank(&a.stage).cmp(&stage_rank(&b.stage)).then(kind_rank(&a.kind).cmp(&kind_rank(&b.kind)))
        });
        w!(
            h,
            "<tbody><tr class=\"grp\"><th colspan=\"8\">流程 Process: {}</th></tr>\n",
            esc(if p.is_empty() { "—" } else { p })
        );
        let mut stage = None;
        for i in rows {
            if !i.stage.is_empty() && stage != Some(i.stage.as_str()) {
                w!(h, "<tr class=\"stage\"><th colspan=\"8\">{}</th></tr>\n", esc(&stage_heading(&i.stage)));
            }
            stage = Some(i.stage.as_str());
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
                charts::sparkline(&i.trend)
            );
        }
        h.push_str("</tbody>\n");
    }
    h.push_str("</table>\n</section>\n");
}

pub(super) fn problems_section(h: &mut String, r: &ReportView) {
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

pub(super) fn pareto_section(h: &mut String, r: &ReportView) {
    h.push_str("<section id=\"pareto\"><h2>4. 根因帕累托 Root-cause Pareto</h2>\n");
    let causes = ranked_causes(r);
    if causes.is_empty() {
        return empty(h, "本期没有归因到根因的投诉。No complaints attributed to root causes this period.");
    }
    charts::pareto_chart(h, &causes);
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

pub(super) fn effects_section(h: &mut String, r: &ReportView) {
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
