//! Evaluation of a parsed formula: its value from each measure's tally and the customer base,
//! and the counts a series shows beside it. Undefined (never infinite or NaN) on a division by
//! zero, an average or a median of nothing, or a missing customer base.

use std::collections::BTreeMap;

use super::{Aggregate, BinOp, Expr, Formula};
use crate::observe::DURATION_BINS_PER_HOUR;

/// How many values fell in each bin (a whole minute of a duration), for a binned measure.
pub type Bins = BTreeMap<i64, i64>;

/// What the cells hold for one measure in one period and dimension value.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Tally {
    pub count: i64,
    pub total: f64,
    /// Empty unless the measure is binned.
    pub bins: Bins,
}

impl Tally {
    pub fn new(count: i64, total: f64) -> Self {
        Self { count, total, bins: Bins::new() }
    }

    /// Adds `count` values to `bin`, forgetting a bin that comes back to nothing.
    pub fn add_to_bin(&mut self, bin: i64, count: i64) {
        let slot = self.bins.entry(bin).or_default();
        *slot += count;
        if *slot == 0 {
            self.bins.remove(&bin);
        }
    }

    /// The median of the binned values, in bins: the middle one, or the mean of the two middle
    /// ones when their number is even.
    pub fn median_bin(&self) -> Option<f64> {
        let n: i64 = self.bins.values().filter(|c| **c > 0).sum();
        if n == 0 {
            return None;
        }
        // The value at 1-based rank `rank` in ascending order.
        let at = |rank: i64| {
            let mut seen = 0;
            self.bins.iter().filter(|(_, c)| **c > 0).find_map(|(bin, c)| {
                seen += c;
                (seen >= rank).then_some(*bin)
            })
        };
        let (low, high) = (at((n + 1) / 2)?, at(n / 2 + 1)?);
        Some(if n % 2 == 1 { low as f64 } else { (low + high) as f64 / 2.0 })
    }
}

impl std::ops::AddAssign<&Tally> for Tally {
    fn add_assign(&mut self, other: &Tally) {
        self.count += other.count;
        self.total += other.total;
        for (bin, count) in &other.bins {
            self.add_to_bin(*bin, *count);
        }
    }
}

impl std::ops::AddAssign for Tally {
    fn add_assign(&mut self, other: Tally) {
        *self += &other;
    }
}

impl Formula {
    /// The value from each measure's tally (`None` where a measure saw nothing) and the customer
    /// base; undefined on a division by zero or a missing customer base.
    pub fn evaluate(&self, tallies: &[Tally], customers: Option<f64>) -> Option<f64> {
        let value = eval(&self.expr, tallies, customers)?;
        value.is_finite().then_some(value)
    }

    /// `count(a) / count(b)` and `count(a)` read as counts, so a series can show them.
    pub fn counts(&self, tallies: &[Tally]) -> (i64, i64) {
        let count = |index: usize| tallies.get(index).map_or(0, |t| t.count);
        match &self.expr {
            Expr::Term(Aggregate::Count, a) => (count(*a), 0),
            Expr::Binary(left, BinOp::Div, right) => match (&**left, &**right) {
                (Expr::Term(Aggregate::Count, a), Expr::Term(Aggregate::Count, b)) => (count(*a), count(*b)),
                _ => (0, 0),
            },
            _ => (0, 0),
        }
    }

    pub fn uses_customers(&self) -> bool {
        fn walk(expr: &Expr) -> bool {
            match expr {
                Expr::Customers => true,
                Expr::Neg(inner) => walk(inner),
                Expr::Binary(a, _, b) => walk(a) || walk(b),
                Expr::Number(_) | Expr::Term(..) => false,
            }
        }
        walk(&self.expr)
    }
}

fn eval(expr: &Expr, tallies: &[Tally], customers: Option<f64>) -> Option<f64> {
    match expr {
        Expr::Number(n) => Some(*n),
        Expr::Customers => customers,
        Expr::Term(aggregate, index) => {
            let empty = Tally::default();
            let tally = tallies.get(*index).unwrap_or(&empty);
            match aggregate {
                Aggregate::Count => Some(tally.count as f64),
                Aggregate::Sum => Some(tally.total),
                Aggregate::Avg => (tally.count != 0).then(|| tally.total / tally.count as f64),
                Aggregate::Median => tally.median_bin().map(|bin| bin / DURATION_BINS_PER_HOUR),
            }
        }
        Expr::Neg(inner) => eval(inner, tallies, customers).map(|v| -v),
        Expr::Binary(left, op, right) => {
            let (a, b) = (eval(left, tallies, customers)?, eval(right, tallies, customers)?);
            match op {
                BinOp::Add => Some(a + b),
                BinOp::Sub => Some(a - b),
                BinOp::Mul => Some(a * b),
                BinOp::Div => (b != 0.0).then(|| a / b),
            }
        }
    }
}
