//! Satisfaction-index models (满意度指数) as data: weighted trees whose leaves are survey questions
//! or catalogue indicators, scored per period and dimension value, with each node's contribution
//! and a fuzzy comprehensive evaluation over the five grades.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use csm_kit::{error::Violations, names, time};
use csm_proto::measurement::v1::{
    FuzzyEvaluation, IndexModel, IndexNode, IndexScore, IndexScores, NodeScore as ProtoNodeScore, ScoreIndexRequest,
};
use prost::Message;
use sea_orm::{ConnectionTrait, DatabaseConnection, TransactionTrait};

use super::index_tree::{self, LeafData, LeafSource, Node, NodeScore};
use crate::{
    calendar::Calendar,
    catalogue::{self, Catalogue},
    error::Error,
    formula, series, store,
};

fn to_node(node: &IndexNode) -> Node {
    let source = if !node.question.is_empty() {
        Some(LeafSource::Question(node.question.clone()))
    } else if !node.indicator.is_empty() {
        Some(LeafSource::Indicator(
            node.indicator.strip_prefix(names::INDICATORS).unwrap_or(&node.indicator).to_string(),
        ))
    } else {
        None
    };
    Node {
        key: node.key.clone(),
        name: node.name.clone(),
        weight: node.weight,
        source,
        children: node.children.iter().map(to_node).collect(),
    }
}

pub fn to_proto(node: &Node) -> IndexNode {
    let (question, indicator) = match &node.source {
        Some(LeafSource::Question(q)) => (q.clone(), String::new()),
        Some(LeafSource::Indicator(key)) => (String::new(), names::name_of(names::INDICATORS, key)),
        None => (String::new(), String::new()),
    };
    IndexNode {
        key: node.key.clone(),
        name: node.name.clone(),
        weight: node.weight,
        question,
        indicator,
        children: node.children.iter().map(to_proto).collect(),
    }
}

fn leaves(node: &Node, into: &mut BTreeSet<LeafSource>) {
    if let Some(source) = &node.source {
        into.insert(source.clone());
    }
    for child in &node.children {
        leaves(child, into);
    }
}

/// The formulas that read one question's answers: the mean on 0-100 and the answers per grade.
fn question_formulas(question: &str) -> Vec<String> {
    let mut formulas = vec![format!("avg(surveys.score100 where question = \"{question}\")")];
    formulas.extend((1..=5).map(|grade| format!("count(surveys where question = \"{question}\" and grade = {grade})")));
    formulas
}

/// The shipped example models, stored when missing.
pub fn examples() -> Vec<IndexModel> {
    [
        ("provincial_2010", "省公司客户满意度指数 / Provincial satisfaction index", index_tree::provincial_example()),
        ("value_and_image", "感知价值与企业形象 / Perceived value and image", index_tree::value_image_composite()),
    ]
    .into_iter()
    .map(|(key, title, root)| IndexModel {
        name: names::name_of(names::INDEX_MODELS, key),
        key: key.into(),
        title: title.into(),
        root: Some(to_proto(&root)),
        update_time: None,
    })
    .collect()
}

/// A model's tree as checked: what is wrong with it, the indicators its leaves read, and the
/// measures of its questions (or why they cannot be read).
struct CheckedTree {
    violations: Violations,
    indicators: Vec<String>,
    measures: Result<Vec<formula::Measure>, Violations>,
}

/// Checks the tree's shape and its questions, and parses the formulas that will read them: work
/// for the CPU pool, as a tree may have hundreds of nodes.
fn check_tree(root: &IndexNode) -> CheckedTree {
    let root = to_node(root);
    let mut violations = Violations::new();
    for violation in index_tree::validate(&root) {
        violations.add(format!("model.{}", violation.field), violation.description);
    }
    let mut sources = BTreeSet::new();
    leaves(&root, &mut sources);
    let mut indicators = Vec::new();
    for source in &sources {
        match source {
            LeafSource::Question(q) if q.len() > 64 || q.contains('"') || q.trim().is_empty() => {
                violations.add("model.root", format!("question {q:?}: 1 to 64 characters, without '\"'"));
            }
            LeafSource::Indicator(key) => indicators.push(key.clone()),
            LeafSource::Question(_) => {}
        }
    }
    let measures = if violations.is_empty() { question_measures(&sources) } else { Ok(Vec::new()) };
    CheckedTree { violations, indicators, measures }
}

fn question_measures(sources: &BTreeSet<LeafSource>) -> Result<Vec<formula::Measure>, Violations> {
    let mut measures = Vec::new();
    for source in sources {
        if let LeafSource::Question(question) = source {
            for text in question_formulas(question) {
                let parsed = formula::parse(&text).map_err(|e| Violations::one("model.root", e.to_string()))?;
                measures.extend(parsed.measures);
            }
        }
    }
    Ok(measures)
}

