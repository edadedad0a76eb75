//! What classifies right now: the taxonomy in force with its compiled rules, the active text
//! model of each view, and the active risk model. A snapshot is immutable; publishing a taxonomy
//! or activating a model builds a new one from the database and swaps it in, so a classification
//! in flight finishes on the snapshot it started with.

use std::{
    collections::HashMap,
    sync::{Arc, RwLock},
};

use csm_kit::time;
use csm_proto::classification::v1::Method;
use sea_orm::{ConnectionTrait, DbErr};

use crate::{
    model::{risk::RiskModel, text::TextModel},
    rules::{RuleSet, Subject},
    starter,
    store::{self, StoredHit, models, risk_model, taxonomy_version},
    taxonomy::{self, Leaf, Taxonomy},
};

/// The longest text classification reads, in characters: a contact's text, a text to classify, a
/// training example.
pub const MAX_TEXT_CHARS: usize = 10_000;

/// A taxonomy version with its rules and the text models in force for its views.
#[derive(Debug)]
pub struct Classifier {
    pub taxonomy: Taxonomy,
    rules: RuleSet,
    models: HashMap<String, LoadedTextModel>,
}

#[derive(Debug)]
pub struct LoadedTextModel {
    pub name: String,
    pub model: TextModel,
}

/// Where a text lands in one view.
#[derive(Debug, Clone, PartialEq)]
pub struct ViewDecision<'a> {
    pub view: &'a str,
    pub leaf: &'a Leaf,
    pub method: Method,
    pub confidence: f64,
    pub needs_review: bool,
    pub text_model: &'a str,
}

/// The outcome for one text: the routing view first, then every other view a model placed it in.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision<'a> {
    pub views: Vec<ViewDecision<'a>>,
    pub hits: Vec<StoredHit>,
}

impl Decision<'_> {
    pub fn routing(&self) -> &ViewDecision<'_> {
        &self.views[0]
    }
}

impl Classifier {
    pub fn new(taxonomy: Taxonomy, models: HashMap<String, LoadedTextModel>) -> Self {
        let rules = RuleSet::new(&taxonomy.document.rules);
        Self { taxonomy, rules, models }
    }

    pub fn text_model(&self, view: &str) -> Option<&LoadedTextModel> {
        self.models.get(view)
    }

