//! Training jobs through the API: create (checked before it is queued), add examples in parts,
//! start, read, list, cancel and wait; and the evaluation of whole routing decisions.

use std::{collections::HashMap, time::Duration};

use csm_kit::{error::Violations, names, time};
use csm_proto::classification::v1::{
    AddTrainingExamplesRequest, CreateTrainingJobRequest, EvaluateRoutingRequest, ListTrainingJobsResponse,
    RoutingEvaluation, RoutingGroup, TrainingJob, create_training_job_request::Training,
};
use prost::Message;

use super::ClassificationApi;
use crate::{
    engine::{self, Classifier, LoadedTextModel},
    error::Error,
    routing_evaluation::{self, Tally},
    store::{
        models, outcomes, statistics,
        training::{self, state},
        training_job,
    },
    training::{enough_leaves, job_proto, needed, taxonomy_for, text_examples_by_view, train_settings},
};

/// The longest a WaitTrainingJob call waits, unless the server's request timeout is shorter.
const MAX_WAIT: Duration = Duration::from_secs(60);

impl ClassificationApi {
    pub(super) async fn create_job(&self, request: CreateTrainingJobRequest, by: &str) -> Result<TrainingJob, Error> {
        let db = self.publisher.database().writer();
        let mut violations = Violations::new();
        let request_id = names::request_id(&mut violations, "request_id", &request.request_id).map(str::to_string);
        violations.into_result()?;
        if let Some(key) = &request_id
            && let Some(existing) = training::job_by_request(db, key).await?
        {
            return Ok(job_proto(&existing));
        }
        let (kind, examples) = self.check(&request).await?;
        let row = training::new_job(&request, kind, examples as i64, by, request_id, time::now_micros());
        if let Err(error) = training::insert_job(db, row.clone()).await {
            // The same key created through another replica meanwhile: that job is the answer.
            return match training::job_by_request(db, &row.request_id).await? {
                Some(existing) => Ok(job_proto(&existing)),
                None => Err(error.into()),
            };
        }
        self.trainer.wake();
        tracing::info!(job = %row.name, kind, examples, by, "training job created");
        Ok(job_proto(&row))
    }

    /// Refuses what cannot train before it is queued; returns the job's kind and example count.
    async fn check(&self, request: &CreateTrainingJobRequest) -> Result<(&'static str, usize), Error> {
        match &request.training {
            Some(Training::TextModels(text)) => {
                train_settings(text)?;
                let (taxonomy, _) = taxonomy_for(&self.trainer, &text.taxonomy_version).await?;
                let by_view = text_examples_by_view(&taxonomy, &text.examples, "text_models.examples")?;
                if !request.collect_examples && !text.include_corrections {
                    enough_leaves(&by_view)?;
                }
                Ok(("text_models", text.examples.len()))
            }
            Some(Training::RiskModel(risk)) => {
                if !request.collect_examples {
                    crate::training::prepare_risk(risk, Vec::new())?;
                }
                Ok(("risk_model", risk.examples.len()))
            }
            Some(Training::RetrainRiskFromOutcomes(retrain)) => {
                if retrain.min_outcomes < 0 {
                    return Err(
                        Violations::one("retrain_risk_from_outcomes.min_outcomes", "must not be negative").into()
                    );
                }
                let (labelled, dissatisfied) = outcomes::counts(self.publisher.database().reader()).await?;
                if let Some(reason) = crate::training::too_few(labelled, dissatisfied, needed(retrain)) {
                    return Err(Error::precondition("riskModels", reason));
                }
                Ok((crate::training::RETRAIN_FROM_OUTCOMES, 0))
            }
            Some(Training::RetrainFromCorrections(retrain)) => {
                let classifier = self.in_force.classifier();
                let db = self.publisher.database().reader();
                let view = classifier.taxonomy.routing_view();
                let corrections = statistics::corrections_for(db, &classifier.taxonomy.name)
                    .await?
                    .iter()
                    .filter(|c| c.view.is_empty() || c.view == view)
                    .count() as i64;
                let needed = if retrain.min_corrections > 0 {
                    retrain.min_corrections
                } else {
                    crate::training::DEFAULT_MIN_CORRECTIONS
                };
                if retrain.min_corrections < 0 {
                    return Err(
                        Violations::one("retrain_from_corrections.min_corrections", "must not be negative").into()
                    );
                }
                if corrections < needed {
                    return Err(Error::precondition(
                        &classifier.taxonomy.name,
                        format!("{corrections} corrections so far; {needed} are needed to retrain"),
                    ));
                }
                Ok(("retrain_from_corrections", 0))
            }
            None => Err(Violations::one("training", "name what to train").into()),
        }
    }

