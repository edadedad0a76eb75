//! The report's root causes: the Pareto of complaints by the leaf they were placed at, named as
//! the taxonomy names them, and the work not placed at a cause (awaiting classification or sent
//! for review at the taxonomy's fallback leaf), which is counted apart and is not a cause.

use std::collections::{HashMap, HashSet};

use csm_proto::{classification::v1::TaxonomyNode, measurement::v1::CauseShare};
use prost::Message;
use sea_orm::ConnectionTrait;

use crate::{
    calendar::{Calendar, Grain},
    catalogue::Entry,
    error::Error,
    observe::{Dimension, UNCLASSIFIED},
    series::{self, Window},
    store,
};

/// The causes of the month, ranked, and the complaints not placed at a cause.
pub struct Causes {
    pub ranked: Vec<CauseShare>,
    pub unclassified: i64,
}

/// Every node of the routing view classification announced, by key.
pub async fn leaf_names(db: &impl ConnectionTrait) -> Result<HashMap<String, TaxonomyNode>, Error> {
    let mut names = HashMap::new();
    for (key, body) in store::list_documents(db, store::kind::LEAF_NAME, None).await? {
        let node = TaxonomyNode::decode(body.as_slice())
            .map_err(|e| Error::Corrupt(format!("the names of root cause {key} do not decode: {e}")))?;
        names.insert(key, node);
    }
    Ok(names)
}

pub async fn pareto(
    db: &impl ConnectionTrait,
    calendar: &Calendar,
    entry: &Entry,
    (start, end): (i64, i64),
    top: usize,
) -> Result<Causes, Error> {
    let review: HashSet<String> =
        store::list_documents(db, store::kind::REVIEW_LEAF, None).await?.into_iter().map(|(key, _)| key).collect();
    let window = Window { grain: Grain::Month, dimension: Dimension::RootCause, only: None, start, end };
    let (mut counts, mut unclassified) = (Vec::new(), 0);
    for value in series::compute(db, calendar, entry, &window).await? {
        if value.period != start || value.value <= 0.0 {
            continue;
        }
        let complaints = value.value.round() as i64;
        if value.dimension_value == UNCLASSIFIED || review.contains(&value.dimension_value) {
            unclassified += complaints;
        } else {
            counts.push((value.dimension_value, complaints));
        }
    }
    counts.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let total: i64 = counts.iter().map(|(_, c)| c).sum();
    let names = leaf_names(db).await?;
    let mut cumulative = 0;
    let mut ranked = Vec::with_capacity(top);
    for (leaf, complaints) in counts.into_iter().take(top) {
        cumulative += complaints;
        let department = store::get_document(db, store::kind::LEAF_DEPARTMENT, &leaf).await?;
        let node = names.get(&leaf);
        ranked.push(CauseShare {
            department: department.map(|d| String::from_utf8_lossy(&d).into_owned()).unwrap_or_default(),
            name_zh: node.map_or_else(|| leaf.clone(), |n| n.name_zh.clone()),
            name_en: node.map_or_else(|| leaf.clone(), |n| n.name_en.clone()),
            leaf,
            complaints,
            share: complaints as f64 / total.max(1) as f64,
            cumulative_share: cumulative as f64 / total.max(1) as f64,
        });
    }
    Ok(Causes { ranked, unclassified })
}
