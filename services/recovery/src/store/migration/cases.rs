//! The first schema: cases and their audit trail.

use sea_orm_migration::{prelude::*, schema::*};

use super::tables::*;

pub struct CreateCases;

impl MigrationName for CreateCases {
    fn name(&self) -> &str {
        "m20261124_000001_cases"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for CreateCases {
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(CaseFile::Table)
                    .col(string(CaseFile::Id).primary_key())
                    .col(string(CaseFile::WorkOrderId).unique_key())
                    .col(string(CaseFile::PhoneNumber))
                    .col(string(CaseFile::Channel))
                    .col(text(CaseFile::Text))
                    .col(string(CaseFile::Status))
                    .col(string(CaseFile::Department))
                    .col(string(CaseFile::Leaf))
                    .col(string(CaseFile::Path))
                    .col(string(CaseFile::TaxonomyVersion))
                    .col(big_integer(CaseFile::OpenedAt))
                    .col(big_integer_null(CaseFile::DispatchedAt))
                    .col(big_integer(CaseFile::Deadline))
                    .col(big_integer_null(CaseFile::ResolvedAt))
                    .col(text_null(CaseFile::Resolution))
                    .col(string_null(CaseFile::ResolvedBy))
                    .col(boolean_null(CaseFile::ResolvedOnTime))
                    .col(string_null(CaseFile::ResolveRequestId))
                    .to_owned(),
            )
            .await?;
        // A department's queue: its cases by deadline.
        manager
            .create_index(
                Index::create()
                    .name("case_queue")
                    .table(CaseFile::Table)
                    .col(CaseFile::Department)
                    .col(CaseFile::Deadline)
                    .col(CaseFile::Id)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create().name("case_by_phone").table(CaseFile::Table).col(CaseFile::PhoneNumber).to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(CaseTransition::Table)
                    .col(big_pk_auto(CaseTransition::Id))
                    .col(string(CaseTransition::CaseId))
                    .col(string_null(CaseTransition::FromStatus))
                    .col(string(CaseTransition::ToStatus))
                    .col(string(CaseTransition::Actor))
                    .col(text(CaseTransition::Reason))
                    .col(big_integer(CaseTransition::At))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("case_transition_by_case")
                    .table(CaseTransition::Table)
                    .col(CaseTransition::CaseId)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(CaseTransition::Table).to_owned()).await?;
        manager.drop_table(Table::drop().table(CaseFile::Table).to_owned()).await
    }
}
