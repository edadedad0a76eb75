//! The period report a service-quality manager reads each month: every indicator against its
//! target, the problems ranked by importance x gap, the top root causes as a Pareto, and the
//! effects of remediation programmes. As data, as CSV, or as an HTML page with charts.

mod breakdowns;
mod causes;
pub mod render;
mod view;

use std::collections::{BTreeSet, HashMap};

use csm_kit::{config::OrganisationSettings, error::Violations, names, time};
use csm_proto::measurement::v1::{
    CoreProcess, DepartmentName, GetReportRequest, IndicatorKind, IndicatorState, IndicatorStatus, MonthValue,
    ProgrammeEffect, RenderedReport, Report, ReportFile, ReportFormat, ReportProblem,
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

/// The months of each indicator's trend against target, the month reported the last.
const TREND_MONTHS: usize = 12;

pub async fn build(
    db: &impl ConnectionTrait,
    calendar: &Calendar,
    catalogue: &Catalogue,
    organisation: &OrganisationSettings,
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
    let trend_start = (1..TREND_MONTHS).fold(start, |month, _| calendar.period_of(Grain::Month, month - 1));
    let (trend_months, _) = calendar.periods(Grain::Month, trend_start, end, TREND_MONTHS);
    let mut indicators = Vec::with_capacity(catalogue.entries.len());
    let mut problems = Vec::new();
    for entry in &catalogue.entries {
        let month = series::over_window(db, calendar, entry, Dimension::Total, None, (start, end)).await?;
        let previous =
            series::over_window(db, calendar, entry, Dimension::Total, None, (previous_start, start)).await?;
        let (days, _) = calendar.periods(Grain::Day, start, end, 31);
        let daily = days.iter().map(|day| month.daily.get(day).copied().unwrap_or(f64::NAN)).collect();
        let window = Window { grain: Grain::Month, dimension: Dimension::Total, only: None, start: trend_start, end };
        let monthly: HashMap<i64, f64> =
            series::compute(db, calendar, entry, &window).await?.into_iter().map(|v| (v.period, v.value)).collect();
        let months = trend_months
            .iter()
            .map(|m| MonthValue { month: calendar.label(Grain::Month, *m), value: monthly.get(m).copied() })
            .collect();
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
            months,
            gap: gap(entry, month.value),
        });
    }
    problems.sort_by(|a, b| b.priority.total_cmp(&a.priority).then_with(|| a.indicator.cmp(&b.indicator)));
    let causes = match catalogue.get(PARETO_INDICATOR) {
        Some(entry) => causes::pareto(db, calendar, entry, (start, end), top).await?,
        None => causes::Causes { ranked: Vec::new(), unclassified: 0 },
    };
    let breakdowns = breakdowns::build(db, calendar, catalogue, organisation, (start, end)).await?;
    let effects = programme_effects(db, calendar, catalogue, (start, end), now).await?;
    let mentioned: BTreeSet<&str> = indicators
        .iter()
        .map(|i| i.owner_department.as_str())
        .chain(causes.ranked.iter().map(|c| c.department.as_str()))
        .chain(
            breakdowns
                .iter()
                .filter(|b| b.dimension == "department")
                .flat_map(|b| b.values.iter().map(|v| v.key.as_str())),
        )
        .filter(|key| !key.is_empty())
        .collect();
    let departments = mentioned
        .into_iter()
        .map(|key| {
            let (name_zh, name_en) = breakdowns::value_names("department", key, organisation);
            DepartmentName { key: key.to_string(), name_zh, name_en }
        })
        .collect();
    Ok(Report {
        month: request.month.clone(),
        period_start: Some(time::timestamp_from_micros(start)),
        period_end: Some(time::timestamp_from_micros(end)),
        time_zone: calendar.zone_name().to_string(),
        generate_time: Some(time::timestamp_from_micros(now)),
        indicators,
        problems,
        causes: causes.ranked,
        effects,
        unclassified_complaints: causes.unclassified,
        breakdowns,
        departments,
    })
}

/// How far `value` falls short of target in the indicator's unit: positive worse, negative better.
fn gap(entry: &Entry, value: Option<f64>) -> Option<f64> {
    let (value, target) = (value?, entry.indicator.target?);
    let gap = if entry.higher_is_better() { target - value } else { value - target };
    gap.is_finite().then_some(gap)
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

/// The report as an HTML page, or as CSV files (one tidy table each), its indicators grouped by
/// the `stages` of [`stages`].
pub fn render(
    report: &Report,
    format: ReportFormat,
    calendar: &Calendar,
    stages: &HashMap<String, String>,
) -> Result<RenderedReport, Error> {
    let view = view::view(report, calendar, stages);
    let stem = format!("csm-report-{}", report.month);
    let (content_type, files): (&str, Vec<(String, String)>) = match format {
        ReportFormat::Csv => (
            "text/csv; charset=utf-8",
            render::to_csv_tables(&view)
                .into_iter()
                .map(|(table, body)| (format!("{stem}-{table}.csv"), body))
                .collect(),
        ),
        ReportFormat::Html => ("text/html; charset=utf-8", vec![(format!("{stem}.html"), render::to_html(&view))]),
        ReportFormat::Unspecified => return Err(Violations::one("format", "CSV or HTML").into()),
    };
    let files: Vec<ReportFile> = files
        .into_iter()
        .map(|(name, body)| ReportFile { name, content_type: content_type.into(), content: body.into_bytes() })
        .collect();
    let first = files.first().cloned().unwrap_or_default();
    Ok(RenderedReport { content_type: content_type.into(), content: first.content, file_name: first.name, files })
}
