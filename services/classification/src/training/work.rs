//! What a text-model or risk-model job does, and the checks a request passes before it is queued.

use std::{
    collections::{BTreeMap, BTreeSet},
    sync::{Arc, atomic::AtomicBool},
    time::Instant,
};

use csm_kit::{
    cpu::{self, CpuError},
    error::Violations,
};
use csm_proto::classification::v1::{
    AddTrainingExamplesRequest, LabelledText, RiskExample, TrainRiskModelRequest, TrainTextModelsRequest,
};
use prost::Message;

use super::{Done, Stopped, Trainer};
use crate::{
    engine,
    error::Error,
    model::text::{Labelled, TextModel, TrainSettings},
    store::{self, models, statistics, text_model},
    taxonomy::Taxonomy,
};

pub use super::risk::prepare_risk;

use crate::engine::MAX_TEXT_CHARS;

/// The examples sent in parts, decoded.
pub fn job_examples(parts: &[Vec<u8>]) -> Result<(Vec<LabelledText>, Vec<RiskExample>), Stopped> {
    let mut text = Vec::new();
    let mut risk = Vec::new();
    for part in parts {
        let part = AddTrainingExamplesRequest::decode(part.as_slice())
            .map_err(|e| Stopped::Failed(format!("a stored part does not decode: {e}")))?;
        text.extend(part.text_examples);
        risk.extend(part.risk_examples);
    }
    Ok((text, risk))
}

/// The taxonomy version a request names ("" for the one in force), and whether it is in force.
pub async fn taxonomy_for(trainer: &Trainer, name: &str) -> Result<(Taxonomy, bool), Error> {
    let classifier = trainer.in_force().classifier();
    if name.is_empty() || name == classifier.taxonomy.name {
        return Ok((classifier.taxonomy.clone(), true));
    }
    let db = trainer.publisher().database().reader();
    let row = store::taxonomy_by_name(db, name).await?.ok_or_else(|| Error::NotFound(name.to_string()))?;
    Ok((engine::taxonomy_from_row(&row)?, row.active))
}

pub async fn text_models(
    trainer: &Trainer,
    job: &str,
    request: TrainTextModelsRequest,
    parts: &[Vec<u8>],
    cancelled: Arc<AtomicBool>,
) -> Result<Done, Stopped> {
    let settings = train_settings(&request)?;
    let (taxonomy, in_force) = taxonomy_for(trainer, &request.taxonomy_version).await?;
    let mut examples = request.examples;
    examples.extend(job_examples(parts)?.0);
    let mut by_view = text_examples_by_view(&taxonomy, &examples, "examples")?;
    let mut corrections_by_view: BTreeMap<String, i64> = BTreeMap::new();
    if request.include_corrections {
        let db = trainer.publisher().database().reader();
        for correction in statistics::corrections_for(db, &taxonomy.name).await? {
            let view = if correction.view.is_empty() { taxonomy.routing_view().to_string() } else { correction.view };
            if taxonomy.leaf_in(&view, &correction.to_leaf).is_some() && !correction.text.trim().is_empty() {
                by_view.entry(view.clone()).or_default().push((correction.text, correction.to_leaf));
                *corrections_by_view.entry(view).or_default() += 1;
            }
        }
    }
    enough_leaves(&by_view)?;
    let mut rows = Vec::new();
    for (view, examples) in by_view {
        let leaves: Vec<String> = taxonomy
            .leaves_of(&view)
            .into_iter()
            .map(|leaf| leaf.key.clone())
            .filter(|key| examples.iter().any(|(_, l)| l == key))
            .collect();
        let count = examples.len();
        let started = Instant::now();
        let model = train(leaves, examples, settings, cancelled.clone()).await?;
        let corrections = corrections_by_view.get(&view).copied().unwrap_or(0);
        let seconds = started.elapsed().as_secs_f64();
        rows.push(models::text_model_row(&model, &view, &taxonomy.name, count, corrections, seconds)?);
        tracing::info!(job, view = %view, examples = count, seconds, "text model trained");
    }
    let outcome = format!(
        "trained {} for {}{}",
        rows.iter().map(|r| format!("{} ({} examples)", r.view, r.examples)).collect::<Vec<_>>().join(", "),
        taxonomy.name,
        if request.activate && !in_force { "; not put in force: the version is staged" } else { "" }
    );
    Ok(Done { text_models: rows, activate: request.activate && in_force, outcome, ..Done::default() })
}

/// Trains one view's model in the kit's CPU pool; `Cancelled` if the job was cancelled meanwhile.
pub async fn train(
    leaves: Vec<String>,
    examples: Vec<(String, String)>,
    settings: TrainSettings,
    cancelled: Arc<AtomicBool>,
) -> Result<TextModel, Stopped> {
    let trained = cpu::run("text model training", move || {
        let labelled: Vec<Labelled> = examples
            .iter()
            .map(|(text, leaf)| Labelled { text, label: leaves.iter().position(|l| l == leaf).unwrap_or(0) })
            .collect();
        TextModel::train_reporting(leaves.clone(), &labelled, settings, &cancelled)
    })
    .await
    .map_err(stopped)?;
    trained.map(|(model, _)| model).ok_or(Stopped::Cancelled)
}

pub async fn risk_model(
    request: TrainRiskModelRequest,
    parts: &[Vec<u8>],
    cancelled: Arc<AtomicBool>,
) -> Result<Done, Stopped> {
    let prepared = prepare_risk(&request, job_examples(parts)?.1)?;
    let row = cpu::run("risk model fitting", move || super::risk::fit_risk(prepared)).await.map_err(stopped)??;
    if cancelled.load(std::sync::atomic::Ordering::Relaxed) {
        return Err(Stopped::Cancelled);
    }
    let outcome = format!("trained {} on {} examples", row.name, row.examples);
    Ok(Done { risk_model: Some(row), activate: request.activate, outcome, ..Done::default() })
}

