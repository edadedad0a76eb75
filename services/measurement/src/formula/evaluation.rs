//! Evaluation of a parsed formula: its value from each measure's tally and the customer base,
//! and the counts a series shows beside it. Undefined (never infinite or NaN) on a division by
//! zero, an average of nothing or a missing customer base.

use super::{Aggregate, BinOp, Expr, Formula};

/// What the cells hold for one measure in one period and dimension value.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Tally {
    pub count: i64,
    pub total: f64,
}

impl std::ops::AddAssign for Tally {
    fn add_assign(&mut self, other: Tally) {
        self.count += other.count;
        self.total += other.total;
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
            let tally = tallies.get(*index).copied().unwrap_or_default();
            match aggregate {
                Aggregate::Count => Some(tally.count as f64),
                Aggregate::Sum => Some(tally.total),
                Aggregate::Avg => (tally.count != 0).then(|| tally.total / tally.count as f64),
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