    /// Rules first; then the routing view's model; the fallback leaf when neither places the
    /// text. Returns `None` only if the taxonomy lost its fallback leaf, which validation prevents.
    pub fn classify(&self, subject: &Subject<'_>) -> Option<Decision<'_>> {
        let routing_view = self.taxonomy.routing_view();
        let mut hits = Vec::new();
        let routing = if let Some(found) = self.rules.first_match(subject)
            && let Some(leaf) = self.taxonomy.leaf(found.leaf)
        {
            hits.push(StoredHit { rule: found.rule.to_string(), matched_terms: found.terms });
            ViewDecision {
                view: routing_view,
                leaf,
                method: Method::Rule,
                confidence: 1.0,
                needs_review: false,
                text_model: "",
            }
        } else if let Some(decision) = self.route_by_model(routing_view, subject.text) {
            decision
        } else {
            let leaf = self.taxonomy.fallback()?;
            ViewDecision {
                view: routing_view,
                leaf,
                method: Method::Fallback,
                confidence: 0.0,
                needs_review: true,
                text_model: "",
            }
        };
        let mut views = vec![routing];
        for view in &self.taxonomy.document.views {
            if view.key != routing_view
                && let Some(decision) = self.predict(&view.key, subject.text)
            {
                views.push(decision);
            }
        }
        Some(Decision { views, hits })
    }

    /// The routing model's best leaf when it is clear (at or above the model's review threshold);
    /// otherwise the deepest branch with a department whose leaves together are clear, for review
    /// there; `None` (triage) when neither is, or without a model.
    fn route_by_model<'a>(&'a self, view: &'a str, text: &str) -> Option<ViewDecision<'a>> {
        let loaded = self.models.get(view)?;
        let prediction = loaded.model.predict(text);
        let (leaf, method, confidence) = self.taxonomy.back_off(
            view,
            &loaded.model.labels,
            &prediction.probabilities,
            loaded.model.review_threshold,
        )?;
        Some(ViewDecision {
            view,
            leaf,
            method,
            confidence,
            needs_review: method != Method::Model,
            text_model: loaded.name.as_str(),
        })
    }

    /// The view's model's best leaf, marked for review below its threshold; `None` without a
    /// model, or when the model's leaf is no longer in the taxonomy.
    fn predict<'a>(&'a self, view: &'a str, text: &str) -> Option<ViewDecision<'a>> {
        let loaded = self.models.get(view)?;
        let prediction = loaded.model.predict(text);
        let leaf = self.taxonomy.leaf_in(view, loaded.model.labels.get(prediction.label)?)?;
        Some(ViewDecision {
            view,
            leaf,
            method: Method::Model,
            confidence: prediction.confidence,
            needs_review: prediction.confidence < loaded.model.review_threshold,
            text_model: &loaded.name,
        })
    }
}

/// The active risk model with what it needs to act on a score.
#[derive(Debug)]
pub struct LoadedRiskModel {
    pub name: String,
    pub model: RiskModel,
    pub threshold: f64,
    pub factor_departments: HashMap<String, String>,
}

impl LoadedRiskModel {
    pub fn from_row(row: risk_model::Model) -> Result<Self, DbErr> {
        Ok(Self {
            model: postcard::from_bytes(&row.body).map_err(|e| DbErr::Custom(format!("{}: {e}", row.name)))?,
            threshold: row.threshold,
            factor_departments: serde_json::from_str(&row.factor_departments).unwrap_or_default(),
            name: row.name,
        })
    }
}

/// The snapshots in force, shared by the API and the feed handlers.
///
/// A replica that puts a taxonomy or model in force reloads at once; the other replicas of the
/// service see the change by [`InForce::follow_changes`], within one check interval.
#[derive(Debug)]
pub struct InForce {
    classifier: RwLock<Arc<Classifier>>,
    risk: RwLock<Option<Arc<LoadedRiskModel>>>,
    /// What the database said was in force when the snapshots were taken (read just before them).
    names: RwLock<Vec<String>>,
}

impl InForce {
    /// Loads what is active, publishing the shipped taxonomy as version 1 on first start.
    pub async fn load(db: &impl ConnectionTrait) -> Result<Arc<Self>, DbErr> {
        publish_default_taxonomy(db).await?;
        put_starter_models_in_force(db).await?;
        let names = models::names_in_force(db).await?;
        let (classifier, risk) = snapshot(db).await?;
        Ok(Arc::new(Self { classifier: RwLock::new(classifier), risk: RwLock::new(risk), names: RwLock::new(names) }))
    }

    /// Every `interval` until `stop`, reloads when the database names something else in force than
    /// this replica's snapshots (another replica published or activated a taxonomy or a model).
    pub async fn follow_changes(
        self: Arc<Self>,
        db: sea_orm::DatabaseConnection,
        interval: std::time::Duration,
        stop: tokio_util::sync::CancellationToken,
    ) {
        loop {
            tokio::select! {
                () = tokio::time::sleep(interval) => {}
                () = stop.cancelled() => return,
            }
            let changed = match models::names_in_force(&db).await {
                Ok(names) => names != *self.names.read().unwrap_or_else(|poisoned| poisoned.into_inner()),
                Err(error) => {
                    tracing::warn!(%error, "cannot check what is in force; checking again later");
                    continue;
                }
            };
            if changed {
                match self.reload(&db).await {
                    Ok(()) => {
                        tracing::info!(taxonomy = %self.classifier().taxonomy.name, "put in force by another replica: reloaded")
                    }
                    Err(error) => tracing::warn!(%error, "reloading what is in force failed; retrying"),
                }
            }
        }
    }

    pub fn classifier(&self) -> Arc<Classifier> {
        self.classifier.read().unwrap_or_else(|poisoned| poisoned.into_inner()).clone()
    }

    pub fn risk(&self) -> Option<Arc<LoadedRiskModel>> {
        self.risk.read().unwrap_or_else(|poisoned| poisoned.into_inner()).clone()
    }

