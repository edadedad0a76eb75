//! Classifying work orders as intake opens them: the text goes through the ordered rules of the
//! taxonomy in force; the leaf found gives the root cause, the responsible department and the
//! deadline (the time limit counted from when the customer raised the problem). When no rule
//! matches, the taxonomy's fallback leaf is assigned and the order is marked for human review.

use std::sync::Arc;

use csm_kit::{
    Masked,
    feed::{EventHandler, HandleError, UnitOfWork, decode, id_from_event, time_from_event},
    time,
};
use csm_proto::{
    classification::v1::{Classification, Method, WorkOrderClassified},
    feed::v1::Event,
    intake::v1::{Channel, WorkOrderOpened},
};
use prost::Name;
use sea_orm::{ConnectionTrait, DbErr};

use crate::{
    rules::RuleSet,
    store::{self, StoredHit, classification, taxonomy_version},
    taxonomy::{self, Leaf, Taxonomy},
};

/// A taxonomy version with its compiled rules: an immutable snapshot to classify with.
#[derive(Debug)]
pub struct Classifier {
    pub taxonomy: Taxonomy,
    rules: RuleSet,
}

/// The outcome for one text.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision<'a> {
    pub leaf: &'a Leaf,
    pub method: Method,
    pub confidence: f64,
    pub hits: Vec<StoredHit>,
    pub needs_review: bool,
}

impl Classifier {
    pub fn new(taxonomy: Taxonomy) -> Self {
        let rules = RuleSet::new(&taxonomy.document.rules);
        Self { taxonomy, rules }
    }

    /// Returns `None` only if the taxonomy lost its fallback leaf, which validation prevents.
    pub fn classify(&self, text: &str) -> Option<Decision<'_>> {
        if let Some(found) = self.rules.first_match(text)
            && let Some(leaf) = self.taxonomy.leaf(found.leaf)
        {
            return Some(Decision {
                leaf,
                method: Method::Rule,
                confidence: 1.0,
                hits: vec![StoredHit { rule: found.rule.to_string(), matched_terms: found.terms }],
                needs_review: false,
            });
        }
        self.taxonomy.fallback().map(|leaf| Decision {
            leaf,
            method: Method::Fallback,
            confidence: 0.0,
            hits: Vec::new(),
            needs_review: true,
        })
    }
}

/// The taxonomy in force, publishing the shipped default as version 1 on first start.
pub async fn load_active(db: &impl ConnectionTrait) -> Result<Classifier, DbErr> {
    if let Some(row) = store::active_taxonomy(db).await? {
        return classifier_from_row(&row);
    }
    let document = taxonomy::parse(taxonomy::DEFAULT_DOCUMENT).map_err(|e| DbErr::Custom(e.to_string()))?;
    let published_at = time::now_micros();
    let taxonomy = Taxonomy::new(document, 1, published_at).map_err(|e| DbErr::Custom(e.to_string()))?;
    let row = taxonomy_version::Model {
        name: taxonomy.name.clone(),
        taxonomy_key: taxonomy.document.key.clone(),
        version: 1,
        document: serde_json::to_string(&taxonomy.document).map_err(|e| DbErr::Custom(e.to_string()))?,
        published_at,
        active: true,
    };
    match store::insert_taxonomy_version(db, row).await {
        Ok(()) => Ok(Classifier::new(taxonomy)),
        // Another replica published it first.
        Err(_) => match store::active_taxonomy(db).await? {
            Some(row) => classifier_from_row(&row),
            None => Err(DbErr::RecordNotFound("active taxonomy".into())),
        },
    }
}

pub fn classifier_from_row(row: &taxonomy_version::Model) -> Result<Classifier, DbErr> {
    let document = serde_json::from_str(&row.document).map_err(|e| DbErr::Custom(format!("{}: {e}", row.name)))?;
    let taxonomy = Taxonomy::new(document, row.version, row.published_at)
        .map_err(|e| DbErr::Custom(format!("{}: {e}", row.name)))?;
    Ok(Classifier::new(taxonomy))
}

