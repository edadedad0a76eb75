//! The dissatisfaction-risk model: train on past outcomes, evaluate, roll back, score a customer.

use csm_kit::{error::Violations, names};

use csm_proto::classification::v1::{
    CustomerFeatures, EvaluateRiskModelRequest, ListRiskModelsResponse, RiskEvaluation, RiskFactor,
    RiskModel as RiskModelProto, RiskScore, ScoreCustomerRequest, TrainRiskModelRequest, create_training_job_request,
};

use super::ClassificationApi;
use crate::training::{features_from, risk_evaluation, risk_examples, risk_model_proto};
use crate::{
    engine::LoadedRiskModel,
    error::Error,
    store::{customers, models},
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
        let examples = risk_examples(&request.examples, &mut violations);
        if examples.is_empty() {
            violations.add("examples", "required");
        }
        violations.into_result()?;
        let scoring = loaded.clone();
        let figures =
            csm_kit::cpu::run("risk model evaluation", move || scoring.model.evaluate(&examples, scoring.threshold))
                .await?;
        Ok(risk_evaluation(&loaded.name, &figures))
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
                    .ok_or_else(|| Error::NotFound(names::name_of(names::CUSTOMERS, phone)))?;
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
