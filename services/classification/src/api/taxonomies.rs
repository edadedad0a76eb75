//! Taxonomy versions: read, publish (validated), list, and put an earlier one back in force.

use csm_kit::time;
use csm_proto::classification::v1::{ListTaxonomiesResponse, PublishTaxonomyRequest, Taxonomy, TaxonomyActivated};

use super::ClassificationApi;
use crate::{
    engine,
    error::Error,
    store::{self, models},
    taxonomy::{self, Taxonomy as Validated},
};

impl ClassificationApi {
    pub(super) async fn taxonomy(&self, name: &str) -> Result<Taxonomy, Error> {
        let (validated, active) = self.taxonomy_version(name).await?;
        Ok(Taxonomy { active, ..validated.to_proto() })
    }

    /// A taxonomy version by name ("" for the one in force), and whether it is in force. The one
    /// in force comes from the snapshot, without reading the database.
    pub(super) async fn taxonomy_version(&self, name: &str) -> Result<(Validated, bool), Error> {
        crate::training::taxonomy_for(&self.trainer, name).await
    }

    pub(super) async fn publish(&self, request: &PublishTaxonomyRequest, by: &str) -> Result<Taxonomy, Error> {
        let proposed =
            request.taxonomy.as_ref().ok_or_else(|| csm_kit::error::Violations::one("taxonomy", "required"))?;
        let document = taxonomy::document_from_proto(proposed)?;
        let published_at = time::now_micros();
        let db = self.publisher.database().writer();
        let version = store::next_taxonomy_version(db, &document.key).await?;
        let validated = Validated::new(document, version, published_at)?;
        if request.validate_only {
            return Ok(validated.to_proto());
        }
        let row = store::taxonomy_row(&validated, version, false)?;
        if request.stage {
            // Staged: stored, not in force, and nothing published until it is activated.
            store::insert_taxonomy_version(db, row).await.map_err(|_| Error::Conflict(validated.name.clone()))?;
            tracing::info!(taxonomy = %validated.name, by, "taxonomy staged");
            return Ok(validated.to_proto());
        }
        let mut uow = self.publisher.begin().await?;
        store::insert_taxonomy_version(&*uow, row).await.map_err(|_| Error::Conflict(validated.name.clone()))?;
        store::activate_taxonomy(&*uow, &validated.name).await?;
        let mut taxonomy = validated.to_proto();
        taxonomy.active = true;
        uow.publish(
            validated.name.clone(),
            &TaxonomyActivated { taxonomy: Some(taxonomy.clone()), activated_by: by.to_string() },
        );
        uow.commit().await?;
        self.in_force.reload(self.publisher.database().reader()).await?;
        tracing::info!(taxonomy = %validated.name, by, "taxonomy published");
        Ok(taxonomy)
    }

    pub(super) async fn taxonomies(&self) -> Result<ListTaxonomiesResponse, Error> {
        let rows = store::list_taxonomies(self.publisher.database().reader()).await?;
        let taxonomies = rows
            .iter()
            .map(|row| Taxonomy {
                name: row.name.clone(),
                display_name: serde_json::from_str::<taxonomy::TaxonomyDocument>(&row.document)
                    .map(|d| d.display_name)
                    .unwrap_or_default(),
                publish_time: Some(time::timestamp_from_micros(row.published_at)),
                active: row.active,
                ..Taxonomy::default()
            })
            .collect();
        Ok(ListTaxonomiesResponse { taxonomies })
    }

    pub(super) async fn activate_taxonomy_version(&self, name: &str, by: &str) -> Result<Taxonomy, Error> {
        let db = self.publisher.database().writer();
        let row = store::taxonomy_by_name(db, name).await?.ok_or_else(|| Error::NotFound(name.to_string()))?;
        let mut taxonomy = engine::taxonomy_from_row(&row)?.to_proto();
        taxonomy.active = true;
        let mut uow = self.publisher.begin().await?;
        store::activate_taxonomy(&*uow, name).await?;
        // The version's own models come into force with it.
        for model in models::models_of_version(&*uow, name).await? {
            models::activate_text_model(&*uow, &model.view, &model.name).await?;
        }
        uow.publish(
            name.to_string(),
            &TaxonomyActivated { taxonomy: Some(taxonomy.clone()), activated_by: by.to_string() },
        );
        uow.commit().await?;
        self.in_force.reload(self.publisher.database().reader()).await?;
        tracing::info!(taxonomy = %name, by, "taxonomy activated");
        Ok(taxonomy)
    }
}
