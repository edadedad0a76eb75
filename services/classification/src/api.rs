//! The gRPC face of classification.

use std::sync::Arc;

use csm_kit::{Database, Role, auth::Policy, names};
use csm_proto::classification::v1::{
    Classification, GetClassificationRequest, GetTaxonomyRequest, Taxonomy,
    classification_service_server::ClassificationService,
};
use tonic::{Request, Response, Status};

use crate::{
    classify::{self, Classifier},
    error::Error,
    store,
};

pub use csm_proto::classification::v1::classification_service_server::SERVICE_NAME as SERVICE;

pub fn policy() -> Policy {
    use Role::*;
    let readers = [Agent, Department, Analyst, Administrator];
    Policy::new()
        .allow(SERVICE, "GetClassification", &readers)
        .allow(SERVICE, "GetTaxonomy", &[Agent, Department, Analyst, Administrator, ChannelSystem])
        .allow_feed()
}

#[derive(Debug, Clone)]
pub struct ClassificationApi {
    db: Database,
    active: Arc<Classifier>,
}

impl ClassificationApi {
    pub fn new(db: Database, active: Arc<Classifier>) -> Self {
        Self { db, active }
    }

    async fn classification(&self, name: &str) -> Result<Classification, Error> {
        let work_order = name.strip_suffix("/classification").unwrap_or_default();
        let id = names::id_in("name", work_order, store::WORK_ORDERS)
            .map_err(|_| csm_kit::error::Violations::one("name", "must look like workOrders/{id}/classification"))?;
        store::classification_of(self.db.reader(), id)
            .await?
            .as_ref()
            .map(Classification::from)
            .ok_or_else(|| Error::NotFound(name.to_string()))
    }

    async fn taxonomy(&self, name: &str) -> Result<Taxonomy, Error> {
        if name.is_empty() || name == self.active.taxonomy.name {
            return Ok(self.active.taxonomy.to_proto());
        }
        let row =
            store::taxonomy_by_name(self.db.reader(), name).await?.ok_or_else(|| Error::NotFound(name.to_string()))?;
        Ok(classify::classifier_from_row(&row)?.taxonomy.to_proto())
    }
}

#[tonic::async_trait]
impl ClassificationService for ClassificationApi {
    async fn get_classification(
        &self,
        request: Request<GetClassificationRequest>,
    ) -> Result<Response<Classification>, Status> {
        Ok(Response::new(self.classification(&request.get_ref().name).await?))
    }

    async fn get_taxonomy(&self, request: Request<GetTaxonomyRequest>) -> Result<Response<Taxonomy>, Status> {
        Ok(Response::new(self.taxonomy(&request.get_ref().name).await?))
    }
}
