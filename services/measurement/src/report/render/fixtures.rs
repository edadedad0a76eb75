//! A sample report and its parts, for the tests of every output: a full month with odd data
//! (markup and formulas in names, NaN, missing values) and an empty one.

use super::{CauseLine, EffectLine, IndicatorLine, Problem, ReportView, Status};

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
        stage: String::new(),
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

pub(super) fn cause(leaf: &str, name: &str, n: u64, share: f64, cum: f64) -> CauseLine {
    CauseLine {
        leaf: leaf.into(),
        name: name.into(),
        department: "网络部".into(),
        complaints: n,
        share,
        cumulative_share: cum,
    }
}

fn effect(programme: &str, indicator: &str, b: f64, a: f64, p: f64, significant: bool, improved: bool) -> EffectLine {
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

pub(super) fn empty_report() -> ReportView {
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

pub(super) fn sample() -> ReportView {
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
