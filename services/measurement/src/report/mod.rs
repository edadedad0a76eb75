//! The period report a service-quality manager reads each month: every indicator against its
//! target, the problems ranked by importance x gap, the top root causes as a Pareto, and the
//! effects of remediation programmes. As data, as CSV, or as an HTML page with charts.

pub mod render;

use std::collections::HashMap;

use csm_kit::{error::Violations, names, time};
use csm_proto::measurement::v1::{
    CauseShare, CoreProcess, GetReportRequest, IndicatorKind, IndicatorState, IndicatorStatus, ProgrammeEffect,
    RenderedReport, Report, ReportFormat, ReportProblem,
};
use prost::Message;
use sea_orm::ConnectionTrait;

use crate::{
    calendar::{Calendar, Grain},
    catalogue::{Catalogue, Entry},
    effects,
    error::Error,
    observe::Dimension,
    series::{self, Window},
    store,
};

/// The indicator whose split by root cause makes the Pareto.
const PARETO_INDICATOR: &str = "complaints_opened";

pub async fn build(
    db: &impl ConnectionTrait,
    calendar: &Calendar,
    catalogue: &Catalogue,
    request: &GetReportRequest,
    now: i64,
) -> Result<Report, Error> {
    let Some((start, end)) = calendar.month(&request.month) else {
        return Err(Violations::one("month", "required as \"YYYY-MM\", for example \"2026-11\"").into());
    };
    let top = match request.top_causes {
        0 => 10,
        n @ 1..=50 => n as usize,
        _ => return Err(Violations::one("top_causes", "1 to 50 (0 means 10)").into()),
    };
    let previous_start = calendar.period_of(Grain::Month, start - 1);
    let mut indicators = Vec::with_capacity(catalogue.entries.len());
    let mut problems = Vec::new();
    for entry in &catalogue.entries {
        let month = series::over_window(db, calendar, entry, Dimension::Total, None, (start, end)).await?;
        let previous =
            series::over_window(db, calendar, entry, Dimension::Total, None, (previous_start, start)).await?;
        let (days, _) = calendar.periods(Grain::Day, start, end, 31);
        let daily = days.iter().map(|day| month.daily.get(day).copied().unwrap_or(f64::NAN)).collect();
        let status = status(entry, month.value);
        if let Some(problem) = problem(entry, month.value) {
            problems.push(problem);
        }
        indicators.push(IndicatorState {
            indicator: names::name_of(names::INDICATORS, &entry.indicator.key),
            name_zh: entry.indicator.name_zh.clone(),
            name_en: entry.indicator.name_en.clone(),
            kind: kind_label(entry.indicator.kind).to_string(),
            process: process_label(entry.indicator.process).to_string(),
            unit: entry.indicator.unit.clone(),
            higher_is_better: entry.higher_is_better(),
            value: month.value,
            previous: previous.value,
            target: entry.indicator.target,
            warning_threshold: entry.indicator.warning_threshold,
            status: status as i32,
            owner_department: entry.indicator.owner_department.clone(),
            daily,
        });
    }
    problems.sort_by(|a, b| b.priority.total_cmp(&a.priority).then_with(|| a.indicator.cmp(&b.indicator)));
    let causes = match catalogue.get(PARETO_INDICATOR) {
        Some(entry) => pareto(db, calendar, entry, (start, end), top).await?,
        None => Vec::new(),
    };
    let effects = programme_effects(db, calendar, catalogue, (start, end), now).await?;
    Ok(Report {
        month: request.month.clone(),
        period_start: Some(time::timestamp_from_micros(start)),
        period_end: Some(time::timestamp_from_micros(end)),
        time_zone: calendar.zone_name().to_string(),
        generate_time: Some(time::timestamp_from_micros(now)),
        indicators,
        problems,
        causes,
        effects,
    })
}

fn worse(entry: &Entry, value: f64, than: f64) -> bool {
    if entry.higher_is_better() { value < than } else { value > than }
}

fn status(entry: &Entry, value: Option<f64>) -> IndicatorStatus {
    let Some(value) = value else {
        return IndicatorStatus::NoData;
    };
    let Some(target) = entry.indicator.target else {
        return IndicatorStatus::NoTarget;
    };
    if !worse(entry, value, target) {
        return IndicatorStatus::OnTarget;
    }
    match entry.indicator.warning_threshold {
        Some(warning) if !worse(entry, value, warning) => IndicatorStatus::Warning,
        _ => IndicatorStatus::OffTarget,
    }
}

