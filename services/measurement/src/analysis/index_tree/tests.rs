//! Scores, fuzzy evaluations and violations of small trees and of the published examples, worked
//! out by hand.

use std::collections::HashMap;

use super::{scoring::*, validation::*, *};

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
    let custom = fuzzy_evaluate(&tree, &grades([0, 0, 10, 0, 0], Some([0, 0, 10, 0, 0])), [5.0, 4.0, 3.0, 2.0, 1.0]);
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
        found
            .first()
            .is_some_and(|v| v.field == "root.children[0].children[0].children[0].children[0].children[0].children[0]")
    );

    let wide = group("root", "R", 1.0, (0..500).map(|i| leaf(&format!("k{i}"), "K", 1.0)).collect());
    let found = validate(&wide);
    assert_eq!(found.iter().map(|v| v.field.as_str()).collect::<Vec<_>>(), vec!["root"]);
}
