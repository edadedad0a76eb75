//! The gRPC face of classification. Each concern lives in its own file; this one holds the
//! policy (a role per RPC) and hands each call to it.

mod corrections;
mod risk_models;
mod taxonomies;
mod text_models;
mod training_jobs;

use std::sync::Arc;

use csm_kit::{Role, auth::Policy, calendar::OperatorCalendar, feed::Publisher};
use csm_proto::classification::v1::{classification_service_server::ClassificationService, *};
use tonic::{Request, Response, Status};

use crate::{config::ProblemSettings, engine::InForce, training::Trainer};

pub use csm_proto::classification::v1::classification_service_server::SERVICE_NAME as SERVICE;

/// Texts longer than this are refused, whether to classify or to train on.

/// Training sets travel in one message; this bounds how large one may be.
pub const MAX_MESSAGE_BYTES: usize = 64 * 1024 * 1024;

pub fn policy() -> Policy {
    use Role::*;
    let staff = [Agent, Department, Supervisor, Analyst, Administrator];
    let analysts = [Analyst, Supervisor, Administrator];
    Policy::new()
        .allow(SERVICE, "GetClassification", &staff)
        .allow(SERVICE, "Classify", &[Agent, Department, Supervisor, Analyst, Administrator, ChannelSystem])
        .audit(SERVICE, "CorrectClassification", &[Agent, Supervisor, Administrator])
        .allow(SERVICE, "GetCorrectionStatistics", &analysts)
        .allow(SERVICE, "ListLeafStatistics", &analysts)
        .allow(SERVICE, "GetTaxonomy", &[Agent, Department, Supervisor, Analyst, Administrator, ChannelSystem])
        .allow(SERVICE, "ListTaxonomies", &staff)
        .audit(SERVICE, "PublishTaxonomy", &[Administrator])
        .audit(SERVICE, "ActivateTaxonomy", &[Administrator])
        .audit(SERVICE, "TrainTextModels", &[Administrator])
        .allow(SERVICE, "EvaluateTextModels", &[Analyst, Administrator])
        .allow(SERVICE, "ListTextModels", &[Analyst, Administrator])
        .audit(SERVICE, "ActivateTextModel", &[Administrator])
        .audit(SERVICE, "TrainRiskModel", &[Administrator])
        .allow(SERVICE, "EvaluateRiskModel", &[Analyst, Administrator])
        .allow(SERVICE, "ListRiskModels", &[Analyst, Administrator])
        .audit(SERVICE, "ActivateRiskModel", &[Administrator])
        .allow(SERVICE, "ScoreCustomer", &staff)
        .audit(SERVICE, "CreateTrainingJob", &[Administrator])
        .audit(SERVICE, "AddTrainingExamples", &[Administrator])
        .audit(SERVICE, "StartTrainingJob", &[Administrator])
        .allow(SERVICE, "GetTrainingJob", &[Analyst, Administrator])
        .allow(SERVICE, "ListTrainingJobs", &[Analyst, Administrator])
        .audit(SERVICE, "CancelTrainingJob", &[Administrator])
        .allow(SERVICE, "WaitTrainingJob", &[Analyst, Administrator])
        .allow(SERVICE, "EvaluateRouting", &[Analyst, Administrator])
        .allow_feed()
}

#[derive(Debug, Clone)]
pub struct ClassificationApi {
    publisher: Publisher,
    in_force: Arc<InForce>,
    problems: ProblemSettings,
    calendar: OperatorCalendar,
    trainer: Arc<Trainer>,
}

impl ClassificationApi {
    pub fn new(
        publisher: Publisher,
        in_force: Arc<InForce>,
        problems: ProblemSettings,
        calendar: OperatorCalendar,
        trainer: Arc<Trainer>,
    ) -> Self {
        Self { publisher, in_force, problems, calendar, trainer }
    }
}

/// Who made a change, for the audit trail and the events.
fn caller<T>(request: &Request<T>) -> Result<String, Status> {
    Ok(csm_kit::Principal::of(request)?.subject.clone())
}

#[tonic::async_trait]
impl ClassificationService for ClassificationApi {
    async fn get_classification(
        &self,
        request: Request<GetClassificationRequest>,
    ) -> Result<Response<Classification>, Status> {
        Ok(Response::new(self.classification(&request.get_ref().name).await?))
    }

    async fn classify(&self, request: Request<ClassifyRequest>) -> Result<Response<Classification>, Status> {
        Ok(Response::new(self.preview(request.get_ref())?))
    }

    async fn correct_classification(
        &self,
        request: Request<CorrectClassificationRequest>,
    ) -> Result<Response<Classification>, Status> {
        let by = caller(&request)?;
        Ok(Response::new(self.correct(request.get_ref(), &by).await?))
    }

    async fn get_correction_statistics(
        &self,
        request: Request<GetCorrectionStatisticsRequest>,
    ) -> Result<Response<CorrectionStatistics>, Status> {
        Ok(Response::new(self.correction_statistics(request.get_ref()).await?))
    }

    async fn list_leaf_statistics(
        &self,
        request: Request<ListLeafStatisticsRequest>,
    ) -> Result<Response<ListLeafStatisticsResponse>, Status> {
        Ok(Response::new(self.leaf_statistics(request.get_ref()).await?))
    }

