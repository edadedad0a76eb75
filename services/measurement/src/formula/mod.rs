//! The formula language indicators are defined in, so that an administrator adds an indicator as
//! data, without a release:
//!
//! ```text
//! count(cases where on_time = true) / count(cases)
//! 100 * (count(surveys where indicator = "nps" and score >= 9)
//!      - count(surveys where indicator = "nps" and score <= 6)) / count(surveys where indicator = "nps")
//! avg(usage.value where type = "quality_sample" and metric = "call_drop_rate")
//! count(work_orders) / customers * 10000
//! median(detractors.close_hours)
//! ```
//!
//! An aggregate (`count`, `sum`, `avg` over one source, with conditions joined by `and`) is a
//! *measure*: its count and sum are kept per period and dimension value as events arrive, and the
//! arithmetic around them is applied when the indicator is read. Ratios of sums are therefore
//! exact for any period, whatever its length. A median cannot be made of sums, so `median` (of a
//! duration) is a measure that also keeps how many values fell in each whole minute: bins add up
//! across days and move back when an observation is amended, like counts, and the median of a
//! month is read from the month's bins. `customers` is the customer base of the region (or
//! of every region), set through `SetCustomerBase`. A division by zero leaves the value undefined.
//!
//! This module holds the language's syntax tree and the one spelling of a measure; reading text
//! into it is in `lexer` (characters to tokens) and `parser` (tokens to a [`Formula`]), and
//! computing a value from the cells' tallies in `evaluation`.

mod evaluation;
mod lexer;
mod parser;

#[cfg(test)]
mod tests;

use std::fmt::{self, Write};

pub use evaluation::{Bins, Tally};
pub use parser::{parse, parse_measure};

use crate::observe::Source;

/// A comparison in a `where` clause.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl Op {
    fn text(self) -> &'static str {
        match self {
            Op::Eq => "=",
            Op::Ne => "!=",
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Gt => ">",
            Op::Ge => ">=",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    Number(f64),
    Text(String),
    Bool(bool),
}

impl fmt::Display for Literal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Literal::Number(n) => write!(f, "{n}"),
            Literal::Text(t) => write!(f, "\"{t}\""),
            Literal::Bool(b) => write!(f, "{b}"),
        }
    }
}

/// `field op literal`, or `field in (a, b, ...)` (held as `=` with several values).
#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    pub field: &'static str,
    pub op: Op,
    pub values: Vec<Literal>,
}

/// One measure: the observations of a source that meet every condition. Its cells keep their
/// count and the sum of `field` (when there is one), and, when `binned`, the field's values by
/// whole minute for a median.
#[derive(Debug, Clone, PartialEq)]
pub struct Measure {
    pub source: Source,
    pub field: Option<&'static str>,
    pub conditions: Vec<Condition>,
    pub binned: bool,
}

impl Measure {
    /// The measure's one spelling, its identity in storage: two formulas naming the same
    /// aggregate share its cells.
    pub fn canonical(&self) -> String {
        let mut text =
            if self.binned { format!("{MEDIAN_PREFIX}{}", self.source.name()) } else { self.source.name().to_string() };
        if let Some(field) = self.field {
            let _ = write!(text, ".{field}");
        }
        let mut conditions: Vec<String> = self
            .conditions
            .iter()
            .map(|c| match c.values.as_slice() {
                [one] => format!("{} {} {one}", c.field, c.op.text()),
                many => {
                    let list: Vec<String> = many.iter().map(Literal::to_string).collect();
                    format!("{} in ({})", c.field, list.join(", "))
                }
            })
            .collect();
        conditions.sort();
        if !conditions.is_empty() {
            let _ = write!(text, " where {}", conditions.join(" and "));
        }
        text
    }
}

/// How a binned measure's canonical spelling starts.
const MEDIAN_PREFIX: &str = "median ";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Aggregate {
    Count,
    Sum,
    Avg,
    Median,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinOp {
    Add,
    Sub,
    Mul,
    Div,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    Number(f64),
    Customers,
    /// An aggregate over `measures[index]` of the formula.
    Term(Aggregate, usize),
    Neg(Box<Expr>),
    Binary(Box<Expr>, BinOp, Box<Expr>),
}

/// A parsed formula: the expression and the measures it reads.
#[derive(Debug, Clone, PartialEq)]
pub struct Formula {
    pub expr: Expr,
    pub measures: Vec<Measure>,
}

/// Why a formula was refused, with the character offset where reading stopped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("at character {at}: {message}")]
pub struct ParseError {
    pub at: usize,
    pub message: String,
}
