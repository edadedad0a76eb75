//! The catalogue measurement ships with: the examples of the operators' own 3K systems. Each is
//! data like any indicator an administrator adds; targets and thresholds are starting points an
//! operator changes with `UpdateIndicator`.

use csm_kit::names;
use csm_proto::measurement::v1::{CoreProcess, Direction, Indicator, IndicatorKind};

struct Shipped {
    key: &'static str,
    zh: &'static str,
    en: &'static str,
    kind: IndicatorKind,
    unit: &'static str,
    direction: Direction,
    formula: &'static str,
    target: Option<f64>,
    warning: Option<f64>,
    owner: &'static str,
    process: CoreProcess,
    stage: &'static str,
    importance: f64,
    description: &'static str,
}

use CoreProcess::{ComplaintResolution as Complaints, CustomerUsage as Usage};
use Direction::{HigherIsBetter as Higher, LowerIsBetter as Lower};
use IndicatorKind::{Kci, Kpi, Kqi};

#[rustfmt::skip]
const DEFAULTS: &[Shipped] = &[
    Shipped { key: "complaints_opened", zh: "投诉工单量", en: "Complaints opened", kind: Kci, unit: "count", direction: Lower,
        formula: "count(work_orders)", target: None, warning: None, owner: "service_centre", process: Complaints, stage: "intake", importance: 1.0,
        description: "Work orders opened (complaints and fault reports), on the day the customer raised them." },
    Shipped { key: "complaints_per_10k_customers", zh: "万投比", en: "Complaints per 10,000 customers", kind: Kci, unit: "per 10,000 customers", direction: Lower,
        formula: "count(work_orders) / customers * 10000", target: Some(10.0), warning: Some(15.0), owner: "service_centre", process: Complaints, stage: "intake", importance: 3.0,
        description: "Work orders opened per 10,000 customers of the customer base (by region when split by region)." },
    Shipped { key: "repeat_complaint_rate", zh: "重复投诉率", en: "Repeat-complaint rate", kind: Kci, unit: "ratio", direction: Lower,
        formula: "count(work_orders where kind = \"repeat\") / count(work_orders)", target: Some(0.05), warning: Some(0.08), owner: "service_centre", process: Complaints, stage: "handling", importance: 3.0,
        description: "Repeat (dissatisfied) orders over all orders opened." },
    Shipped { key: "on_time_resolution_rate", zh: "投诉及时解决率", en: "On-time resolution rate", kind: Kci, unit: "ratio", direction: Higher,
        formula: "count(cases where on_time = true) / count(cases)", target: Some(0.95), warning: Some(0.9), owner: "service_centre", process: Complaints, stage: "handling", importance: 3.0,
        description: "Cases resolved by their deadline over all cases resolved, on the day of resolution." },
    Shipped { key: "first_contact_resolution_rate", zh: "一次解决率", en: "First-contact resolution", kind: Kci, unit: "ratio", direction: Higher,
        formula: "count(cases where reopened = false) / count(cases)", target: Some(0.9), warning: Some(0.85), owner: "service_centre", process: Complaints, stage: "handling", importance: 2.0,
        description: "Cases resolved and never reopened (by a repeat order, a dissatisfied callback or an agent) over all cases resolved." },
    Shipped { key: "average_handling_hours", zh: "平均处理时长", en: "Average handling time", kind: Kci, unit: "hours", direction: Lower,
        formula: "avg(cases.handling_hours)", target: Some(24.0), warning: Some(36.0), owner: "service_centre", process: Complaints, stage: "handling", importance: 1.0,
        description: "Hours from the customer raising the problem to its resolution." },
    Shipped { key: "regulator_appeals_per_million", zh: "百万客户申诉率", en: "Regulator appeals per million customers", kind: Kci, unit: "per million customers", direction: Lower,
        formula: "count(work_orders where appeal = \"regulator\") / customers * 1000000", target: Some(1.0), warning: Some(2.0), owner: "service_centre", process: Complaints, stage: "intake", importance: 5.0,
        description: "Complaints escalated to the telecom regulator (越级投诉) per million customers." },
    Shipped { key: "fault_repair_hours", zh: "故障修复时长", en: "Fault-repair duration", kind: Kci, unit: "hours", direction: Lower,
        formula: "avg(cases.handling_hours where contact_type = \"fault_report\")", target: Some(24.0), warning: Some(48.0), owner: "operations_maintenance", process: Usage, stage: "use", importance: 2.0,
        description: "Hours from a fault report to its repair." },
    Shipped { key: "callback_within_due_rate", zh: "24小时回访及时率", en: "Callback within 24 h rate", kind: Kci, unit: "ratio", direction: Higher,
        formula: "count(callbacks where within_due = true) / count(callbacks)", target: Some(0.95), warning: Some(0.9), owner: "service_centre", process: Complaints, stage: "callback", importance: 1.0,
        description: "Callbacks made by their due time (24 hours after a repair or resolution) over all callbacks made." },
    Shipped { key: "callback_satisfaction_rate", zh: "回访满意率", en: "Callback satisfaction", kind: Kpi, unit: "ratio", direction: Higher,
        formula: "count(callbacks where outcome in (\"satisfied\", \"basically_satisfied\")) / count(callbacks where outcome != \"unreachable\")", target: Some(0.9), warning: Some(0.85), owner: "service_centre", process: Complaints, stage: "callback", importance: 2.0,
        description: "Customers reached by the callback who said they were satisfied or basically satisfied." },
    Shipped { key: "activation_success_rate", zh: "开通成功率", en: "Activation success rate", kind: Kci, unit: "ratio", direction: Higher,
        formula: "count(usage where type = \"activation\" and success = true) / count(usage where type = \"activation\")", target: Some(0.98), warning: Some(0.95), owner: "it_systems", process: Usage, stage: "activation", importance: 2.0,
        description: "Activations that succeeded over all activations attempted." },
    Shipped { key: "billing_accuracy", zh: "计费准确率", en: "Billing accuracy", kind: Kci, unit: "ratio", direction: Higher,
        formula: "1 - count(usage where type = \"bill_dispute\" and outcome = \"upheld\") / count(usage where type = \"billing_record\")", target: Some(0.9999), warning: Some(0.999), owner: "billing", process: Usage, stage: "billing", importance: 2.0,
        description: "Bills issued less bills found wrong by an upheld dispute, over bills issued." },
    Shipped { key: "high_frequency_complainants_entered", zh: "新增高频投诉客户数", en: "New high-frequency complainants", kind: Kci, unit: "count", direction: Lower,
        formula: "count(high_frequency where entered = true)", target: None, warning: None, owner: "service_centre", process: Complaints, stage: "prevention", importance: 2.0,
        description: "Customers who became active high-frequency complainants (3 in 7 days or 8 in 30)." },
    Shipped { key: "correction_rate", zh: "分类纠错率", en: "Correction rate", kind: Kci, unit: "ratio", direction: Lower,
        formula: "count(work_orders where corrected = true) / count(work_orders where classified = true)", target: Some(0.05), warning: Some(0.1), owner: "service_centre", process: Complaints, stage: "root_cause", importance: 1.0,
        description: "Classified orders whose classification staff corrected." },
    Shipped { key: "csat", zh: "客户满意度", en: "CSAT", kind: Kpi, unit: "ratio", direction: Higher,
        formula: "count(surveys where scale = \"csat_5\" and score >= 4) / count(surveys where scale = \"csat_5\")", target: Some(0.85), warning: Some(0.8), owner: "service_centre", process: Complaints, stage: "callback", importance: 3.0,
        description: "Share of CSAT answers of 4 or 5 on the 5-point scale." },
    Shipped { key: "nps", zh: "净推荐值", en: "NPS", kind: Kpi, unit: "score", direction: Higher,
        formula: "100 * (count(surveys where scale = \"score_0_10\" and indicator = \"nps\" and score >= 9) - count(surveys where scale = \"score_0_10\" and indicator = \"nps\" and score <= 6)) / count(surveys where scale = \"score_0_10\" and indicator = \"nps\")", target: Some(30.0), warning: Some(20.0), owner: "marketing", process: Usage, stage: "use", importance: 3.0,
        description: "Promoters (9-10) less detractors (0-6), in points, over the 0-10 likelihood-to-recommend answers." },
    Shipped { key: "ces", zh: "客户费力度", en: "CES", kind: Kpi, unit: "score (1-7)", direction: Lower,
        formula: "avg(surveys.score where scale = \"ces_7\")", target: Some(2.5), warning: Some(3.5), owner: "service_centre", process: Complaints, stage: "handling", importance: 2.0,
        description: "Mean effort answer, 1 very easy to 7 very hard." },
    Shipped { key: "overall_satisfaction", zh: "总体满意度", en: "Overall satisfaction", kind: Kpi, unit: "score", direction: Higher,
        formula: "avg(surveys.score100 where question = \"overall\")", target: Some(80.0), warning: Some(70.0), owner: "service_centre", process: Usage, stage: "use", importance: 3.0,
        description: "Mean answer to the overall-satisfaction question on 0-100, whatever scale it was asked on." },
    Shipped { key: "call_drop_rate", zh: "掉话率", en: "Call drop rate", kind: Kqi, unit: "ratio", direction: Lower,
        formula: "avg(usage.value where type = \"quality_sample\" and metric = \"call_drop_rate\")", target: Some(0.01), warning: Some(0.02), owner: "network", process: Usage, stage: "use", importance: 2.0,
        description: "Mean of customers' measured call drop rates." },
    Shipped { key: "broadband_speed_mbps", zh: "宽带速率", en: "Broadband speed", kind: Kqi, unit: "mbps", direction: Higher,
        formula: "avg(usage.value where type = \"quality_sample\" and metric = \"broadband_speed_mbps\")", target: Some(100.0), warning: Some(80.0), owner: "network", process: Usage, stage: "use", importance: 2.0,
        description: "Mean of customers' measured broadband speeds." },
    Shipped { key: "detractor_contact_within_48h_rate", zh: "不满意客户闭环及时率", en: "Detractors contacted within 48 h", kind: Kci, unit: "ratio", direction: Higher,
        formula: "count(detractors where contacted_within_48h = true) / count(detractors)", target: Some(0.9), warning: Some(0.8), owner: "service_centre", process: Complaints, stage: "closed_loop", importance: 3.0,
        description: "Dissatisfied answers whose customer was reached within 48 hours of answering, over all dissatisfied answers followed up, on the day of the answer. A customer never reached counts against it." },
    Shipped { key: "detractor_recovery_rate", zh: "不满意客户挽回率", en: "Detractors recovered", kind: Kpi, unit: "ratio", direction: Higher,
        formula: "count(detractors where recovered = true) / count(detractors)", target: Some(0.5), warning: Some(0.4), owner: "service_centre", process: Complaints, stage: "closed_loop", importance: 3.0,
        description: "Dissatisfied answers followed by a later answer of the same customer that is no longer dissatisfied, over all dissatisfied answers followed up, on the day of the first answer." },
    Shipped { key: "median_loop_close_hours", zh: "闭环时长中位数", en: "Median time to close the loop", kind: Kci, unit: "hours", direction: Lower,
        formula: "median(detractors.close_hours)", target: Some(48.0), warning: Some(72.0), owner: "service_centre", process: Complaints, stage: "closed_loop", importance: 2.0,
        description: "Median hours from a dissatisfied answer to its loop closing (the care task's outcome, or the reopened case resolved again), to the whole minute, over loops closed so far." },
    Shipped { key: "appeal_risk_cases", zh: "申诉风险工单数", en: "Cases at appeal risk", kind: Kci, unit: "count", direction: Lower,
        formula: "count(appeal_risks where past_due = false)", target: None, warning: None, owner: "service_centre", process: Complaints, stage: "handling", importance: 3.0,
        description: "Unresolved complaint cases that entered the warning window before the regulator's answer due time (申诉风险), on the day they entered it." },
    Shipped { key: "cases_answered_late", zh: "超时限答复工单数", en: "Cases answered late", kind: Kci, unit: "count", direction: Lower,
        formula: "count(cases where answered_late = true)", target: None, warning: None, owner: "service_centre", process: Complaints, stage: "handling", importance: 3.0,
        description: "Cases resolved after the regulator's answer due time (15 days by default), on the day of resolution." },
    Shipped { key: "late_answer_rate", zh: "超时限答复率", en: "Late-answer rate", kind: Kci, unit: "ratio", direction: Lower,
        formula: "count(cases where answered_late = true) / count(cases where regulator_clock = true)", target: Some(0.01), warning: Some(0.02), owner: "service_centre", process: Complaints, stage: "handling", importance: 5.0,
        description: "Cases resolved after the regulator's answer due time, over the cases resolved that ran on that clock." },
];

/// The default catalogue, in the order it is listed.
pub fn defaults() -> Vec<Indicator> {
    DEFAULTS
        .iter()
        .map(|d| Indicator {
            name: names::name_of(names::INDICATORS, d.key),
            key: d.key.into(),
            name_zh: d.zh.into(),
            name_en: d.en.into(),
            kind: d.kind as i32,
            unit: d.unit.into(),
            direction: d.direction as i32,
            description: d.description.into(),
            owner_department: d.owner.into(),
            formula: d.formula.into(),
            target: d.target,
            warning_threshold: d.warning,
            process: d.process as i32,
            stage: d.stage.into(),
            importance: d.importance,
            builtin: true,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use csm_kit::config::OrganisationSettings;

    #[test]
    fn every_shipped_indicator_is_valid_and_owned_by_a_department_of_the_organisation() {
        let organisation = OrganisationSettings::default();
        for indicator in super::defaults() {
            if let Err(violations) = super::super::validate(&indicator, &organisation) {
                panic!("{}: {violations:?}", indicator.key);
            }
            assert!(organisation.knows(&indicator.owner_department), "{}", indicator.key);
        }
    }
}
