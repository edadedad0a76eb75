//! The formula language indicators are defined in, so that an administrator adds an indicator as
//! data, without a release:
//!
//! ```text
//! count(cases where on_time = true) / count(cases)
//! 100 * (count(surveys where indicator = "nps" and score >= 9)
//!      - count(surveys where indicator = "nps" and score <= 6)) / count(surveys where indicator = "nps")
//! avg(usage.value where type = "quality_sample" and metric = "call_drop_rate")
//! count(work_orders) / customers * 10000
//! ```
//!
//! An aggregate (`count`, `sum`, `avg` over one source, with conditions joined by `and`) is a
//! *measure*: its count and sum are kept per period and dimension value as events arrive, and the
//! arithmetic around them is applied when the indicator is read. Ratios of sums are therefore
//! exact for any period, whatever its length. `customers` is the customer base of the region (or
//! of every region), set through `SetCustomerBase`. A division by zero leaves the value undefined.

use std::fmt::{self, Write};

use crate::observe::{FieldKind, Source};

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
/// count and the sum of `field` (when there is one).
#[derive(Debug, Clone, PartialEq)]
pub struct Measure {
    pub source: Source,
    pub field: Option<&'static str>,
    pub conditions: Vec<Condition>,
}

impl Measure {
    /// The measure's one spelling, its identity in storage: two formulas naming the same
    /// aggregate share its cells.
    pub fn canonical(&self) -> String {
        let mut text = self.source.name().to_string();
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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Aggregate {
    Count,
    Sum,
    Avg,
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

/// Why a formula was refused, with the character offset where reading stopped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("at character {at}: {message}")]
pub struct ParseError {
    pub at: usize,
    pub message: String,
}

/// Reads a measure back from its canonical spelling.
pub fn parse_measure(canonical: &str) -> Result<Measure, ParseError> {
    let aggregate =
        if canonical.split_whitespace().next().is_some_and(|first| first.contains('.')) { "sum" } else { "count" };
    let mut formula = parse(&format!("{aggregate}({canonical})"))?;
    formula.measures.pop().ok_or_else(|| ParseError { at: 0, message: "no measure".into() })
}

/// Longest formula accepted, and most measures in one.
const MAX_LEN: usize = 2_000;
const MAX_MEASURES: usize = 16;

pub fn parse(text: &str) -> Result<Formula, ParseError> {
    if text.len() > MAX_LEN {
        return Err(ParseError { at: MAX_LEN, message: format!("a formula has at most {MAX_LEN} characters") });
    }
    let tokens = tokenize(text)?;
    let mut parser = Parser { tokens, position: 0, measures: Vec::new(), depth: 0 };
    let expr = parser.expression()?;
    if let Some((at, token)) = parser.tokens.get(parser.position) {
        return Err(ParseError { at: *at, message: format!("unexpected {token}") });
    }
    if parser.measures.is_empty() {
        return Err(ParseError { at: 0, message: "a formula needs at least one count, sum or avg".into() });
    }
    Ok(Formula { expr, measures: parser.measures })
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Number(f64),
    Text(String),
    Word(String),
    Symbol(&'static str),
}

impl fmt::Display for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Token::Number(n) => write!(f, "number {n}"),
            Token::Text(t) => write!(f, "text {t:?}"),
            Token::Word(w) => write!(f, "{w:?}"),
            Token::Symbol(s) => write!(f, "{s:?}"),
        }
    }
}

fn tokenize(text: &str) -> Result<Vec<(usize, Token)>, ParseError> {
    let mut tokens = Vec::new();
    let mut chars = text.char_indices().peekable();
    while let Some(&(at, c)) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
        } else if c.is_ascii_digit() {
            let mut number = String::new();
            while let Some(&(_, d)) = chars.peek().filter(|(_, d)| d.is_ascii_digit() || *d == '.') {
                number.push(d);
                chars.next();
            }
            let value =
                number.parse::<f64>().map_err(|_| ParseError { at, message: format!("{number:?} is not a number") })?;
            tokens.push((at, Token::Number(value)));
        } else if c.is_ascii_alphabetic() || c == '_' {
            let mut word = String::new();
            while let Some(&(_, d)) = chars.peek().filter(|(_, d)| d.is_ascii_alphanumeric() || *d == '_') {
                word.push(d);
                chars.next();
            }
            tokens.push((at, Token::Word(word)));
        } else if c == '"' {
            chars.next();
            let mut literal = String::new();
            loop {
                match chars.next() {
                    Some((_, '"')) => break,
                    Some((_, d)) => literal.push(d),
                    None => return Err(ParseError { at, message: "text not closed with '\"'".into() }),
                }
            }
            tokens.push((at, Token::Text(literal)));
        } else {
            chars.next();
            let two = chars.peek().map(|&(_, d)| d);
            let symbol = match (c, two) {
                ('<', Some('=')) | ('>', Some('=')) | ('!', Some('=')) => {
                    chars.next();
                    match c {
                        '<' => "<=",
                        '>' => ">=",
                        _ => "!=",
                    }
                }
                ('+', _) => "+",
                ('-', _) => "-",
                ('*', _) => "*",
                ('/', _) => "/",
                ('(', _) => "(",
                (')', _) => ")",
                ('.', _) => ".",
                (',', _) => ",",
                ('=', _) => "=",
                ('<', _) => "<",
                ('>', _) => ">",
                _ => return Err(ParseError { at, message: format!("unexpected character {c:?}") }),
            };
            tokens.push((at, Token::Symbol(symbol)));
        }
    }
    Ok(tokens)
}

