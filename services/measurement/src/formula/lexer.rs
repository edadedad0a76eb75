//! The formula's characters as tokens (numbers, quoted text, words and symbols), each with the
//! character offset a parse error names.

use std::fmt;

use super::ParseError;

#[derive(Debug, Clone, PartialEq)]
pub(super) enum Token {
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

pub(super) fn tokenize(text: &str) -> Result<Vec<(usize, Token)>, ParseError> {
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
