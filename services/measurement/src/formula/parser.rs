//! Reading a formula: a recursive-descent parser over the tokens (sums of products of factors),
//! checking every source, field and literal against what the observations carry, and naming a
//! mistake with where it is. Limits on length, nesting and measures bound the work per formula.

use super::{
    Aggregate, BinOp, Condition, Expr, Formula, Literal, MEDIAN_PREFIX, Measure, Op, ParseError,
    lexer::{Token, tokenize},
};
use crate::observe::{FieldKind, Source};

/// Reads a measure back from its canonical spelling.
pub fn parse_measure(canonical: &str) -> Result<Measure, ParseError> {
    let (aggregate, rest) = match canonical.strip_prefix(MEDIAN_PREFIX) {
        Some(rest) => ("median", rest),
        None if canonical.split_whitespace().next().is_some_and(|first| first.contains('.')) => ("sum", canonical),
        None => ("count", canonical),
    };
    let mut formula = parse(&format!("{aggregate}({rest})"))?;
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
        return Err(ParseError { at: 0, message: "a formula needs at least one count, sum, avg or median".into() });
    }
    Ok(Formula { expr, measures: parser.measures })
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
                    "median" => Aggregate::Median,
                    other => {
                        return self
                            .fail(format!("unknown word {other:?}: expected count, sum, avg, median or customers"));
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
            if aggregate == Aggregate::Median && !source.is_duration(field) {
                return self.fail(format!("{field} is not a duration: a median is kept for fields in hours"));
            }
            Some(field)
        } else {
            None
        };
        match (aggregate, field) {
            (Aggregate::Sum | Aggregate::Avg | Aggregate::Median, None) => {
                return self.fail("sum, avg and median need a field: source.field");
            }
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
        let measure = Measure { source, field, conditions, binned: aggregate == Aggregate::Median };
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
