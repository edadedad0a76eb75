//! Reading an indicator: its measures' cells over a range, gathered into periods of the asked
//! grain and dimension values, and the formula applied to each.

use std::collections::{BTreeMap, HashMap};

use csm_kit::{error::Violations, names, time};
use csm_proto::measurement::v1::{Dimension as ProtoDimension, Granularity, Point, QuerySeriesRequest, Series};
use prost_types::Timestamp;
use sea_orm::{ConnectionTrait, DbErr};

use crate::{
    calendar::{Calendar, Grain},
    catalogue::{Catalogue, Entry},
    error::Error,
    formula::Tally,
    observe::{CAUSE_LEVELS, Dimension},
    store,
};

/// Most periods one query returns.
pub const MAX_PERIODS: usize = 366 * 24;
const MAX_DAYS: i64 = 366;
const MAX_HOUR_DAYS: i64 = 31;

/// What to read.
#[derive(Debug, Clone)]
pub struct Window {
    pub grain: Grain,
    pub dimension: Dimension,
    pub only: Option<String>,
    pub start: i64,
    pub end: i64,
}

/// One computed value.
#[derive(Debug, Clone, PartialEq)]
pub struct Value {
    pub period: i64,
    pub dimension_value: String,
    pub value: f64,
    pub numerator: i64,
    pub denominator: i64,
    pub sample_size: i64,
}

pub fn grain(granularity: i32) -> Result<Grain, Violations> {
    match Granularity::try_from(granularity) {
        Ok(Granularity::Hour) => Ok(Grain::Hour),
        Ok(Granularity::Day | Granularity::Unspecified) => Ok(Grain::Day),
        Ok(Granularity::Week) => Ok(Grain::Week),
        Ok(Granularity::Month) => Ok(Grain::Month),
        Err(_) => Err(Violations::one("granularity", format!("unknown granularity {granularity}"))),
    }
}

pub fn granularity(grain: Grain) -> Granularity {
    match grain {
        Grain::Hour => Granularity::Hour,
        Grain::Day => Granularity::Day,
        Grain::Week => Granularity::Week,
        Grain::Month => Granularity::Month,
    }
}

/// The stored dimension for a requested one (`cause_level` only with DIMENSION_CAUSE_LEVEL).
pub fn dimension(group_by: i32, cause_level: i32, field: &str, violations: &mut Violations) -> Dimension {
    match ProtoDimension::try_from(group_by) {
        Ok(ProtoDimension::Unspecified | ProtoDimension::None) => Dimension::Total,
        Ok(ProtoDimension::Category) => Dimension::CauseLevel(1),
        Ok(ProtoDimension::RootCause) => Dimension::RootCause,
        Ok(ProtoDimension::Channel) => Dimension::Channel,
        Ok(ProtoDimension::Department) => Dimension::Department,
        Ok(ProtoDimension::Region) => Dimension::Region,
        Ok(ProtoDimension::Segment) => Dimension::Segment,
        Ok(ProtoDimension::Product) => Dimension::Product,
        Ok(ProtoDimension::CauseLevel) => match u8::try_from(cause_level) {
            Ok(level) if (1..=CAUSE_LEVELS).contains(&level) => Dimension::CauseLevel(level),
            _ => {
                violations.add("cause_level", format!("1 to {CAUSE_LEVELS} with DIMENSION_CAUSE_LEVEL"));
                Dimension::Total
            }
        },
        Err(_) => {
            violations.add(field, format!("unknown dimension {group_by}"));
            Dimension::Total
        }
    }
}

/// Hours are kept unsplit (an hour by every dimension value would multiply the cells for little
/// use); splits start at the day.
pub fn check_split(grain: Grain, dimension: Dimension, violations: &mut Violations) {
    if grain == Grain::Hour && dimension != Dimension::Total {
        violations.add("group_by", "hourly series are kept unsplit: split by day, week or month");
    }
}