/// Applies intake's WorkOrderOpened events.
#[derive(Debug, Clone)]
pub struct WorkOrderOpenedHandler {
    classifier: Arc<Classifier>,
}

impl WorkOrderOpenedHandler {
    pub fn new(classifier: Arc<Classifier>) -> Self {
        Self { classifier }
    }
}

impl EventHandler for WorkOrderOpenedHandler {
    fn event_types(&self) -> Vec<String> {
        vec![WorkOrderOpened::full_name()]
    }

    async fn handle(&self, uow: &mut UnitOfWork, event: &Event) -> Result<(), HandleError> {
        let opened: WorkOrderOpened = decode(event)?;
        let work_order =
            opened.work_order.ok_or_else(|| HandleError::Reject("WorkOrderOpened without a work order".into()))?;
        let id = id_from_event(&work_order.name, store::WORK_ORDERS)?;
        let opened_at = time_from_event(work_order.open_time.as_ref(), "work order open_time")?;
        if store::classification_of(&**uow, &id).await?.is_some() {
            return Ok(());
        }
        let decision = self
            .classifier
            .classify(&work_order.text)
            .ok_or_else(|| HandleError::Retry("taxonomy has no fallback leaf".into()))?;
        let time_limit = chrono::Duration::from_std(decision.leaf.time_limit)
            .map_err(|e| HandleError::Reject(format!("time limit out of range: {e}")))?;
        let row = classification::Model {
            work_order_id: id,
            taxonomy_version: self.classifier.taxonomy.name.clone(),
            leaf: decision.leaf.key.clone(),
            path: decision.leaf.path.join("/"),
            leaf_name_zh: decision.leaf.name_zh.clone(),
            leaf_name_en: decision.leaf.name_en.clone(),
            department: decision.leaf.department.clone(),
            time_limit_secs: time_limit.num_seconds(),
            opened_at: time::micros(opened_at),
            deadline: time::micros(opened_at + time_limit),
            method: decision.method.as_str_name().to_string(),
            confidence: decision.confidence,
            hits: serde_json::to_string(&decision.hits).map_err(|e| HandleError::Reject(e.to_string()))?,
            needs_review: decision.needs_review,
            classified_at: time::now_micros(),
            phone_number: work_order.phone_number.clone(),
            channel: Channel::try_from(work_order.channel).unwrap_or_default().as_str_name().to_string(),
        };
        let classification = Classification::from(&row);
        store::insert_classification(&**uow, row).await?;
        tracing::debug!(
            work_order = %work_order.name,
            phone = %Masked(&work_order.phone_number),
            leaf = %classification.leaf,
            department = %classification.responsible_department,
            "work order classified"
        );
        let subject = work_order.name.clone();
        uow.publish(
            subject,
            &WorkOrderClassified { classification: Some(classification), work_order: Some(work_order) },
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn classifier() -> Classifier {
        let document = taxonomy::parse(taxonomy::DEFAULT_DOCUMENT).unwrap();
        Classifier::new(Taxonomy::new(document, 1, 0).unwrap())
    }

    #[test]
    fn routes_common_complaints_in_both_languages() {
        let c = classifier();
        let cases = [
            ("这个月话费莫名多扣了50元", "system.billing_error", "billing"),
            ("家里宽带断网三天了", "system.broadband_fault", "operations_maintenance"),
            ("I was charged for a premium SMS subscription I never ordered", "business.sp_fee", "partner_management"),
            ("Calls drop every evening at home", "system.call_quality", "network"),
            ("营业员态度很差", "service.attitude", "service_centre"),
        ];
        for (text, leaf, department) in cases {
            let decision = c.classify(text).unwrap();
            assert_eq!((decision.leaf.key.as_str(), decision.leaf.department.as_str()), (leaf, department), "{text}");
            assert_eq!(decision.method, Method::Rule);
            assert!(!decision.needs_review);
        }
    }

    #[test]
    fn unmatched_text_goes_to_review() {
        let classifier = classifier();
        let decision = classifier.classify("请回电").unwrap();
        assert_eq!(decision.leaf.key, "triage.unclassified");
        assert_eq!(decision.method, Method::Fallback);
        assert!(decision.needs_review);
    }
}
