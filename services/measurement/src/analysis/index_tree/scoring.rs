//! Scoring a tree from its leaves' data: the weighted score (each parent the weighted mean of its
//! children with data, with every node's share of the overall score) and the fuzzy comprehensive
//! evaluation (membership in each grade, bottom-up).

use super::{LeafData, LeafSource, Node};

/// Score of one node of the tree, with its share of the overall score.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeScore {
    /// Key of the scored node.
    pub key: String,
    /// Name of the scored node.
    pub name: String,
    /// weight normalised among the siblings that have data (sums to 1 over them)
    pub local_weight: f64,
    /// product of local weights from the root: the share of the overall score this node carries
    pub global_weight: f64,
    /// None when no leaf below has data
    pub score: Option<f64>,
    /// global_weight * score: points of the overall score this node contributes (the children's contributions sum to the parent's)
    pub contribution: f64,
    /// Answers counted in the leaves below.
    pub responses: u64,
    /// Scores of the children, in tree order.
    pub children: Vec<NodeScore>,
}

/// Weight usable in arithmetic: invalid weights count as 0 instead of poisoning sums.
fn usable_weight(weight: f64) -> f64 {
    if weight.is_finite() && weight > 0.0 { weight } else { 0.0 }
}

/// Weighted score: each parent is the weighted mean of its children that have data (weights renormalised over them, so a missing leaf neither counts as 0 nor distorts the rest).
///
/// Renormalising is deliberate: scoring a missing leaf as 0 would punish a region for a
/// question it did not ask, and keeping the raw weights would shrink the scale below 100.
/// The root always has local and global weight 1; children without data get weight 0.
/// A leaf has data when `data` returns a finite score for its source.
pub fn weighted_score(root: &Node, data: &dyn Fn(&LeafSource) -> Option<LeafData>) -> NodeScore {
    let mut scored = score_node(root, data);
    scored.local_weight = 1.0;
    assign_global(&mut scored, 1.0);
    scored
}

fn score_node(node: &Node, data: &dyn Fn(&LeafSource) -> Option<LeafData>) -> NodeScore {
    let (key, name) = (node.key.clone(), node.name.clone());
    let mut result = NodeScore {
        key,
        name,
        local_weight: 0.0,
        global_weight: 0.0,
        score: None,
        contribution: 0.0,
        responses: 0,
        children: Vec::new(),
    };
    if node.children.is_empty() {
        if let Some(found) = node.source.as_ref().and_then(data).filter(|d| d.score.is_finite()) {
            result.score = Some(found.score);
            result.responses = found.responses;
        }
        return result;
    }
    let mut children: Vec<NodeScore> = node.children.iter().map(|c| score_node(c, data)).collect();
    let present = node.children.iter().zip(&children).filter(|(_, s)| s.score.is_some());
    let total: f64 = present.map(|(c, _)| usable_weight(c.weight)).sum();
    if total > 0.0 {
        let mut sum = 0.0;
        for (child, scored) in node.children.iter().zip(children.iter_mut()) {
            if let Some(score) = scored.score {
                scored.local_weight = usable_weight(child.weight) / total;
                sum += scored.local_weight * score;
            }
        }
        result.score = Some(sum);
    }
    result.responses = children.iter().fold(0u64, |acc, c| acc.saturating_add(c.responses));
    result.children = children;
    result
}

fn assign_global(node: &mut NodeScore, global: f64) {
    node.global_weight = global;
    node.contribution = node.score.map_or(0.0, |s| global * s);
    for child in &mut node.children {
        let child_global = global * child.local_weight;
        assign_global(child, child_global);
    }
}

/// Result of a fuzzy comprehensive evaluation.
#[derive(Debug, Clone, PartialEq)]
pub struct Fuzzy {
    /// membership in each grade, summing to 1
    pub membership: [f64; 5],
    /// index of the maximum-membership grade (0 = very satisfied)
    pub grade: usize,
    /// membership · grade scores
    pub score: f64,
}

/// Default score of each grade, very satisfied ... very dissatisfied.
pub const DEFAULT_GRADE_SCORES: [f64; 5] = [100.0, 80.0, 60.0, 40.0, 20.0];

/// Fuzzy comprehensive evaluation of the whole tree, bottom-up; None when no leaf has answers.
///
/// A leaf's membership vector is its share of answers per grade; a parent's is
/// B = Σ wᵢ·Rᵢ over the children with answers (weighted-average operator M(·,+), weights
/// renormalised over them, as in [`weighted_score`]). The grade is the maximum-membership
/// one (the better grade on ties) and the score is B · `grade_scores`.
pub fn fuzzy_evaluate(
    root: &Node,
    data: &dyn Fn(&LeafSource) -> Option<LeafData>,
    grade_scores: [f64; 5],
) -> Option<Fuzzy> {
    let membership = membership(root, data)?;
    // Strict `>` keeps the better grade on ties.
    let grade = (1..5).fold(0, |best, i| if membership.get(i) > membership.get(best) { i } else { best });
    let score = membership.iter().zip(grade_scores).map(|(m, s)| m * s).sum();
    Some(Fuzzy { membership, grade, score })
}

fn membership(node: &Node, data: &dyn Fn(&LeafSource) -> Option<LeafData>) -> Option<[f64; 5]> {
    if node.children.is_empty() {
        let found = node.source.as_ref().and_then(data)?;
        let counts = found.grades.map(|g| g as f64);
        let total: f64 = counts.iter().sum();
        return (total > 0.0).then(|| counts.map(|c| c / total));
    }
    let mut acc = [0.0; 5];
    let mut total = 0.0;
    for child in &node.children {
        let weight = usable_weight(child.weight);
        if let Some(r) = membership(child, data).filter(|_| weight > 0.0) {
            total += weight;
            acc.iter_mut().zip(r).for_each(|(a, x)| *a += weight * x);
        }
    }
    (total > 0.0).then(|| acc.map(|a| a / total))
}
