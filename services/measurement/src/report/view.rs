//! The report as the rendered outputs see it: names instead of keys (departments, channels,
//! causes), the period and the generation time on the operator's calendar and clock, and the
//! breakdowns pivoted into one table per dimension.

use std::collections::HashMap;

use csm_kit::{names, time};
use csm_proto::measurement::v1::{IndicatorStatus, Report};

use super::render::{self, BreakdownRow, BreakdownTable, ReportView, Status};
use crate::calendar::Calendar;

const DIMENSION_NAMES: &[(&str, &str, &str)] =
    &[("region", "地区", "Region"), ("channel", "渠道", "Channel"), ("department", "责任部门", "Department")];

fn key_of(indicator: &str) -> String {
    indicator.trim_start_matches(names::INDICATORS).to_string()
}

pub fn view(report: &Report, calendar: &Calendar, stages: &HashMap<String, String>) -> ReportView {
    let micros = |ts: &Option<prost_types::Timestamp>| ts.as_ref().and_then(time::from_timestamp).map(time::micros);
    let departments: HashMap<&str, (&str, &str)> =
        report.departments.iter().map(|d| (d.key.as_str(), (d.name_zh.as_str(), d.name_en.as_str()))).collect();
    let department = |key: &str| -> (String, String) {
        match departments.get(key) {
            Some((zh, en)) => (zh.to_string(), en.to_string()),
            None => (key.to_string(), String::new()),
        }
    };
    let (month_zh, month_en) = micros(&report.period_start).map(|s| calendar.month_names(s)).unwrap_or_default();
    let states: HashMap<&str, &csm_proto::measurement::v1::IndicatorState> =
        report.indicators.iter().map(|i| (i.indicator.as_str(), i)).collect();
    render::ReportView {
        title: "客户满意度月报 Customer satisfaction report".to_string(),
        period: report.month.clone(),
        period_label: format!("{month_zh} / {month_en}"),
        time_zone: report.time_zone.clone(),
        generated_at: micros(&report.generate_time).map(|t| calendar.minute_label(t)).unwrap_or_default(),
        indicators: report
            .indicators
            .iter()
            .map(|i| {
                let (owner_zh, owner_en) = department(&i.owner_department);
                render::IndicatorLine {
                    key: key_of(&i.indicator),
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
                    gap: i.gap,
                    status: match IndicatorStatus::try_from(i.status) {
                        Ok(IndicatorStatus::OnTarget) => Status::OnTarget,
                        Ok(IndicatorStatus::Warning) => Status::Warning,
                        Ok(IndicatorStatus::OffTarget) => Status::OffTarget,
                        Ok(IndicatorStatus::NoTarget) => Status::NoTarget,
                        _ => Status::NoData,
                    },
                    owner_department: owner_zh,
                    owner_en,
                    trend: i.daily.iter().map(|v| v.is_finite().then_some(*v)).collect(),
                    months: i.months.iter().map(|m| (m.month.clone(), m.value.filter(|v| v.is_finite()))).collect(),
                }
            })
            .collect(),
        problems: report
            .problems
            .iter()
            .map(|p| render::Problem {
                indicator: key_of(&p.indicator),
                name: p.name.clone(),
                importance: p.importance,
                gap: p.gap,
                priority: p.priority,
                owner_department: department(&p.owner_department).0,
            })
            .collect(),
        causes: report
            .causes
            .iter()
            .map(|c| {
                let (department_zh, department_en) = department(&c.department);
                render::CauseLine {
                    leaf: c.leaf.clone(),
                    name: if c.name_zh.is_empty() { c.leaf.clone() } else { c.name_zh.clone() },
                    name_en: c.name_en.clone(),
                    department: department_zh,
                    department_en,
                    complaints: c.complaints.max(0) as u64,
                    share: c.share,
                    cumulative_share: c.cumulative_share,
                }
            })
            .collect(),
        unclassified: report.unclassified_complaints.max(0) as u64,
        breakdowns: DIMENSION_NAMES
            .iter()
            .filter_map(|(dimension, zh, en)| {
                let parts: Vec<_> = report.breakdowns.iter().filter(|b| b.dimension == *dimension).collect();
                let first = parts.first()?;
                let indicators = parts
                    .iter()
                    .filter_map(|b| states.get(b.indicator.as_str()))
                    .map(|i| (key_of(&i.indicator), i.name_zh.clone(), i.name_en.clone(), i.unit.clone()))
                    .collect();
                let rows = first
                    .values
                    .iter()
                    .map(|v| BreakdownRow {
                        key: v.key.clone(),
                        name_zh: v.name_zh.clone(),
                        name_en: v.name_en.clone(),
                        values: parts
                            .iter()
                            .filter(|b| states.contains_key(b.indicator.as_str()))
                            .map(|b| b.values.iter().find(|x| x.key == v.key).and_then(|x| x.value))
                            .collect(),
                    })
                    .collect();
                Some(BreakdownTable {
                    dimension: dimension.to_string(),
                    name_zh: zh.to_string(),
                    name_en: en.to_string(),
                    indicators,
                    rows,
                })
            })
            .collect(),
        effects: report
            .effects
            .iter()
            .flat_map(|e| {
                e.effects.iter().map(|i| render::EffectLine {
                    programme: e.programme.clone(),
                    title: e.title.clone(),
                    indicator: key_of(&i.indicator),
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
