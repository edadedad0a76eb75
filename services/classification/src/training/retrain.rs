//! Learning from corrections (纠错学习): the corrections agents made to routing classifications are
//! added to the examples the routing model in force was trained on, and the new model is put in
//! force only if it is not worse than the one in force.
//!
//! "Not worse" is judged on held-out examples neither has seen: a fixed fifth of the original
//! examples is set aside, the recipe in force (its examples alone) and the new one (its examples
//! plus the corrections) are each trained on the rest with the same settings, and both are scored
//! on the fifth. The new model must keep accuracy and macro-F1 within one held-out example's worth:
//! corrections that contradict what the model rightly learned (a careless agent, a wrong mass
//! correction) make it worse there and are refused; corrections that teach what it did not know
//! cost nothing there.

use std::{
    collections::HashMap,
    sync::{Arc, atomic::AtomicBool},
};

use csm_proto::classification::v1::{
    AddTrainingExamplesRequest, LabelledText, RetrainFromCorrectionsRequest, TextModelEvaluation, TrainingJob,
};
use prost::Message;

use super::{Done, Stopped, Trainer, evaluation::evaluate, work};
use crate::{
    model::text::TrainSettings,
    store::{models, statistics},
};

/// A text and its leaf.
type Example = (String, String);

/// Corrections needed when the request does not say.
pub const DEFAULT_MIN_CORRECTIONS: i64 = 20;

pub async fn from_corrections(
    trainer: &Trainer,
    job: &str,
    request: RetrainFromCorrectionsRequest,
    cancelled: Arc<AtomicBool>,
) -> Result<Done, Stopped> {
    let classifier = trainer.in_force().classifier();
    let taxonomy = &classifier.taxonomy;
    let view = taxonomy.routing_view().to_string();
    let in_force = classifier
        .text_model(&view)
        .ok_or_else(|| Stopped::Failed(format!("no routing model is in force for {}", taxonomy.name)))?;
    let db = trainer.publisher().database().reader();
    let row = models::text_model(db, &in_force.name)
        .await?
        .ok_or_else(|| Stopped::Failed(format!("{} is no longer stored", in_force.name)))?;
    let originals = work::examples_of(trainer, &row, taxonomy).await?.ok_or_else(|| {
        Stopped::Failed(format!("the examples {} was trained on were not kept; train it again first", row.name))
    })?;
    let corrections: Vec<(String, String)> = statistics::corrections_for(db, &taxonomy.name)
        .await?
        .into_iter()
        .filter(|c| (c.view.is_empty() || c.view == view) && taxonomy.leaf_in(&view, &c.to_leaf).is_some())
        .filter(|c| !c.text.trim().is_empty())
        .map(|c| (c.text, c.to_leaf))
        .collect();
    let needed = if request.min_corrections > 0 { request.min_corrections } else { DEFAULT_MIN_CORRECTIONS };
    if (corrections.len() as i64) < needed {
        return Err(Stopped::Failed(format!("{} corrections so far; {needed} are needed", corrections.len())));
    }

    let (fit, held_out) = split(&originals);
    let settings = TrainSettings::default();
    let leaves_of = |examples: &[(String, String)]| -> Vec<String> {
        taxonomy
            .leaves_of(&view)
            .into_iter()
            .map(|leaf| leaf.key.clone())
            .filter(|key| examples.iter().any(|(_, l)| l == key))
            .collect()
    };
    let baseline = work::train(leaves_of(&fit), fit.clone(), settings, cancelled.clone()).await?;
    let mut with_corrections = fit;
    with_corrections.extend(corrections.iter().cloned());
    let candidate = work::train(leaves_of(&with_corrections), with_corrections, settings, cancelled.clone()).await?;
    let (before, after) = {
        let (name, view, held_out) = (in_force.name.clone(), view.clone(), held_out.clone());
        csm_kit::cpu::run("text model evaluation", move || {
            (evaluate(&name, &view, &baseline, &held_out), evaluate("new", &view, &candidate, &held_out))
        })
        .await
        .map_err(|e| Stopped::Failed(e.to_string()))?
    };
    // One held-out example either way is not a difference.
    let tolerance = 1.0 / held_out.len().max(1) as f64;
    let not_worse = after.accuracy >= before.accuracy - tolerance && after.macro_f1 >= before.macro_f1 - tolerance;
    let figures = |e: &TextModelEvaluation| format!("accuracy {:.3}, macro-F1 {:.3}", e.accuracy, e.macro_f1);
    let comparison = vec![before.clone(), after.clone()];
    tracing::info!(job, corrections = corrections.len(), not_worse, "retrained from corrections");
    if !not_worse {
        return Ok(Done {
            outcome: format!(
                "not put in force: worse than the model in force on {} held-out examples ({} against {})",
                held_out.len(),
                figures(&after),
                figures(&before)
            ),
            result: TrainingJob { comparison, ..TrainingJob::default() },
            ..Done::default()
        });
    }

    let originals_kept = originals.clone();
    let mut all = originals;
    all.extend(corrections.iter().cloned());
    let started = std::time::Instant::now();
    let model = work::train(leaves_of(&all), all.clone(), settings, cancelled).await?;
    let stored = models::text_model_row(
        &model,
        &view,
        &taxonomy.name,
        all.len(),
        corrections.len() as i64,
        started.elapsed().as_secs_f64(),
    )?;
    let activate = !request.dry_run;
    Ok(Done {
        outcome: format!(
            "{}: {} corrections added; on {} held-out examples {} against {} for the model in force",
            if activate { "put in force" } else { "stored (dry run)" },
            corrections.len(),
            held_out.len(),
            figures(&after),
            figures(&before)
        ),
        text_models: vec![stored],
        activate,
        result: TrainingJob { comparison, ..TrainingJob::default() },
        // The originals alone: the next retraining adds the corrections (the latest of each) again.
        parts: parts_of(&view, &originals_kept),
        ..Done::default()
    })
}

/// A fixed fifth held out, by a hash of each text, so the same texts are held out every time.
fn split(examples: &[Example]) -> (Vec<Example>, Vec<Example>) {
    examples.iter().cloned().partition(|(text, _)| !held_out(text.as_bytes()))
}

/// Whether the example keyed `key` is in the fixed fifth held out for judging a retrained model:
/// a hash (FNV-1a) of the key, so the same examples are held out on every machine, every time.
pub fn held_out(key: &[u8]) -> bool {
    let hash = key.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3));
    hash % 5 == 0
}

/// The examples a retrained model was trained on, as parts of its job, in chunks.
fn parts_of(view: &str, examples: &[(String, String)]) -> Vec<Vec<u8>> {
    examples
        .chunks(10_000)
        .map(|chunk| {
            AddTrainingExamplesRequest {
                name: String::new(),
                text_examples: chunk
                    .iter()
                    .map(|(text, leaf)| LabelledText {
                        text: text.clone(),
                        leaves: HashMap::from([(view.to_string(), leaf.clone())]),
                    })
                    .collect(),
                risk_examples: Vec::new(),
            }
            .encode_to_vec()
        })
        .collect()
}