/// Checks a time range; `hourly` ranges are shorter.
pub fn range(
    start: Option<&Timestamp>,
    end: Option<&Timestamp>,
    hourly: bool,
    violations: &mut Violations,
) -> Option<(i64, i64)> {
    let start = start.and_then(time::from_timestamp);
    let end = end.and_then(time::from_timestamp);
    if start.is_none() {
        violations.add("start_time", "required");
    }
    if end.is_none() {
        violations.add("end_time", "required");
    }
    let (start, end) = (start?, end?);
    let limit = if hourly { MAX_HOUR_DAYS } else { MAX_DAYS };
    if end <= start {
        violations.add("end_time", "must be after start_time");
        return None;
    }
    if (end - start).num_days() > limit {
        violations.add("end_time", format!("a query spans at most {limit} days at this granularity"));
        return None;
    }
    Some((time::micros(start), time::micros(end)))
}

/// The window a query asks for, checked field by field into `violations`. When they are not
/// empty the window is a placeholder the caller must not use.
pub fn window(
    granularity: i32,
    group_by: i32,
    cause_level: i32,
    (start, end): (Option<&Timestamp>, Option<&Timestamp>),
    violations: &mut Violations,
) -> Window {
    let grain = grain(granularity).unwrap_or_else(|v| {
        violations.merge(v);
        Grain::Day
    });
    let dimension = dimension(group_by, cause_level, "group_by", violations);
    check_split(grain, dimension, violations);
    let (start, end) = range(start, end, grain == Grain::Hour, violations).unwrap_or((0, 0));
    Window { grain, dimension, only: None, start, end }
}

/// The indicator's values in the window, by period then dimension value.
pub async fn compute(
    db: &impl ConnectionTrait,
    calendar: &Calendar,
    entry: &Entry,
    window: &Window,
) -> Result<Vec<Value>, DbErr> {
    let (periods, last_end) = calendar.periods(window.grain, window.start, window.end, MAX_PERIODS);
    let Some(&first) = periods.first() else {
        return Ok(Vec::new());
    };
    let stored = window.grain.stored();
    let mut gathered: BTreeMap<(i64, String), Vec<Tally>> = BTreeMap::new();
    let cells =
        store::read_cells(db, &entry.measures, stored, window.dimension, (first, last_end), window.only.as_deref())
            .await?;
    let mut bucket_of: HashMap<i64, i64> = HashMap::new();
    for (measure, period, value, tally) in cells {
        let bucket = *bucket_of.entry(period).or_insert_with(|| calendar.period_of(window.grain, period));
        let tallies = gathered.entry((bucket, value)).or_insert_with(|| vec![Tally::default(); entry.measures.len()]);
        add_to_slots(tallies, &entry.measures, measure, &tally);
    }
    let base = CustomerBase::for_entry(db, entry).await?;
    let values = gathered
        .into_iter()
        .filter_map(|((period, dimension_value), tallies)| {
            let customers = base.customers(window.dimension, &dimension_value);
            let value = entry.formula.evaluate(&tallies, customers)?;
            let (numerator, denominator) = entry.formula.counts(&tallies);
            let sample_size = tallies.iter().map(|t| t.count).max().unwrap_or(0);
            Some(Value { period, dimension_value, value, numerator, denominator, sample_size })
        })
        .collect();
    Ok(values)
}

/// QuerySeries.
pub async fn query(
    db: &impl ConnectionTrait,
    calendar: &Calendar,
    catalogue: &Catalogue,
    request: &QuerySeriesRequest,
) -> Result<Series, Error> {
    let mut violations = Violations::new();
    if request.indicator.is_empty() {
        violations.add("indicator", "required, for example \"indicators/complaints_opened\"");
    }
    let mut window = window(
        request.granularity,
        request.group_by,
        request.cause_level,
        (request.start_time.as_ref(), request.end_time.as_ref()),
        &mut violations,
    );
    if request.dimension_value.chars().count() > 128 {
        violations.add("dimension_value", "at most 128 characters");
    }
    violations.into_result()?;
    let entry = catalogue.named(&request.indicator)?;
    window.only = (!request.dimension_value.is_empty()).then(|| request.dimension_value.clone());
    let grain = window.grain;
    let values = compute(db, calendar, entry, &window).await?;
    Ok(Series {
        indicator: names::name_of(names::INDICATORS, &entry.indicator.key),
        granularity: granularity(grain) as i32,
        group_by: ProtoDimension::try_from(request.group_by)
            .ok()
            .filter(|d| *d != ProtoDimension::Unspecified)
            .unwrap_or(ProtoDimension::None) as i32,
        time_zone: calendar.zone_name().to_string(),
        points: values.into_iter().map(|v| point(calendar, grain, v)).collect(),
    })
}

