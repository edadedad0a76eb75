//! Retraining the dissatisfaction-risk model from outcomes (闭环学习): the latest outcome of each
//! customer that recovery reported (`crate::outcomes`) is added, with the customer's features as
//! they were then, to the examples the risk model in force was trained on, and the new model is
//! put in force only if it is not worse than the one in force.
//!
//! "Not worse" is judged on examples neither has seen: a fixed fifth of the labelled customers
//! (by a hash of the phone number) and a fixed fifth of the in-force model's examples (by a hash
//! of their features; they carry no phone number) are held out. The recipe in force (its own
//! examples alone) and the new one (those plus the outcomes) are each trained on the rest with
//! the same settings, and both are scored on each held-out part. When the in-force model's
//! examples were not kept, or are too few to train on without the held-out ones, the model in
//! force itself is scored as it is (it never saw the outcomes).
//!
//! On each held-out part the new model must keep its ROC AUC and its log loss within one held-out
//! example's worth of the model in force: the AUC may fall by at most `1 / min(dissatisfied,
//! recovered)` (one example ranked wrongly against every example of the other class; not judged
//! on a part of one class), the log loss may rise by at most `ln 2 / n` (one of the `n` examples
//! going from certain to a coin toss). Outcomes that contradict what the model rightly learned (a
//! careless mass of outcomes, a label read backwards) make it worse on the earlier examples and
//! are refused; outcomes that teach what it did not know cost nothing there and gain on the
//! held-out outcomes.
//!
//! With no risk model in force there is nothing to be worse than: the new model is put in force
//! (unless a dry run), and its figures on the held-out outcomes are recorded all the same. The
//! model put in force is trained on everything, the held-out examples included; the job keeps the
//! in-force model's examples as its parts (the outcomes are read again, the latest of each, by the
//! next retraining), and the new model takes over the in-force model's threshold and departments.

use std::sync::{
    Arc,
    atomic::{AtomicBool, Ordering},
};

use csm_kit::{cpu, error::Violations};
use csm_proto::classification::v1::{
    AddTrainingExamplesRequest, CreateTrainingJobRequest, CustomerFeatures, RetrainRiskFromOutcomesRequest,
    RiskEvaluation, RiskExample, TrainingJob, create_training_job_request::Training,
};
use prost::Message;
use sea_orm::ConnectionTrait;

use super::{Done, Stopped, Trainer, evaluation::risk_evaluation, retrain::held_out, risk, work};
use crate::{
    model::{
        metrics::Risk,
        risk::{Features, RiskModel, RiskSettings},
    },
    store::{models, outcomes, risk_model, training},
};

/// Labelled customers needed when the request does not say.
pub const DEFAULT_MIN_OUTCOMES: i64 = 50;

type Example = (Features, bool);

/// The labelled customers `request` needs.
pub fn needed(request: &RetrainRiskFromOutcomesRequest) -> i64 {
    if request.min_outcomes > 0 { request.min_outcomes } else { DEFAULT_MIN_OUTCOMES }
}

/// Why `labelled` customers, `dissatisfied` of them, are not enough to retrain on, if they are not.
pub fn too_few(labelled: u64, dissatisfied: u64, needed: i64) -> Option<String> {
    if i64::try_from(labelled).unwrap_or(i64::MAX) < needed {
        Some(format!("{labelled} labelled customers so far; {needed} are needed to retrain"))
    } else if dissatisfied == 0 || dissatisfied == labelled {
        Some("the outcomes need both dissatisfied and recovered customers".into())
    } else {
        None
    }
}

/// Whether `after` is not worse than `before` on the same held-out examples (see the module doc).
pub fn not_worse(before: &Risk, after: &Risk) -> bool {
    let n = before.examples.max(1) as f64;
    let smaller_class = before.positives.min(before.examples - before.positives.min(before.examples));
    let auc_kept = smaller_class == 0 || after.roc_auc >= before.roc_auc - 1.0 / smaller_class as f64;
    auc_kept && after.log_loss <= before.log_loss + std::f64::consts::LN_2 / n
}

