//! Measurement's schema, applied at start-up.

use csm_kit::{feed::FeedMigration, lease::LeaseMigration};
use sea_orm_migration::{prelude::*, schema::*};

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(FeedMigration),
            Box::new(CreateWorkOrderFacts),
            Box::new(LeaseMigration),
            Box::new(super::schema::IndicatorSystem),
            Box::new(super::schema::MedianBins),
            Box::new(super::schema::ClosedLoop),
            Box::new(super::schema::CauseNames),
            Box::new(super::schema::RoomForUpdates),
            Box::new(super::CreateFactStamp),
        ]
    }
}

#[derive(DeriveIden)]
enum WorkOrderFact {
    Table,
    WorkOrderId,
    OpenedAt,
    OpenedDay,
    Channel,
    Category,
    RootCause,
    Department,
    Deadline,
    ResolvedAt,
    ResolvedDay,
    ResolvedOnTime,
}

struct CreateWorkOrderFacts;

impl MigrationName for CreateWorkOrderFacts {
    fn name(&self) -> &str {
        "m20261124_000001_work_order_facts"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for CreateWorkOrderFacts {
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(WorkOrderFact::Table)
                    .col(string(WorkOrderFact::WorkOrderId).primary_key())
                    .col(big_integer(WorkOrderFact::OpenedAt))
                    .col(string(WorkOrderFact::OpenedDay))
                    .col(string(WorkOrderFact::Channel))
                    .col(string_null(WorkOrderFact::Category))
                    .col(string_null(WorkOrderFact::RootCause))
                    .col(string_null(WorkOrderFact::Department))
                    .col(big_integer_null(WorkOrderFact::Deadline))
                    .col(big_integer_null(WorkOrderFact::ResolvedAt))
                    .col(string_null(WorkOrderFact::ResolvedDay))
                    .col(boolean_null(WorkOrderFact::ResolvedOnTime))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("fact_by_opened_day")
                    .table(WorkOrderFact::Table)
                    .col(WorkOrderFact::OpenedDay)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("fact_by_resolved_day")
                    .table(WorkOrderFact::Table)
                    .col(WorkOrderFact::ResolvedDay)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(WorkOrderFact::Table).to_owned()).await
    }
}