/// Training that did not return: stopped with its runtime (the service is going away, and the job
/// is left for the next holder of the lease to mark), or failed.
pub(super) fn stopped(error: CpuError) -> Stopped {
    match error {
        CpuError::Stopped { .. } => Stopped::Cancelled,
        panicked @ CpuError::Panicked { .. } => Stopped::Failed(panicked.to_string()),
    }
}

/// Settings from a request, checked; zero means "choose" or the default.
pub fn train_settings(request: &TrainTextModelsRequest) -> Result<TrainSettings, Error> {
    let mut violations = Violations::new();
    let mut settings = TrainSettings::default();
    if request.review_threshold != 0.0 {
        if !(0.0..=1.0).contains(&request.review_threshold) {
            violations.add("review_threshold", "must be between 0 and 1");
        }
        settings.review_threshold = Some(request.review_threshold);
    }
    if request.c != 0.0 {
        if !(1e-4..=1e4).contains(&request.c) {
            violations.add("c", "must be between 0.0001 and 10000");
        }
        settings.c = Some(request.c as f32);
    }
    violations.into_result()?;
    Ok(settings)
}

/// Each view needs examples of two leaves at least.
pub fn enough_leaves(by_view: &BTreeMap<String, Vec<(String, String)>>) -> Result<(), Error> {
    if by_view.is_empty() {
        return Err(Violations::one("examples", "no labelled examples").into());
    }
    let mut violations = Violations::new();
    for (view, examples) in by_view {
        let distinct: BTreeSet<&str> = examples.iter().map(|(_, l)| l.as_str()).collect();
        if distinct.len() < 2 {
            violations.add("examples", format!("view {view} needs examples of at least two leaves"));
        }
    }
    Ok(violations.into_result()?)
}

/// The examples of each view as (text, leaf), refusing unknown views and leaves field by field.
pub fn text_examples_by_view(
    taxonomy: &Taxonomy,
    examples: &[LabelledText],
    field: &str,
) -> Result<BTreeMap<String, Vec<(String, String)>>, Error> {
    let mut violations = Violations::new();
    let mut by_view: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
    for (i, example) in examples.iter().enumerate() {
        if violations.iter().count() >= 20 {
            break;
        }
        let chars = example.text.chars().count();
        if example.text.trim().is_empty() || chars > MAX_TEXT_CHARS {
            violations.add(format!("{field}[{i}].text"), format!("must have 1 to {MAX_TEXT_CHARS} characters"));
        }
        if example.leaves.is_empty() {
            violations.add(format!("{field}[{i}].leaves"), "needs a leaf in at least one view");
        }
        for (view, leaf) in &example.leaves {
            if !taxonomy.has_view(view) {
                violations.add(format!("{field}[{i}].leaves"), format!("no view {view} in {}", taxonomy.name));
            } else if taxonomy.leaf_in(view, leaf).is_none() {
                violations.add(format!("{field}[{i}].leaves[{view}]"), format!("{leaf} is not a leaf of view {view}"));
            } else {
                by_view.entry(view.clone()).or_default().push((example.text.clone(), leaf.clone()));
            }
        }
    }
    violations.into_result()?;
    Ok(by_view)
}

/// The examples the model `row` was trained on, for `view`: its job's, or the starter corpus for
/// the starter model; `None` when they were not kept.
pub async fn examples_of(
    trainer: &Trainer,
    row: &text_model::Model,
    taxonomy: &Taxonomy,
) -> Result<Option<Vec<(String, String)>>, Stopped> {
    if row.training_job.is_empty() {
        // Trained before jobs kept their examples.
        return Ok(None);
    }
    if row.training_job == crate::starter::STARTER_JOB {
        let shipped =
            crate::taxonomy::parse(crate::taxonomy::DEFAULT_DOCUMENT).map_err(|e| Error::Internal(e.to_string()))?;
        if taxonomy.document != shipped {
            return Ok(None);
        }
        let corpus = crate::starter::training().map_err(|e| Stopped::Failed(e.to_string()))?;
        return Ok(Some(
            corpus.into_iter().filter_map(|e| Some((e.text.clone(), e.leaf(&row.view)?.to_string()))).collect(),
        ));
    }
    let db = trainer.publisher().database().reader();
    let Some(job) = store::training::job(db, &row.training_job).await? else { return Ok(None) };
    let Ok(request) = csm_proto::classification::v1::CreateTrainingJobRequest::decode(job.request.as_slice()) else {
        return Ok(None);
    };
    let mut examples = match request.training {
        Some(csm_proto::classification::v1::create_training_job_request::Training::TextModels(request)) => {
            request.examples
        }
        // A retrained model keeps the examples it was trained on as the job's parts.
        Some(csm_proto::classification::v1::create_training_job_request::Training::RetrainFromCorrections(_)) => {
            Vec::new()
        }
        _ => return Ok(None),
    };
    examples.extend(job_examples(&store::training::parts(db, &job.name).await?)?.0);
    // Leaves the taxonomy in force no longer has are left out.
    Ok(Some(
        examples
            .into_iter()
            .filter_map(|e| {
                let leaf = e.leaves.get(&row.view)?.clone();
                taxonomy.leaf_in(&row.view, &leaf)?;
                Some((e.text, leaf))
            })
            .collect(),
    ))
}
