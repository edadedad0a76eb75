//! Satisfaction index (满意度指数) as a weighted indicator tree: validation, weighted
//! scoring and fuzzy comprehensive evaluation (模糊综合评价).
//!
//! Scoring functions assume a tree that passed [`validate`]; on an invalid tree they never
//! panic but treat non-positive or non-finite weights as 0 and sourceless leaves as missing.

use std::collections::HashSet;

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

/// One problem found by [`validate`], located by a field path.
#[derive(Debug, Clone, PartialEq)]
pub struct Violation {
    /// Path such as "root.children[1].weight".
    pub field: String,
    /// What is wrong, for people.
    pub description: String,
}

/// Deepest allowed level (the root is level 1).
const MAX_DEPTH: usize = 6;
/// Largest allowed tree, to bound the work done per evaluation.
const MAX_NODES: usize = 500;

/// Checks a tree: keys non-empty, made of [a-z0-9_.-], unique in the whole tree; weight finite and > 0 (the root's weight is ignored); a node has children xor a source; depth at most 6; at most 500 nodes. Field paths look like "root.children[1].children[0].weight". Returns every violation found, not only the first.
pub fn validate(root: &Node) -> Vec<Violation> {
    let mut walk = Walk { seen: HashSet::new(), count: 0, out: Vec::new() };
    check(root, "root", 1, &mut walk);
    if walk.count > MAX_NODES {
        let count = walk.count;
        walk.out.push(violation("root", format!("tree has {count} nodes, at most {MAX_NODES} allowed")));
    }
    walk.out
}

fn violation(field: &str, description: impl Into<String>) -> Violation {
    Violation { field: field.to_owned(), description: description.into() }
}

/// State carried through the validation walk.
struct Walk {
    seen: HashSet<String>,
    count: usize,
    out: Vec<Violation>,
}

fn check(node: &Node, path: &str, depth: usize, walk: &mut Walk) {
    walk.count += 1;
    let out = &mut walk.out;
    let key_field = format!("{path}.key");
    let key_ok = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | '.' | '-');
    if node.key.is_empty() {
        out.push(violation(&key_field, "key must not be empty"));
    } else {
        if !node.key.chars().all(key_ok) {
            out.push(violation(&key_field, format!("key {:?} may only contain a-z, 0-9, '_', '.', '-'", node.key)));
        }
        if !walk.seen.insert(node.key.clone()) {
            out.push(violation(&key_field, format!("duplicate key {:?}", node.key)));
        }
    }
    if depth > 1 && !(node.weight.is_finite() && node.weight > 0.0) {
        out.push(violation(&format!("{path}.weight"), format!("weight must be finite and > 0, got {}", node.weight)));
    }
    match (node.children.is_empty(), node.source.is_some()) {
        (false, true) => out.push(violation(&format!("{path}.source"), "a node with children must not have a source")),
        (true, false) => out.push(violation(&format!("{path}.source"), "a leaf needs a source")),
        _ => {}
    }
    if depth > MAX_DEPTH {
        // Reported once; not descending further also bounds recursion on hostile input.
        out.push(violation(path, format!("depth {depth} exceeds the maximum of {MAX_DEPTH} levels")));
        return;
    }
    for (i, child) in node.children.iter().enumerate() {
        check(child, &format!("{path}.children[{i}]"), depth + 1, walk);
    }
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

fn leaf(key: &str, name: &str, weight: f64) -> Node {
    let source = Some(LeafSource::Question(key.to_owned()));
    Node { key: key.to_owned(), name: name.to_owned(), weight, source, children: Vec::new() }
}

fn group(key: &str, name: &str, weight: f64, children: Vec<Node>) -> Node {
    Node { key: key.to_owned(), name: name.to_owned(), weight, source: None, children }
}

/// Leaves of one first-level area: key suffix, name, weight within the area.
type Leaves = &'static [(&'static str, &'static str, f64)];

