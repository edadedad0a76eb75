//! The dissatisfaction-risk model: train on past outcomes, evaluate, roll back, score a customer.

use std::{collections::HashMap, time::Instant};

use csm_kit::{error::Violations, time};
use csm_proto::classification::v1::{
    CalibrationBin, CustomerFeatures, EvaluateRiskModelRequest, ListRiskModelsResponse, RiskEvaluation, RiskExample,
    RiskFactor, RiskModel as RiskModelProto, RiskScore, ScoreCustomerRequest, TrainRiskModelRequest,
    create_training_job_request,
};

use super::ClassificationApi;
use crate::{
    engine::LoadedRiskModel,
    error::Error,
    model::{
        metrics,
        risk::{Features, RiskModel, RiskSettings},
    },
    store::{customers, models, risk_model},
};

impl ClassificationApi {
    /// Runs as a training job and waits for it.
    pub(super) async fn train_risk(&self, request: TrainRiskModelRequest, by: &str) -> Result<RiskModelProto, Error> {
        let training = create_training_job_request::Training::RiskModel(request);
        let job = self.run_job_to_end(training, by).await?;
        job.trained_risk_model.ok_or_else(|| Error::Internal(format!("{} stored no risk model", job.name)))
    }

    pub(super) async fn evaluate_risk(&self, request: EvaluateRiskModelRequest) -> Result<RiskEvaluation, Error> {
        let loaded = self.risk_model_named(&request.name).await?;
        let mut violations = Violations::new();
        let examples = examples(&request.examples, &mut violations);
        if examples.is_empty() {
            violations.add("examples", "required");
        }
        violations.into_result()?;
        let outcomes: Vec<(bool, f64)> = examples.iter().map(|(f, y)| (*y, loaded.model.score(f))).collect();
        let figures = metrics::risk(&outcomes, loaded.threshold);
        Ok(RiskEvaluation {
            risk_model: loaded.name.clone(),
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
        })
    }

    pub(super) async fn risk_models(&self) -> Result<ListRiskModelsResponse, Error> {
        let rows = models::list_risk_models(self.publisher.database().reader()).await?;
        Ok(ListRiskModelsResponse { risk_models: rows.iter().map(|row| risk_model_proto(row, row.active)).collect() })
    }

    pub(super) async fn activate_risk(&self, name: &str) -> Result<RiskModelProto, Error> {
        let db = self.publisher.database().writer();
        let row = models::risk_model(db, name).await?.ok_or_else(|| Error::NotFound(name.to_string()))?;
        models::activate_risk_model(db, name).await?;
        self.in_force.reload(self.publisher.database().reader()).await?;
        tracing::info!(model = %name, "risk model activated");
        Ok(risk_model_proto(&row, true))
    }

    pub(super) async fn score(&self, request: &ScoreCustomerRequest) -> Result<RiskScore, Error> {
        let features = match (&request.features, request.phone_number.as_str()) {
            (Some(given), _) => features_from(given),
            (None, "") => return Err(Violations::one("phone_number", "give features or a phone number").into()),
            (None, phone) => {
                let row = customers::features_of(self.publisher.database().reader(), phone)
                    .await?
                    .ok_or_else(|| Error::NotFound(format!("phoneNumbers/{phone}")))?;
                serde_json::from_str(&row.features).map_err(|e| Error::Internal(e.to_string()))?
            }
        };
        let loaded = self.risk_model_named("").await?;
        let score = loaded.model.score(&features);
        let factors = loaded
            .model
            .explain(&features, 5)
            .into_iter()
            .map(|f| RiskFactor { feature: f.feature, value: f.value, contribution: f.contribution })
            .collect();
        Ok(RiskScore {
            risk_model: loaded.name.clone(),
            score,
            threshold: loaded.threshold,
            at_risk: score >= loaded.threshold,
            factors,
            features: Some(CustomerFeatures {
                numeric: features.numeric.into_iter().collect(),
                categorical: features.categorical.into_iter().collect(),
            }),
        })
    }

    /// The named model, or the one in force when `name` is empty.
    async fn risk_model_named(&self, name: &str) -> Result<std::sync::Arc<LoadedRiskModel>, Error> {
        if name.is_empty() {
            return self.in_force.risk().ok_or_else(|| Error::precondition("riskModels", "no risk model is in force"));
        }
        let row = models::risk_model(self.publisher.database().reader(), name)
            .await?
            .ok_or_else(|| Error::NotFound(name.to_string()))?;
        Ok(std::sync::Arc::new(LoadedRiskModel::from_row(row)?))
    }
}

