//! The names of root causes, from the taxonomy classification announces (`TaxonomyActivated`):
//! the report names each cause as the taxonomy does, in Chinese and English, and tells the work
//! sent for review (the taxonomy's fallback leaf) from the causes.

use csm_kit::feed::{HandleError, decode};
use csm_proto::{
    classification::v1::{TaxonomyActivated, TaxonomyNode},
    feed::v1::Event,
};

use super::{Update, missing};

/// What a taxonomy says that measurement keeps: every node of its routing view (key, names,
/// department; children dropped) and its fallback leaf.
#[derive(Debug, Clone, PartialEq)]
pub struct TaxonomyNames {
    pub nodes: Vec<TaxonomyNode>,
    pub fallback_leaf: String,
}

pub(super) fn read(event: &Event) -> Result<Update, HandleError> {
    let taxonomy = decode::<TaxonomyActivated>(event)?.taxonomy.ok_or_else(|| missing("taxonomy"))?;
    let mut nodes = Vec::new();
    let mut stack: Vec<TaxonomyNode> =
        taxonomy.views.into_iter().filter(|view| view.routing).flat_map(|view| view.nodes).collect();
    while let Some(mut node) = stack.pop() {
        stack.append(&mut node.children);
        node.time_limit = None;
        nodes.push(node);
    }
    nodes.sort_by(|a, b| a.key.cmp(&b.key));
    Ok(Update::Taxonomy(TaxonomyNames { nodes, fallback_leaf: taxonomy.fallback_leaf }))
}