const NETWORK: Leaves = &[
    ("call_quality", "通话质量 / Call quality", 30.0),
    ("coverage", "网络覆盖 / Coverage", 30.0),
    ("border_roaming", "边界漫游质量 / Border-roaming quality", 20.0),
    ("roaming", "漫游质量 / Roaming quality", 20.0),
];
const HOTLINE: Leaves = &[
    ("reachability", "接通容易程度 / Ease of getting through", 30.0),
    ("agent_attitude", "坐席服务态度 / Agent attitude", 20.0),
    ("ivr_convenience", "语音导航便捷性 / IVR convenience", 20.0),
    ("agent_resolution", "坐席问题解决能力 / Agent problem-solving", 30.0),
];
const STORE: Leaves = &[
    ("convenience", "营业厅便利性 / Store convenience", 20.0),
    ("staff_appearance", "员工仪容仪表 / Staff appearance", 10.0),
    ("staff_attitude", "员工服务态度 / Staff attitude", 20.0),
    ("staff_initiative", "员工主动性 / Staff initiative", 10.0),
    ("staff_resolution", "员工问题解决能力 / Staff problem-solving", 20.0),
    ("paperwork_ease", "业务办理便捷性 / Paperwork ease", 20.0),
];
const NEW_SERVICES: Leaves = &[
    ("timely_notice", "及时告知 / Timely notice", 20.0),
    ("fee_reasonableness", "资费合理性 / Fee reasonableness", 30.0),
    ("usefulness", "实用性 / Usefulness", 30.0),
    ("ease_of_operation", "操作便捷性 / Ease of operation", 20.0),
];

/// The example model above as a tree (root key "overall"; first-level keys "network", "hotline", "store", "new_services"; leaf keys like "network.call_quality", each leaf's source Question(<same key>)), weights exactly as in the table.
///
/// The first-level weights (20/10/10/10) are kept as published; the remaining areas of the
/// provincial model (billing, image ...) are absent, so the four areas weigh 0.4/0.2/0.2/0.2.
pub fn provincial_example() -> Node {
    let areas = [
        ("network", "网络服务 / Network service", 20.0, NETWORK),
        ("hotline", "客服热线服务 / Hotline service", 10.0, HOTLINE),
        ("store", "营业厅服务 / Store service", 10.0, STORE),
        ("new_services", "新业务 / New services", 10.0, NEW_SERVICES),
    ];
    let children = areas.iter().map(|&(key, name, weight, leaves)| {
        let leaves = leaves.iter().map(|&(suffix, name, weight)| leaf(&format!("{key}.{suffix}"), name, weight));
        group(key, name, weight, leaves.collect())
    });
    group("overall", "满意度指数 / Satisfaction index", 1.0, children.collect())
}

