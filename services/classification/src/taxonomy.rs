//! The taxonomy as data: views, each a tree of any depth, whose routing-view leaves name the
//! responsible department and handling time limit; plus the ordered keyword rules. A document is
//! validated before it is used, so a published taxonomy is always a proper tree with every routing
//! leaf routed.

use std::{
    collections::{HashMap, HashSet},
    time::Duration,
};

use csm_kit::{error::Violations, names, time};
use csm_proto::classification::v1::{self as pb, Method};
use serde::{Deserialize, Serialize};

use crate::rules;
pub use crate::rules::RuleDocument;

/// The taxonomy that ships with the service, used until an administrator publishes another.
pub const DEFAULT_DOCUMENT: &str = include_str!("../taxonomy/default.toml");

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaxonomyDocument {
    pub key: String,
    pub display_name: String,
    /// Leaf assigned (for human review) when no rule matches.
    pub fallback_leaf: String,
    pub views: Vec<ViewDocument>,
    #[serde(default)]
    pub rules: Vec<RuleDocument>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ViewDocument {
    pub key: String,
    pub name_zh: String,
    pub name_en: String,
    #[serde(default)]
    pub routing: bool,
    pub nodes: Vec<NodeDocument>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeDocument {
    pub key: String,
    pub name_zh: String,
    pub name_en: String,
    #[serde(default)]
    pub department: Option<String>,
    #[serde(default, with = "humantime_serde")]
    pub time_limit: Option<Duration>,
    #[serde(default)]
    pub children: Vec<NodeDocument>,
}

/// A leaf of any view; routing-view leaves also carry the department and time limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Leaf {
    pub view: String,
    pub key: String,
    /// Keys from the view's root to this leaf.
    pub path: Vec<String>,
    pub name_zh: String,
    pub name_en: String,
    /// Empty outside the routing view.
    pub department: String,
    /// Zero outside the routing view.
    pub time_limit: Duration,
}

/// A validated taxonomy version, ready to classify with.
#[derive(Debug, Clone)]
pub struct Taxonomy {
    /// "taxonomies/{key}/versions/{version}".
    pub name: String,
    pub document: TaxonomyDocument,
    pub published_at: i64,
    leaves: HashMap<String, Leaf>,
    /// Routing-view branches that name a department and time limit: where a text goes when no
    /// leaf under them is clear but the branch is.
    branches: HashMap<String, Leaf>,
    /// Each key's position in the document, so leaves list in the order administrators wrote them.
    order: HashMap<String, usize>,
}

impl Taxonomy {
    /// Validates `document` as version `version`.
    pub fn new(document: TaxonomyDocument, version: i64, published_at: i64) -> Result<Self, Violations> {
        let (leaves, branches) = validate(&document)?;
        let order = document_order(&document);
        let name = format!("{}{}/versions/{version}", names::TAXONOMIES, document.key);
        Ok(Self { name, document, published_at, leaves, branches, order })
    }

    /// A leaf of the routing view.
    pub fn leaf(&self, key: &str) -> Option<&Leaf> {
        self.leaves.get(key).filter(|leaf| leaf.view == self.routing_view())
    }

    /// A leaf of `view` ("" for the routing view).
    pub fn leaf_in(&self, view: &str, key: &str) -> Option<&Leaf> {
        let view = if view.is_empty() { self.routing_view() } else { view };
        self.leaves.get(key).filter(|leaf| leaf.view == view)
    }

    /// The leaves of `view`, in document order.
    pub fn leaves_of(&self, view: &str) -> Vec<&Leaf> {
        let mut leaves: Vec<&Leaf> = self.leaves.values().filter(|leaf| leaf.view == view).collect();
        leaves.sort_by_key(|leaf| self.order.get(&leaf.key).copied().unwrap_or(usize::MAX));
        leaves
    }

    /// The routing branches that can take work themselves (a department and time limit), deepest
    /// first.
    pub fn branches(&self) -> Vec<&Leaf> {
        let mut branches: Vec<&Leaf> = self.branches.values().collect();
        branches.sort_by_key(|b| (std::cmp::Reverse(b.path.len()), self.order.get(&b.key).copied()));
        branches
    }

    /// Where a model's probabilities over `labels` (leaves of `view`) send a text: the best leaf
    /// when it is clear (at least `clear`); else the deepest branch with a department whose
    /// leaves together are clear, with their summed probability; `None` (triage) when neither is,
    /// or when the model is sure the text belongs in triage (it says nothing of its cause).
    pub fn back_off(
        &self,
        view: &str,
        labels: &[String],
        probabilities: &[f64],
        clear: f64,
    ) -> Option<(&Leaf, Method, f64)> {
        let leaves: Vec<(&Leaf, f64)> =
            labels.iter().zip(probabilities).filter_map(|(label, &p)| Some((self.leaf_in(view, label)?, p))).collect();
        let (best, p) = leaves.iter().copied().max_by(|a, b| a.1.total_cmp(&b.1))?;
        if p >= clear {
            return (best.key != self.document.fallback_leaf).then_some((best, Method::Model, p));
        }
        self.branches().into_iter().find_map(|branch| {
            let mass: f64 = leaves.iter().filter(|(leaf, _)| leaf.path.contains(&branch.key)).map(|(_, p)| p).sum();
            (mass >= clear).then_some((branch, Method::Branch, mass))
        })
    }

    pub fn routing_view(&self) -> &str {
        self.document.views.iter().find(|v| v.routing).map_or("", |v| v.key.as_str())
    }

    pub fn has_view(&self, view: &str) -> bool {
        self.document.views.iter().any(|v| v.key == view)
    }

    pub fn fallback(&self) -> Option<&Leaf> {
        self.leaf(&self.document.fallback_leaf)
    }

    pub fn to_proto(&self) -> pb::Taxonomy {
        pb::Taxonomy {
            name: self.name.clone(),
            display_name: self.document.display_name.clone(),
            views: self.document.views.iter().map(view_to_proto).collect(),
            publish_time: Some(csm_kit::time::timestamp_from_micros(self.published_at)),
            fallback_leaf: self.document.fallback_leaf.clone(),
            rules: self.document.rules.iter().map(rule_to_proto).collect(),
            active: false,
        }
    }
}

pub fn parse(toml_text: &str) -> Result<TaxonomyDocument, Violations> {
    toml::from_str(toml_text).map_err(|e| Violations::one("taxonomy", e.to_string()))
}

fn view_to_proto(view: &ViewDocument) -> pb::TaxonomyView {
    pb::TaxonomyView {
        key: view.key.clone(),
        name_zh: view.name_zh.clone(),
        name_en: view.name_en.clone(),
        routing: view.routing,
        nodes: view.nodes.iter().map(node_to_proto).collect(),
    }
}

fn node_to_proto(node: &NodeDocument) -> pb::TaxonomyNode {
    pb::TaxonomyNode {
        key: node.key.clone(),
        name_zh: node.name_zh.clone(),
        name_en: node.name_en.clone(),
        responsible_department: node.department.clone().unwrap_or_default(),
        time_limit: node.time_limit.map(time::duration_to_proto),
        children: node.children.iter().map(node_to_proto).collect(),
    }
}

fn rule_to_proto(rule: &RuleDocument) -> pb::Rule {
    pb::Rule {
        key: rule.key.clone(),
        leaf: rule.leaf.clone(),
        terms: rule.terms.clone(),
        patterns: rule.patterns.clone(),
        channels: rule.channels.clone(),
        contact_types: rule.contact_types.clone(),
        problem_codes: rule.problem_codes.clone(),
    }
}

/// The document an administrator sends through the API; `name` is "taxonomies/{key}" (any
/// version suffix is ignored, since publishing assigns the next one).
pub fn document_from_proto(taxonomy: &pb::Taxonomy) -> Result<TaxonomyDocument, Violations> {
    let mut violations = Violations::new();
    let key = taxonomy.name.strip_prefix(names::TAXONOMIES).map(|rest| rest.split('/').next().unwrap_or_default());
    let key = match key {
        Some(key) if !key.is_empty() => key.to_string(),
        _ => {
            violations.add("taxonomy.name", "must look like taxonomies/{key}");
            String::new()
        }
    };
    let views = taxonomy
        .views
        .iter()
        .map(|view| ViewDocument {
            key: view.key.clone(),
            name_zh: view.name_zh.clone(),
            name_en: view.name_en.clone(),
            routing: view.routing,
            nodes: view.nodes.iter().map(|n| node_from_proto(n, &view.key, &mut violations)).collect(),
        })
        .collect();
    let rules = taxonomy
        .rules
        .iter()
        .map(|rule| RuleDocument {
            key: rule.key.clone(),
            leaf: rule.leaf.clone(),
            terms: rule.terms.clone(),
            patterns: rule.patterns.clone(),
            channels: rule.channels.clone(),
            contact_types: rule.contact_types.clone(),
            problem_codes: rule.problem_codes.clone(),
        })
        .collect();
    violations.into_result()?;
    Ok(TaxonomyDocument {
        key,
        display_name: taxonomy.display_name.clone(),
        fallback_leaf: taxonomy.fallback_leaf.clone(),
        views,
        rules,
    })
}

fn node_from_proto(node: &pb::TaxonomyNode, view: &str, violations: &mut Violations) -> NodeDocument {
    let time_limit = node.time_limit.and_then(|d| match (u64::try_from(d.seconds), u32::try_from(d.nanos)) {
        (Ok(seconds), Ok(nanos)) => Some(Duration::new(seconds, nanos)),
        _ => {
            violations.add(format!("views.{view}.{}.time_limit", node.key), "must be positive");
            None
        }
    });
    NodeDocument {
        key: node.key.clone(),
        name_zh: node.name_zh.clone(),
        name_en: node.name_en.clone(),
        department: Some(node.responsible_department.clone()).filter(|d| !d.is_empty()),
        time_limit,
        children: node.children.iter().map(|child| node_from_proto(child, view, violations)).collect(),
    }
}

fn document_order(document: &TaxonomyDocument) -> HashMap<String, usize> {
    fn walk(nodes: &[NodeDocument], order: &mut HashMap<String, usize>) {
        for node in nodes {
            let next = order.len();
            order.insert(node.key.clone(), next);
            walk(&node.children, order);
        }
    }
    let mut order = HashMap::new();
    for view in &document.views {
        walk(&view.nodes, &mut order);
    }
    order
}

/// Keys appear in resource names and stored paths, so they keep to a small alphabet.
fn is_key(key: &str) -> bool {
    key.chars().next().is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && key.len() <= 64
        && key.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-'))
}

/// Leaves (or branches) by key.
type Nodes = HashMap<String, Leaf>;

/// Checks the document and returns its leaves by key, and the routing branches that name a
/// department and time limit. Keys must be unique across the
/// whole taxonomy; exactly one view routes; every routing leaf names a department and a positive
/// time limit; the fallback and every rule point at routing leaves; rules have terms.
fn validate(document: &TaxonomyDocument) -> Result<(Nodes, Nodes), Violations> {
    let mut violations = Violations::new();
    if !is_key(&document.key) {
        violations.add("taxonomy.key", "lower-case letters, digits, '.', '_' or '-'");
    }
    let routing: Vec<&ViewDocument> = document.views.iter().filter(|v| v.routing).collect();
    if routing.len() != 1 {
        violations.add("taxonomy.views", format!("exactly one view must route (found {})", routing.len()));
    }
    let mut seen = HashSet::new();
    let mut leaves = HashMap::new();
    let mut branches = HashMap::new();
    for view in &document.views {
        if !seen.insert(view.key.clone()) {
            violations.add(format!("views.{}", view.key), "duplicate key");
        }
        if view.nodes.is_empty() {
            violations.add(format!("views.{}", view.key), "has no nodes");
        }
        let mut stack: Vec<(&NodeDocument, Vec<String>)> =
            view.nodes.iter().map(|node| (node, vec![node.key.clone()])).collect();
        while let Some((node, path)) = stack.pop() {
            let field = format!("views.{}.{}", view.key, node.key);
            if !is_key(&node.key) {
                violations.add(&field, "keys are lower-case letters, digits, '.', '_' or '-'");
            }
            if !seen.insert(node.key.clone()) {
                violations.add(&field, "duplicate key");
            }
            if !node.children.is_empty() {
                let department = node.department.clone().filter(|d| !d.trim().is_empty());
                let time_limit = node.time_limit.filter(|t| !t.is_zero());
                if view.routing
                    && let (Some(department), Some(time_limit)) = (department, time_limit)
                {
                    let branch = Leaf {
                        view: view.key.clone(),
                        key: node.key.clone(),
                        path: path.clone(),
                        name_zh: node.name_zh.clone(),
                        name_en: node.name_en.clone(),
                        department,
                        time_limit,
                    };
                    branches.insert(node.key.clone(), branch);
                }
                for child in &node.children {
                    let mut child_path = path.clone();
                    child_path.push(child.key.clone());
                    stack.push((child, child_path));
                }
                continue;
            }
            if !view.routing {
                let (name_zh, name_en) = (node.name_zh.clone(), node.name_en.clone());
                let (department, time_limit) = (String::new(), Duration::ZERO);
                let leaf = Leaf {
                    view: view.key.clone(),
                    key: node.key.clone(),
                    path,
                    name_zh,
                    name_en,
                    department,
                    time_limit,
                };
                leaves.insert(node.key.clone(), leaf);
                continue;
            }
            let department = node.department.clone().filter(|d| !d.trim().is_empty());
            let time_limit = node.time_limit.filter(|t| !t.is_zero());
            if department.is_none() {
                violations.add(&field, "routing leaf needs a department");
            }
            if time_limit.is_none() {
                violations.add(&field, "routing leaf needs a positive time_limit");
            }
            if let (Some(department), Some(time_limit)) = (department, time_limit) {
                leaves.insert(
                    node.key.clone(),
                    Leaf {
                        view: view.key.clone(),
                        key: node.key.clone(),
                        path,
                        name_zh: node.name_zh.clone(),
                        name_en: node.name_en.clone(),
                        department,
                        time_limit,
                    },
                );
            }
        }
    }
    let routing_key = routing.first().map(|v| v.key.as_str()).unwrap_or_default();
    let is_routing_leaf = |key: &str| leaves.get(key).is_some_and(|leaf: &Leaf| leaf.view == routing_key);
    if !is_routing_leaf(&document.fallback_leaf) {
        violations.add("taxonomy.fallback_leaf", "must be a routing leaf");
    }
    let mut rule_keys = HashSet::new();
    for rule in &document.rules {
        let field = format!("rules.{}", rule.key);
        if !rule_keys.insert(rule.key.clone()) {
            violations.add(&field, "duplicate key");
        }
        if !is_routing_leaf(&rule.leaf) {
            violations.add(&field, format!("leaf {} is not a routing leaf", rule.leaf));
        }
        let conditions = [&rule.terms, &rule.patterns, &rule.channels, &rule.contact_types, &rule.problem_codes];
        if conditions.iter().all(|list| list.iter().all(|t| t.trim().is_empty())) {
            violations.add(&field, "needs at least one term, pattern, channel, contact type or problem code");
        }
        for pattern in &rule.patterns {
            if let Err(e) = rules::compile_pattern(pattern) {
                violations.add(&field, format!("pattern {pattern:?}: {e}"));
            }
        }
    }
    violations.into_result()?;
    Ok((leaves, branches))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn default_document() -> TaxonomyDocument {
        parse(DEFAULT_DOCUMENT).unwrap()
    }

    #[test]
    fn the_default_taxonomy_is_valid_and_routes_every_leaf() {
        let taxonomy = Taxonomy::new(default_document(), 1, 0).unwrap();
        let leaf = taxonomy.leaf("system.broadband_fault").unwrap();
        assert_eq!(leaf.path, vec!["system", "system.broadband_fault"]);
        assert_eq!(leaf.department, "operations_maintenance");
        assert_eq!(leaf.time_limit, Duration::from_secs(24 * 3600));
        assert!(taxonomy.fallback().is_some());
        let leaves: usize = taxonomy.document.views.iter().map(|v| taxonomy.leaves_of(&v.key).len()).sum();
        assert!(leaves >= 30, "{leaves} leaves");
        let complaint = taxonomy.leaf_in("complaint", "complaint.call_record").unwrap();
        assert_eq!(complaint.path, vec!["complaint.common", "complaint.basic_business", "complaint.call_record"]);
        assert!(taxonomy.leaf("complaint.call_record").is_none(), "not a routing leaf");
    }

    #[test]
    fn refuses_unrouted_leaves_duplicate_keys_and_dangling_rules() {
        let mut document = default_document();
        document.views[0].nodes[0].children[0].children[0].department = None;
        document.views[0].nodes[1].children[0].time_limit = Some(Duration::ZERO);
        document.views[0].nodes[2].key = "system".into();
        document.rules[0].leaf = "nowhere".into();
        let violations = Taxonomy::new(document, 2, 0).unwrap_err().to_string();
        assert!(violations.contains("needs a department"), "{violations}");
        assert!(violations.contains("positive time_limit"), "{violations}");
        assert!(violations.contains("duplicate key"), "{violations}");
        assert!(violations.contains("nowhere"), "{violations}");
    }

    #[test]
    fn every_department_of_the_default_taxonomy_is_one_the_organisation_has() {
        let taxonomy = Taxonomy::new(default_document(), 1, 0).unwrap();
        let organisation = csm_kit::config::OrganisationSettings::default();
        let leaves = taxonomy.leaves_of(taxonomy.routing_view());
        assert!(leaves.len() >= 10, "{} routing leaves", leaves.len());
        for leaf in leaves {
            assert!(organisation.knows(&leaf.department), "{}: {}", leaf.key, leaf.department);
        }
    }

    #[test]
    fn unknown_fields_are_refused() {
        let text = DEFAULT_DOCUMENT.replace("fallback_leaf", "fallback");
        assert!(parse(&text).is_err());
    }
}