    /// Reloads at once if the database names something else in force than the snapshots (a job
    /// on this or another replica put a model in force), so a caller told a model is in force
    /// finds it so here.
    pub async fn catch_up(&self, db: &impl ConnectionTrait) -> Result<(), DbErr> {
        let names = models::names_in_force(db).await?;
        if names != *self.names.read().unwrap_or_else(|poisoned| poisoned.into_inner()) {
            self.reload(db).await?;
        }
        Ok(())
    }

    /// Rebuilds the snapshots from what the database says is active.
    pub async fn reload(&self, db: &impl ConnectionTrait) -> Result<(), DbErr> {
        let names = models::names_in_force(db).await?;
        let (classifier, risk) = snapshot(db).await?;
        *self.classifier.write().unwrap_or_else(|poisoned| poisoned.into_inner()) = classifier;
        *self.risk.write().unwrap_or_else(|poisoned| poisoned.into_inner()) = risk;
        *self.names.write().unwrap_or_else(|poisoned| poisoned.into_inner()) = names;
        Ok(())
    }
}

async fn snapshot(db: &impl ConnectionTrait) -> Result<(Arc<Classifier>, Option<Arc<LoadedRiskModel>>), DbErr> {
    let row = store::active_taxonomy(db).await?.ok_or_else(|| DbErr::RecordNotFound("active taxonomy".into()))?;
    let taxonomy = taxonomy_from_row(&row)?;
    let mut loaded = HashMap::new();
    for row in models::active_text_models(db).await? {
        if taxonomy.has_view(&row.view) {
            let model = decode_text_model(&row.body).map_err(|e| DbErr::Custom(format!("{}: {e}", row.name)))?;
            loaded.insert(row.view.clone(), LoadedTextModel { name: row.name, model });
        }
    }
    let risk = match models::active_risk_model(db).await? {
        Some(row) => Some(Arc::new(LoadedRiskModel::from_row(row)?)),
        None => None,
    };
    Ok((Arc::new(Classifier::new(taxonomy, loaded)), risk))
}

pub fn decode_text_model(body: &[u8]) -> Result<TextModel, postcard::Error> {
    let mut model: TextModel = postcard::from_bytes(body)?;
    model.build_index();
    Ok(model)
}

async fn publish_default_taxonomy(db: &impl ConnectionTrait) -> Result<(), DbErr> {
    if store::active_taxonomy(db).await?.is_some() {
        return Ok(());
    }
    let document = taxonomy::parse(taxonomy::DEFAULT_DOCUMENT).map_err(|e| DbErr::Custom(e.to_string()))?;
    let published_at = time::now_micros();
    let taxonomy = Taxonomy::new(document, 1, published_at).map_err(|e| DbErr::Custom(e.to_string()))?;
    let row = store::taxonomy_row(&taxonomy, 1, true)?;
    // Another replica may have published it first; either way one version is now active.
    let _ = store::insert_taxonomy_version(db, row).await;
    Ok(())
}

/// With the shipped taxonomy in force, puts a starter model (see [`starter`]) in force for every
/// view that has none, so a fresh install routes ordinary complaint language from its first
/// order. An operator's own taxonomy or models are never replaced.
async fn put_starter_models_in_force(db: &impl ConnectionTrait) -> Result<(), DbErr> {
    let Some(row) = store::active_taxonomy(db).await? else { return Ok(()) };
    let shipped = taxonomy::parse(taxonomy::DEFAULT_DOCUMENT).map_err(|e| DbErr::Custom(e.to_string()))?;
    let taxonomy = taxonomy_from_row(&row)?;
    let active = models::active_text_models(db).await?;
    let missing: Vec<&str> =
        starter::VIEWS.into_iter().filter(|view| !active.iter().any(|m| m.view == *view)).collect();
    if taxonomy.document != shipped || missing.is_empty() {
        return Ok(());
    }
    let started = std::time::Instant::now();
    let trained = csm_kit::cpu::run("starter model training", starter::models)
        .await
        .map_err(|e| DbErr::Custom(e.to_string()))?
        .map_err(|e| DbErr::Custom(format!("the starter corpus: {e}")))?;
    let seconds = started.elapsed().as_secs_f64();
    let examples = trained.examples;
    for (view, model) in &trained.models {
        if missing.contains(&view.as_str()) && taxonomy.has_view(view) {
            let mut row = models::text_model_row(model, view, &taxonomy.name, examples, 0, seconds)?;
            row.training_job = starter::STARTER_JOB.to_string();
            let name = row.name.clone();
            models::insert_text_model(db, row).await?;
            models::activate_text_model(db, view, &name).await?;
            tracing::info!(model = %name, view = %view, examples, seconds, "starter text model put in force");
        }
    }
    Ok(())
}

pub fn taxonomy_from_row(row: &taxonomy_version::Model) -> Result<Taxonomy, DbErr> {
    let document = serde_json::from_str(&row.document).map_err(|e| DbErr::Custom(format!("{}: {e}", row.name)))?;
    Taxonomy::new(document, row.version, row.published_at).map_err(|e| DbErr::Custom(format!("{}: {e}", row.name)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::text::{Labelled, TrainSettings};

    fn taxonomy() -> Taxonomy {
        Taxonomy::new(taxonomy::parse(taxonomy::DEFAULT_DOCUMENT).unwrap(), 1, 0).unwrap()
    }

    fn text(text: &str) -> Subject<'_> {
        Subject { text, ..Subject::default() }
    }

    #[test]
    fn rules_route_common_complaints_in_both_languages() {
        let c = Classifier::new(taxonomy(), HashMap::new());
        let cases = [
            ("这个月话费莫名乱扣了50元", "system.billing_error", "billing"),
            ("家里宽带断网三天了", "system.broadband_fault", "operations_maintenance"),
            ("I was charged for a premium SMS subscription I never ordered", "business.sp_fee", "partner_management"),
            ("Calls drop every evening at home", "system.call_quality", "network"),
            ("营业员态度很差", "service.attitude", "service_centre"),
        ];
        for (text_, leaf, department) in cases {
            let decision = c.classify(&text(text_)).unwrap();
            let routing = decision.routing();
            assert_eq!((routing.leaf.key.as_str(), routing.leaf.department.as_str()), (leaf, department), "{text_}");
            assert_eq!(routing.method, Method::Rule);
            assert!(!routing.needs_review);
        }
    }

    #[test]
    fn without_a_rule_or_model_the_fallback_awaits_review() {
        let c = Classifier::new(taxonomy(), HashMap::new());
        let decision = c.classify(&text("请回电")).unwrap();
        assert_eq!(decision.routing().leaf.key, "triage.unclassified");
        assert_eq!(decision.routing().method, Method::Fallback);
        assert!(decision.routing().needs_review);
        assert_eq!(decision.views.len(), 1);
    }

    #[test]
    fn models_place_what_no_rule_covers_and_rules_keep_precedence() {
        let texts = [
            ("上网很卡网页打不开", "complaint.broadband_speed"),
            ("营业厅排队两个小时", "complaint.channel_convenience"),
        ];
        let labels: Vec<String> = texts.iter().map(|(_, l)| l.to_string()).collect();
        let examples: Vec<Labelled> = (0..30).map(|i| Labelled { text: texts[i % 2].0, label: i % 2 }).collect();
        let model = TextModel::train(labels, &examples, TrainSettings::default());
        let loaded = LoadedTextModel { name: "textModels/1".into(), model };
        let c = Classifier::new(taxonomy(), HashMap::from([("complaint".to_string(), loaded)]));
        let decision = c.classify(&text("营业厅排队太久，转人工也转不了")).unwrap();
        assert_eq!(decision.views[1].view, "complaint");
        assert_eq!(decision.views[1].leaf.key, "complaint.channel_convenience");
        assert_eq!(decision.views[1].method, Method::Model);
        assert_eq!(decision.views[1].text_model, "textModels/1");
        // The routing view is still decided by its rules.
        assert_eq!(decision.routing().method, Method::Rule);
        assert_eq!(c.classify(&text("请回电")).unwrap().routing().method, Method::Fallback);
    }

    /// A routing model trained on `(text, leaf)` pairs, thirty of each, clear at 0.8.
    fn routing_model(pairs: &[(&str, &str)]) -> LoadedTextModel {
        let mut labels: Vec<String> = Vec::new();
        for (_, leaf) in pairs {
            if !labels.iter().any(|l| l == leaf) {
                labels.push(leaf.to_string());
            }
        }
        let examples: Vec<Labelled> = (0..30 * pairs.len())
            .map(|i| {
                let (text, leaf) = pairs[i % pairs.len()];
                Labelled { text, label: labels.iter().position(|l| l == leaf).unwrap() }
            })
            .collect();
        let settings = TrainSettings { review_threshold: Some(0.8), ..TrainSettings::default() };
        LoadedTextModel { name: "textModels/routing".into(), model: TextModel::train(labels, &examples, settings) }
    }

    #[test]
    fn when_no_leaf_is_clear_the_branch_that_is_takes_the_order_and_triage_gets_the_rest() {
        let mut document = taxonomy::parse(taxonomy::DEFAULT_DOCUMENT).unwrap();
        document.rules.clear();
        let taxonomy = Taxonomy::new(document, 1, 0).unwrap();
        // Coverage and call quality are told apart by nothing in these texts; both are network.
        let model = routing_model(&[
            ("网络很差", "system.coverage"),
            ("网络很差", "system.call_quality"),
            ("话费账单不对", "system.billing_error"),
            ("营业员态度差", "service.attitude"),
        ]);
        let c = Classifier::new(taxonomy, HashMap::from([("cause".to_string(), model)]));
        let decision = c.classify(&text("网络很差")).unwrap();
        let routing = decision.routing();
        assert_eq!(routing.method, Method::Branch);
        assert_eq!((routing.leaf.key.as_str(), routing.leaf.department.as_str()), ("system.network", "network"));
        assert_eq!(routing.leaf.time_limit, std::time::Duration::from_secs(72 * 3600));
        assert!(routing.needs_review);
        assert!(routing.confidence > 0.9, "{routing:?}");
        // A clear leaf is routed as such.
        let decision = c.classify(&text("话费账单不对")).unwrap();
        let clear = decision.routing();
        assert_eq!(
            (clear.leaf.key.as_str(), clear.method, clear.needs_review),
            ("system.billing_error", Method::Model, false)
        );
        // Torn between branches (billing is system side, attitude service side): triage.
        let labels: Vec<String> = ["system.billing_error", "service.attitude"].map(String::from).to_vec();
        assert_eq!(c.taxonomy.back_off("cause", &labels, &[0.55, 0.45], 0.8), None);
        // The deepest clear branch wins: billing (0.9) before the system side as a whole.
        let labels: Vec<String> =
            ["system.billing_error", "system.call_record_dispute", "service.attitude"].map(String::from).to_vec();
        let (branch, method, mass) = c.taxonomy.back_off("cause", &labels, &[0.5, 0.4, 0.1], 0.8).unwrap();
        assert_eq!(
            (branch.key.as_str(), branch.department.as_str(), method),
            ("system.billing", "billing", Method::Branch)
        );
        assert!((mass - 0.9).abs() < 1e-9);
    }

    #[test]
    fn the_starter_model_routes_everyday_complaint_words_out_of_the_box() {
        let models: HashMap<String, LoadedTextModel> = starter::models()
            .unwrap()
            .models
            .iter()
            .map(|(view, model)| {
                (view.clone(), LoadedTextModel { name: format!("starter/{view}"), model: model.clone() })
            })
            .collect();
        let c = Classifier::new(taxonomy(), models);
        let cases = [
            ("信号很差", "system.coverage"),
            ("打电话断断续续", "system.call_quality"),
            ("家里宽带老是掉线", "system.broadband_fault"),
            ("Internet speed", "system.broadband_fault"),
            ("billing dispute", "system.billing_error"),
            ("Comcast data caps", "business.package_rules"),
            ("用户来电反映本月被扣取一笔不认识的视频会员费，要求退费", "business.sp_fee"),
            ("客服说三天内给我回电话，一周了没人理", "service.timeliness"),
        ];
        for (text_, leaf) in cases {
            let decision = c.classify(&text(text_)).unwrap();
            assert_eq!(decision.routing().leaf.key, leaf, "{text_}: {:?}", decision.routing());
            assert_ne!(decision.routing().method, Method::Fallback, "{text_}");
            assert_eq!(decision.views.len(), 2, "the complaint view is placed too");
        }
    }
}