/// One held-out part, scored by the model in force and by the new one.
#[derive(Debug, Clone)]
pub struct Compared {
    pub part: &'static str,
    pub before: Risk,
    pub after: Risk,
}

/// What the in-force model is compared as.
enum Baseline {
    /// Its recipe: these examples (the held-out ones left out), trained again.
    Recipe(Vec<Example>),
    /// Itself, as it is.
    AsIs(RiskModel),
}

pub async fn from_outcomes(
    trainer: &Trainer,
    job: &str,
    request: RetrainRiskFromOutcomesRequest,
    cancelled: Arc<AtomicBool>,
) -> Result<Done, Stopped> {
    let db = trainer.publisher().database().reader();
    let labelled: Vec<(String, Example)> = outcomes::all(db)
        .await?
        .into_iter()
        .map(|row| (row.phone_number, (serde_json::from_str(&row.features).unwrap_or_default(), row.dissatisfied)))
        .collect();
    let dissatisfied = labelled.iter().filter(|(_, (_, y))| *y).count() as u64;
    let labelled_count = labelled.len();
    if let Some(reason) = too_few(labelled_count as u64, dissatisfied, needed(&request)) {
        return Err(Stopped::Failed(reason));
    }
    let in_force = trainer.in_force().risk();
    let row = match &in_force {
        Some(loaded) => models::risk_model(db, &loaded.name).await?,
        None => None,
    };
    let earlier = match &row {
        Some(row) => kept_examples(db, row).await?,
        None => None,
    };
    let plan = plan(&labelled, earlier.as_deref(), in_force.as_ref().map(|l| &l.model));
    let threshold = row.as_ref().map_or(0.5, |r| r.threshold);
    let (compared, new_alone) =
        cpu::run("risk model comparison", move || compare(plan, threshold)).await.map_err(work::stopped)?;
    if cancelled.load(Ordering::Relaxed) {
        return Err(Stopped::Cancelled);
    }
    let in_force_name = in_force.as_ref().map_or("", |l| l.name.as_str());
    let mut risk_comparison: Vec<RiskEvaluation> = compared
        .iter()
        .flat_map(|c| [risk_evaluation(in_force_name, &c.before), risk_evaluation("new", &c.after)])
        .collect();
    risk_comparison.extend(new_alone.iter().map(|figures| risk_evaluation("new", figures)));
    let judged = judge(&compared);
    tracing::info!(job, outcomes = labelled.len(), not_worse = judged.is_ok(), "retrained from outcomes");
    if in_force.is_some()
        && let Err(reason) = judged
    {
        return Ok(Done {
            outcome: format!("not put in force: {reason}"),
            result: TrainingJob { risk_comparison, ..TrainingJob::default() },
            ..Done::default()
        });
    }

    let earlier_count = earlier.as_ref().map_or(0, Vec::len);
    let mut all: Vec<Example> = earlier.clone().unwrap_or_default();
    all.extend(labelled.into_iter().map(|(_, e)| e));
    let departments = row.as_ref().map_or_else(|| "{}".to_string(), |r| r.factor_departments.clone());
    let prepared = risk::PreparedRisk::new(all, threshold, departments);
    let stored = cpu::run("risk model fitting", move || risk::fit_risk(prepared)).await.map_err(work::stopped)??;
    if cancelled.load(Ordering::Relaxed) {
        return Err(Stopped::Cancelled);
    }
    let activate = !request.dry_run;
    let figures: Vec<String> = compared.iter().map(describe).chain(new_alone.iter().map(describe_alone)).collect();
    Ok(Done {
        outcome: format!(
            "{}: {} labelled customers ({dissatisfied} dissatisfied) added to {earlier_count} earlier examples{}{}",
            if activate { "put in force" } else { "stored (dry run)" },
            labelled_count,
            if in_force.is_none() { "; no risk model was in force" } else { "" },
            if figures.is_empty() { String::new() } else { format!("; {}", figures.join("; ")) },
        ),
        risk_model: Some(stored),
        activate,
        result: TrainingJob { risk_comparison, ..TrainingJob::default() },
        parts: earlier.as_deref().map(parts_of).unwrap_or_default(),
        ..Done::default()
    })
}

