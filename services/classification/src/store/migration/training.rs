//! Training jobs and the examples sent to them, and what each text model was trained from.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveIden)]
enum TextModel {
    Table,
    TrainingJob,
    ActivatedAt,
}

#[derive(DeriveIden)]
enum TrainingJob {
    Table,
    Name,
    RequestId,
    Kind,
    State,
    Request,
    Examples,
    CreatedBy,
    CreatedAt,
    StartedAt,
    EndedAt,
    Error,
    Outcome,
    Result,
    Activated,
}

#[derive(DeriveIden)]
enum TrainingJobPart {
    Table,
    Job,
    Part,
    Body,
}

pub struct TrainingJobs;

impl MigrationName for TrainingJobs {
    fn name(&self) -> &str {
        "m20261202_000001_training_jobs"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for TrainingJobs {
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // SQLite adds one column per statement.
        for mut column in [
            string(TextModel::TrainingJob).default("").to_owned(),
            big_integer(TextModel::ActivatedAt).default(0).to_owned(),
        ] {
            manager.alter_table(Table::alter().table(TextModel::Table).add_column(&mut column).to_owned()).await?;
        }
        manager
            .create_table(
                Table::create()
                    .table(TrainingJob::Table)
                    .col(string(TrainingJob::Name).primary_key())
                    .col(string(TrainingJob::RequestId))
                    .col(string(TrainingJob::Kind))
                    .col(string(TrainingJob::State))
                    .col(binary(TrainingJob::Request))
                    .col(big_integer(TrainingJob::Examples))
                    .col(string(TrainingJob::CreatedBy))
                    .col(big_integer(TrainingJob::CreatedAt))
                    .col(big_integer(TrainingJob::StartedAt))
                    .col(big_integer(TrainingJob::EndedAt))
                    .col(text(TrainingJob::Error))
                    .col(text(TrainingJob::Outcome))
                    .col(binary(TrainingJob::Result))
                    .col(boolean(TrainingJob::Activated))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("training_job_by_request")
                    .table(TrainingJob::Table)
                    .col(TrainingJob::RequestId)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(TrainingJobPart::Table)
                    .col(string(TrainingJobPart::Job))
                    .col(integer(TrainingJobPart::Part))
                    .col(binary(TrainingJobPart::Body))
                    .primary_key(Index::create().col(TrainingJobPart::Job).col(TrainingJobPart::Part))
                    .to_owned(),
            )
            .await
    }
}

/// A training job's state is stored as every other enum is, by its name in the contract
/// (`TRAINING_JOB_STATE_PENDING`), not by a short name of its own.
pub struct TrainingJobStateNames;

impl MigrationName for TrainingJobStateNames {
    fn name(&self) -> &str {
        "m20261202_000002_training_job_state_names"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for TrainingJobStateNames {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared(
                "UPDATE training_job SET state = 'TRAINING_JOB_STATE_' || state \
                 WHERE state NOT LIKE 'TRAINING_JOB_STATE_%'",
            )
            .await
            .map(drop)
    }
}
