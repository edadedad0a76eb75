//! The full case lifecycle (first responsibility, paused clock, escalation, callbacks, reopening),
//! sub-tasks, service-recovery actions, remediation programmes and proactive care.

use sea_orm_migration::{prelude::*, schema::*};

use super::tables::*;

pub struct CaseLifecycle;

impl MigrationName for CaseLifecycle {
    fn name(&self) -> &str {
        "m20261124_000002_case_lifecycle"
    }
}

fn index(name: &str, table: impl IntoIden) -> IndexCreateStatement {
    Index::create().name(name).table(table).to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for CaseLifecycle {
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // SQLite adds one column per ALTER TABLE.
        let case_columns = [
            string_null(CaseFile::OwnerDepartment),
            string(CaseFile::ContactType).default("").to_owned(),
            big_integer(CaseFile::TimeLimit).default(0).to_owned(),
            big_integer_null(CaseFile::PromisedAt),
            big_integer_null(CaseFile::PausedAt),
            text_null(CaseFile::PauseReason),
            integer(CaseFile::EscalationLevel).default(0).to_owned(),
            big_integer_null(CaseFile::CallbackDue),
            string_null(CaseFile::CallbackOutcome),
            big_integer_null(CaseFile::CallbackAt),
            integer(CaseFile::ReopenCount).default(0).to_owned(),
            big_integer(CaseFile::Version).default(0).to_owned(),
        ];
        for mut column in case_columns {
            manager.alter_table(Table::alter().table(CaseFile::Table).add_column(&mut column).to_owned()).await?;
        }
        for mut column in
            [string(CaseTransition::Action).default("").to_owned(), string_null(CaseTransition::RequestId)]
        {
            manager.alter_table(Table::alter().table(CaseTransition::Table).add_column(&mut column).to_owned()).await?;
        }
        // A retried call finds the change its key already made.
        manager
            .create_index(
                index("case_transition_request", CaseTransition::Table)
                    .col(CaseTransition::CaseId)
                    .col(CaseTransition::RequestId)
                    .unique()
                    .to_owned(),
            )
            .await?;
        // The escalation sweep: cases whose clock runs, by deadline.
        manager
            .create_index(
                index("case_by_deadline", CaseFile::Table).col(CaseFile::Status).col(CaseFile::Deadline).to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(SubTask::Table)
                    .col(string(SubTask::Id).primary_key())
                    .col(string(SubTask::CaseId))
                    .col(string(SubTask::Department))
                    .col(text(SubTask::Request))
                    .col(string(SubTask::RequestedBy))
                    .col(big_integer(SubTask::CreatedAt))
                    .col(big_integer(SubTask::Deadline))
                    .col(big_integer_null(SubTask::CompletedAt))
                    .col(text_null(SubTask::Reply))
                    .col(string_null(SubTask::CompletedBy))
                    .col(string_null(SubTask::RequestId))
                    .to_owned(),
            )
            .await?;
        manager.create_index(index("sub_task_by_case", SubTask::Table).col(SubTask::CaseId).to_owned()).await?;
        manager
            .create_index(
                index("sub_task_queue", SubTask::Table)
                    .col(SubTask::Department)
                    .col(SubTask::Deadline)
                    .col(SubTask::Id)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                index("sub_task_request", SubTask::Table)
                    .col(SubTask::CaseId)
                    .col(SubTask::RequestId)
                    .unique()
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(RecoveryAction::Table)
                    .col(string(RecoveryAction::Id).primary_key())
                    .col(string(RecoveryAction::PhoneNumber))
                    .col(string_null(RecoveryAction::CaseId))
                    .col(string(RecoveryAction::Kind))
                    .col(text(RecoveryAction::Description))
                    .col(big_integer(RecoveryAction::Amount))
                    .col(string(RecoveryAction::Status))
                    .col(string(RecoveryAction::CreatedBy))
                    .col(string_null(RecoveryAction::Department))
                    .col(big_integer(RecoveryAction::CreatedAt))
                    .col(string_null(RecoveryAction::DecidedBy))
                    .col(text_null(RecoveryAction::DecisionNote))
                    .col(string_null(RecoveryAction::Outcome))
                    .col(text_null(RecoveryAction::OutcomeNote))
                    .col(big_integer_null(RecoveryAction::CompletedAt))
                    .col(string_null(RecoveryAction::RequestId).unique_key())
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                index("recovery_action_by_phone", RecoveryAction::Table).col(RecoveryAction::PhoneNumber).to_owned(),
            )
            .await?;
        manager
            .create_index(
                index("recovery_action_by_case", RecoveryAction::Table).col(RecoveryAction::CaseId).to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Programme::Table)
                    .col(string(Programme::Id).primary_key())
                    .col(string(Programme::Title))
                    .col(string(Programme::Leaf))
                    .col(text(Programme::Shortfall))
                    .col(string(Programme::OwnerDepartment))
                    .col(string(Programme::Status))
                    .col(big_integer(Programme::Deadline))
                    .col(big_integer(Programme::CreatedAt))
                    .col(string(Programme::CreatedBy))
                    .col(big_integer_null(Programme::CompletedAt))
                    .col(big_integer(Programme::VerificationWindow))
                    .col(integer(Programme::EscalationLevel))
                    .col(string_null(Programme::RequestId).unique_key())
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                index("programme_queue", Programme::Table)
                    .col(Programme::OwnerDepartment)
                    .col(Programme::Deadline)
                    .col(Programme::Id)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(ProgrammeAction::Table)
                    .col(string(ProgrammeAction::ProgrammeId))
                    .col(integer(ProgrammeAction::Position))
                    .col(text(ProgrammeAction::Description))
                    .col(big_integer(ProgrammeAction::Deadline))
                    .col(big_integer_null(ProgrammeAction::CompletedAt))
                    .col(string_null(ProgrammeAction::CompletedBy))
                    .col(text_null(ProgrammeAction::Note))
                    .primary_key(Index::create().col(ProgrammeAction::ProgrammeId).col(ProgrammeAction::Position))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(CareTask::Table)
                    .col(string(CareTask::Id).primary_key())
                    .col(string(CareTask::PhoneNumber))
                    .col(string(CareTask::Department))
                    .col(double(CareTask::RiskScore))
                    .col(text(CareTask::Factors))
                    .col(string(CareTask::ModelVersion))
                    .col(big_integer(CareTask::CreatedAt))
                    .col(string_null(CareTask::Outcome))
                    .col(text_null(CareTask::Note))
                    .col(big_integer_null(CareTask::CompletedAt))
                    .col(string_null(CareTask::CompletedBy))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index("care_task_by_phone", CareTask::Table).col(CareTask::PhoneNumber).to_owned())
            .await?;
        manager
            .create_index(
                index("care_task_queue", CareTask::Table).col(CareTask::Department).col(CareTask::CreatedAt).to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            CareTask::Table.into_iden(),
            ProgrammeAction::Table.into_iden(),
            Programme::Table.into_iden(),
            RecoveryAction::Table.into_iden(),
            SubTask::Table.into_iden(),
        ] {
            manager.drop_table(Table::drop().table(table).to_owned()).await?;
        }
        Ok(())
    }
}