struct Parser {
    tokens: Vec<(usize, Token)>,
    position: usize,
    measures: Vec<Measure>,
    depth: usize,
}

impl Parser {
    fn at(&self) -> usize {
        self.tokens.get(self.position).map_or_else(|| self.tokens.last().map_or(0, |(at, _)| *at + 1), |(at, _)| *at)
    }

    fn fail<T>(&self, message: impl Into<String>) -> Result<T, ParseError> {
        Err(ParseError { at: self.at(), message: message.into() })
    }

    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.position).map(|(_, t)| t)
    }

    fn eat_symbol(&mut self, symbol: &str) -> bool {
        let found = matches!(self.peek(), Some(Token::Symbol(s)) if *s == symbol);
        if found {
            self.position += 1;
        }
        found
    }

    fn eat_word(&mut self, word: &str) -> bool {
        let found = matches!(self.peek(), Some(Token::Word(w)) if w == word);
        if found {
            self.position += 1;
        }
        found
    }

    fn expect_symbol(&mut self, symbol: &str) -> Result<(), ParseError> {
        if self.eat_symbol(symbol) { Ok(()) } else { self.fail(format!("expected {symbol:?}")) }
    }

    fn expression(&mut self) -> Result<Expr, ParseError> {
        self.depth += 1;
        if self.depth > 32 {
            return self.fail("nested too deeply");
        }
        let mut left = self.product()?;
        loop {
            let op = if self.eat_symbol("+") {
                BinOp::Add
            } else if self.eat_symbol("-") {
                BinOp::Sub
            } else {
                break;
            };
            left = Expr::Binary(Box::new(left), op, Box::new(self.product()?));
        }
        self.depth -= 1;
        Ok(left)
    }

    fn product(&mut self) -> Result<Expr, ParseError> {
        let mut left = self.factor()?;
        loop {
            let op = if self.eat_symbol("*") {
                BinOp::Mul
            } else if self.eat_symbol("/") {
                BinOp::Div
            } else {
                break;
            };
            left = Expr::Binary(Box::new(left), op, Box::new(self.factor()?));
        }
        Ok(left)
    }

    fn factor(&mut self) -> Result<Expr, ParseError> {
        if self.eat_symbol("-") {
            return Ok(Expr::Neg(Box::new(self.factor()?)));
        }
        if self.eat_symbol("(") {
            let inner = self.expression()?;
            self.expect_symbol(")")?;
            return Ok(inner);
        }
        match self.peek().cloned() {
            Some(Token::Number(n)) => {
                self.position += 1;
                Ok(Expr::Number(n))
            }
            Some(Token::Word(word)) => {
                self.position += 1;
                let aggregate = match word.as_str() {
                    "customers" => return Ok(Expr::Customers),
                    "count" => Aggregate::Count,
                    "sum" => Aggregate::Sum,
                    "avg" => Aggregate::Avg,
                    other => {
                        return self.fail(format!("unknown word {other:?}: expected count, sum, avg or customers"));
                    }
                };
                self.aggregate(aggregate)
            }
            Some(other) => self.fail(format!("unexpected {other}")),
            None => self.fail("the formula ends too early"),
        }
    }

    fn aggregate(&mut self, aggregate: Aggregate) -> Result<Expr, ParseError> {
        self.expect_symbol("(")?;
        let source = match self.peek() {
            Some(Token::Word(name)) => match Source::from_name(name) {
                Some(source) => source,
                None => return self.fail(format!("unknown source {name:?}: expected one of {}", Source::names())),
            },
            _ => return self.fail("expected a source"),
        };
        self.position += 1;
        let field = if self.eat_symbol(".") {
            let field = self.field(source)?;
            if source.field_kind(field) != Some(FieldKind::Number) {
                return self.fail(format!("{field} is not a number: only numbers are summed or averaged"));
            }
            Some(field)
        } else {
            None
        };
        match (aggregate, field) {
            (Aggregate::Sum | Aggregate::Avg, None) => return self.fail("sum and avg need a field: source.field"),
            (Aggregate::Count, Some(_)) => return self.fail("count takes a source without a field"),
            _ => {}
        }
        let mut conditions = Vec::new();
        if self.eat_word("where") {
            loop {
                conditions.push(self.condition(source)?);
                if !self.eat_word("and") {
                    break;
                }
            }
        }
        self.expect_symbol(")")?;
        let measure = Measure { source, field, conditions };
        let index = match self.measures.iter().position(|m| m.canonical() == measure.canonical()) {
            Some(index) => index,
            None => {
                if self.measures.len() == MAX_MEASURES {
                    return self.fail(format!("a formula reads at most {MAX_MEASURES} measures"));
                }
                self.measures.push(measure);
                self.measures.len() - 1
            }
        };
        Ok(Expr::Term(aggregate, index))
    }

    fn field(&mut self, source: Source) -> Result<&'static str, ParseError> {
        let Some(Token::Word(name)) = self.peek() else {
            return self.fail("expected a field");
        };
        match source.field(name) {
            Some(field) => {
                self.position += 1;
                Ok(field)
            }
            None => self.fail(format!("{} has no field {name:?}: it has {}", source.name(), source.field_names())),
        }
    }

    fn condition(&mut self, source: Source) -> Result<Condition, ParseError> {
        let field = self.field(source)?;
        let kind = source.field_kind(field).unwrap_or(FieldKind::Text);
        if self.eat_word("in") {
            self.expect_symbol("(")?;
            let mut values = vec![self.literal(field, kind)?];
            while self.eat_symbol(",") {
                values.push(self.literal(field, kind)?);
            }
            self.expect_symbol(")")?;
            return Ok(Condition { field, op: Op::Eq, values });
        }
        let op = [("=", Op::Eq), ("!=", Op::Ne), ("<=", Op::Le), (">=", Op::Ge), ("<", Op::Lt), (">", Op::Gt)]
            .into_iter()
            .find(|(symbol, _)| self.eat_symbol(symbol))
            .map(|(_, op)| op);
        let Some(op) = op else {
            return self.fail("expected a comparison (=, !=, <, <=, >, >=, in)");
        };
        if kind != FieldKind::Number && !matches!(op, Op::Eq | Op::Ne) {
            return self.fail(format!("{field} is not a number: compare it with = or !="));
        }
        Ok(Condition { field, op, values: vec![self.literal(field, kind)?] })
    }

    fn literal(&mut self, field: &str, kind: FieldKind) -> Result<Literal, ParseError> {
        let literal = match (self.peek(), kind) {
            (Some(Token::Number(n)), FieldKind::Number) => Literal::Number(*n),
            (Some(Token::Symbol("-")), FieldKind::Number) => {
                self.position += 1;
                match self.peek() {
                    Some(Token::Number(n)) => Literal::Number(-*n),
                    _ => return self.fail("expected a number after '-'"),
                }
            }
            (Some(Token::Text(t)), FieldKind::Text) => Literal::Text(t.clone()),
            (Some(Token::Word(w)), FieldKind::Bool) if w == "true" || w == "false" => Literal::Bool(w == "true"),
            _ => {
                let expected = match kind {
                    FieldKind::Number => "a number",
                    FieldKind::Text => "text in double quotes",
                    FieldKind::Bool => "true or false",
                };
                return self.fail(format!("{field} is compared with {expected}"));
            }
        };
        self.position += 1;
        Ok(literal)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tally(count: i64, total: f64) -> Tally {
        Tally { count, total }
    }

    #[test]
    fn a_ratio_of_counts_reads_as_counts() {
        let formula = parse("count(cases where on_time = true) / count(cases)").unwrap();
        assert_eq!(formula.measures.len(), 2);
        assert_eq!(formula.measures[0].canonical(), "cases where on_time = true");
        let tallies = [tally(3, 0.0), tally(4, 0.0)];
        assert_eq!(formula.evaluate(&tallies, None), Some(0.75));
        assert_eq!(formula.counts(&tallies), (3, 4));
        assert_eq!(formula.evaluate(&[tally(0, 0.0), tally(0, 0.0)], None), None);
    }

    #[test]
    fn nps_is_promoters_less_detractors() {
        let formula = parse(
            r#"100 * (count(surveys where indicator = "nps" and score >= 9) - count(surveys where score <= 6 and indicator = "nps")) / count(surveys where indicator = "nps")"#,
        )
        .unwrap();
        assert_eq!(formula.measures.len(), 3);
        let value = formula.evaluate(&[tally(5, 0.0), tally(2, 0.0), tally(10, 0.0)], None).unwrap();
        assert!((value - 30.0).abs() < 1e-9);
    }

    #[test]
    fn the_same_aggregate_is_one_measure_whatever_the_order_of_its_conditions() {
        let formula = parse(r#"count(usage where type = "activation" and success = true) / count(usage where success = true and type = "activation")"#).unwrap();
        assert_eq!(formula.measures.len(), 1);
        let formula = parse(r#"avg(usage.value where metric in ("a", "b")) + customers"#).unwrap();
        assert_eq!(formula.measures[0].canonical(), r#"usage.value where metric in ("a", "b")"#);
        assert_eq!(formula.evaluate(&[tally(2, 5.0)], Some(1.0)), Some(3.5));
        assert_eq!(formula.evaluate(&[tally(2, 5.0)], None), None);
    }

    #[test]
    fn mistakes_are_named_with_where_they_are() {
        let cases = [
            ("count(orders)", "unknown source"),
            ("count(cases where colour = \"red\")", "has no field"),
            ("sum(cases)", "need a field"),
            ("count(cases.handling_hours)", "without a field"),
            ("count(cases where on_time = 1)", "true or false"),
            ("count(cases where contact_type > \"a\")", "compare it with = or !="),
            ("count(cases", "expected \")\""),
            ("1 + 2", "at least one"),
            ("count(cases) $", "unexpected character"),
            ("avg(surveys.question)", "not a number"),
        ];
        for (text, expected) in cases {
            let error = parse(text).unwrap_err();
            assert!(error.message.contains(expected), "{text}: {error}");
        }
        assert_eq!(parse("count(orders)").unwrap_err().at, 6);
    }
}
