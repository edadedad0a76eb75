//! The adapter's schema, applied at start-up, beside the kit's feed cursor and lease tables.

use csm_kit::{feed::FeedMigration, lease::LeaseMigration};
use sea_orm_migration::{prelude::*, schema::*};

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![Box::new(FeedMigration), Box::new(LeaseMigration), Box::new(CreateTickets)]
    }
}

// The column names the entity's field `ticket_type`.
#[allow(clippy::enum_variant_names)]
#[derive(DeriveIden)]
enum Ticket {
    Table,
    Id,
    ExternalId,
    CaseName,
    Status,
    StatusChangedAt,
    StatusChangeReason,
    Severity,
    TicketType,
    Name,
    Description,
    Priority,
    Channel,
    PhoneNumber,
    Department,
    CreatedAt,
    UpdatedAt,
    ExpectedResolutionAt,
    RequestedResolutionAt,
    ResolvedAt,
    Notes,
    ServiceProblem,
}

#[derive(DeriveIden)]
enum HubListener {
    Table,
    Id,
    Callback,
    Query,
    CreatedAt,
    Owner,
    ApiVersion,
}

#[derive(DeriveIden)]
enum HubNotification {
    Table,
    Id,
    ListenerId,
    TicketId,
    EventType,
    Body,
    Attempts,
    NextAttemptAt,
    CreatedAt,
    LastError,
}

struct CreateTickets;

impl MigrationName for CreateTickets {
    fn name(&self) -> &str {
        "m20261202_000001_tickets"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for CreateTickets {
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Ticket::Table)
                    .col(string(Ticket::Id).primary_key())
                    .col(string_null(Ticket::ExternalId).unique_key())
                    .col(string_null(Ticket::CaseName))
                    .col(string(Ticket::Status))
                    .col(big_integer(Ticket::StatusChangedAt))
                    .col(text_null(Ticket::StatusChangeReason))
                    .col(string(Ticket::Severity))
                    .col(string(Ticket::TicketType))
                    .col(string_null(Ticket::Name))
                    .col(text(Ticket::Description))
                    .col(string_null(Ticket::Priority))
                    .col(string(Ticket::Channel))
                    .col(string_null(Ticket::PhoneNumber))
                    .col(string(Ticket::Department))
                    .col(big_integer(Ticket::CreatedAt))
                    .col(big_integer(Ticket::UpdatedAt))
                    .col(big_integer_null(Ticket::ExpectedResolutionAt))
                    .col(big_integer_null(Ticket::RequestedResolutionAt))
                    .col(big_integer_null(Ticket::ResolvedAt))
                    .col(text(Ticket::Notes))
                    .col(string_null(Ticket::ServiceProblem))
                    .to_owned(),
            )
            .await?;
        // Listings are newest first; the case index finds a ticket from recovery's events.
        for (name, column) in [
            ("ticket_created", Ticket::CreatedAt),
            ("ticket_case", Ticket::CaseName),
            ("ticket_status", Ticket::Status),
        ] {
            manager
                .create_index(Index::create().name(name).table(Ticket::Table).col(column).col(Ticket::Id).to_owned())
                .await?;
        }
        manager
            .create_table(
                Table::create()
                    .table(HubListener::Table)
                    .col(string(HubListener::Id).primary_key())
                    .col(text(HubListener::Callback))
                    .col(text(HubListener::Query))
                    .col(big_integer(HubListener::CreatedAt))
                    .col(string(HubListener::Owner))
                    .col(string(HubListener::ApiVersion))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(HubNotification::Table)
                    .col(big_pk_auto(HubNotification::Id))
                    .col(string(HubNotification::ListenerId))
                    .col(string(HubNotification::TicketId))
                    .col(string(HubNotification::EventType))
                    .col(text(HubNotification::Body))
                    .col(integer(HubNotification::Attempts))
                    .col(big_integer(HubNotification::NextAttemptAt))
                    .col(big_integer(HubNotification::CreatedAt))
                    .col(text_null(HubNotification::LastError))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("hub_notification_listener")
                    .table(HubNotification::Table)
                    .col(HubNotification::ListenerId)
                    .col(HubNotification::Id)
                    .to_owned(),
            )
            .await
    }
}
