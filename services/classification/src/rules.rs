//! Ordered rules: the first rule whose conditions all hold decides the leaf, and what matched
//! explains why. A rule may look at the text (terms and regular expressions), the channel, the
//! contact type and the channel's problem code. Chinese terms match anywhere (Chinese has no
//! spaces between words); terms in Latin letters match case-insensitively at the start of a word,
//! so "plan" finds "plans" but not "explanation". A `~` in a term lets a few characters stand
//! between its parts, as people write them: "信号~差" finds 信号差, 信号很差 and 信号特别差;
//! "calls~drop" finds "calls keep dropping". The hit names the text that matched.

use regex::Regex;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleDocument {
    pub key: String,
    pub leaf: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub terms: Vec<String>,
    /// Regular expressions over the text, matched case-insensitively.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub patterns: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub channels: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub contact_types: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub problem_codes: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct RuleSet {
    rules: Vec<Rule>,
}

#[derive(Debug, Clone)]
struct Rule {
    key: String,
    leaf: String,
    terms: Vec<Term>,
    patterns: Vec<Regex>,
    channels: Vec<String>,
    contact_types: Vec<String>,
    problem_codes: Vec<String>,
}

/// What a rule looks at.
#[derive(Debug, Clone, Copy, Default)]
pub struct Subject<'a> {
    pub text: &'a str,
    pub channel: &'a str,
    pub contact_type: &'a str,
    pub problem_code: &'a str,
}

/// The rule that fired and what it found: the terms, the text a pattern matched, and the
/// channel, contact type or code conditions it met.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Match<'a> {
    pub rule: &'a str,
    pub leaf: &'a str,
    pub terms: Vec<String>,
}

/// Patterns match regardless of case, like terms.
pub fn compile_pattern(pattern: &str) -> Result<Regex, regex::Error> {
    regex::RegexBuilder::new(pattern).case_insensitive(true).size_limit(1 << 20).build()
}

impl RuleSet {
    /// Builds the rules of a validated taxonomy (a pattern that does not compile is skipped).
    pub fn new(documents: &[RuleDocument]) -> Self {
        let cleaned = |list: &[String]| -> Vec<String> {
            list.iter().map(|t| t.trim().to_lowercase()).filter(|t| !t.is_empty()).collect()
        };
        let rules = documents
            .iter()
            .map(|rule| Rule {
                key: rule.key.clone(),
                leaf: rule.leaf.clone(),
                terms: cleaned(&rule.terms).iter().map(|t| Term::new(t)).collect(),
                patterns: rule.patterns.iter().filter_map(|p| compile_pattern(p).ok()).collect(),
                channels: rule.channels.iter().map(|c| c.trim().to_string()).collect(),
                contact_types: rule.contact_types.iter().map(|c| c.trim().to_string()).collect(),
                problem_codes: rule.problem_codes.iter().map(|c| c.trim().to_string()).collect(),
            })
            .collect();
        Self { rules }
    }

    /// The first rule, in order, whose conditions all hold.
    pub fn first_match(&self, subject: &Subject<'_>) -> Option<Match<'_>> {
        let text = subject.text.to_lowercase();
        self.rules.iter().find_map(|rule| {
            rule.matches(&text, subject).map(|terms| Match { rule: &rule.key, leaf: &rule.leaf, terms })
        })
    }
}

impl Rule {
    fn matches(&self, text: &str, subject: &Subject<'_>) -> Option<Vec<String>> {
        let listed = |list: &[String], value: &str| list.is_empty() || list.iter().any(|v| v == value);
        if !listed(&self.channels, subject.channel)
            || !listed(&self.contact_types, subject.contact_type)
            || !listed(&self.problem_codes, subject.problem_code)
        {
            return None;
        }
        let mut found: Vec<String> = self.terms.iter().filter_map(|t| t.find(text)).collect();
        found.extend(self.patterns.iter().filter_map(|p| p.find(subject.text)).map(|m| m.as_str().to_string()));
        let text_conditions = !self.terms.is_empty() || !self.patterns.is_empty();
        if text_conditions && found.is_empty() {
            return None;
        }
        let conditions = [
            (&self.channels, subject.channel),
            (&self.contact_types, subject.contact_type),
            (&self.problem_codes, subject.problem_code),
        ];
        found.extend(conditions.iter().filter(|(list, _)| !list.is_empty()).map(|(_, value)| value.to_string()));
        Some(found)
    }
}

/// A term: one or more parts in order, with a short gap allowed between consecutive parts.
#[derive(Debug, Clone)]
struct Term {
    parts: Vec<String>,
}

/// Most characters between two parts of a term: a few Chinese characters (很, 特别, 一直), or a
/// couple of English words.
const CJK_GAP: usize = 4;
const LATIN_GAP: usize = 16;

impl Term {
    fn new(term: &str) -> Self {
        Self { parts: term.split('~').map(str::trim).filter(|p| !p.is_empty()).map(str::to_string).collect() }
    }

