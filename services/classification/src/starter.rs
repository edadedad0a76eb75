//! The starter topic model (入门话题模型): labelled complaint texts in Chinese and English for every
//! leaf of the shipped taxonomy, shipped as data beside it (`taxonomy/starter/`), so that a fresh
//! install routes ordinary complaint language before the operator has labelled anything. At first
//! start the service trains a text model per view on the training corpus and puts it in force
//! with the shipped taxonomy; operators retrain on their own history later.
//!
//! The evaluation set was written apart from the training corpus (not paraphrases of its rows), so
//! its figures say how the model does on texts it has never seen.

use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex, PoisonError, Weak},
};

use serde::Deserialize;

use crate::model::text::{Labelled, TextModel, TrainSettings};

/// One labelled text: its leaf in the cause view (routing) and in the complaint view.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Example {
    pub text: String,
    pub cause: String,
    pub complaint: String,
}

impl Example {
    /// The leaf of `view` ("cause" or "complaint").
    pub fn leaf(&self, view: &str) -> Option<&str> {
        match view {
            "cause" => Some(&self.cause),
            "complaint" => Some(&self.complaint),
            _ => None,
        }
    }
}

/// The training corpus: a file per routing leaf, and files of one style across the leaves.
const TRAINING: [(&str, &str); 22] = [
    ("system.billing_error", include_str!("../taxonomy/starter/train/system.billing_error.jsonl")),
    ("system.call_record_dispute", include_str!("../taxonomy/starter/train/system.call_record_dispute.jsonl")),
    ("system.data_usage_dispute", include_str!("../taxonomy/starter/train/system.data_usage_dispute.jsonl")),
    ("system.coverage", include_str!("../taxonomy/starter/train/system.coverage.jsonl")),
    ("system.call_quality", include_str!("../taxonomy/starter/train/system.call_quality.jsonl")),
    ("system.broadband_fault", include_str!("../taxonomy/starter/train/system.broadband_fault.jsonl")),
    ("system.transaction_failure", include_str!("../taxonomy/starter/train/system.transaction_failure.jsonl")),
    ("system.spam_harassment", include_str!("../taxonomy/starter/train/system.spam_harassment.jsonl")),
    ("business.sp_fee", include_str!("../taxonomy/starter/train/business.sp_fee.jsonl")),
    ("business.package_rules", include_str!("../taxonomy/starter/train/business.package_rules.jsonl")),
    ("business.roaming_rules", include_str!("../taxonomy/starter/train/business.roaming_rules.jsonl")),
    ("business.product_retirement", include_str!("../taxonomy/starter/train/business.product_retirement.jsonl")),
    ("service.timeliness", include_str!("../taxonomy/starter/train/service.timeliness.jsonl")),
    ("service.attitude", include_str!("../taxonomy/starter/train/service.attitude.jsonl")),
    ("service.broken_promise", include_str!("../taxonomy/starter/train/service.broken_promise.jsonl")),
    ("service.channel_access", include_str!("../taxonomy/starter/train/service.channel_access.jsonl")),
    ("titles.en", include_str!("../taxonomy/starter/train/titles.en.jsonl")),
    ("messages.zh", include_str!("../taxonomy/starter/train/messages.zh.jsonl")),
    ("tickets.zh", include_str!("../taxonomy/starter/train/tickets.zh.jsonl")),
    ("complaints.zh", include_str!("../taxonomy/starter/train/complaints.zh.jsonl")),
    ("complaints.en", include_str!("../taxonomy/starter/train/complaints.en.jsonl")),
    // Texts that say nothing of their cause ("请回电", "Comcast"): the model learns to send
    // these to triage instead of guessing a leaf.
    ("unclear", include_str!("../taxonomy/starter/train/unclear.jsonl")),
];

/// The independent evaluation set, by language.
const EVALUATION: [(&str, &str); 2] = [
    ("zh", include_str!("../taxonomy/starter/evaluation/zh.jsonl")),
    ("en", include_str!("../taxonomy/starter/evaluation/en.jsonl")),
];

/// What a starter model's `training_job` says: trained on the shipped corpus, which retraining
/// from corrections can read back.
pub const STARTER_JOB: &str = "starter";

