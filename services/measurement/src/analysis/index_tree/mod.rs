//! Satisfaction index (满意度指数) as a weighted indicator tree: validation, weighted
//! scoring and fuzzy comprehensive evaluation (模糊综合评价).
//!
//! Scoring functions assume a tree that passed [`validate`]; on an invalid tree they never
//! panic but treat non-positive or non-finite weights as 0 and sourceless leaves as missing.
//!
//! This module holds the tree and what a leaf reads; checking a tree is in `validation`, the
//! weighted score and the fuzzy evaluation in `scoring`, the published example models in
//! `examples`.

mod examples;
mod scoring;
mod validation;

#[cfg(test)]
mod tests;

pub use examples::{provincial_example, value_image_composite};
pub use scoring::{DEFAULT_GRADE_SCORES, NodeScore, fuzzy_evaluate, weighted_score};
pub use validation::validate;

/// Where a leaf's score comes from: a survey question (mean answer normalised to 0-100) or an indicator key of the catalogue.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum LeafSource {
    /// Key of a survey question.
    Question(String),
    /// Key of an indicator of the catalogue.
    Indicator(String),
}

/// One indicator: either a group of weighted children or a leaf read from a source.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// Stable identifier, unique in the tree.
    pub key: String,
    /// Display name, e.g. "网络服务 / Network service".
    pub name: String,
    /// relative weight among siblings (any positive scale: 20, 0.7 ...)
    pub weight: f64,
    /// Set on leaves only.
    pub source: Option<LeafSource>,
    /// Empty on leaves.
    pub children: Vec<Node>,
}

/// What is known about one leaf in one period and dimension value.
#[derive(Debug, Clone, PartialEq)]
pub struct LeafData {
    /// mean score on 0-100
    pub score: f64,
    /// answers counted
    pub responses: u64,
    /// answers per grade, index 0 = very satisfied ... 4 = very dissatisfied (may be all zero for indicator leaves)
    pub grades: [u64; 5],
}

/// A leaf read from the survey question of the same key.
fn leaf(key: &str, name: &str, weight: f64) -> Node {
    let source = Some(LeafSource::Question(key.to_owned()));
    Node { key: key.to_owned(), name: name.to_owned(), weight, source, children: Vec::new() }
}

/// A group of weighted children, without a source of its own.
fn group(key: &str, name: &str, weight: f64, children: Vec<Node>) -> Node {
    Node { key: key.to_owned(), name: name.to_owned(), weight, source: None, children }
}
