//! Observations: what measurement counts. Every upstream event becomes observations of one of a
//! few sources, each with a time, the dimensions it can be split by, and named fields that
//! formulas filter on and sum.
//!
//! | source | one per | at | fields |
//! |---|---|---|---|
//! | `work_orders` | work order (工单) | open time | kind, contact_type, appeal, classified, corrected |
//! | `cases` | resolved case | resolve time | on_time, reopened, handling_hours, regulator_clock, answered_late, contact_type, kind, appeal |
//! | `callbacks` | case called back (回访) | callback time | within_due, outcome, contact_type |
//! | `surveys` | survey answer | answer time | scale, question, indicator, score, score100, grade |
//! | `usage` | usage-lifecycle event | event time | type, success, outcome, metric, value |
//! | `high_frequency` | change of high-frequency status | change time | status, entered, left |
//! | `detractors` | dissatisfied answer followed up (闭环) | answer time | route, contact_method, scale, indicator, score, on_work_order, contacted, contacted_within_48h, closed, recovered, contact_hours, close_hours, recover_hours |
//! | `appeal_risks` | step of a case's appeal risk (申诉风险) | time raised | past_due, contact_type |
//!
//! Fields in hours (`*_hours`) are durations: besides count, sum and average, a median is kept
//! for them, binned by the whole minute.

use std::sync::Arc;

use csm_proto::intake::v1::SurveyScale;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Source {
    WorkOrders,
    Cases,
    Callbacks,
    Surveys,
    Usage,
    HighFrequency,
    Detractors,
    AppealRisks,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldKind {
    Text,
    Number,
    Bool,
}

const WORK_ORDER_FIELDS: &[(&str, FieldKind)] = &[
    ("kind", FieldKind::Text),
    ("contact_type", FieldKind::Text),
    ("appeal", FieldKind::Text),
    ("classified", FieldKind::Bool),
    ("corrected", FieldKind::Bool),
];
const CASE_FIELDS: &[(&str, FieldKind)] = &[
    ("on_time", FieldKind::Bool),
    ("reopened", FieldKind::Bool),
    ("handling_hours", FieldKind::Number),
    ("regulator_clock", FieldKind::Bool),
    ("answered_late", FieldKind::Bool),
    ("contact_type", FieldKind::Text),
    ("kind", FieldKind::Text),
    ("appeal", FieldKind::Text),
];
const CALLBACK_FIELDS: &[(&str, FieldKind)] =
    &[("within_due", FieldKind::Bool), ("outcome", FieldKind::Text), ("contact_type", FieldKind::Text)];
const SURVEY_FIELDS: &[(&str, FieldKind)] = &[
    ("scale", FieldKind::Text),
    ("question", FieldKind::Text),
    ("indicator", FieldKind::Text),
    ("score", FieldKind::Number),
    ("score100", FieldKind::Number),
    ("grade", FieldKind::Number),
];
const USAGE_FIELDS: &[(&str, FieldKind)] = &[
    ("type", FieldKind::Text),
    ("success", FieldKind::Bool),
    ("outcome", FieldKind::Text),
    ("metric", FieldKind::Text),
    ("value", FieldKind::Number),
];
const HIGH_FREQUENCY_FIELDS: &[(&str, FieldKind)] =
    &[("status", FieldKind::Text), ("entered", FieldKind::Bool), ("left", FieldKind::Bool)];
const DETRACTOR_FIELDS: &[(&str, FieldKind)] = &[
    ("route", FieldKind::Text),
    ("contact_method", FieldKind::Text),
    ("scale", FieldKind::Text),
    ("indicator", FieldKind::Text),
    ("score", FieldKind::Number),
    ("on_work_order", FieldKind::Bool),
    ("contacted", FieldKind::Bool),
    ("contacted_within_48h", FieldKind::Bool),
    ("closed", FieldKind::Bool),
    ("recovered", FieldKind::Bool),
    ("contact_hours", FieldKind::Number),
    ("close_hours", FieldKind::Number),
    ("recover_hours", FieldKind::Number),
];
const APPEAL_RISK_FIELDS: &[(&str, FieldKind)] = &[("past_due", FieldKind::Bool), ("contact_type", FieldKind::Text)];

/// Bins per hour of a duration's distribution: whole minutes, fine enough for a median anyone
/// can check by hand, coarse enough that a day's cell holds a few thousand bins at most.
pub const DURATION_BINS_PER_HOUR: f64 = 60.0;

impl Source {
    pub const ALL: [Source; 8] = [
        Source::WorkOrders,
        Source::Cases,
        Source::Callbacks,
        Source::Surveys,
        Source::Usage,
        Source::HighFrequency,
        Source::Detractors,
        Source::AppealRisks,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Source::WorkOrders => "work_orders",
            Source::Cases => "cases",
            Source::Callbacks => "callbacks",
            Source::Surveys => "surveys",
            Source::Usage => "usage",
            Source::HighFrequency => "high_frequency",
            Source::Detractors => "detractors",
            Source::AppealRisks => "appeal_risks",
        }
    }

    pub fn from_name(name: &str) -> Option<Source> {
        Source::ALL.into_iter().find(|s| s.name() == name)
    }

    pub fn names() -> String {
        Source::ALL.map(Source::name).join(", ")
    }

    /// Stored code of the source (observation rows).
    pub fn code(self) -> i16 {
        self as i16
    }

    pub fn from_code(code: i16) -> Option<Source> {
        Source::ALL.into_iter().find(|s| s.code() == code)
    }

    fn fields(self) -> &'static [(&'static str, FieldKind)] {
        match self {
            Source::WorkOrders => WORK_ORDER_FIELDS,
            Source::Cases => CASE_FIELDS,
            Source::Callbacks => CALLBACK_FIELDS,
            Source::Surveys => SURVEY_FIELDS,
            Source::Usage => USAGE_FIELDS,
            Source::HighFrequency => HIGH_FREQUENCY_FIELDS,
            Source::Detractors => DETRACTOR_FIELDS,
            Source::AppealRisks => APPEAL_RISK_FIELDS,
        }
    }

    /// The field's static name, when the source has it.
    pub fn field(self, name: &str) -> Option<&'static str> {
        self.fields().iter().find(|(f, _)| *f == name).map(|(f, _)| *f)
    }

    pub fn field_kind(self, name: &str) -> Option<FieldKind> {
        self.fields().iter().find(|(f, _)| *f == name).map(|(_, k)| *k)
    }

    /// Whether the field is a duration in hours, whose median can be kept.
    pub fn is_duration(self, name: &str) -> bool {
        name.ends_with("_hours") && self.field_kind(name) == Some(FieldKind::Number)
    }

    pub fn field_names(self) -> String {
        self.fields().iter().map(|(f, _)| *f).collect::<Vec<_>>().join(", ")
    }
}

