//! What a trained model is judged by and how it is shown: a text model scored on labelled
//! examples, the API form of stored text models, and of a risk model's figures. Training, the API
//! and retraining (from corrections and from outcomes) all use these.

use csm_kit::time;
use csm_proto::classification::v1::{
    CalibrationBin, ClassMetrics, ConfusionRow, RiskEvaluation, TextModel as TextModelProto, TextModelEvaluation,
};

use crate::{
    model::{metrics, text::TextModel},
    store::text_model,
};

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

/// The API form of the figures of the risk model `name` on labelled customers.
pub fn risk_evaluation(name: &str, figures: &metrics::Risk) -> RiskEvaluation {
    RiskEvaluation {
        risk_model: name.to_string(),
        examples: figures.examples as i64,
        positives: figures.positives as i64,
        roc_auc: figures.roc_auc,
        log_loss: figures.log_loss,
        brier_score: figures.brier,
        calibration: figures
            .calibration
            .iter()
            .map(|b| CalibrationBin {
                lower: b.lower,
                upper: b.upper,
                mean_predicted: b.mean_predicted,
                observed_rate: b.observed,
                count: b.count as i64,
            })
            .collect(),
        calibration_error: figures.calibration_error,
        precision: figures.precision,
        recall: figures.recall,
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