/// An indicator worse than its target, with its shortfall relative to the target.
fn problem(entry: &Entry, value: Option<f64>) -> Option<ReportProblem> {
    let (value, target) = (value?, entry.indicator.target?);
    if !worse(entry, value, target) {
        return None;
    }
    let gap = if target == 0.0 { (value - target).abs() } else { ((value - target) / target).abs() };
    let importance = if entry.indicator.importance > 0.0 { entry.indicator.importance } else { 1.0 };
    Some(ReportProblem {
        indicator: names::name_of(names::INDICATORS, &entry.indicator.key),
        name: if entry.indicator.name_zh.is_empty() {
            entry.indicator.name_en.clone()
        } else {
            entry.indicator.name_zh.clone()
        },
        importance,
        gap,
        priority: importance * gap,
        owner_department: entry.indicator.owner_department.clone(),
    })
}

async fn pareto(
    db: &impl ConnectionTrait,
    calendar: &Calendar,
    entry: &Entry,
    (start, end): (i64, i64),
    top: usize,
) -> Result<Vec<CauseShare>, Error> {
    let window = Window { grain: Grain::Month, dimension: Dimension::RootCause, only: None, start, end };
    let mut counts: Vec<(String, i64)> = series::compute(db, calendar, entry, &window)
        .await?
        .into_iter()
        .filter(|v| v.period == start && v.value > 0.0)
        .map(|v| (v.dimension_value, v.value.round() as i64))
        .collect();
    counts.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let total: i64 = counts.iter().map(|(_, c)| c).sum();
    let mut cumulative = 0;
    let mut causes = Vec::with_capacity(top);
    for (leaf, complaints) in counts.into_iter().take(top) {
        cumulative += complaints;
        let department = store::get_document(db, store::kind::LEAF_DEPARTMENT, &leaf).await?;
        causes.push(CauseShare {
            department: department.map(|d| String::from_utf8_lossy(&d).into_owned()).unwrap_or_default(),
            leaf,
            complaints,
            share: complaints as f64 / total.max(1) as f64,
            cumulative_share: cumulative as f64 / total.max(1) as f64,
        });
    }
    Ok(causes)
}

/// Programmes whose verification window touches the month: the stored evaluation when final,
/// otherwise a provisional one.
async fn programme_effects(
    db: &impl ConnectionTrait,
    calendar: &Calendar,
    catalogue: &Catalogue,
    (start, end): (i64, i64),
    now: i64,
) -> Result<Vec<ProgrammeEffect>, Error> {
    let mut effects = Vec::new();
    let indicators = effects::default_indicators(catalogue);
    for (programme, body) in store::list_documents(db, store::kind::PROGRAMME, Some((start, i64::MAX))).await? {
        let windows = effects::decode(&programme, &body)?;
        let verification_start =
            windows.verification_start.as_ref().and_then(time::from_timestamp).map_or(i64::MAX, time::micros);
        if verification_start >= end {
            continue;
        }
        // A stored evaluation is what was published: a report must show it or say it cannot,
        // never quietly compute a different one in its place.
        let effect = match store::get_document(db, store::kind::EFFECT, &programme).await? {
            Some(body) => ProgrammeEffect::decode(body.as_slice())
                .map_err(|e| Error::Corrupt(format!("the published evaluation of {programme} does not decode: {e}")))?,
            None => effects::evaluate(db, calendar, windows, &indicators, now).await?,
        };
        effects.push(effect);
    }
    Ok(effects)
}

fn kind_label(kind: i32) -> &'static str {
    match IndicatorKind::try_from(kind) {
        Ok(IndicatorKind::Kpi) => "KPI",
        Ok(IndicatorKind::Kci) => "KCI",
        Ok(IndicatorKind::Kqi) => "KQI",
        _ => "",
    }
}

fn process_label(process: i32) -> &'static str {
    match CoreProcess::try_from(process) {
        Ok(CoreProcess::ProductLifecycle) => "product lifecycle",
        Ok(CoreProcess::CustomerUsage) => "customer usage",
        Ok(CoreProcess::ComplaintResolution) => "complaint resolution",
        _ => "",
    }
}

/// The stage of each indicator of the catalogue ("indicators/{key}" to its stage), which the
/// rendered report groups indicators by within their process.
pub fn stages(catalogue: &Catalogue) -> HashMap<String, String> {
    catalogue
        .entries
        .iter()
        .map(|e| (names::name_of(names::INDICATORS, &e.indicator.key), e.indicator.stage.clone()))
        .collect()
}

