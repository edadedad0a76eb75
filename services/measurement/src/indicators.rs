//! The indicator catalogue and series queries.
//!
//! Two key control indicators (KCI) come first, both on the complaint-resolution process:
//! - complaints opened (投诉量): work orders opened per day, counted on the day the customer raised
//!   the problem;
//! - on-time resolution rate (及时解决率): cases resolved by their deadline over all cases resolved,
//!   counted on the day of resolution.

use chrono::NaiveDate;
use csm_kit::{error::Violations, time};
use csm_proto::measurement::v1::{
    Dimension, Direction, Granularity, Indicator, IndicatorKind, Point, QuerySeriesRequest, Series,
};
use sea_orm::ConnectionTrait;

use crate::{
    calendar::Calendar,
    error::Error,
    store::{self, Cell, Split},
};

/// How an indicator is computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Formula {
    OpenedCount,
    OnTimeRate,
}

struct Definition {
    indicator: fn() -> Indicator,
    formula: Formula,
}

const CATALOGUE: [Definition; 2] = [
    Definition { indicator: complaints_opened, formula: Formula::OpenedCount },
    Definition { indicator: on_time_resolution_rate, formula: Formula::OnTimeRate },
];

fn complaints_opened() -> Indicator {
    Indicator {
        name: "indicators/complaints_opened".into(),
        key: "complaints_opened".into(),
        name_zh: "投诉工单量".into(),
        name_en: "Complaints opened".into(),
        kind: IndicatorKind::Kci as i32,
        unit: "count".into(),
        direction: Direction::LowerIsBetter as i32,
        description: "Work orders opened (complaints and fault reports), on the day the customer raised them.".into(),
        owner_department: "service_centre".into(),
    }
}

fn on_time_resolution_rate() -> Indicator {
    Indicator {
        name: "indicators/on_time_resolution_rate".into(),
        key: "on_time_resolution_rate".into(),
        name_zh: "投诉及时解决率".into(),
        name_en: "On-time resolution rate".into(),
        kind: IndicatorKind::Kci as i32,
        unit: "ratio".into(),
        direction: Direction::HigherIsBetter as i32,
        description: "Cases resolved by their deadline over all cases resolved, on the day of resolution.".into(),
        owner_department: "service_centre".into(),
    }
}

pub fn catalogue() -> Vec<Indicator> {
    CATALOGUE.iter().map(|d| (d.indicator)()).collect()
}

/// Longest range one query may span.
const MAX_DAYS: i64 = 366;

/// Label of a dimension value that is not known yet (a work order not classified yet).
pub const UNCLASSIFIED: &str = "unclassified";

pub async fn query_series(
    db: &impl ConnectionTrait,
    calendar: &Calendar,
    request: &QuerySeriesRequest,
) -> Result<Series, Error> {
    let mut violations = Violations::new();
    let definition = CATALOGUE.iter().find(|d| (d.indicator)().name == request.indicator);
    if request.indicator.is_empty() {
        violations.add("indicator", "required, for example indicators/complaints_opened");
    }
    let granularity = match Granularity::try_from(request.granularity) {
        Ok(Granularity::Unspecified | Granularity::Day) => Granularity::Day,
        Err(_) => {
            violations.add("granularity", format!("unknown granularity {}", request.granularity));
            Granularity::Day
        }
    };
    let group_by = match Dimension::try_from(request.group_by) {
        Ok(Dimension::Unspecified) => Dimension::None,
        Ok(dimension) => dimension,
        Err(_) => {
            violations.add("group_by", format!("unknown dimension {}", request.group_by));
            Dimension::None
        }
    };
    let start = request.start_time.as_ref().and_then(time::from_timestamp);
    let end = request.end_time.as_ref().and_then(time::from_timestamp);
    if start.is_none() {
        violations.add("start_time", "required");
    }
    if end.is_none() {
        violations.add("end_time", "required");
    }
    if let (Some(start), Some(end)) = (start, end) {
        if end <= start {
            violations.add("end_time", "must be after start_time");
        } else if (end - start).num_days() > MAX_DAYS {
            violations.add("end_time", format!("a query spans at most {MAX_DAYS} days"));
        }
    }
    violations.into_result()?;
    let definition = definition.ok_or_else(|| Error::NotFound(request.indicator.clone()))?;
    let (Some(start), Some(end)) = (start, end) else {
        return Err(Violations::one("start_time", "required").into());
    };

    let split = match group_by {
        Dimension::Category => Some(Split::Category),
        Dimension::RootCause => Some(Split::RootCause),
        Dimension::Channel => Some(Split::Channel),
        Dimension::Department => Some(Split::Department),
        Dimension::None | Dimension::Unspecified => None,
    };
    let cells = match calendar.days_starting_in(start, end) {
        None => Vec::new(),
        Some(days) => match definition.formula {
            Formula::OpenedCount => store::opened_per_day(db, &days, split).await?,
            Formula::OnTimeRate => store::on_time_per_day(db, &days, split).await?,
        },
    };
    let mut points: Vec<Point> =
        cells.into_iter().map(|cell| to_point(calendar, definition.formula, split.is_some(), cell)).collect();
    points.sort_by(|a, b| (&a.period, &a.dimension_value).cmp(&(&b.period, &b.dimension_value)));
    Ok(Series {
        indicator: request.indicator.clone(),
        granularity: granularity as i32,
        group_by: group_by as i32,
        time_zone: calendar.zone_name().to_string(),
        points,
    })
}

fn to_point(calendar: &Calendar, formula: Formula, split: bool, cell: Cell) -> Point {
    let period_start =
        NaiveDate::parse_from_str(&cell.day, "%Y-%m-%d").ok().map(|day| time::to_timestamp(calendar.start_of(day)));
    let dimension_value = match cell.dimension {
        Some(value) if !value.is_empty() => value,
        _ if split => UNCLASSIFIED.to_string(),
        _ => String::new(),
    };
    let value = match formula {
        Formula::OpenedCount => cell.numerator as f64,
        Formula::OnTimeRate if cell.denominator > 0 => cell.numerator as f64 / cell.denominator as f64,
        Formula::OnTimeRate => 0.0,
    };
    Point {
        period: cell.day,
        period_start,
        dimension_value,
        value,
        numerator: cell.numerator,
        denominator: cell.denominator,
    }
}