/// Checks and stores a model; the measures of its questions are counted over the history.
pub async fn put(
    db: &DatabaseConnection,
    calendar: &Calendar,
    catalogue: &Catalogue,
    mut model: IndexModel,
) -> Result<IndexModel, Error> {
    let mut violations = Violations::new();
    if !catalogue::key_ok(&model.key) {
        violations.add("model.key", "1 to 64 lower-case letters, digits or '_'");
    }
    let Some(root) = model.root.take() else {
        violations.add("model.root", "required");
        return Err(violations.into_result().err().unwrap_or_default().into());
    };
    let (root, checked) = csm_kit::cpu::run("index tree check", move || {
        let checked = check_tree(&root);
        (root, checked)
    })
    .await?;
    model.root = Some(root);
    violations.merge(checked.violations);
    for key in checked.indicators.iter().filter(|key| catalogue.get(key).is_none()) {
        violations.add("model.root", format!("indicators/{key} is not in the catalogue"));
    }
    violations.into_result()?;
    let measures = checked.measures?;
    model.name = names::name_of(names::INDEX_MODELS, &model.key);
    model.update_time = Some(time::timestamp_from_micros(time::now_micros()));
    let txn = db.begin().await?;
    store::lock_writers(&txn).await?;
    catalogue::ensure_counted(&txn, calendar, &measures).await?;
    let now = time::now_micros();
    store::put_document(&txn, store::kind::INDEX_MODEL, &model.key, model.encode_to_vec(), 0, now, false).await?;
    txn.commit().await?;
    Ok(model)
}

pub async fn list(db: &impl ConnectionTrait) -> Result<Vec<IndexModel>, Error> {
    store::list_documents(db, store::kind::INDEX_MODEL, None)
        .await?
        .into_iter()
        .map(|(key, body)| {
            IndexModel::decode(body.as_slice()).map_err(|e| Error::Corrupt(format!("index model {key}: {e}")))
        })
        .collect()
}

type Key = (i64, String);

pub async fn score(
    db: &impl ConnectionTrait,
    calendar: &Calendar,
    catalogue: &Catalogue,
    request: &ScoreIndexRequest,
) -> Result<IndexScores, Error> {
    let mut violations = Violations::new();
    let window = series::window(
        request.granularity,
        request.group_by,
        request.cause_level,
        (request.start_time.as_ref(), request.end_time.as_ref()),
        &mut violations,
    );
    if request.model.is_empty() {
        violations.add("model", "required: \"indexModels/{key}\"");
    }
    violations.into_result()?;
    let key = request.model.strip_prefix(names::INDEX_MODELS).unwrap_or(&request.model);
    let body = store::get_document(db, store::kind::INDEX_MODEL, key)
        .await?
        .ok_or_else(|| Error::NotFound(names::name_of(names::INDEX_MODELS, key)))?;
    let model = IndexModel::decode(body.as_slice()).map_err(|e| Error::Corrupt(format!("index model {key}: {e}")))?;
    let root =
        model.root.as_ref().map(to_node).ok_or_else(|| Error::Corrupt(format!("index model {key} has no root")))?;
    let grain = window.grain;

    let ids = catalogue::measure_ids(db).await?;
    let mut sources = BTreeSet::new();
    leaves(&root, &mut sources);
    let mut data: HashMap<LeafSource, BTreeMap<Key, LeafData>> = HashMap::new();
    let mut keys: BTreeSet<Key> = BTreeSet::new();
    for source in sources {
        let mut per_key: BTreeMap<Key, LeafData> = BTreeMap::new();
        match &source {
            LeafSource::Question(question) => {
                let formulas = question_formulas(question);
                for (index, text) in formulas.iter().enumerate() {
                    let entry = catalogue::resolve(Default::default(), text, &ids)?;
                    for value in series::compute(db, calendar, &entry, &window).await? {
                        let leaf = per_key.entry((value.period, value.dimension_value)).or_insert(LeafData {
                            score: 0.0,
                            responses: 0,
                            grades: [0; 5],
                        });
                        match index {
                            0 => {
                                leaf.score = value.value;
                                leaf.responses = value.sample_size.max(0) as u64;
                            }
                            grade => {
                                if let Some(slot) = leaf.grades.get_mut(grade - 1) {
                                    *slot = value.value.max(0.0) as u64;
                                }
                            }
                        }
                    }
                }
                // A key seen only through grade counts has no mean: it has no answers either.
                per_key.retain(|_, leaf| leaf.responses > 0);
            }
            LeafSource::Indicator(key) => {
                let entry = catalogue.named(key)?;
                for value in series::compute(db, calendar, entry, &window).await? {
                    let leaf =
                        LeafData { score: value.value, responses: value.sample_size.max(0) as u64, grades: [0; 5] };
                    per_key.insert((value.period, value.dimension_value), leaf);
                }
            }
        }
        keys.extend(per_key.keys().cloned());
        data.insert(source, per_key);
    }
    let calendar = *calendar;
    let scores = csm_kit::cpu::run("index scoring", move || {
        keys.into_iter()
            .map(|key| {
                let lookup = |source: &LeafSource| data.get(source).and_then(|m| m.get(&key)).cloned();
                let root_score = index_tree::weighted_score(&root, &lookup);
                let fuzzy = index_tree::fuzzy_evaluate(&root, &lookup, index_tree::DEFAULT_GRADE_SCORES);
                IndexScore {
                    period: calendar.label(grain, key.0),
                    period_start: Some(time::timestamp_from_micros(key.0)),
                    dimension_value: key.1,
                    root: Some(node_score(&root_score)),
                    fuzzy: fuzzy.map(|f| FuzzyEvaluation {
                        membership: f.membership.to_vec(),
                        grade: f.grade as i32 + 1,
                        score: f.score,
                    }),
                }
            })
            .collect()
    })
    .await?;
    Ok(IndexScores { model: model.name, time_zone: calendar.zone_name().to_string(), scores })
}

fn node_score(score: &NodeScore) -> ProtoNodeScore {
    ProtoNodeScore {
        key: score.key.clone(),
        name: score.name.clone(),
        local_weight: score.local_weight,
        global_weight: score.global_weight,
        score: score.score,
        contribution: score.contribution,
        responses: score.responses as i64,
        children: score.children.iter().map(node_score).collect(),
    }
}
