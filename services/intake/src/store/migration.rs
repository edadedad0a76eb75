//! Intake's schema, applied at start-up.

use csm_kit::feed::FeedMigration;
use sea_orm_migration::{prelude::*, schema::*};

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![Box::new(FeedMigration), Box::new(CreateContactsAndWorkOrders)]
    }
}

#[derive(DeriveIden)]
#[allow(clippy::enum_variant_names)]
enum Contact {
    Table,
    Id,
    RequestId,
    RequestFingerprint,
    Channel,
    PhoneNumber,
    ContactType,
    Text,
    ProblemCode,
    OccurredAt,
    CreatedAt,
    RecordedBy,
    WorkOrderId,
}

#[derive(DeriveIden)]
enum WorkOrder {
    Table,
    Id,
    ContactId,
    Kind,
    Status,
    Channel,
    ContactType,
    PhoneNumber,
    Text,
    ProblemCode,
    OpenedAt,
    CreatedAt,
    FirstWorkOrderId,
}

struct CreateContactsAndWorkOrders;

impl MigrationName for CreateContactsAndWorkOrders {
    fn name(&self) -> &str {
        "m20261124_000001_contacts_and_work_orders"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for CreateContactsAndWorkOrders {
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Contact::Table)
                    .col(string(Contact::Id).primary_key())
                    .col(string_null(Contact::RequestId).unique_key())
                    .col(string(Contact::RequestFingerprint))
                    .col(string(Contact::Channel))
                    .col(string(Contact::PhoneNumber))
                    .col(string(Contact::ContactType))
                    .col(text(Contact::Text))
                    .col(string_null(Contact::ProblemCode))
                    .col(big_integer(Contact::OccurredAt))
                    .col(big_integer(Contact::CreatedAt))
                    .col(string(Contact::RecordedBy))
                    .col(string_null(Contact::WorkOrderId))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("contact_by_phone")
                    .table(Contact::Table)
                    .col(Contact::PhoneNumber)
                    .col(Contact::OccurredAt)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(WorkOrder::Table)
                    .col(string(WorkOrder::Id).primary_key())
                    .col(string(WorkOrder::ContactId))
                    .col(string(WorkOrder::Kind))
                    .col(string(WorkOrder::Status))
                    .col(string(WorkOrder::Channel))
                    .col(string(WorkOrder::ContactType))
                    .col(string(WorkOrder::PhoneNumber))
                    .col(text(WorkOrder::Text))
                    .col(string_null(WorkOrder::ProblemCode))
                    .col(big_integer(WorkOrder::OpenedAt))
                    .col(big_integer(WorkOrder::CreatedAt))
                    .col(string_null(WorkOrder::FirstWorkOrderId))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("work_order_by_phone")
                    .table(WorkOrder::Table)
                    .col(WorkOrder::PhoneNumber)
                    .col(WorkOrder::OpenedAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(WorkOrder::Table).to_owned()).await?;
        manager.drop_table(Table::drop().table(Contact::Table).to_owned()).await
    }
}