    /// What the term matched in the (lower-cased) text: the term itself when it has one part,
    /// otherwise the stretch of text from its first part to its last.
    fn find(&self, text: &str) -> Option<String> {
        let (first, rest) = self.parts.split_first()?;
        if rest.is_empty() {
            return part_starts(text, first, 0, text.len()).next().map(|_| first.clone());
        }
        part_starts(text, first, 0, text.len()).find_map(|start| {
            let mut end = start + first.len();
            for part in rest {
                let gap = if part.starts_with(|c: char| c.is_ascii_alphanumeric()) { LATIN_GAP } else { CJK_GAP };
                let limit = text[end..].char_indices().nth(gap).map_or(text.len(), |(i, _)| end + i);
                let at = part_starts(text, part, end, limit).next()?;
                end = at + part.len();
            }
            Some(text[start..end].to_string())
        })
    }
}

/// Byte offsets in `text` where `part` starts at or after `from` and no later than `until`;
/// parts in Latin letters only at the start of a word.
fn part_starts<'a>(text: &'a str, part: &'a str, from: usize, until: usize) -> impl Iterator<Item = usize> + 'a {
    let word_like = part.starts_with(|c: char| c.is_ascii_alphanumeric());
    text[from..].match_indices(part).map(move |(at, _)| from + at).take_while(move |&at| at <= until).filter(
        move |&at| {
            !word_like
                || text[..at].chars().next_back().is_none_or(|before| !before.is_alphanumeric() || !before.is_ascii())
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(key: &str, leaf: &str, terms: &[&str]) -> RuleDocument {
        RuleDocument {
            key: key.into(),
            leaf: leaf.into(),
            terms: terms.iter().map(|t| t.to_string()).collect(),
            patterns: Vec::new(),
            channels: Vec::new(),
            contact_types: Vec::new(),
            problem_codes: Vec::new(),
        }
    }

    fn rules() -> RuleSet {
        RuleSet::new(&[
            rule("sp", "business.sp_fee", &["信息费"]),
            rule("billing", "system.billing_error", &["扣费", "overcharg"]),
            rule("plan", "business.package_rules", &["plan"]),
        ])
    }

    fn text(text: &str) -> Subject<'_> {
        Subject { text, ..Subject::default() }
    }

    #[test]
    fn earlier_rules_take_precedence() {
        let rules = rules();
        let found = rules.first_match(&text("莫名扣费，还有一笔信息费")).unwrap();
        assert_eq!(found.rule, "sp");
        assert_eq!(found.terms, vec!["信息费"]);
    }

    #[test]
    fn latin_terms_match_at_word_starts_in_any_case() {
        assert_eq!(rules().first_match(&text("I was OVERCHARGED twice")).unwrap().leaf, "system.billing_error");
        assert_eq!(rules().first_match(&text("my plan changed")).unwrap().rule, "plan");
        assert!(rules().first_match(&text("no explanation given")).is_none());
        assert_eq!(rules().first_match(&text("新plan太贵")).unwrap().rule, "plan");
    }

    #[test]
    fn patterns_and_context_conditions_must_all_hold() {
        let mut fault = rule("fault-code", "system.broadband_fault", &[]);
        fault.contact_types = vec!["CONTACT_TYPE_FAULT_REPORT".into()];
        fault.problem_codes = vec!["BB01".into()];
        let mut amount = rule("amount", "system.billing_error", &[]);
        amount.patterns = vec![r"多扣了?\d+元".into()];
        let rules = RuleSet::new(&[fault, amount]);
        let report =
            Subject {
                text: "上不了网", contact_type: "CONTACT_TYPE_FAULT_REPORT", problem_code: "BB01", channel: ""
            };
        assert_eq!(rules.first_match(&report).unwrap().terms, vec!["CONTACT_TYPE_FAULT_REPORT", "BB01"]);
        assert!(rules.first_match(&Subject { problem_code: "BB02", ..report }).is_none());
        assert_eq!(rules.first_match(&text("这个月多扣了50元")).unwrap().terms, vec!["多扣了50元"]);
    }

    #[test]
    fn a_gap_lets_words_stand_between_the_parts_and_the_hit_names_the_text() {
        let rules = RuleSet::new(&[
            rule("coverage", "system.coverage", &["信号~差"]),
            rule("drops", "system.call_quality", &["calls~drop"]),
        ]);
        for (text, matched) in
            [("信号差", "信号差"), ("家里信号很差", "信号很差"), ("信号一直特别差", "信号一直特别差")]
        {
            assert_eq!(rules.first_match(&self::text(text)).unwrap().terms, vec![matched], "{text}");
        }
        assert!(rules.first_match(&text("信号灯亮了但网速还是差")).is_none(), "too far apart");
        assert!(rules.first_match(&text("差一点信号")).is_none(), "out of order");
        assert_eq!(rules.first_match(&text("My calls keep dropping")).unwrap().terms, vec!["calls keep drop"]);
        assert!(rules.first_match(&text("recalls drop")).is_none(), "Latin parts start a word");
    }

    #[test]
    fn no_term_no_match() {
        assert!(rules().first_match(&text("谢谢你们")).is_none());
    }
}