    async fn get_taxonomy(&self, request: Request<GetTaxonomyRequest>) -> Result<Response<Taxonomy>, Status> {
        Ok(Response::new(self.taxonomy(&request.get_ref().name).await?))
    }

    async fn publish_taxonomy(&self, request: Request<PublishTaxonomyRequest>) -> Result<Response<Taxonomy>, Status> {
        let by = caller(&request)?;
        Ok(Response::new(self.publish(request.get_ref(), &by).await?))
    }

    async fn list_taxonomies(
        &self,
        _request: Request<ListTaxonomiesRequest>,
    ) -> Result<Response<ListTaxonomiesResponse>, Status> {
        Ok(Response::new(self.taxonomies().await?))
    }

    async fn activate_taxonomy(&self, request: Request<ActivateTaxonomyRequest>) -> Result<Response<Taxonomy>, Status> {
        let by = caller(&request)?;
        Ok(Response::new(self.activate_taxonomy_version(&request.get_ref().name, &by).await?))
    }

    async fn train_text_models(
        &self,
        request: Request<TrainTextModelsRequest>,
    ) -> Result<Response<TrainTextModelsResponse>, Status> {
        let by = caller(&request)?;
        Ok(Response::new(self.train_text(request.into_inner(), &by).await?))
    }

    async fn evaluate_text_models(
        &self,
        request: Request<EvaluateTextModelsRequest>,
    ) -> Result<Response<EvaluateTextModelsResponse>, Status> {
        Ok(Response::new(self.evaluate_text(request.into_inner()).await?))
    }

    async fn list_text_models(
        &self,
        request: Request<ListTextModelsRequest>,
    ) -> Result<Response<ListTextModelsResponse>, Status> {
        Ok(Response::new(self.text_models(&request.get_ref().view).await?))
    }

    async fn activate_text_model(
        &self,
        request: Request<ActivateTextModelRequest>,
    ) -> Result<Response<TextModel>, Status> {
        Ok(Response::new(self.activate_text(&request.get_ref().name).await?))
    }

    async fn train_risk_model(&self, request: Request<TrainRiskModelRequest>) -> Result<Response<RiskModel>, Status> {
        let by = caller(&request)?;
        Ok(Response::new(self.train_risk(request.into_inner(), &by).await?))
    }

    async fn evaluate_risk_model(
        &self,
        request: Request<EvaluateRiskModelRequest>,
    ) -> Result<Response<RiskEvaluation>, Status> {
        Ok(Response::new(self.evaluate_risk(request.into_inner()).await?))
    }

    async fn list_risk_models(
        &self,
        _request: Request<ListRiskModelsRequest>,
    ) -> Result<Response<ListRiskModelsResponse>, Status> {
        Ok(Response::new(self.risk_models().await?))
    }

    async fn activate_risk_model(
        &self,
        request: Request<ActivateRiskModelRequest>,
    ) -> Result<Response<RiskModel>, Status> {
        Ok(Response::new(self.activate_risk(&request.get_ref().name).await?))
    }

    async fn score_customer(&self, request: Request<ScoreCustomerRequest>) -> Result<Response<RiskScore>, Status> {
        Ok(Response::new(self.score(request.get_ref()).await?))
    }

    async fn create_training_job(
        &self,
        request: Request<CreateTrainingJobRequest>,
    ) -> Result<Response<TrainingJob>, Status> {
        let by = caller(&request)?;
        Ok(Response::new(self.create_job(request.into_inner(), &by).await?))
    }

    async fn add_training_examples(
        &self,
        request: Request<AddTrainingExamplesRequest>,
    ) -> Result<Response<TrainingJob>, Status> {
        Ok(Response::new(self.add_examples(request.into_inner()).await?))
    }

    async fn start_training_job(
        &self,
        request: Request<StartTrainingJobRequest>,
    ) -> Result<Response<TrainingJob>, Status> {
        Ok(Response::new(self.start_job(&request.get_ref().name).await?))
    }

    async fn get_training_job(&self, request: Request<GetTrainingJobRequest>) -> Result<Response<TrainingJob>, Status> {
        Ok(Response::new(self.job(&request.get_ref().name).await?))
    }

    async fn list_training_jobs(
        &self,
        request: Request<ListTrainingJobsRequest>,
    ) -> Result<Response<ListTrainingJobsResponse>, Status> {
        Ok(Response::new(self.jobs(request.get_ref().page_size).await?))
    }

    async fn cancel_training_job(
        &self,
        request: Request<CancelTrainingJobRequest>,
    ) -> Result<Response<TrainingJob>, Status> {
        Ok(Response::new(self.cancel_job(&request.get_ref().name).await?))
    }

    async fn wait_training_job(
        &self,
        request: Request<WaitTrainingJobRequest>,
    ) -> Result<Response<TrainingJob>, Status> {
        let request = request.into_inner();
        Ok(Response::new(self.wait_job(&request.name, request.timeout).await?))
    }

    async fn evaluate_routing(
        &self,
        request: Request<EvaluateRoutingRequest>,
    ) -> Result<Response<RoutingEvaluation>, Status> {
        Ok(Response::new(self.evaluate_routing(request.into_inner()).await?))
    }
}