    pub(super) async fn add_examples(&self, request: AddTrainingExamplesRequest) -> Result<TrainingJob, Error> {
        let mut row = self.collecting(&request.name).await?;
        let create =
            CreateTrainingJobRequest::decode(row.request.as_slice()).map_err(|e| Error::Internal(e.to_string()))?;
        let added = match create.training {
            Some(Training::TextModels(text)) => {
                if !request.risk_examples.is_empty() {
                    return Err(Violations::one("risk_examples", "this job trains text models").into());
                }
                let (taxonomy, _) = taxonomy_for(&self.trainer, &text.taxonomy_version).await?;
                text_examples_by_view(&taxonomy, &request.text_examples, "text_examples")?;
                request.text_examples.len()
            }
            Some(Training::RiskModel(_)) => {
                if !request.text_examples.is_empty() {
                    return Err(Violations::one("text_examples", "this job trains a risk model").into());
                }
                request.risk_examples.len()
            }
            _ => return Err(Error::precondition(&request.name, "this job takes no examples")),
        };
        if added == 0 {
            return Err(Violations::one("text_examples", "no examples in this part").into());
        }
        // Counted first: on a job no longer collecting nothing is added, and concurrent parts
        // take their turns on the job's row.
        let uow = self.publisher.begin().await?;
        if !training::count_examples(&*uow, &row.name, added as i64).await? {
            return Err(Error::precondition(&request.name, "the job no longer collects examples"));
        }
        training::add_part(&*uow, &row.name, request.encode_to_vec()).await?;
        uow.commit().await?;
        row.examples += added as i64;
        Ok(job_proto(&row))
    }

    pub(super) async fn start_job(&self, name: &str) -> Result<TrainingJob, Error> {
        self.collecting(name).await?;
        let db = self.publisher.database().writer();
        if !training::transition(db, name, &[state::COLLECTING], state::PENDING, Vec::new()).await? {
            return Err(Error::precondition(name, "the job no longer collects examples"));
        }
        self.trainer.wake();
        self.job(name).await
    }

    async fn collecting(&self, name: &str) -> Result<training_job::Model, Error> {
        let row = self.job_row(name).await?;
        if row.state != state::COLLECTING {
            return Err(Error::precondition(name, format!("the job is {}, not collecting examples", row.state)));
        }
        Ok(row)
    }

    async fn job_row(&self, name: &str) -> Result<training_job::Model, Error> {
        training::job(self.publisher.database().writer(), name).await?.ok_or_else(|| Error::NotFound(name.to_string()))
    }

    pub(super) async fn job(&self, name: &str) -> Result<TrainingJob, Error> {
        Ok(job_proto(&self.job_row(name).await?))
    }

    pub(super) async fn jobs(&self, page_size: i32) -> Result<ListTrainingJobsResponse, Error> {
        if !(0..=500).contains(&page_size) {
            return Err(Violations::one("page_size", "must be between 0 and 500").into());
        }
        let limit = if page_size == 0 { 50 } else { page_size as u64 };
        let rows = training::list_jobs(self.publisher.database().reader(), limit).await?;
        Ok(ListTrainingJobsResponse { training_jobs: rows.iter().map(job_proto).collect() })
    }

    pub(super) async fn cancel_job(&self, name: &str) -> Result<TrainingJob, Error> {
        let row = self.job_row(name).await?;
        let open = [state::COLLECTING, state::PENDING, state::RUNNING];
        let columns = vec![
            (training_job::Column::Error, "cancelled".into()),
            (training_job::Column::EndedAt, time::now_micros().into()),
        ];
        let db = self.publisher.database().writer();
        if !training::transition(db, name, &open, state::CANCELLED, columns).await? {
            let now = self.job_row(name).await.map_or(row.state, |r| r.state);
            return Err(Error::precondition(name, format!("the job has already ended ({now})")));
        }
        tracing::info!(job = %name, "training job cancelled");
        self.job(name).await
    }

    pub(super) async fn wait_job(
        &self,
        name: &str,
        timeout: Option<prost_types::Duration>,
    ) -> Result<TrainingJob, Error> {
        let timeout = match timeout {
            Some(d) if d.seconds < 0 || d.nanos < 0 => {
                return Err(Violations::one("timeout", "must not be negative").into());
            }
            Some(d) => Duration::from_secs(d.seconds.unsigned_abs())
                .saturating_add(Duration::from_nanos(d.nanos.unsigned_abs().into())),
            None => MAX_WAIT,
        };
        // Answered with the job as it is before the server's own request timeout cuts the call.
        let longest = MAX_WAIT.min(self.trainer.longest_wait());
        let timeout = if timeout.is_zero() { longest } else { timeout.min(longest) };
        let job = self.trainer.wait(name, timeout).await?;
        if job.activated {
            self.in_force.catch_up(self.publisher.database().reader()).await?;
        }
        Ok(job_proto(&job))
    }

