//! Service problems (重大故障): the problems themselves, the region of every case and the problem
//! it is linked to, the customers recovery knows of by region, and the indexes that keep linking
//! and surge detection cheap on the dispatch path.

use sea_orm_migration::{prelude::*, schema::*};

use super::tables::{CareTask, CaseFile, KnownCustomer, ServiceProblem};

pub struct ServiceProblems;

impl MigrationName for ServiceProblems {
    fn name(&self) -> &str {
        "m20261203_000005_service_problems"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for ServiceProblems {
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // SQLite adds one column per ALTER TABLE.
        for mut column in [string(CaseFile::Region).default("").to_owned(), string_null(CaseFile::ServiceProblemId)] {
            manager.alter_table(Table::alter().table(CaseFile::Table).add_column(&mut column).to_owned()).await?;
        }
        let mut column = string_null(CareTask::ServiceProblemId);
        manager.alter_table(Table::alter().table(CareTask::Table).add_column(&mut column).to_owned()).await?;
        // Counting a leaf's complaints in a region over a window, and finding those to link.
        manager
            .create_index(
                Index::create()
                    .name("case_file_leaf_region")
                    .table(CaseFile::Table)
                    .col(CaseFile::Leaf)
                    .col(CaseFile::Region)
                    .col(CaseFile::OpenedAt)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("case_file_service_problem")
                    .table(CaseFile::Table)
                    .col(CaseFile::ServiceProblemId)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(ServiceProblem::Table)
                    .col(string(ServiceProblem::Id).primary_key())
                    .col(string(ServiceProblem::Status))
                    .col(text(ServiceProblem::Description))
                    .col(string(ServiceProblem::Category))
                    .col(integer(ServiceProblem::Priority))
                    .col(string(ServiceProblem::Leaf))
                    .col(string(ServiceProblem::Region))
                    .col(text(ServiceProblem::Products))
                    .col(big_integer(ServiceProblem::StartAt))
                    .col(big_integer_null(ServiceProblem::EndAt))
                    .col(string(ServiceProblem::Origin))
                    .col(string(ServiceProblem::Originator))
                    .col(text(ServiceProblem::UnderlyingAlarms))
                    .col(string(ServiceProblem::RootCauseService))
                    .col(string(ServiceProblem::Department))
                    .col(integer(ServiceProblem::LinkedCases))
                    .col(integer(ServiceProblem::CaredCustomers))
                    .col(big_integer(ServiceProblem::CreatedAt))
                    .col(big_integer(ServiceProblem::StatusChangedAt))
                    .col(text(ServiceProblem::StatusChangeReason))
                    .col(big_integer_null(ServiceProblem::ResolvedAt))
                    .col(text_null(ServiceProblem::Resolution))
                    .col(string_null(ServiceProblem::RequestId).unique_key())
                    .col(string_null(ServiceProblem::ChangeRequestId))
                    .col(big_integer(ServiceProblem::Version))
                    .to_owned(),
            )
            .await?;
        // The dispatch path's lookup of open problems of a leaf and region.
        manager
            .create_index(
                Index::create()
                    .name("service_problem_leaf_region")
                    .table(ServiceProblem::Table)
                    .col(ServiceProblem::Leaf)
                    .col(ServiceProblem::Region)
                    .col(ServiceProblem::Status)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("service_problem_created")
                    .table(ServiceProblem::Table)
                    .col(ServiceProblem::CreatedAt)
                    .col(ServiceProblem::Id)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(KnownCustomer::Table)
                    .col(string(KnownCustomer::PhoneNumber).primary_key())
                    .col(string(KnownCustomer::Region))
                    .col(text(KnownCustomer::Products))
                    .col(integer(KnownCustomer::VipLevel))
                    .col(big_integer(KnownCustomer::ChangedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("known_customer_region")
                    .table(KnownCustomer::Table)
                    .col(KnownCustomer::Region)
                    .col(KnownCustomer::PhoneNumber)
                    .to_owned(),
            )
            .await
    }
}
