//! Classification's schema, applied at start-up.

use csm_kit::{feed::FeedMigration, lease::LeaseMigration};
use sea_orm_migration::{prelude::*, schema::*};

mod models;
mod outcomes;
mod training;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(FeedMigration),
            Box::new(CreateTaxonomiesAndClassifications),
            Box::new(models::ModelsAndCorrections),
            Box::new(LeaseMigration),
            Box::new(training::TrainingJobs),
            Box::new(training::TrainingJobStateNames),
            Box::new(outcomes::RiskOutcomes),
        ]
    }
}

#[derive(DeriveIden)]
enum TaxonomyVersion {
    Table,
    Name,
    TaxonomyKey,
    Version,
    Document,
    PublishedAt,
    Active,
}

#[derive(DeriveIden)]
enum Classification {
    Table,
    WorkOrderId,
    TaxonomyVersion,
    Leaf,
    Path,
    LeafNameZh,
    LeafNameEn,
    Department,
    TimeLimitSecs,
    OpenedAt,
    Deadline,
    Method,
    Confidence,
    Hits,
    NeedsReview,
    ClassifiedAt,
    PhoneNumber,
    Channel,
}

struct CreateTaxonomiesAndClassifications;

impl MigrationName for CreateTaxonomiesAndClassifications {
    fn name(&self) -> &str {
        "m20261124_000001_taxonomies_and_classifications"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for CreateTaxonomiesAndClassifications {
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(TaxonomyVersion::Table)
                    .col(string(TaxonomyVersion::Name).primary_key())
                    .col(string(TaxonomyVersion::TaxonomyKey))
                    .col(big_integer(TaxonomyVersion::Version))
                    .col(text(TaxonomyVersion::Document))
                    .col(big_integer(TaxonomyVersion::PublishedAt))
                    .col(boolean(TaxonomyVersion::Active))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Classification::Table)
                    .col(string(Classification::WorkOrderId).primary_key())
                    .col(string(Classification::TaxonomyVersion))
                    .col(string(Classification::Leaf))
                    .col(string(Classification::Path))
                    .col(string(Classification::LeafNameZh))
                    .col(string(Classification::LeafNameEn))
                    .col(string(Classification::Department))
                    .col(big_integer(Classification::TimeLimitSecs))
                    .col(big_integer(Classification::OpenedAt))
                    .col(big_integer(Classification::Deadline))
                    .col(string(Classification::Method))
                    .col(double(Classification::Confidence))
                    .col(text(Classification::Hits))
                    .col(boolean(Classification::NeedsReview))
                    .col(big_integer(Classification::ClassifiedAt))
                    .col(string(Classification::PhoneNumber))
                    .col(string(Classification::Channel))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("classification_by_leaf")
                    .table(Classification::Table)
                    .col(Classification::Leaf)
                    .col(Classification::OpenedAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(Classification::Table).to_owned()).await?;
        manager.drop_table(Table::drop().table(TaxonomyVersion::Table).to_owned()).await
    }
}