pub fn point(calendar: &Calendar, grain: Grain, value: Value) -> Point {
    Point {
        period: calendar.label(grain, value.period),
        period_start: Some(time::timestamp_from_micros(value.period)),
        dimension_value: value.dimension_value,
        value: value.value,
        numerator: value.numerator,
        denominator: value.denominator,
        sample_size: value.sample_size,
    }
}

/// The customer base the `customers` of a formula reads: per region, and over every region.
struct CustomerBase(HashMap<String, i64>);

impl CustomerBase {
    /// Read only when the formula needs it.
    async fn for_entry(db: &impl ConnectionTrait, entry: &Entry) -> Result<Self, DbErr> {
        let base = if entry.formula.uses_customers() { store::customer_base(db).await? } else { HashMap::new() };
        Ok(Self(base))
    }

    /// Customers of a dimension value: every region's for the unsplit total, the region's own
    /// when split by region, none otherwise (a channel has no customer base).
    fn customers(&self, dimension: Dimension, value: &str) -> Option<f64> {
        match dimension {
            Dimension::Total => Some(self.0.values().sum::<i64>() as f64).filter(|c| *c > 0.0),
            Dimension::Region => self.0.get(value).map(|c| *c as f64),
            _ => None,
        }
    }
}

/// The indicator over the days starting in `[start, end)` as one period: its value, the
/// measures' summed tallies, and the value of each day with data (for the report's trend and for
/// tests over daily values).
pub async fn over_window(
    db: &impl ConnectionTrait,
    calendar: &Calendar,
    entry: &Entry,
    dimension: Dimension,
    only: Option<&str>,
    (start, end): (i64, i64),
) -> Result<WindowValue, DbErr> {
    let (days, last_end) = calendar.periods(Grain::Day, start, end, MAX_PERIODS);
    let mut tallies = vec![Tally::default(); entry.measures.len()];
    let mut daily: BTreeMap<i64, Vec<Tally>> = BTreeMap::new();
    if let Some(&first) = days.first() {
        for (measure, period, _, tally) in
            store::read_cells(db, &entry.measures, Grain::Day, dimension, (first, last_end), only).await?
        {
            add_to_slots(&mut tallies, &entry.measures, measure, &tally);
            let day = daily.entry(period).or_insert_with(|| vec![Tally::default(); entry.measures.len()]);
            add_to_slots(day, &entry.measures, measure, &tally);
        }
    }
    let customers = CustomerBase::for_entry(db, entry).await?.customers(dimension, only.unwrap_or_default());
    Ok(WindowValue {
        value: entry.formula.evaluate(&tallies, customers),
        daily: daily.into_iter().filter_map(|(day, t)| Some((day, entry.formula.evaluate(&t, customers)?))).collect(),
        days: days.len(),
        tallies,
    })
}

/// Adds a cell of `measure` to the tally of each place the formula uses it.
fn add_to_slots(tallies: &mut [Tally], measures: &[i64], measure: i64, tally: &Tally) {
    for (slot, _) in tallies.iter_mut().zip(measures).filter(|(_, id)| **id == measure) {
        *slot += tally;
    }
}

#[derive(Debug, Clone)]
pub struct WindowValue {
    pub value: Option<f64>,
    pub tallies: Vec<Tally>,
    /// Start of each day with a value, and the value.
    pub daily: BTreeMap<i64, f64>,
    pub days: usize,
}
