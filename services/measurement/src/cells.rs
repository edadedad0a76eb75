//! Cells: each measure's count and sum per day and dimension value, and per hour unsplit (with
//! the values by whole minute for a binned measure), moved by deltas as observations come and go. A batch of events gathers its deltas in memory
//! and writes them with one additive upsert per few hundred cells, in the transaction that moves
//! the feed cursor.

use std::{collections::HashMap, sync::Arc};

use crate::{
    calendar::{Calendar, DayCache, Grain},
    formula::{Condition, Literal, Measure, Op, Tally},
    observe::{DURATION_BINS_PER_HOUR, Dimension, Dims, FieldValue, Observation, Source, UNCLASSIFIED, UNKNOWN},
};

/// The measures in force, by stored id.
#[derive(Debug, Clone, Default)]
pub struct MeasureSet {
    measures: Vec<(i64, Measure)>,
    by_source: HashMap<Source, Vec<usize>>,
}

impl MeasureSet {
    pub fn new(measures: Vec<(i64, Measure)>) -> Self {
        let mut by_source: HashMap<Source, Vec<usize>> = HashMap::new();
        for (index, (_, measure)) in measures.iter().enumerate() {
            by_source.entry(measure.source).or_default().push(index);
        }
        Self { measures, by_source }
    }

    pub fn len(&self) -> usize {
        self.measures.len()
    }

    pub fn is_empty(&self) -> bool {
        self.measures.is_empty()
    }

    pub fn max_id(&self) -> i64 {
        self.measures.iter().map(|(id, _)| *id).max().unwrap_or(0)
    }

    /// The measures an observation counts for, with the value each adds to its sum and, for a
    /// binned measure, the bin the value falls in.
    fn matching<'a>(&'a self, observation: &'a Observation) -> impl Iterator<Item = (i64, f64, Option<i64>)> + 'a {
        self.by_source.get(&observation.source).into_iter().flatten().filter_map(move |&index| {
            let (id, measure) = self.measures.get(index)?;
            if !measure.conditions.iter().all(|c| holds(c, observation)) {
                return None;
            }
            match measure.field {
                None => Some((*id, 0.0, None)),
                Some(field) => match observation.get(field) {
                    Some(FieldValue::Number(value)) => {
                        let bin = measure.binned.then(|| (value * DURATION_BINS_PER_HOUR).round() as i64);
                        Some((*id, *value, bin))
                    }
                    _ => None,
                },
            }
        })
    }
}

fn holds(condition: &Condition, observation: &Observation) -> bool {
    let Some(value) = observation.get(condition.field) else {
        return condition.op == Op::Ne;
    };
    let any_equal = || condition.values.iter().any(|literal| equal(value, literal));
    match condition.op {
        Op::Eq => any_equal(),
        Op::Ne => !any_equal(),
        op => match (value, condition.values.first()) {
            (FieldValue::Number(v), Some(Literal::Number(limit))) => match op {
                Op::Lt => v < limit,
                Op::Le => v <= limit,
                Op::Gt => v > limit,
                _ => v >= limit,
            },
            _ => false,
        },
    }
}

fn equal(value: &FieldValue, literal: &Literal) -> bool {
    match (value, literal) {
        (FieldValue::Text(v), Literal::Text(l)) => **v == **l,
        (FieldValue::Number(v), Literal::Number(l)) => v == l,
        (FieldValue::Bool(v), Literal::Bool(l)) => v == l,
        _ => false,
    }
}

/// Where a cell is.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CellKey {
    pub measure: i64,
    pub grain: Grain,
    pub dimension: Dimension,
    pub period: i64,
    pub value: Arc<str>,
}

/// Changes to cells, gathered in memory.
#[derive(Debug, Default)]
pub struct Deltas {
    cells: HashMap<CellKey, Tally, foldhash::fast::RandomState>,
    cache: DayCache,
    labels: Labels,
}