/// What the comparison trains and scores.
struct Plan {
    baseline: Option<Baseline>,
    /// What the new model is trained on.
    fit: Vec<Example>,
    /// The held-out parts, by name.
    parts: Vec<(&'static str, Vec<Example>)>,
}

/// Holds out the fixed fifth of the outcomes and of the earlier examples, and chooses what the
/// model in force is compared as (see the module doc).
fn plan(labelled: &[(String, Example)], earlier: Option<&[Example]>, in_force: Option<&RiskModel>) -> Plan {
    let (outcomes_fit, outcomes_held): (Vec<_>, Vec<_>) =
        labelled.iter().partition(|(phone, _)| !held_out(phone.as_bytes()));
    let (earlier_fit, earlier_held): (Vec<Example>, Vec<Example>) =
        earlier.unwrap_or_default().iter().cloned().partition(|(features, _)| !held_out(&key(features)));
    let outcomes_held = outcomes_held.into_iter().map(|(_, e)| e.clone()).collect();
    let (baseline, mut fit, mut parts) = match in_force {
        Some(_) if trainable(&earlier_fit) => (
            Some(Baseline::Recipe(earlier_fit.clone())),
            earlier_fit,
            vec![("earlier examples", earlier_held), ("outcomes", outcomes_held)],
        ),
        Some(model) => (Some(Baseline::AsIs(model.clone())), Vec::new(), vec![("outcomes", outcomes_held)]),
        None => (None, Vec::new(), vec![("outcomes", outcomes_held)]),
    };
    fit.extend(outcomes_fit.into_iter().map(|(_, e)| e.clone()));
    parts.retain(|(_, held)| !held.is_empty());
    Plan { baseline, fit, parts }
}

/// CPU work: trains the baseline (if a recipe) and the new model, and scores both on each
/// held-out part; with nothing in force, the new model alone on everything held out.
fn compare(plan: Plan, threshold: f64) -> (Vec<Compared>, Option<Risk>) {
    let settings = RiskSettings::default();
    let new = RiskModel::train(&plan.fit, settings);
    let before = match plan.baseline {
        Some(Baseline::Recipe(examples)) => RiskModel::train(&examples, settings),
        Some(Baseline::AsIs(model)) => model,
        None => {
            let held: Vec<Example> = plan.parts.into_iter().flat_map(|(_, e)| e).collect();
            return (Vec::new(), (!held.is_empty()).then(|| new.evaluate(&held, threshold)));
        }
    };
    let compared = plan
        .parts
        .iter()
        .map(|(part, held)| Compared {
            part,
            before: before.evaluate(held, threshold),
            after: new.evaluate(held, threshold),
        })
        .collect();
    (compared, None)
}

/// Ok when the new model is not worse on any held-out part; otherwise why, in words.
pub fn judge(compared: &[Compared]) -> Result<(), String> {
    if compared.is_empty() {
        return Err("no held-out examples to compare the new model with the one in force on".into());
    }
    match compared.iter().find(|c| !not_worse(&c.before, &c.after)) {
        Some(worse) => Err(format!("worse than the model in force on {}", describe(worse))),
        None => Ok(()),
    }
}

fn describe(compared: &Compared) -> String {
    format!(
        "{} held-out {} ({} against {} for the model in force)",
        compared.before.examples,
        compared.part,
        figures(&compared.after),
        figures(&compared.before)
    )
}

fn describe_alone(figures_of_new: &Risk) -> String {
    format!("{} held-out outcomes ({})", figures_of_new.examples, figures(figures_of_new))
}

fn figures(risk: &Risk) -> String {
    format!("ROC AUC {:.3}, log loss {:.3}", risk.roc_auc, risk.log_loss)
}

/// Enough to fit a model on: examples of both classes.
fn trainable(examples: &[Example]) -> bool {
    examples.iter().any(|(_, y)| *y) && examples.iter().any(|(_, y)| !*y)
}

/// What an earlier example is held out by: its features, which a caller's examples all have.
fn key(features: &Features) -> Vec<u8> {
    serde_json::to_vec(features).unwrap_or_default()
}

/// The examples the risk model `row` was trained on, from its job; `None` when they were not kept.
async fn kept_examples(db: &impl ConnectionTrait, row: &risk_model::Model) -> Result<Option<Vec<Example>>, Stopped> {
    if row.training_job.is_empty() {
        return Ok(None);
    }
    let Some(job) = training::job(db, &row.training_job).await? else { return Ok(None) };
    let Ok(request) = CreateTrainingJobRequest::decode(job.request.as_slice()) else { return Ok(None) };
    let mut given = match request.training {
        Some(Training::RiskModel(request)) => request.examples,
        // A model retrained from outcomes keeps the examples it started from as its job's parts.
        Some(Training::RetrainRiskFromOutcomes(_)) => Vec::new(),
        _ => return Ok(None),
    };
    given.extend(work::job_examples(&training::parts(db, &job.name).await?)?.1);
    // They were checked when the model was trained.
    Ok(Some(risk::examples(&given, &mut Violations::new())))
}

/// Examples as parts of a job, in chunks.
fn parts_of(examples: &[Example]) -> Vec<Vec<u8>> {
    examples
        .chunks(10_000)
        .map(|chunk| {
            AddTrainingExamplesRequest {
                name: String::new(),
                text_examples: Vec::new(),
                risk_examples: chunk
                    .iter()
                    .map(|(features, dissatisfied)| RiskExample {
                        features: Some(CustomerFeatures {
                            numeric: features.numeric.iter().map(|(k, v)| (k.clone(), *v)).collect(),
                            categorical: features.categorical.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
                        }),
                        dissatisfied: *dissatisfied,
                    })
                    .collect(),
            }
            .encode_to_vec()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn figures(examples: u64, positives: u64, roc_auc: f64, log_loss: f64) -> Risk {
        Risk {
            examples,
            positives,
            roc_auc,
            log_loss,
            brier: 0.0,
            calibration: Vec::new(),
            calibration_error: 0.0,
            precision: 0.0,
            recall: 0.0,
        }
    }

    #[test]
    fn not_worse_allows_one_held_out_example_either_way() {
        // 40 held out, 10 of them dissatisfied: AUC may fall by 1/10, log loss rise by ln 2 / 40.
        let before = figures(40, 10, 0.90, 0.40);
        let slack = std::f64::consts::LN_2 / 40.0;
        assert!(not_worse(&before, &before));
        assert!(not_worse(&before, &figures(40, 10, 0.95, 0.30)));
        assert!(not_worse(&before, &figures(40, 10, 0.80 + 1e-9, 0.40 + slack - 1e-9)));
        assert!(!not_worse(&before, &figures(40, 10, 0.80 - 1e-6, 0.40)), "AUC fell by more than one example");
        assert!(!not_worse(&before, &figures(40, 10, 0.90, 0.40 + slack + 1e-6)), "log loss rose too far");
        // A part of one class has no AUC to keep: log loss alone judges.
        let one_class = figures(12, 12, 0.5, 0.20);
        assert!(not_worse(&one_class, &figures(12, 12, 0.0, 0.20)));
        assert!(!not_worse(&one_class, &figures(12, 12, 0.5, 0.30)));
    }

    #[test]
    fn too_few_outcomes_at_the_boundary() {
        assert_eq!(needed(&RetrainRiskFromOutcomesRequest::default()), DEFAULT_MIN_OUTCOMES);
        assert_eq!(needed(&RetrainRiskFromOutcomesRequest { min_outcomes: 7, dry_run: false }), 7);
        assert!(too_few(49, 20, 50).unwrap().contains("49 labelled customers so far; 50 are needed"));
        assert_eq!(too_few(50, 20, 50), None);
        assert!(too_few(50, 0, 50).unwrap().contains("both dissatisfied and recovered"));
        assert!(too_few(50, 50, 50).unwrap().contains("both dissatisfied and recovered"));
    }

    /// Earlier examples where a high call-drop rate made customers dissatisfied (as the model in
    /// force rightly learned), and outcomes of customers by phone number, labelled the same way or
    /// backwards.
    fn population(n: usize, seed: u64) -> Vec<Example> {
        let mut state = seed;
        let mut next = move || {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (state >> 11) as f64 / (1u64 << 53) as f64
        };
        (0..n)
            .map(|_| {
                let drop_rate = next() * 5.0;
                let dissatisfied = next() < 1.0 / (1.0 + (-(-3.5 + 1.4 * drop_rate)).exp());
                (features(drop_rate), dissatisfied)
            })
            .collect()
    }

    fn features(drop_rate: f64) -> Features {
        let mut features = Features::default();
        features.numeric.insert("kqi.call_drop_rate".into(), drop_rate);
        features
    }

    fn outcomes(n: usize, backwards: bool) -> Vec<(String, Example)> {
        (0..n)
            .map(|i| {
                let drop_rate = 5.0 * i as f64 / n as f64;
                (format!("1390000{i:04}"), (features(drop_rate), (drop_rate > 2.5) != backwards))
            })
            .collect()
    }

    fn retrain(backwards: bool) -> Result<(), String> {
        let earlier = population(200, 11);
        let in_force = RiskModel::train(&earlier, RiskSettings::default());
        let plan = plan(&outcomes(80, backwards), Some(&earlier), Some(&in_force));
        assert!(matches!(plan.baseline, Some(Baseline::Recipe(_))));
        assert_eq!(plan.parts.iter().map(|(p, _)| *p).collect::<Vec<_>>(), ["earlier examples", "outcomes"]);
        let (compared, alone) = compare(plan, 0.5);
        assert!(alone.is_none());
        judge(&compared)
    }

    #[test]
    fn outcomes_that_agree_with_what_was_learned_are_not_worse() {
        assert_eq!(retrain(false), Ok(()));
    }

    #[test]
    fn outcomes_read_backwards_are_refused_on_the_earlier_examples() {
        let refused = retrain(true).unwrap_err();
        assert!(refused.starts_with("worse than the model in force on"), "{refused}");
        assert!(refused.contains("held-out earlier examples"), "{refused}");
    }

    #[test]
    fn the_held_out_fifth_is_fixed_by_phone_number() {
        let labelled = outcomes(200, false);
        let first = plan(&labelled, None, None);
        let again = plan(&labelled, None, None);
        assert_eq!(first.parts, again.parts);
        let held = first.parts[0].1.len();
        assert!((25..=55).contains(&held), "about a fifth held out: {held}");
        assert_eq!(first.fit.len() + held, 200);
        assert!(first.baseline.is_none());
        // Without earlier examples kept, the model in force is compared as it is, on outcomes alone.
        let in_force = RiskModel::train(&population(100, 3), RiskSettings::default());
        let as_is = plan(&labelled, None, Some(&in_force));
        assert!(matches!(as_is.baseline, Some(Baseline::AsIs(_))));
        assert_eq!(as_is.parts.len(), 1);
        assert_eq!(judge(&[]).unwrap_err(), "no held-out examples to compare the new model with the one in force on");
    }
}
