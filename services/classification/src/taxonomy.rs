//! The taxonomy as data: views, each a tree of any depth, whose routing-view leaves name the
//! responsible department and handling time limit; plus the ordered keyword rules. A document is
//! validated before it is used, so a published taxonomy is always a proper tree with every routing
//! leaf routed.

use std::{
    collections::{HashMap, HashSet},
    time::Duration,
};

use csm_kit::error::Violations;
use csm_proto::classification::v1 as pb;
use serde::{Deserialize, Serialize};

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

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleDocument {
    pub key: String,
    pub leaf: String,
    pub terms: Vec<String>,
}

/// A routing-view leaf with everything a classification needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Leaf {
    pub key: String,
    /// Keys from the view's root to this leaf.
    pub path: Vec<String>,
    pub name_zh: String,
    pub name_en: String,
    pub department: String,
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
}

impl Taxonomy {
    /// Validates `document` as version `version`.
    pub fn new(document: TaxonomyDocument, version: i64, published_at: i64) -> Result<Self, Violations> {
        let leaves = validate(&document)?;
        Ok(Self { name: format!("taxonomies/{}/versions/{version}", document.key), document, published_at, leaves })
    }

    pub fn leaf(&self, key: &str) -> Option<&Leaf> {
        self.leaves.get(key)
    }

    pub fn fallback(&self) -> Option<&Leaf> {
        self.leaves.get(&self.document.fallback_leaf)
    }

    pub fn to_proto(&self) -> pb::Taxonomy {
        pb::Taxonomy {
            name: self.name.clone(),
            display_name: self.document.display_name.clone(),
            views: self.document.views.iter().map(view_to_proto).collect(),
            publish_time: Some(csm_kit::time::timestamp_from_micros(self.published_at)),
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
        time_limit: node.time_limit.map(duration_to_proto),
        children: node.children.iter().map(node_to_proto).collect(),
    }
}

pub fn duration_to_proto(duration: Duration) -> prost_types::Duration {
    prost_types::Duration {
        seconds: i64::try_from(duration.as_secs()).unwrap_or(i64::MAX),
        nanos: i32::try_from(duration.subsec_nanos()).unwrap_or(0),
    }
}

/// Keys appear in resource names and stored paths, so they keep to a small alphabet.
fn is_key(key: &str) -> bool {
    key.chars().next().is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && key.len() <= 64
        && key.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-'))
}

/// Checks the document and returns the routing leaves by key. Keys must be unique across the
/// whole taxonomy; exactly one view routes; every routing leaf names a department and a positive
/// time limit; the fallback and every rule point at routing leaves; rules have terms.
fn validate(document: &TaxonomyDocument) -> Result<HashMap<String, Leaf>, Violations> {
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
                for child in &node.children {
                    let mut child_path = path.clone();
                    child_path.push(child.key.clone());
                    stack.push((child, child_path));
                }
                continue;
            }
            if !view.routing {
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
    if !leaves.contains_key(&document.fallback_leaf) {
        violations.add("taxonomy.fallback_leaf", "must be a routing leaf");
    }
    let mut rule_keys = HashSet::new();
    for rule in &document.rules {
        let field = format!("rules.{}", rule.key);
        if !rule_keys.insert(rule.key.clone()) {
            violations.add(&field, "duplicate key");
        }
        if !leaves.contains_key(&rule.leaf) {
            violations.add(&field, format!("leaf {} is not a routing leaf", rule.leaf));
        }
        if rule.terms.iter().all(|t| t.trim().is_empty()) {
            violations.add(&field, "needs at least one term");
        }
    }
    violations.into_result()?;
    Ok(leaves)
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
    }

    #[test]
    fn refuses_unrouted_leaves_duplicate_keys_and_dangling_rules() {
        let mut document = default_document();
        document.views[0].nodes[0].children[0].department = None;
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
    fn unknown_fields_are_refused() {
        let text = DEFAULT_DOCUMENT.replace("fallback_leaf", "fallback");
        assert!(parse(&text).is_err());
    }
}
