//! Ordered keyword rules: the first rule with a term in the text decides the leaf, and the terms
//! that matched explain why. Chinese terms match anywhere (Chinese has no spaces between words);
//! terms in Latin letters match case-insensitively at the start of a word, so "plan" finds "plans"
//! but not "explanation".

use crate::taxonomy::RuleDocument;

#[derive(Debug, Clone)]
pub struct RuleSet {
    rules: Vec<Rule>,
}

#[derive(Debug, Clone)]
struct Rule {
    key: String,
    leaf: String,
    terms: Vec<String>,
}

/// The rule that fired and the terms it found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Match<'a> {
    pub rule: &'a str,
    pub leaf: &'a str,
    pub terms: Vec<String>,
}

impl RuleSet {
    pub fn new(documents: &[RuleDocument]) -> Self {
        let rules = documents
            .iter()
            .map(|rule| Rule {
                key: rule.key.clone(),
                leaf: rule.leaf.clone(),
                terms: rule.terms.iter().map(|t| t.trim().to_lowercase()).filter(|t| !t.is_empty()).collect(),
            })
            .collect();
        Self { rules }
    }

    /// The first rule, in order, with at least one term in `text`.
    pub fn first_match(&self, text: &str) -> Option<Match<'_>> {
        let text = text.to_lowercase();
        self.rules.iter().find_map(|rule| {
            let terms: Vec<String> = rule.terms.iter().filter(|t| contains_term(&text, t)).cloned().collect();
            (!terms.is_empty()).then(|| Match { rule: &rule.key, leaf: &rule.leaf, terms })
        })
    }
}

fn contains_term(text: &str, term: &str) -> bool {
    let word_like = term.chars().next().is_some_and(|c| c.is_ascii_alphanumeric());
    if !word_like {
        return text.contains(term);
    }
    text.match_indices(term).any(|(at, _)| {
        text[..at].chars().next_back().is_none_or(|before| !before.is_alphanumeric() || !before.is_ascii())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules() -> RuleSet {
        RuleSet::new(&[
            RuleDocument { key: "sp".into(), leaf: "business.sp_fee".into(), terms: vec!["信息费".into()] },
            RuleDocument {
                key: "billing".into(),
                leaf: "system.billing_error".into(),
                terms: vec!["扣费".into(), "overcharg".into()],
            },
            RuleDocument { key: "plan".into(), leaf: "business.package_rules".into(), terms: vec!["plan".into()] },
        ])
    }

    #[test]
    fn earlier_rules_take_precedence() {
        let rules = rules();
        let found = rules.first_match("莫名扣费，还有一笔信息费").unwrap();
        assert_eq!(found.rule, "sp");
        assert_eq!(found.terms, vec!["信息费"]);
    }

    #[test]
    fn latin_terms_match_at_word_starts_in_any_case() {
        assert_eq!(rules().first_match("I was OVERCHARGED twice").unwrap().leaf, "system.billing_error");
        assert_eq!(rules().first_match("my plan changed").unwrap().rule, "plan");
        assert!(rules().first_match("no explanation given").is_none());
        assert_eq!(rules().first_match("新plan太贵").unwrap().rule, "plan");
    }

    #[test]
    fn no_term_no_match() {
        assert!(rules().first_match("谢谢你们").is_none());
    }
}
