//! Text models: train one per labelled view, evaluate on held-out sets, list and roll back.

use std::{collections::BTreeMap, time::Instant};

use csm_kit::{error::Violations, time};
use csm_proto::classification::v1::{
    ClassMetrics, ConfusionRow, EvaluateTextModelsRequest, EvaluateTextModelsResponse, LabelledText,
    ListTextModelsResponse, TextModel as TextModelProto, TextModelEvaluation, TrainTextModelsRequest,
    TrainTextModelsResponse,
};

use super::{ClassificationApi, MAX_TEXT_CHARS};
use crate::{
    engine,
    error::Error,
    model::{
        metrics,
        text::{Labelled, TextModel, TrainSettings},
    },
    store::{models, statistics, text_model},
    taxonomy::Taxonomy,
};

impl ClassificationApi {
    pub(super) async fn train_text(&self, request: TrainTextModelsRequest) -> Result<TrainTextModelsResponse, Error> {
        let settings = train_settings(&request)?;
        let classifier = self.in_force.classifier();
        let taxonomy = &classifier.taxonomy;
        let mut by_view = labelled_by_view(taxonomy, &request.examples, "examples")?;
        let mut corrections_by_view: BTreeMap<String, i64> = BTreeMap::new();
        if request.include_corrections {
            let db = self.publisher.database().reader();
            for correction in statistics::corrections_for(db, &taxonomy.name).await? {
                let view =
                    if correction.view.is_empty() { taxonomy.routing_view().to_string() } else { correction.view };
                if taxonomy.leaf_in(&view, &correction.to_leaf).is_some() && !correction.text.trim().is_empty() {
                    by_view.entry(view.clone()).or_default().push((correction.text, correction.to_leaf));
                    *corrections_by_view.entry(view).or_default() += 1;
                }
            }
        }
        if by_view.is_empty() {
            return Err(Violations::one("examples", "no labelled examples").into());
        }
        let mut violations = Violations::new();
        for (view, examples) in &by_view {
            let distinct: std::collections::BTreeSet<&str> = examples.iter().map(|(_, l)| l.as_str()).collect();
            if distinct.len() < 2 {
                violations.add("examples", format!("view {view} needs examples of at least two leaves"));
            }
        }
        violations.into_result()?;

        let mut rows = Vec::new();
        for (view, examples) in by_view {
            let leaves: Vec<String> = taxonomy
                .leaves_of(&view)
                .into_iter()
                .map(|leaf| leaf.key.clone())
                .filter(|key| examples.iter().any(|(_, l)| l == key))
                .collect();
            let started = Instant::now();
            let trained = tokio::task::spawn_blocking(move || {
                let labelled: Vec<Labelled> = examples
                    .iter()
                    .map(|(text, leaf)| Labelled { text, label: leaves.iter().position(|l| l == leaf).unwrap_or(0) })
                    .collect();
                let count = labelled.len();
                (TextModel::train(leaves, &labelled, settings), count)
            })
            .await
            .map_err(|e| Error::Internal(format!("training stopped: {e}")))?;
            let (model, examples) = trained;
            let corrections = corrections_by_view.get(&view).copied().unwrap_or(0);
            let seconds = started.elapsed().as_secs_f64();
            rows.push(models::text_model_row(&model, &view, &taxonomy.name, examples, corrections, seconds)?);
        }
        let uow = self.publisher.begin().await?;
        for row in &rows {
            models::insert_text_model(&*uow, row.clone()).await?;
            if request.activate {
                models::activate_text_model(&*uow, &row.view, &row.name).await?;
            }
        }
        uow.commit().await?;
        if request.activate {
            self.in_force.reload(self.publisher.database().reader()).await?;
        }
        for row in &rows {
            tracing::info!(model = %row.name, view = %row.view, examples = row.examples, seconds = row.training_seconds, "text model trained");
        }
        let models = rows
            .into_iter()
            .map(|mut row| {
                row.active = request.activate;
                text_model_proto(&row)
            })
            .collect();
        Ok(TrainTextModelsResponse { models })
    }

    pub(super) async fn evaluate_text(
        &self,
        request: EvaluateTextModelsRequest,
    ) -> Result<EvaluateTextModelsResponse, Error> {
        let classifier = self.in_force.classifier();
        let db = self.publisher.database().reader();
        let mut chosen: Vec<(String, String, TextModel)> = Vec::new();
        if request.text_models.is_empty() {
            let views: std::collections::BTreeSet<&String> =
                request.examples.iter().flat_map(|e| e.leaves.keys()).collect();
            for view in views {
                let loaded = classifier.text_model(view).ok_or_else(|| {
                    Error::precondition(format!("views/{view}"), "no text model is in force for this view")
                })?;
                chosen.push((loaded.name.clone(), view.clone(), loaded.model.clone()));
            }
        } else {
            for name in &request.text_models {
                let row = models::text_model(db, name).await?.ok_or_else(|| Error::NotFound(name.clone()))?;
                let model = engine::decode_text_model(&row.body).map_err(|e| Error::Internal(e.to_string()))?;
                chosen.push((row.name, row.view, model));
            }
        }
        let mut evaluations = Vec::new();
        for (name, view, model) in chosen {
            let examples: Vec<(String, String)> =
                request.examples.iter().filter_map(|e| Some((e.text.clone(), e.leaves.get(&view)?.clone()))).collect();
            if examples.is_empty() {
                return Err(Violations::one("examples", format!("none is labelled in view {view}")).into());
            }
            let evaluation = tokio::task::spawn_blocking(move || evaluate(&name, &view, &model, &examples))
                .await
                .map_err(|e| Error::Internal(format!("evaluation stopped: {e}")))?;
            evaluations.push(evaluation);
        }
        Ok(EvaluateTextModelsResponse { evaluations })
    }

