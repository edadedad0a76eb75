//! Checking a tree before it is stored or scored: keys, weights, leaves and groups, depth and size,
//! with every violation reported by the path of its field.

use std::collections::HashSet;

use super::Node;

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
        walk.out.push(violation("root", format!("tree has more than {MAX_NODES} nodes, at most {MAX_NODES} allowed")));
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
    if walk.count > MAX_NODES {
        // Past the limit the tree is refused anyway: walking the rest of a hostile one is waste.
        return;
    }
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
