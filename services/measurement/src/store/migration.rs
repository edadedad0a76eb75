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
            Box::new(RoomForUpdates),
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

/// On PostgreSQL, the tables whose rows each batch rewrites leave half of every page free: a work
/// order's fact is written again when it is classified and when its case is resolved, and a cell
/// every time an event counts in it. With room on the row's own page, an update that changes no
/// indexed column is a heap-only tuple: no new entry in the key's index and one page written,
/// where on a full page each update moved the row and indexed it again (docs/performance.md).
/// Pages already full keep their rows until they are rewritten; SQLite updates in place.
struct RoomForUpdates;

/// The tables [`RoomForUpdates`] sets, with how full PostgreSQL fills their pages on insert.
const ROOM_FOR_UPDATES: [(&str, u8); 3] = [("order_fact", 50), ("cell", 50), ("cell_bin", 50)];

impl MigrationName for RoomForUpdates {
    fn name(&self) -> &str {
        "m20261206_000001_room_for_updates"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for RoomForUpdates {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != sea_orm::DbBackend::Postgres {
            return Ok(());
        }
        for (table, fillfactor) in ROOM_FOR_UPDATES {
            let sql = format!("ALTER TABLE {table} SET (fillfactor = {fillfactor})");
            manager.get_connection().execute_unprepared(&sql).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != sea_orm::DbBackend::Postgres {
            return Ok(());
        }
        for (table, _) in ROOM_FOR_UPDATES {
            manager.get_connection().execute_unprepared(&format!("ALTER TABLE {table} RESET (fillfactor)")).await?;
        }
        Ok(())
    }
}
