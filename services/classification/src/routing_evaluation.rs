//! Scoring the whole routing decision (rules, then the model, then the branch back-off, then
//! triage) on labelled texts: what customers will get, not the model alone. Accuracy by leaf and
//! by department, and how much goes to triage or waits for review.

use std::collections::BTreeMap;

use csm_proto::classification::v1::Method;

use crate::{engine::Classifier, rules::Subject};

/// How one group of texts (a leaf, a department) fared.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Tally {
    /// Texts whose gold label is this group.
    pub support: u64,
    /// Of those, routed to this group.
    pub correct: u64,
    /// Texts routed to this group, rightly or not.
    pub routed: u64,
}

impl Tally {
    pub fn recall(&self) -> f64 {
        ratio(self.correct, self.support)
    }

    pub fn precision(&self) -> f64 {
        ratio(self.correct, self.routed)
    }
}

/// The figures of a routing evaluation.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RoutingFigures {
    pub examples: u64,
    /// Routed to the gold leaf.
    pub leaf_correct: u64,
    /// Routed to the gold leaf's department (a branch back-off counts when its department is).
    pub department_correct: u64,
    /// Sent to the fallback (triage) leaf.
    pub triaged: u64,
    /// Marked for review (triage included).
    pub reviewed: u64,
    /// Routed by a rule, by the model's leaf, by a branch.
    pub by_rule: u64,
    pub by_model: u64,
    pub by_branch: u64,
    pub leaves: BTreeMap<String, Tally>,
    pub departments: BTreeMap<String, Tally>,
}

impl RoutingFigures {
    pub fn leaf_accuracy(&self) -> f64 {
        ratio(self.leaf_correct, self.examples)
    }
    pub fn department_accuracy(&self) -> f64 {
        ratio(self.department_correct, self.examples)
    }
    pub fn triage_rate(&self) -> f64 {
        ratio(self.triaged, self.examples)
    }
    pub fn review_rate(&self) -> f64 {
        ratio(self.reviewed, self.examples)
    }
}

/// Routes each `(text, gold leaf)` with `classifier` and tallies the outcome. Gold leaves the
/// taxonomy does not know count against every figure (their department is unknown).
pub fn evaluate<'a>(classifier: &Classifier, examples: impl IntoIterator<Item = (&'a str, &'a str)>) -> RoutingFigures {
    let mut figures = RoutingFigures::default();
    for (text, gold) in examples {
        figures.examples += 1;
        let gold_department = classifier.taxonomy.leaf(gold).map(|leaf| leaf.department.as_str()).unwrap_or_default();
        let Some(decision) = classifier.classify(&Subject { text, ..Subject::default() }) else { continue };
        let routing = decision.routing();
        let (leaf, department) = (routing.leaf.key.as_str(), routing.leaf.department.as_str());
        match routing.method {
            Method::Rule => figures.by_rule += 1,
            Method::Model => figures.by_model += 1,
            Method::Branch => figures.by_branch += 1,
            _ => {}
        }
        if routing.method == Method::Fallback {
            figures.triaged += 1;
        }
        if routing.needs_review {
            figures.reviewed += 1;
        }
        let leaf_right = leaf == gold;
        let department_right =
            routing.method != Method::Fallback && !gold_department.is_empty() && department == gold_department;
        figures.leaf_correct += u64::from(leaf_right);
        figures.department_correct += u64::from(department_right);
        let entry = figures.leaves.entry(gold.to_string()).or_default();
        entry.support += 1;
        entry.correct += u64::from(leaf_right);
        figures.leaves.entry(leaf.to_string()).or_default().routed += 1;
        let entry = figures.departments.entry(gold_department.to_string()).or_default();
        entry.support += 1;
        entry.correct += u64::from(department_right);
        if routing.method != Method::Fallback {
            figures.departments.entry(department.to_string()).or_default().routed += 1;
        }
    }
    figures
}

fn ratio(numerator: u64, denominator: u64) -> f64 {
    if denominator == 0 { 0.0 } else { numerator as f64 / denominator as f64 }
}
