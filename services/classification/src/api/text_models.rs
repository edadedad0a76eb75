//! Text models: train one per labelled view, evaluate on held-out sets, list and roll back.

use csm_kit::error::Violations;
use csm_proto::classification::v1::{
    EvaluateTextModelsRequest, EvaluateTextModelsResponse, ListTextModelsResponse, TextModel as TextModelProto,
    TrainTextModelsRequest, TrainTextModelsResponse, create_training_job_request,
};

use super::ClassificationApi;
use crate::training::{evaluate, text_model_proto};
use crate::{engine, error::Error, model::text::TextModel, store::models};

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
            let evaluation =
                csm_kit::cpu::run("text model evaluation", move || evaluate(&name, &view, &model, &examples)).await?;
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