/// The report as CSV or as an HTML page, its indicators grouped by the `stages` of [`stages`].
pub fn render(
    report: &Report,
    format: ReportFormat,
    calendar: &Calendar,
    stages: &HashMap<String, String>,
) -> Result<RenderedReport, Error> {
    let view = view(report, calendar, stages);
    let (content_type, content, extension) = match format {
        ReportFormat::Csv => ("text/csv; charset=utf-8", render::to_csv(&view), "csv"),
        ReportFormat::Html => ("text/html; charset=utf-8", render::to_html(&view), "html"),
        ReportFormat::Unspecified => return Err(Violations::one("format", "CSV or HTML").into()),
    };
    Ok(RenderedReport {
        content_type: content_type.into(),
        content: content.into_bytes(),
        file_name: format!("csm-report-{}.{extension}", report.month),
    })
}

fn view(report: &Report, calendar: &Calendar, stages: &HashMap<String, String>) -> render::ReportView {
    let date = |ts: &Option<prost_types::Timestamp>| {
        ts.as_ref()
            .and_then(time::from_timestamp)
            .map_or_else(String::new, |t| calendar.label(Grain::Day, time::micros(t)))
    };
    let names: std::collections::HashMap<&str, &IndicatorState> =
        report.indicators.iter().map(|i| (i.indicator.as_str(), i)).collect();
    render::ReportView {
        title: format!("客户满意度月报 / Customer satisfaction report {}", report.month),
        period: report.month.clone(),
        period_start: date(&report.period_start),
        period_end: date(&report.period_end),
        time_zone: report.time_zone.clone(),
        generated_at: report
            .generate_time
            .as_ref()
            .and_then(time::from_timestamp)
            .map_or_else(String::new, |t| t.to_rfc3339()),
        indicators: report
            .indicators
            .iter()
            .map(|i| render::IndicatorLine {
                key: i.indicator.trim_start_matches(names::INDICATORS).to_string(),
                name_zh: i.name_zh.clone(),
                name_en: i.name_en.clone(),
                kind: i.kind.clone(),
                process: i.process.clone(),
                stage: stages.get(&i.indicator).cloned().unwrap_or_default(),
                unit: i.unit.clone(),
                higher_is_better: i.higher_is_better,
                value: i.value,
                previous: i.previous,
                target: i.target,
                warning: i.warning_threshold,
                status: match IndicatorStatus::try_from(i.status) {
                    Ok(IndicatorStatus::OnTarget) => render::Status::OnTarget,
                    Ok(IndicatorStatus::Warning) => render::Status::Warning,
                    Ok(IndicatorStatus::OffTarget) => render::Status::OffTarget,
                    Ok(IndicatorStatus::NoTarget) => render::Status::NoTarget,
                    _ => render::Status::NoData,
                },
                owner_department: i.owner_department.clone(),
                trend: i.daily.iter().map(|v| v.is_finite().then_some(*v)).collect(),
            })
            .collect(),
        problems: report
            .problems
            .iter()
            .map(|p| render::Problem {
                indicator: p.indicator.trim_start_matches(names::INDICATORS).to_string(),
                name: p.name.clone(),
                importance: p.importance,
                gap: p.gap,
                priority: p.priority,
                owner_department: p.owner_department.clone(),
            })
            .collect(),
        causes: report
            .causes
            .iter()
            .map(|c| render::CauseLine {
                leaf: c.leaf.clone(),
                name: c.leaf.clone(),
                department: c.department.clone(),
                complaints: c.complaints.max(0) as u64,
                share: c.share,
                cumulative_share: c.cumulative_share,
            })
            .collect(),
        effects: report
            .effects
            .iter()
            .flat_map(|e| {
                e.effects.iter().map(|i| render::EffectLine {
                    programme: e.programme.clone(),
                    title: e.title.clone(),
                    indicator: names
                        .get(i.indicator.as_str())
                        .map_or(i.indicator.trim_start_matches(names::INDICATORS), |s| {
                            s.indicator.trim_start_matches(names::INDICATORS)
                        })
                        .to_string(),
                    before: i.before,
                    after: i.after,
                    change: i.change,
                    p_value: i.p_value,
                    significant: i.significant,
                    improved: i.improved,
                })
            })
            .collect(),
    }
}