/// A field's value in one observation.
#[derive(Debug, Clone, PartialEq)]
pub enum FieldValue {
    Text(Arc<str>),
    Number(f64),
    Bool(bool),
}

/// Where an observation belongs, for splitting. Missing values are split out as "unknown" (or
/// "unclassified" for the cause levels, root cause and department).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Dims {
    pub region: Arc<str>,
    pub segment: Arc<str>,
    pub channel: Arc<str>,
    pub product: Arc<str>,
    pub department: Arc<str>,
    /// Root-cause path from the top of the cause view, ending with the leaf.
    pub path: Vec<Arc<str>>,
}

/// The dimensions cells are kept for. `Total` is the unsplit cell.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Dimension {
    Total,
    Region,
    Segment,
    Channel,
    Product,
    Department,
    CauseLevel(u8),
    RootCause,
}

/// Levels of the cause path kept as dimensions.
pub const CAUSE_LEVELS: u8 = 4;

pub const UNKNOWN: &str = "unknown";
pub const UNCLASSIFIED: &str = "unclassified";

impl Dimension {
    pub fn all() -> impl Iterator<Item = Dimension> {
        [
            Dimension::Total,
            Dimension::Region,
            Dimension::Segment,
            Dimension::Channel,
            Dimension::Product,
            Dimension::Department,
            Dimension::RootCause,
        ]
        .into_iter()
        .chain((1..=CAUSE_LEVELS).map(Dimension::CauseLevel))
    }

    /// Stored key of the dimension.
    pub fn key(self) -> &'static str {
        match self {
            Dimension::Total => "",
            Dimension::Region => "region",
            Dimension::Segment => "segment",
            Dimension::Channel => "channel",
            Dimension::Product => "product",
            Dimension::Department => "department",
            Dimension::RootCause => "root_cause",
            Dimension::CauseLevel(1) => "cause1",
            Dimension::CauseLevel(2) => "cause2",
            Dimension::CauseLevel(3) => "cause3",
            Dimension::CauseLevel(_) => "cause4",
        }
    }
}

