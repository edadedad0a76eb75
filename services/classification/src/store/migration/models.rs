//! Learned models, corrections, leaf statistics and customer features.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveIden)]
enum Classification {
    Table,
    Text,
    Views,
    FirstMethod,
    Corrected,
    ClassifiedAt,
}

#[derive(DeriveIden)]
enum TextModel {
    Table,
    Name,
    View,
    TaxonomyVersion,
    CreatedAt,
    Active,
    Examples,
    Corrections,
    Features,
    Leaves,
    ReviewThreshold,
    Temperature,
    TrainingSeconds,
    Body,
}

#[derive(DeriveIden)]
enum RiskModel {
    Table,
    Name,
    CreatedAt,
    Active,
    Examples,
    Positives,
    Threshold,
    FactorDepartments,
    TrainingSeconds,
    Body,
}

#[derive(DeriveIden)]
enum Correction {
    Table,
    Id,
    WorkOrderId,
    TaxonomyVersion,
    View,
    FromLeaf,
    ToLeaf,
    Text,
    CorrectedBy,
    Reason,
    CorrectedAt,
}

#[derive(DeriveIden)]
enum LeafDay {
    Table,
    Leaf,
    Day,
    WorkOrders,
    Customers,
}

#[derive(DeriveIden)]
enum LeafDayCustomer {
    Table,
    Leaf,
    Day,
    PhoneNumber,
}

#[derive(DeriveIden)]
enum EmergingProblem {
    Table,
    Leaf,
    Day,
    WorkOrders,
    Baseline,
    PublishedAt,
}

#[derive(DeriveIden)]
enum CustomerFeatures {
    Table,
    PhoneNumber,
    Customer,
    Features,
    UpdatedAt,
    Score,
    FlaggedAt,
}

pub struct ModelsAndCorrections;

impl MigrationName for ModelsAndCorrections {
    fn name(&self) -> &str {
        "m20261124_000002_models_and_corrections"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for ModelsAndCorrections {
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // SQLite adds one column per statement.
        for mut column in [
            text(Classification::Text).default("").to_owned(),
            text(Classification::Views).default("[]").to_owned(),
            string(Classification::FirstMethod).default("").to_owned(),
            boolean(Classification::Corrected).default(false).to_owned(),
        ] {
            manager.alter_table(Table::alter().table(Classification::Table).add_column(&mut column).to_owned()).await?;
        }
        manager
            .create_index(
                Index::create()
                    .name("classification_by_time")
                    .table(Classification::Table)
                    .col(Classification::ClassifiedAt)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(TextModel::Table)
                    .col(string(TextModel::Name).primary_key())
                    .col(string(TextModel::View))
                    .col(string(TextModel::TaxonomyVersion))
                    .col(big_integer(TextModel::CreatedAt))
                    .col(boolean(TextModel::Active))
                    .col(big_integer(TextModel::Examples))
                    .col(big_integer(TextModel::Corrections))
                    .col(big_integer(TextModel::Features))
                    .col(text(TextModel::Leaves))
                    .col(double(TextModel::ReviewThreshold))
                    .col(double(TextModel::Temperature))
                    .col(double(TextModel::TrainingSeconds))
                    .col(binary(TextModel::Body))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(RiskModel::Table)
                    .col(string(RiskModel::Name).primary_key())
                    .col(big_integer(RiskModel::CreatedAt))
                    .col(boolean(RiskModel::Active))
                    .col(big_integer(RiskModel::Examples))
                    .col(big_integer(RiskModel::Positives))
                    .col(double(RiskModel::Threshold))
                    .col(text(RiskModel::FactorDepartments))
                    .col(double(RiskModel::TrainingSeconds))
                    .col(binary(RiskModel::Body))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Correction::Table)
                    .col(string(Correction::Id).primary_key())
                    .col(string(Correction::WorkOrderId))
                    .col(string(Correction::TaxonomyVersion))
                    .col(string(Correction::View))
                    .col(string(Correction::FromLeaf))
                    .col(string(Correction::ToLeaf))
                    .col(text(Correction::Text))
                    .col(string(Correction::CorrectedBy))
                    .col(text(Correction::Reason))
                    .col(big_integer(Correction::CorrectedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("correction_by_taxonomy")
                    .table(Correction::Table)
                    .col(Correction::TaxonomyVersion)
                    .col(Correction::CorrectedAt)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(LeafDay::Table)
                    .col(string(LeafDay::Leaf))
                    .col(big_integer(LeafDay::Day))
                    .col(big_integer(LeafDay::WorkOrders))
                    .col(big_integer(LeafDay::Customers))
                    .primary_key(Index::create().col(LeafDay::Leaf).col(LeafDay::Day))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(LeafDayCustomer::Table)
                    .col(string(LeafDayCustomer::Leaf))
                    .col(big_integer(LeafDayCustomer::Day))
                    .col(string(LeafDayCustomer::PhoneNumber))
                    .primary_key(
                        Index::create()
                            .col(LeafDayCustomer::Leaf)
                            .col(LeafDayCustomer::Day)
                            .col(LeafDayCustomer::PhoneNumber),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(EmergingProblem::Table)
                    .col(string(EmergingProblem::Leaf))
                    .col(big_integer(EmergingProblem::Day))
                    .col(big_integer(EmergingProblem::WorkOrders))
                    .col(double(EmergingProblem::Baseline))
                    .col(big_integer(EmergingProblem::PublishedAt))
                    .primary_key(Index::create().col(EmergingProblem::Leaf).col(EmergingProblem::Day))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(CustomerFeatures::Table)
                    .col(string(CustomerFeatures::PhoneNumber).primary_key())
                    .col(string(CustomerFeatures::Customer))
                    .col(text(CustomerFeatures::Features))
                    .col(big_integer(CustomerFeatures::UpdatedAt))
                    .col(double_null(CustomerFeatures::Score))
                    .col(big_integer_null(CustomerFeatures::FlaggedAt))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            CustomerFeatures::Table.into_iden(),
            EmergingProblem::Table.into_iden(),
            LeafDayCustomer::Table.into_iden(),
            LeafDay::Table.into_iden(),
            Correction::Table.into_iden(),
            RiskModel::Table.into_iden(),
            TextModel::Table.into_iden(),
        ] {
            manager.drop_table(Table::drop().table(table).to_owned()).await?;
        }
        Ok(())
    }
}
