//! The gRPC face of classification. Each concern lives in its own file; this one holds the
//! policy (a role per RPC) and hands each call to it.

mod corrections;
mod risk_models;
mod taxonomies;
mod text_models;
mod training_jobs;

use std::sync::Arc;

use csm_kit::{Role, auth::Policy, calendar::OperatorCalendar, feed::Publisher, handler::serve};
use csm_proto::classification::v1::{classification_service_server::ClassificationService, *};
use tonic::{Request, Response, Status};

use crate::{config::ProblemSettings, engine::InForce, training::Trainer};

pub use csm_proto::classification::v1::classification_service_server::SERVICE_NAME as SERVICE;

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
        // Labelled sets travel in these; every other method takes small messages.
        .bulk(
            SERVICE,
            &[
                "TrainTextModels",
                "EvaluateTextModels",
                "TrainRiskModel",
                "EvaluateRiskModel",
                "CreateTrainingJob",
                "AddTrainingExamples",
                "EvaluateRouting",
            ],
        )
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

#[tonic::async_trait]
impl ClassificationService for ClassificationApi {
    async fn get_classification(
        &self,
        request: Request<GetClassificationRequest>,
    ) -> Result<Response<Classification>, Status> {
        serve(request, async |_, body| self.classification(&body.name).await).await
    }

    async fn classify(&self, request: Request<ClassifyRequest>) -> Result<Response<Classification>, Status> {
        serve(request, async |_, body| self.preview(&body)).await
    }

    async fn correct_classification(
        &self,
        request: Request<CorrectClassificationRequest>,
    ) -> Result<Response<Classification>, Status> {
        serve(request, async |caller, body| self.correct(&body, &caller.subject).await).await
    }

    async fn get_correction_statistics(
        &self,
        request: Request<GetCorrectionStatisticsRequest>,
    ) -> Result<Response<CorrectionStatistics>, Status> {
        serve(request, async |_, body| self.correction_statistics(&body).await).await
    }

    async fn list_leaf_statistics(
        &self,
        request: Request<ListLeafStatisticsRequest>,
    ) -> Result<Response<ListLeafStatisticsResponse>, Status> {
        serve(request, async |_, body| self.leaf_statistics(&body).await).await
    }

    async fn get_taxonomy(&self, request: Request<GetTaxonomyRequest>) -> Result<Response<Taxonomy>, Status> {
        serve(request, async |_, body| self.taxonomy(&body.name).await).await
    }

    async fn publish_taxonomy(&self, request: Request<PublishTaxonomyRequest>) -> Result<Response<Taxonomy>, Status> {
        serve(request, async |caller, body| self.publish(&body, &caller.subject).await).await
    }

    async fn list_taxonomies(
        &self,
        request: Request<ListTaxonomiesRequest>,
    ) -> Result<Response<ListTaxonomiesResponse>, Status> {
        serve(request, async |_, _| self.taxonomies().await).await
    }

    async fn activate_taxonomy(&self, request: Request<ActivateTaxonomyRequest>) -> Result<Response<Taxonomy>, Status> {
        serve(request, async |caller, body| self.activate_taxonomy_version(&body.name, &caller.subject).await).await
    }

    async fn train_text_models(
        &self,
        request: Request<TrainTextModelsRequest>,
    ) -> Result<Response<TrainTextModelsResponse>, Status> {
        serve(request, async |caller, body| self.train_text(body, &caller.subject).await).await
    }

    async fn evaluate_text_models(
        &self,
        request: Request<EvaluateTextModelsRequest>,
    ) -> Result<Response<EvaluateTextModelsResponse>, Status> {
        serve(request, async |_, body| self.evaluate_text(body).await).await
    }

    async fn list_text_models(
        &self,
        request: Request<ListTextModelsRequest>,
    ) -> Result<Response<ListTextModelsResponse>, Status> {
        serve(request, async |_, body| self.text_models(&body.view).await).await
    }

    async fn activate_text_model(
        &self,
        request: Request<ActivateTextModelRequest>,
    ) -> Result<Response<TextModel>, Status> {
        serve(request, async |_, body| self.activate_text(&body.name).await).await
    }

    async fn train_risk_model(&self, request: Request<TrainRiskModelRequest>) -> Result<Response<RiskModel>, Status> {
        serve(request, async |caller, body| self.train_risk(body, &caller.subject).await).await
    }

    async fn evaluate_risk_model(
        &self,
        request: Request<EvaluateRiskModelRequest>,
    ) -> Result<Response<RiskEvaluation>, Status> {
        serve(request, async |_, body| self.evaluate_risk(body).await).await
    }

    async fn list_risk_models(
        &self,
        request: Request<ListRiskModelsRequest>,
    ) -> Result<Response<ListRiskModelsResponse>, Status> {
        serve(request, async |_, _| self.risk_models().await).await
    }

    async fn activate_risk_model(
        &self,
        request: Request<ActivateRiskModelRequest>,
    ) -> Result<Response<RiskModel>, Status> {
        serve(request, async |_, body| self.activate_risk(&body.name).await).await
    }

    async fn score_customer(&self, request: Request<ScoreCustomerRequest>) -> Result<Response<RiskScore>, Status> {
        serve(request, async |_, body| self.score(&body).await).await
    }

    async fn create_training_job(
        &self,
        request: Request<CreateTrainingJobRequest>,
    ) -> Result<Response<TrainingJob>, Status> {
        serve(request, async |caller, body| self.create_job(body, &caller.subject).await).await
    }

    async fn add_training_examples(
        &self,
        request: Request<AddTrainingExamplesRequest>,
    ) -> Result<Response<TrainingJob>, Status> {
        serve(request, async |_, body| self.add_examples(body).await).await
    }

    async fn start_training_job(
        &self,
        request: Request<StartTrainingJobRequest>,
    ) -> Result<Response<TrainingJob>, Status> {
        serve(request, async |_, body| self.start_job(&body.name).await).await
    }

    async fn get_training_job(&self, request: Request<GetTrainingJobRequest>) -> Result<Response<TrainingJob>, Status> {
        serve(request, async |_, body| self.job(&body.name).await).await
    }

    async fn list_training_jobs(
        &self,
        request: Request<ListTrainingJobsRequest>,
    ) -> Result<Response<ListTrainingJobsResponse>, Status> {
        serve(request, async |_, body| self.jobs(body.page_size).await).await
    }

    async fn cancel_training_job(
        &self,
        request: Request<CancelTrainingJobRequest>,
    ) -> Result<Response<TrainingJob>, Status> {
        serve(request, async |_, body| self.cancel_job(&body.name).await).await
    }

    async fn wait_training_job(
        &self,
        request: Request<WaitTrainingJobRequest>,
    ) -> Result<Response<TrainingJob>, Status> {
        serve(request, async |_, body| self.wait_job(&body.name, body.timeout).await).await
    }

    async fn evaluate_routing(
        &self,
        request: Request<EvaluateRoutingRequest>,
    ) -> Result<Response<RoutingEvaluation>, Status> {
        serve(request, async |_, body| self.evaluate_routing(body).await).await
    }
}