/// overall = perceived service value x 0.7 + corporate image x 0.3 (keys "overall", "perceived_value", "image"; leaves Question("perceived_value"), Question("image")).
pub fn value_image_composite() -> Node {
    let value = leaf("perceived_value", "感知服务价值 / Perceived service value", 0.7);
    let image = leaf("image", "企业形象 / Corporate image", 0.3);
    group("overall", "总体满意度 / Overall satisfaction", 1.0, vec![value, image])
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    fn scores(pairs: &[(&str, f64)]) -> HashMap<String, f64> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect()
    }

    fn lookup(map: &HashMap<String, f64>) -> impl Fn(&LeafSource) -> Option<LeafData> + '_ {
        move |src| match src {
            LeafSource::Question(k) => map.get(k).map(|&score| LeafData { score, responses: 10, grades: [0; 5] }),
            LeafSource::Indicator(_) => None,
        }
    }

    fn find<'a>(ns: &'a NodeScore, key: &str) -> Option<&'a NodeScore> {
        if ns.key == key { Some(ns) } else { ns.children.iter().find_map(|c| find(c, key)) }
    }

    fn score_of(ns: &NodeScore, key: &str) -> f64 {
        find(ns, key).and_then(|n| n.score).unwrap_or(f64::NAN)
    }

    #[rustfmt::skip]
    fn all_leaves() -> HashMap<String, f64> {
        scores(&[
            ("network.call_quality", 80.0), ("network.coverage", 70.0),
            ("network.border_roaming", 60.0), ("network.roaming", 50.0),
            ("hotline.reachability", 90.0), ("hotline.agent_attitude", 80.0),
            ("hotline.ivr_convenience", 70.0), ("hotline.agent_resolution", 60.0),
            ("store.convenience", 80.0), ("store.staff_appearance", 90.0),
            ("store.staff_attitude", 70.0), ("store.staff_initiative", 60.0),
            ("store.staff_resolution", 50.0), ("store.paperwork_ease", 40.0),
            ("new_services.timely_notice", 50.0), ("new_services.fee_reasonableness", 60.0),
            ("new_services.usefulness", 70.0), ("new_services.ease_of_operation", 80.0),
        ])
    }

    fn check_sums(ns: &NodeScore) {
        if !ns.children.is_empty() {
            let sum: f64 = ns.children.iter().map(|c| c.contribution).sum();
            assert!(close(sum, ns.contribution), "{}: {sum} vs {}", ns.key, ns.contribution);
            ns.children.iter().for_each(check_sums);
        }
    }

    fn leaf_global_sum(ns: &NodeScore) -> f64 {
        if ns.children.is_empty() { ns.global_weight } else { ns.children.iter().map(leaf_global_sum).sum() }
    }

    #[test]
    fn provincial_example_full_data() {
        let tree = provincial_example();
        assert!(validate(&tree).is_empty());
        let map = all_leaves();
        let result = weighted_score(&tree, &lookup(&map));
        let network = 0.3 * 80.0 + 0.3 * 70.0 + 0.2 * 60.0 + 0.2 * 50.0; // 67
        let hotline = 0.3 * 90.0 + 0.2 * 80.0 + 0.2 * 70.0 + 0.3 * 60.0; // 75
        let store = 0.2 * 80.0 + 0.1 * 90.0 + 0.2 * 70.0 + 0.1 * 60.0 + 0.2 * 50.0 + 0.2 * 40.0; // 63
        let new = 0.2 * 50.0 + 0.3 * 60.0 + 0.3 * 70.0 + 0.2 * 80.0; // 65
        assert!(close(network, 67.0) && close(hotline, 75.0) && close(store, 63.0) && close(new, 65.0));
        for (key, expected) in [("network", network), ("hotline", hotline), ("store", store), ("new_services", new)] {
            assert!(close(score_of(&result, key), expected), "{key}");
        }
        let overall = 0.4 * network + 0.2 * hotline + 0.2 * store + 0.2 * new; // 67.4
        assert!(close(overall, 67.4));
        assert!(close(score_of(&result, "overall"), overall));
        assert!(close(result.contribution, overall));
        assert!(close(result.local_weight, 1.0) && close(result.global_weight, 1.0));
        check_sums(&result);
        assert!(close(leaf_global_sum(&result), 1.0));
        let call = find(&result, "network.call_quality").map_or(f64::NAN, |n| n.global_weight);
        assert!(close(call, 0.4 * 0.3));
        assert_eq!(result.responses, 18 * 10);
    }

    #[test]
    fn composite_value_and_image() {
        let tree = value_image_composite();
        assert!(validate(&tree).is_empty());
        let map = scores(&[("perceived_value", 70.0), ("image", 60.0)]);
        let result = weighted_score(&tree, &lookup(&map));
        let expected = 0.7 * 70.0 + 0.3 * 60.0; // 49 + 18
        assert!(close(expected, 67.0));
        assert!(close(result.score.unwrap_or(f64::NAN), expected));
    }

    #[test]
    fn missing_leaf_and_missing_subtree() {
        let tree = provincial_example();
        let mut map = all_leaves();
        map.remove("network.coverage");
        let result = weighted_score(&tree, &lookup(&map));
        // network weights 30/20/20 over the 70 present
        let network = (30.0 * 80.0 + 20.0 * 60.0 + 20.0 * 50.0) / 70.0; // 46/0.7 = 65.714...
        assert!(close(score_of(&result, "network"), network));
        let call = find(&result, "network.call_quality").map_or(f64::NAN, |n| n.local_weight);
        assert!(close(call, 30.0 / 70.0));
        let coverage = find(&result, "network.coverage");
        assert_eq!(coverage.and_then(|n| n.score), None);
        assert!(coverage.is_some_and(|n| n.local_weight == 0.0 && n.contribution == 0.0));
        check_sums(&result);
        assert!(close(leaf_global_sum(&result), 1.0));

        let mut map = all_leaves();
        map.retain(|k, _| !k.starts_with("new_services."));
        let result = weighted_score(&tree, &lookup(&map));
        let new = find(&result, "new_services");
        assert_eq!(new.and_then(|n| n.score), None);
        assert!(new.is_some_and(|n| n.global_weight == 0.0 && n.contribution == 0.0 && n.responses == 0));
        // 20/10/10 over 40: 0.5*67 + 0.25*75 + 0.25*63 = 33.5 + 18.75 + 15.75
        let overall = 0.5 * 67.0 + 0.25 * 75.0 + 0.25 * 63.0;
        assert!(close(overall, 68.0));
        assert!(close(score_of(&result, "overall"), overall));
        check_sums(&result);

        let empty = weighted_score(&tree, &|_| None);
        assert_eq!(empty.score, None);
        assert_eq!(empty.contribution, 0.0);
    }

    #[test]
    fn fuzzy_two_leaves() {
        let tree = group("root", "r", 1.0, vec![leaf("a", "A", 60.0), leaf("b", "B", 40.0)]);
        let grades = |a: [u64; 5], b: Option<[u64; 5]>| {
            move |src: &LeafSource| match src {
                LeafSource::Question(k) if k == "a" => Some(LeafData { score: 0.0, responses: 10, grades: a }),
                LeafSource::Question(k) if k == "b" => b.map(|g| LeafData { score: 0.0, responses: 10, grades: g }),
                _ => None,
            }
        };
        // R_a = [0.5, 0.3, 0.2, 0, 0], R_b = [0.1, 0.1, 0.4, 0.2, 0.2], weights 0.6 / 0.4
        let fuzzy = fuzzy_evaluate(&tree, &grades([5, 3, 2, 0, 0], Some([1, 1, 4, 2, 2])), DEFAULT_GRADE_SCORES);
        let fuzzy = fuzzy.unwrap_or(Fuzzy { membership: [f64::NAN; 5], grade: 9, score: f64::NAN });
        let b = [0.6 * 0.5 + 0.4 * 0.1, 0.6 * 0.3 + 0.4 * 0.1, 0.6 * 0.2 + 0.4 * 0.4, 0.4 * 0.2, 0.4 * 0.2];
        let expected = [0.34, 0.22, 0.28, 0.08, 0.08];
        for ((m, e), h) in fuzzy.membership.iter().zip(expected).zip(b) {
            assert!(close(*m, e) && close(e, h), "{m} {e} {h}");
        }
        assert!(close(fuzzy.membership.iter().sum::<f64>(), 1.0));
        assert_eq!(fuzzy.grade, 0);
        // 0.34*100 + 0.22*80 + 0.28*60 + 0.08*40 + 0.08*20 = 34 + 17.6 + 16.8 + 3.2 + 1.6
        assert!(close(fuzzy.score, 73.2));

        // A five-point scale; b dominated by "basically satisfied" moves the argmax.
        let custom =
            fuzzy_evaluate(&tree, &grades([0, 0, 10, 0, 0], Some([0, 0, 10, 0, 0])), [5.0, 4.0, 3.0, 2.0, 1.0]);
        assert_eq!(custom.as_ref().map(|f| f.grade), Some(2));
        assert!(custom.is_some_and(|f| close(f.score, 3.0)));

        // b has no answers: B = R_a alone.
        let only_a = fuzzy_evaluate(&tree, &grades([5, 3, 2, 0, 0], None), DEFAULT_GRADE_SCORES);
        assert!(only_a.is_some_and(|f| close(f.score, 0.5 * 100.0 + 0.3 * 80.0 + 0.2 * 60.0)));

        assert_eq!(fuzzy_evaluate(&tree, &grades([0; 5], None), DEFAULT_GRADE_SCORES), None);
    }

    #[test]
    fn validation_reports_every_violation() {
        let mut both = group("d", "D", 1.0, vec![leaf("d.x", "X", 1.0)]);
        both.source = Some(LeafSource::Indicator("d".into()));
        let mut no_source = leaf("e", "E", 1.0);
        no_source.source = None;
        let tree = group(
            "root",
            "R",
            f64::NAN,
            vec![
                leaf("a", "A", 0.0),
                leaf("a", "A again", -1.0),
                leaf("Bad Key", "B", f64::NAN),
                both,
                no_source,
                leaf("", "empty", 1.0),
            ],
        );
        let found = validate(&tree);
        let fields: Vec<&str> = found.iter().map(|v| v.field.as_str()).collect();
        assert_eq!(
            fields,
            vec![
                "root.children[0].weight",
                "root.children[1].key",
                "root.children[1].weight",
                "root.children[2].key",
                "root.children[2].weight",
                "root.children[3].source",
                "root.children[4].source",
                "root.children[5].key",
            ]
        );
        assert!(found.get(1).is_some_and(|v| v.description.contains("duplicate")));
        assert!(found.get(3).is_some_and(|v| v.description.contains("Bad Key")));
        assert!(found.iter().all(|v| !v.description.is_empty()));

        let mut deep = leaf("l7", "L7", 1.0);
        for level in (1..=6).rev() {
            deep = group(&format!("l{level}"), "L", 1.0, vec![deep]);
        }
        let found = validate(&deep);
        assert_eq!(found.len(), 1);
        assert!(
            found.first().is_some_and(
                |v| v.field == "root.children[0].children[0].children[0].children[0].children[0].children[0]"
            )
        );

        let wide = group("root", "R", 1.0, (0..500).map(|i| leaf(&format!("k{i}"), "K", 1.0)).collect());
        let found = validate(&wide);
        assert_eq!(found.iter().map(|v| v.field.as_str()).collect::<Vec<_>>(), vec!["root"]);
    }
}
