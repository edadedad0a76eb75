//! Cells: each measure's count and sum per stored period (hour and day) and dimension value,
//! moved by deltas as observations come and go. A batch of events gathers its deltas in memory
//! and writes them with one additive upsert per few hundred cells, in the transaction that moves
//! the feed cursor.

use std::{
    collections::{BTreeMap, HashMap},
    sync::Arc,
};

use crate::{
    calendar::{Calendar, DayCache, Grain},
    formula::{Condition, Literal, Measure, Op, Tally},
    observe::{Dimension, FieldValue, Observation, Source},
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

    /// The measures an observation counts for, with the value each adds to its sum.
    fn matching<'a>(&'a self, observation: &'a Observation) -> impl Iterator<Item = (i64, f64)> + 'a {
        self.by_source.get(&observation.source).into_iter().flatten().filter_map(move |&index| {
            let (id, measure) = self.measures.get(index)?;
            if !measure.conditions.iter().all(|c| holds(c, observation)) {
                return None;
            }
            match measure.field {
                None => Some((*id, 0.0)),
                Some(field) => match observation.get(field) {
                    Some(FieldValue::Number(value)) => Some((*id, *value)),
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
    cells: HashMap<CellKey, Tally>,
    cache: DayCache,
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
            Dimension::all().map(|d| (d, Arc::<str>::from(d.value_of(&observation.dims)))).collect();
        for (measure, amount) in matched {
            for (grain, period) in [(Grain::Hour, hour), (Grain::Day, day)] {
                for (dimension, value) in &values {
                    let key = CellKey { measure, grain, dimension: *dimension, period, value: value.clone() };
                    let tally = self.cells.entry(key).or_default();
                    tally.count += sign;
                    tally.total += sign as f64 * amount;
                }
            }
        }
    }

    pub fn is_empty(&self) -> bool {
        self.cells.is_empty()
    }

    /// The changed cells, leaving out those that came back to nothing.
    pub fn into_cells(self) -> Vec<(CellKey, Tally)> {
        self.cells.into_iter().filter(|(_, t)| t.count != 0 || t.total != 0.0).collect()
    }
}

/// Cells as a sorted map, for comparing two computations.
pub fn settled(cells: Vec<(CellKey, Tally)>) -> BTreeMap<CellKey, Tally> {
    let mut map: BTreeMap<CellKey, Tally> = BTreeMap::new();
    for (key, tally) in cells {
        let entry = map.entry(key).or_default();
        entry.count += tally.count;
        entry.total += tally.total;
    }
    map.retain(|_, t| t.count != 0 || t.total.abs() > 1e-9);
    map
}
