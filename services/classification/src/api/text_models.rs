//! Text models: train one per labelled view, evaluate on held-out sets, list and roll back.

use csm_kit::{error::Violations, time};
use csm_proto::classification::v1::{
    ClassMetrics, ConfusionRow, EvaluateTextModelsRequest, EvaluateTextModelsResponse, ListTextModelsResponse,
    TextModel as TextModelProto, TextModelEvaluation, TrainTextModelsRequest, TrainTextModelsResponse,
    create_training_job_request,
};

use super::ClassificationApi;
use crate::{
    engine,
    error::Error,
    model::{metrics, text::TextModel},
    store::{models, text_model},
};

impl ClassificationApi {
    /// Runs as a training job and waits for it.
    pub(super) async fn train_text(
        &self,
        request: TrainTextModelsRequest,
        by: &str,
    ) -> Result<TrainTextModelsResponse, Error> {
        let job = self.run_job_to_end(create_training_job_request::Training::TextModels(request), by).await?;
        Ok(TrainTextModelsResponse { models: job.trained_text_models })
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

/// Scores `model` on `(text, gold leaf)` pairs: accuracy, macro-F1, per-class figures, the
/// confusion matrix, calibration, and the review rate.
pub fn evaluate(name: &str, view: &str, model: &TextModel, examples: &[(String, String)]) -> TextModelEvaluation {
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

pub fn text_model_proto(row: &text_model::Model) -> TextModelProto {
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
        training_job: row.training_job.clone(),
    }
}
