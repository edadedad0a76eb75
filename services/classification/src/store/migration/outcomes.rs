//! Outcomes learned from recovery's feed, and the job that trained each risk model (so that
//! retraining from outcomes can start from the examples the model in force learned from).

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveIden)]
enum RiskModel {
    Table,
    TrainingJob,
}

#[derive(DeriveIden)]
enum RiskOutcome {
    Table,
    PhoneNumber,
    Dissatisfied,
    Source,
    Subject,
    Sequence,
    LabelledAt,
    Features,
    LearnedAt,
}

pub struct RiskOutcomes;

impl MigrationName for RiskOutcomes {
    fn name(&self) -> &str {
        "m20261203_000001_risk_outcomes"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for RiskOutcomes {
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(RiskModel::Table)
                    .add_column(string(RiskModel::TrainingJob).default("").to_owned())
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(RiskOutcome::Table)
                    .col(string(RiskOutcome::PhoneNumber).primary_key())
                    .col(boolean(RiskOutcome::Dissatisfied))
                    .col(string(RiskOutcome::Source))
                    .col(string(RiskOutcome::Subject))
                    .col(big_integer(RiskOutcome::Sequence))
                    .col(big_integer(RiskOutcome::LabelledAt))
                    .col(text(RiskOutcome::Features))
                    .col(big_integer(RiskOutcome::LearnedAt))
                    .to_owned(),
            )
            .await?;
        // Outcomes learned since the last retraining are counted by this.
        manager
            .create_index(
                Index::create()
                    .name("risk_outcome_by_learned_at")
                    .table(RiskOutcome::Table)
                    .col(RiskOutcome::LearnedAt)
                    .to_owned(),
            )
            .await
    }
}