    pub(super) async fn text_models(&self, view: &str) -> Result<ListTextModelsResponse, Error> {
        let rows = models::list_text_models(self.publisher.database().reader(), view).await?;
        Ok(ListTextModelsResponse { text_models: rows.iter().map(text_model_proto).collect() })
    }

    pub(super) async fn activate_text(&self, name: &str) -> Result<TextModelProto, Error> {
        let db = self.publisher.database().writer();
        let mut row = models::text_model(db, name).await?.ok_or_else(|| Error::NotFound(name.to_string()))?;
        let classifier = self.in_force.classifier();
        if !classifier.taxonomy.has_view(&row.view) {
            return Err(Error::precondition(name, format!("the taxonomy in force has no view {}", row.view)));
        }
        models::activate_text_model(db, &row.view, name).await?;
        self.in_force.reload(self.publisher.database().reader()).await?;
        row.active = true;
        tracing::info!(model = %name, view = %row.view, "text model activated");
        Ok(text_model_proto(&row))
    }
}

fn train_settings(request: &TrainTextModelsRequest) -> Result<TrainSettings, Error> {
    let mut violations = Violations::new();
    let mut settings = TrainSettings::default();
    if request.review_threshold != 0.0 {
        if !(0.0..=1.0).contains(&request.review_threshold) {
            violations.add("review_threshold", "must be between 0 and 1");
        }
        settings.review_threshold = Some(request.review_threshold);
    }
    if request.c != 0.0 {
        if !(request.c.is_finite() && request.c > 0.0) {
            violations.add("c", "must be positive");
        }
        settings.c = Some(request.c as f32);
    }
    if request.examples.len() >= 5_000 {
        // Large sets carry many one-off n-grams that only add noise and size.
        settings.min_df = 2;
    }
    violations.into_result()?;
    Ok(settings)
}

/// The examples of each view as (text, leaf), refusing unknown views and leaves field by field.
fn labelled_by_view(
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

fn evaluate(name: &str, view: &str, model: &TextModel, examples: &[(String, String)]) -> TextModelEvaluation {
    let mut leaves = model.labels.clone();
    let mut unknown = 0;
    let mut outcomes = Vec::with_capacity(examples.len());
    let mut reviewed = 0usize;
    let mut confident_right = 0usize;
    for (text, gold) in examples {
        let gold_index = match leaves.iter().position(|l| l == gold) {
            Some(index) => index,
            None => {
                unknown += 1;
                leaves.push(gold.clone());
                leaves.len() - 1
            }
        };
        let prediction = model.predict(text);
        if prediction.confidence < model.review_threshold {
            reviewed += 1;
        } else if prediction.label == gold_index {
            confident_right += 1;
        }
        outcomes.push((gold_index, prediction.label, prediction.confidence));
    }
    let figures = metrics::classification(leaves.len(), &outcomes);
    let confident = examples.len() - reviewed;
    TextModelEvaluation {
        text_model: name.to_string(),
        view: view.to_string(),
        examples: figures.examples as i64,
        accuracy: figures.accuracy,
        macro_f1: figures.macro_f1,
        classes: figures
            .classes
            .iter()
            .zip(&leaves)
            .map(|(c, leaf)| ClassMetrics {
                leaf: leaf.clone(),
                precision: c.precision,
                recall: c.recall,
                f1: c.f1,
                support: c.support as i64,
            })
            .collect(),
        confusion: figures
            .confusion
            .iter()
            .zip(&leaves)
            .map(|(row, leaf)| ConfusionRow { leaf: leaf.clone(), counts: row.iter().map(|&n| n as i64).collect() })
            .collect(),
        leaves,
        calibration_error: figures.calibration_error,
        review_rate: reviewed as f64 / examples.len().max(1) as f64,
        accuracy_without_review: if confident == 0 { 0.0 } else { confident_right as f64 / confident as f64 },
        unknown_leaves: unknown,
    }
}

fn text_model_proto(row: &text_model::Model) -> TextModelProto {
    TextModelProto {
        name: row.name.clone(),
        view: row.view.clone(),
        taxonomy_version: row.taxonomy_version.clone(),
        create_time: Some(time::timestamp_from_micros(row.created_at)),
        active: row.active,
        examples: row.examples,
        corrections: row.corrections,
        features: row.features,
        leaves: serde_json::from_str(&row.leaves).unwrap_or_default(),
        review_threshold: row.review_threshold,
        temperature: row.temperature,
        training_seconds: row.training_seconds,
    }
}
