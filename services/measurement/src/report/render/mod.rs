//! Rendering of a period report for a service-quality manager: indicator state against target,
//! problems ranked by importance x gap, the root-cause Pareto and remediation effects.
//! Two outputs: RFC 4180 CSV (raw numbers) and one self-contained, printable HTML page.
//! Pure standard library; never panics on odd data (NaN, empty sections, zero targets).
//!
//! This module holds what both outputs show: the view of the report ([`ReportView`]), the
//! spellings of a status, and the order of problems and causes, so the CSV and the page cannot
//! disagree. The outputs themselves are in `csv` and `html`; numbers for people in `format`.

/// `write!` into a String, whose fmt::Result cannot fail.
macro_rules! w { ($dst:expr, $($arg:tt)*) => { let _ = write!($dst, $($arg)*); }; }

mod csv;
mod format;
mod html;

#[cfg(test)]
mod fixtures;

pub use csv::to_csv;
pub use format::format_value;
pub use html::to_html;

use format::fin;

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
    /// The stage of the process ("handling", "callback", "closed_loop", ...), empty when unknown.
    pub stage: String,
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