    /// Creates a job and waits for its end: the synchronous TrainTextModels and TrainRiskModel.
    pub(super) async fn run_job_to_end(&self, training: Training, by: &str) -> Result<TrainingJob, Error> {
        let request = CreateTrainingJobRequest { training: Some(training), ..Default::default() };
        let name = self.create_job(request, by).await?.name;
        let row = loop {
            let row = self.trainer.wait(&name, MAX_WAIT).await?;
            if state::ended(&row.state) {
                break row;
            }
        };
        if row.state != state::SUCCEEDED {
            return Err(Error::precondition(&name, format!("training did not finish: {}", row.error)));
        }
        if row.activated {
            self.in_force.catch_up(self.publisher.database().reader()).await?;
        }
        Ok(job_proto(&row))
    }

    pub(super) async fn evaluate_routing(&self, request: EvaluateRoutingRequest) -> Result<RoutingEvaluation, Error> {
        let (taxonomy, in_force) = taxonomy_for(&self.trainer, &request.taxonomy_version).await?;
        let view = taxonomy.routing_view().to_string();
        let db = self.publisher.database().reader();
        let model: Option<LoadedTextModel> = if !request.text_model.is_empty() {
            let row = models::text_model(db, &request.text_model)
                .await?
                .ok_or_else(|| Error::NotFound(request.text_model.clone()))?;
            if row.view != view {
                return Err(Violations::one("text_model", format!("a model of view {}, not {view}", row.view)).into());
            }
            let model = engine::decode_text_model(&row.body).map_err(|e| Error::Internal(e.to_string()))?;
            Some(LoadedTextModel { name: row.name, model })
        } else if in_force {
            self.in_force
                .classifier()
                .text_model(&view)
                .map(|loaded| LoadedTextModel { name: loaded.name.clone(), model: loaded.model.clone() })
        } else {
            match models::models_of_version(db, &taxonomy.name).await?.into_iter().find(|row| row.view == view) {
                Some(row) => Some(LoadedTextModel {
                    model: engine::decode_text_model(&row.body).map_err(|e| Error::Internal(e.to_string()))?,
                    name: row.name,
                }),
                None => None,
            }
        };
        let mut violations = Violations::new();
        let mut examples: Vec<(String, String)> = Vec::new();
        for (i, example) in request.examples.iter().enumerate() {
            match example.leaves.get(&view) {
                _ if example.text.trim().is_empty() => violations.add(format!("examples[{i}].text"), "required"),
                Some(leaf) if taxonomy.leaf(leaf).is_some() => examples.push((example.text.clone(), leaf.clone())),
                Some(leaf) => {
                    violations.add(format!("examples[{i}].leaves[{view}]"), format!("{leaf} is not a routing leaf"))
                }
                None => violations.add(format!("examples[{i}].leaves"), format!("needs a leaf in view {view}")),
            }
            if violations.iter().count() >= 20 {
                break;
            }
        }
        if request.examples.is_empty() {
            violations.add("examples", "required");
        }
        violations.into_result()?;
        let model_name = model.as_ref().map(|m| m.name.clone()).unwrap_or_default();
        let taxonomy_name = taxonomy.name.clone();
        let models: HashMap<String, LoadedTextModel> = model.into_iter().map(|m| (view.clone(), m)).collect();
        let figures = csm_kit::cpu::run("routing evaluation", move || {
            let classifier = Classifier::new(taxonomy, models);
            routing_evaluation::evaluate(&classifier, examples.iter().map(|(t, l)| (t.as_str(), l.as_str())))
        })
        .await?;
        let groups = |tallies: &std::collections::BTreeMap<String, Tally>| -> Vec<RoutingGroup> {
            tallies
                .iter()
                .filter(|(key, _)| !key.is_empty())
                .map(|(key, t)| RoutingGroup {
                    key: key.clone(),
                    support: t.support as i64,
                    correct: t.correct as i64,
                    routed: t.routed as i64,
                    recall: t.recall(),
                    precision: t.precision(),
                })
                .collect()
        };
        Ok(RoutingEvaluation {
            taxonomy_version: taxonomy_name,
            text_model: model_name,
            examples: figures.examples as i64,
            leaf_accuracy: figures.leaf_accuracy(),
            department_accuracy: figures.department_accuracy(),
            triage_rate: figures.triage_rate(),
            review_rate: figures.review_rate(),
            by_rule: figures.by_rule as i64,
            by_model: figures.by_model as i64,
            by_branch: figures.by_branch as i64,
            leaves: groups(&figures.leaves),
            departments: groups(&figures.departments),
        })
    }
}