/// The views the starter corpus labels.
pub const VIEWS: [&str; 2] = ["cause", "complaint"];

#[derive(Debug, thiserror::Error)]
#[error("{file} line {line}: {message}")]
pub struct CorpusError {
    pub file: String,
    pub line: usize,
    pub message: String,
}

fn parse(file: &str, text: &str) -> Result<Vec<Example>, CorpusError> {
    text.lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(i, line)| {
            serde_json::from_str(line).map_err(|e| CorpusError {
                file: file.to_string(),
                line: i + 1,
                message: e.to_string(),
            })
        })
        .collect()
}

/// The training corpus.
pub fn training() -> Result<Vec<Example>, CorpusError> {
    let mut all = Vec::new();
    for (file, text) in TRAINING {
        all.extend(parse(&format!("train/{file}.jsonl"), text)?);
    }
    Ok(all)
}

/// The evaluation set, by language ("zh", "en").
pub fn evaluation() -> Result<BTreeMap<&'static str, Vec<Example>>, CorpusError> {
    EVALUATION
        .iter()
        .map(|(language, text)| Ok((*language, parse(&format!("evaluation/{language}.jsonl"), text)?)))
        .collect()
}

/// A model of `view` trained on `examples`, its labels in order of first appearance.
pub fn train_view(view: &str, examples: &[Example], settings: TrainSettings) -> TextModel {
    let mut labels: Vec<String> = Vec::new();
    let mut labelled = Vec::with_capacity(examples.len());
    for example in examples {
        let Some(leaf) = example.leaf(view) else { continue };
        let label = match labels.iter().position(|l| l == leaf) {
            Some(index) => index,
            None => {
                labels.push(leaf.to_string());
                labels.len() - 1
            }
        };
        labelled.push(Labelled { text: &example.text, label });
    }
    TextModel::train(labels, &labelled, settings)
}

/// The starter models of both views and the number of texts they learned from. Training is
/// deterministic, so they are shared while anyone holds them: services starting in this process
/// at the same time (the all-in-one mode) or while a caller keeps them (the tests) train them
/// once, and a lone service frees them as soon as it has stored them, rather than holding a
/// second copy of the models it serves for as long as it runs.
pub fn models() -> Result<Arc<Trained>, String> {
    static SHARED: Mutex<Weak<Trained>> = Mutex::new(Weak::new());
    let mut shared = SHARED.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(trained) = shared.upgrade() {
        return Ok(trained);
    }
    let corpus = training().map_err(|e| e.to_string())?;
    let models =
        VIEWS.iter().map(|view| (view.to_string(), train_view(view, &corpus, TrainSettings::default()))).collect();
    let trained = Arc::new(Trained { examples: corpus.len(), models });
    *shared = Arc::downgrade(&trained);
    Ok(trained)
}

/// What [`models`] trains.
#[derive(Debug)]
pub struct Trained {
    pub examples: usize,
    /// By view.
    pub models: Vec<(String, TextModel)>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_corpus_parses_and_covers_every_leaf_of_both_views() {
        let taxonomy =
            crate::taxonomy::Taxonomy::new(crate::taxonomy::parse(crate::taxonomy::DEFAULT_DOCUMENT).unwrap(), 1, 0)
                .unwrap();
        let corpus = training().unwrap();
        for view in VIEWS {
            for leaf in taxonomy.leaves_of(view) {
                if leaf.key == taxonomy.document.fallback_leaf {
                    continue;
                }
                let count = corpus.iter().filter(|e| e.leaf(view) == Some(leaf.key.as_str())).count();
                assert!(count >= 100, "{view} leaf {} has {count} examples", leaf.key);
            }
            for example in &corpus {
                let leaf = example.leaf(view).unwrap();
                assert!(taxonomy.leaf_in(view, leaf).is_some(), "{leaf} is not a leaf of {view}");
            }
        }
        for (language, examples) in evaluation().unwrap() {
            assert!(examples.len() >= 300, "{language}: {}", examples.len());
            let trained: std::collections::HashSet<&str> = corpus.iter().map(|e| e.text.as_str()).collect();
            assert!(examples.iter().all(|e| !trained.contains(e.text.as_str())), "{language} repeats a training text");
        }
    }
}