/// The labels of missing values, shared rather than allocated per observation.
#[derive(Debug)]
struct Labels {
    total: Arc<str>,
    unknown: Arc<str>,
    unclassified: Arc<str>,
}

impl Default for Labels {
    fn default() -> Self {
        Self { total: "".into(), unknown: UNKNOWN.into(), unclassified: UNCLASSIFIED.into() }
    }
}

impl Labels {
    /// The observation's value of a dimension, sharing the observation's own strings. A missing
    /// value is "unknown" ("unclassified" for causes and departments); a path shorter than the
    /// level asked stays at its leaf, which is its own cause at every deeper level, so each level
    /// still adds up to the total.
    fn value(&self, dimension: Dimension, dims: &Dims) -> Arc<str> {
        let or = |value: &Arc<str>, missing: &Arc<str>| if value.is_empty() { missing.clone() } else { value.clone() };
        match dimension {
            Dimension::Total => self.total.clone(),
            Dimension::Region => or(&dims.region, &self.unknown),
            Dimension::Segment => or(&dims.segment, &self.unknown),
            Dimension::Channel => or(&dims.channel, &self.unknown),
            Dimension::Product => or(&dims.product, &self.unknown),
            Dimension::Department => or(&dims.department, &self.unclassified),
            Dimension::RootCause => dims.path.last().map_or(self.unclassified.clone(), |v| or(v, &self.unclassified)),
            Dimension::CauseLevel(level) => {
                let index = usize::from(level.max(1)) - 1;
                dims.path
                    .get(index)
                    .or(dims.path.last())
                    .map_or(self.unclassified.clone(), |v| or(v, &self.unclassified))
            }
        }
    }
}

impl Deltas {
    /// Counts `observation` in (sign 1) or out (sign -1) of every cell it belongs to.
    pub fn add(&mut self, measures: &MeasureSet, calendar: &Calendar, observation: &Observation, sign: i64) {
        let mut matched = measures.matching(observation).peekable();
        if matched.peek().is_none() {
            return;
        }
        let (hour, day) = calendar.hour_and_day(observation.at, &mut self.cache);
        let values: Vec<(Dimension, Arc<str>)> =
            Dimension::all().map(|d| (d, self.labels.value(d, &observation.dims))).collect();
        let add = |tally: &mut Tally, amount: f64, bin: Option<i64>| {
            tally.count += sign;
            tally.total += sign as f64 * amount;
            if let Some(bin) = bin {
                tally.add_to_bin(bin, sign);
            }
        };
        for (measure, amount, bin) in matched {
            let hourly = CellKey {
                measure,
                grain: Grain::Hour,
                dimension: Dimension::Total,
                period: hour,
                value: self.labels.total.clone(),
            };
            add(self.cells.entry(hourly).or_default(), amount, bin);
            for (dimension, value) in &values {
                let key =
                    CellKey { measure, grain: Grain::Day, dimension: *dimension, period: day, value: value.clone() };
                add(self.cells.entry(key).or_default(), amount, bin);
            }
        }
    }

    pub fn is_empty(&self) -> bool {
        self.cells.is_empty()
    }

    /// The changed cells, leaving out those that came back to nothing.
    pub fn into_cells(self) -> Vec<(CellKey, Tally)> {
        self.cells.into_iter().filter(|(_, t)| t.count != 0 || t.total != 0.0 || !t.bins.is_empty()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_short_cause_path_stays_at_its_leaf_in_deeper_levels() {
        let labels = Labels::default();
        let dims = Dims { path: vec!["system".into(), "billing_error".into()], ..Dims::default() };
        assert_eq!(&*labels.value(Dimension::CauseLevel(1), &dims), "system");
        assert_eq!(&*labels.value(Dimension::CauseLevel(3), &dims), "billing_error");
        assert_eq!(&*labels.value(Dimension::RootCause, &dims), "billing_error");
        assert_eq!(&*labels.value(Dimension::Region, &dims), UNKNOWN);
        assert_eq!(&*labels.value(Dimension::Department, &Dims::default()), UNCLASSIFIED);
    }
}