/// A validated request to fit a risk model.
#[derive(Debug)]
pub struct PreparedRisk {
    examples: Vec<(Features, bool)>,
    settings: RiskSettings,
    threshold: f64,
    factor_departments: String,
}

/// Checks a request (with the examples sent in parts), field by field.
pub fn prepare_risk(request: &TrainRiskModelRequest, parts: Vec<RiskExample>) -> Result<PreparedRisk, Error> {
    let mut violations = Violations::new();
    let settings = RiskSettings {
        l2: if request.l2 == 0.0 { RiskSettings::default().l2 } else { request.l2 },
        min_level_count: if request.min_level_count == 0 {
            RiskSettings::default().min_level_count
        } else {
            usize::try_from(request.min_level_count).unwrap_or(0)
        },
    };
    if !(settings.l2.is_finite() && settings.l2 > 0.0) {
        violations.add("l2", "must be positive");
    }
    if request.min_level_count < 0 {
        violations.add("min_level_count", "must not be negative");
    }
    let threshold = if request.threshold == 0.0 { 0.5 } else { request.threshold };
    if !(threshold > 0.0 && threshold < 1.0) {
        violations.add("threshold", "must be between 0 and 1");
    }
    let mut given = request.examples.clone();
    given.extend(parts);
    let examples = examples(&given, &mut violations);
    let positives = examples.iter().filter(|(_, y)| *y).count();
    if examples.len() < 10 {
        violations.add("examples", "needs at least 10 examples");
    } else if positives == 0 || positives == examples.len() {
        violations.add("examples", "needs both dissatisfied and satisfied customers");
    }
    violations.into_result()?;
    let factor_departments =
        serde_json::to_string(&request.factor_departments).map_err(|e| Error::Internal(e.to_string()))?;
    Ok(PreparedRisk { examples, settings, threshold, factor_departments })
}

/// Fits the model (CPU work: run it on the blocking pool) and makes its stored row.
pub fn fit_risk(prepared: PreparedRisk) -> Result<risk_model::Model, Error> {
    let started = Instant::now();
    let model = RiskModel::train(&prepared.examples, prepared.settings);
    let positives = prepared.examples.iter().filter(|(_, y)| *y).count();
    Ok(risk_model::Model {
        name: format!("{}{}", models::RISK_MODELS, uuid::Uuid::now_v7()),
        created_at: time::now_micros(),
        active: false,
        examples: prepared.examples.len() as i64,
        positives: positives as i64,
        threshold: prepared.threshold,
        factor_departments: prepared.factor_departments,
        training_seconds: started.elapsed().as_secs_f64(),
        body: postcard::to_allocvec(&model).map_err(|e| Error::Internal(e.to_string()))?,
    })
}

fn examples(examples: &[RiskExample], violations: &mut Violations) -> Vec<(Features, bool)> {
    let mut out = Vec::with_capacity(examples.len());
    for (i, example) in examples.iter().enumerate() {
        let Some(given) = &example.features else {
            violations.add(format!("examples[{i}].features"), "required");
            continue;
        };
        if let Some((name, _)) = given.numeric.iter().find(|(_, v)| !v.is_finite()) {
            violations.add(format!("examples[{i}].features.numeric[{name}]"), "must be a finite number");
        }
        out.push((features_from(given), example.dissatisfied));
    }
    out
}

fn features_from(given: &CustomerFeatures) -> Features {
    Features {
        numeric: given.numeric.iter().filter(|(_, v)| v.is_finite()).map(|(k, v)| (k.clone(), *v)).collect(),
        categorical: given.categorical.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
    }
}

pub fn risk_model_proto(row: &risk_model::Model, active: bool) -> RiskModelProto {
    let model: Option<RiskModel> = postcard::from_bytes(&row.body).ok();
    let mut features: Vec<String> =
        model.as_ref().map(|m| m.feature_names().map(str::to_string).collect()).unwrap_or_default();
    features.dedup();
    RiskModelProto {
        name: row.name.clone(),
        create_time: Some(time::timestamp_from_micros(row.created_at)),
        active,
        examples: row.examples,
        positives: row.positives,
        threshold: row.threshold,
        features,
        factor_departments: serde_json::from_str::<HashMap<String, String>>(&row.factor_departments)
            .unwrap_or_default(),
        training_seconds: row.training_seconds,
    }
}