/// One thing counted.
#[derive(Debug, Clone, PartialEq)]
pub struct Observation {
    pub source: Source,
    /// Microseconds since the epoch.
    pub at: i64,
    pub dims: Arc<Dims>,
    pub fields: Vec<(&'static str, FieldValue)>,
}

impl Observation {
    pub fn new(source: Source, at: i64, dims: Arc<Dims>) -> Self {
        Self { source, at, dims, fields: Vec::with_capacity(6) }
    }

    pub fn text(mut self, field: &'static str, value: impl Into<Arc<str>>) -> Self {
        self.fields.push((field, FieldValue::Text(value.into())));
        self
    }

    pub fn number(mut self, field: &'static str, value: f64) -> Self {
        self.fields.push((field, FieldValue::Number(value)));
        self
    }

    pub fn flag(mut self, field: &'static str, value: bool) -> Self {
        self.fields.push((field, FieldValue::Bool(value)));
        self
    }

    pub fn get(&self, field: &str) -> Option<&FieldValue> {
        self.fields.iter().find(|(name, _)| *name == field).map(|(_, value)| value)
    }
}

/// A survey answer on a common footing: the raw score, the score on 0-100 and the grade from 1
/// (very satisfied) to 5 (very dissatisfied). Effort (CES) is reversed, so 100 is always best.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SurveyScore {
    pub score100: f64,
    pub grade: u8,
}

/// Scores a survey answer; None when the score is off its scale.
pub fn score_survey(scale: SurveyScale, score: f64) -> Option<SurveyScore> {
    let whole = score.fract() == 0.0;
    let score100 = match scale {
        SurveyScale::Likert5 | SurveyScale::Csat5 if whole && (1.0..=5.0).contains(&score) => (score - 1.0) * 25.0,
        SurveyScale::Score010 if whole && (0.0..=10.0).contains(&score) => score * 10.0,
        SurveyScale::Score100 if (0.0..=100.0).contains(&score) => score,
        SurveyScale::Ces7 if whole && (1.0..=7.0).contains(&score) => (7.0 - score) / 6.0 * 100.0,
        _ => return None,
    };
    let grade = match scale {
        // 9-10 very satisfied, 7-8 satisfied, 4-6 neutral, 2-3 dissatisfied, 0-1 very dissatisfied.
        SurveyScale::Score010 => match score as u8 {
            9..=10 => 1,
            7..=8 => 2,
            4..=6 => 3,
            2..=3 => 4,
            _ => 5,
        },
        _ => match score100 {
            s if s >= 87.5 => 1,
            s if s >= 62.5 => 2,
            s if s >= 37.5 => 3,
            s if s >= 12.5 => 4,
            _ => 5,
        },
    };
    Some(SurveyScore { score100, grade })
}

/// The scale's name in formulas (`scale = "csat_5"`).
pub fn scale_name(scale: SurveyScale) -> &'static str {
    match scale {
        SurveyScale::Likert5 => "likert_5",
        SurveyScale::Score010 => "score_0_10",
        SurveyScale::Score100 => "score_100",
        SurveyScale::Csat5 => "csat_5",
        SurveyScale::Ces7 => "ces_7",
        SurveyScale::Unspecified => "unspecified",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_scale_maps_onto_0_to_100_with_100_best() {
        let cases = [
            (SurveyScale::Likert5, 5.0, 100.0, 1),
            (SurveyScale::Likert5, 3.0, 50.0, 3),
            (SurveyScale::Likert5, 1.0, 0.0, 5),
            (SurveyScale::Csat5, 4.0, 75.0, 2),
            (SurveyScale::Score010, 9.0, 90.0, 1),
            (SurveyScale::Score010, 6.0, 60.0, 3),
            (SurveyScale::Score010, 1.0, 10.0, 5),
            (SurveyScale::Score100, 68.22, 68.22, 2),
            (SurveyScale::Ces7, 1.0, 100.0, 1),
            (SurveyScale::Ces7, 7.0, 0.0, 5),
            (SurveyScale::Ces7, 4.0, 50.0, 3),
        ];
        for (scale, score, score100, grade) in cases {
            let scored = score_survey(scale, score).unwrap();
            assert!((scored.score100 - score100).abs() < 1e-9, "{scale:?} {score}");
            assert_eq!(scored.grade, grade, "{scale:?} {score}");
        }
        assert!(score_survey(SurveyScale::Likert5, 6.0).is_none());
        assert!(score_survey(SurveyScale::Likert5, 4.5).is_none());
        assert!(score_survey(SurveyScale::Score010, 11.0).is_none());
        assert!(score_survey(SurveyScale::Unspecified, 3.0).is_none());
    }
}
