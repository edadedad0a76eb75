//! The indicator system's tables. Times are microseconds since the epoch.
//!
//! Applying it rewinds the feed cursors, so the feeds (which keep every event) are absorbed again
//! into the richer model. The first version's `work_order_fact` table is left in place, unused,
//! so that replicas of that version keep working during a rolling upgrade; a later release drops
//! it.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveIden)]
pub enum Measure {
    Table,
    Id,
    Expression,
}

#[derive(DeriveIden)]
pub enum Cell {
    Table,
    Measure,
    Grain,
    Dimension,
    Period,
    Value,
    Count,
    Total,
}

#[derive(DeriveIden, Clone, Copy)]
pub enum OrderFact {
    Table,
    WorkOrderId,
    OpenedAt,
    Channel,
    Region,
    Segment,
    Product,
    Kind,
    ContactType,
    Appeal,
    Path,
    Department,
    Corrected,
    ResolvedAt,
    OnTime,
    ReopenCount,
    CallbackAt,
    CallbackWithinDue,
    CallbackOutcome,
    AnsweredLate,
}

#[derive(DeriveIden)]
pub enum Observation {
    Table,
    Id,
    Source,
    At,
    Customer,
    Region,
    Segment,
    Channel,
    Product,
    Fields,
}

#[derive(DeriveIden)]
pub enum CustomerBase {
    Table,
    Region,
    Customers,
}

/// Data kept as encoded protobuf messages, each under a kind and key: the catalogue's
/// indicators, index models, audit checklists, audits, benchmark imports, programme windows,
/// evaluations and alert states.
#[derive(DeriveIden)]
pub enum Document {
    Table,
    Kind,
    Key,
    Body,
    At,
    UpdateTime,
}

/// A binned measure's values by bin (a whole minute), beside its cell.
#[derive(DeriveIden)]
pub enum CellBin {
    Table,
    Measure,
    Grain,
    Dimension,
    Period,
    Value,
    Bin,
    Count,
}

/// The latest snapshot of each closed loop (`facts::LoopFact`): kind, key, the sequence of the
/// event that carried it, when it counts, and recovery's message.
#[derive(DeriveIden)]
pub enum LoopFact {
    Table,
    Kind,
    Key,
    Version,
    At,
    Body,
}

#[derive(DeriveIden)]
enum ConsumerCursor {
    Table,
    Consumer,
}

pub struct IndicatorSystem;

impl MigrationName for IndicatorSystem {
    fn name(&self) -> &str {
        "m20261125_000001_indicator_system"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for IndicatorSystem {
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .exec_stmt(
                Query::delete()
                    .from_table(ConsumerCursor::Table)
                    .and_where(Expr::col(ConsumerCursor::Consumer).is_in(["intake", "classification", "recovery"]))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Measure::Table)
                    .col(big_integer(Measure::Id).primary_key().auto_increment())
                    .col(string(Measure::Expression).unique_key())
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Cell::Table)
                    .col(big_integer(Cell::Measure))
                    .col(small_integer(Cell::Grain))
                    .col(string(Cell::Dimension))
                    .col(big_integer(Cell::Period))
                    .col(string(Cell::Value))
                    .col(big_integer(Cell::Count))
                    .col(double(Cell::Total))
                    .primary_key(
                        Index::create()
                            .col(Cell::Measure)
                            .col(Cell::Grain)
                            .col(Cell::Dimension)
                            .col(Cell::Period)
                            .col(Cell::Value),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(OrderFact::Table)
                    .col(string(OrderFact::WorkOrderId).primary_key())
                    .col(big_integer_null(OrderFact::OpenedAt))
                    .col(string(OrderFact::Channel))
                    .col(string(OrderFact::Region))
                    .col(string(OrderFact::Segment))
                    .col(string(OrderFact::Product))
                    .col(string(OrderFact::Kind))
                    .col(string(OrderFact::ContactType))
                    .col(string(OrderFact::Appeal))
                    .col(string(OrderFact::Path))
                    .col(string(OrderFact::Department))
                    .col(boolean(OrderFact::Corrected))
                    .col(big_integer_null(OrderFact::ResolvedAt))
                    .col(boolean_null(OrderFact::OnTime))
                    .col(integer(OrderFact::ReopenCount))
                    .col(big_integer_null(OrderFact::CallbackAt))
                    .col(boolean_null(OrderFact::CallbackWithinDue))
                    .col(string(OrderFact::CallbackOutcome))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Observation::Table)
                    .col(big_integer(Observation::Id).primary_key().auto_increment())
                    .col(small_integer(Observation::Source))
                    .col(big_integer(Observation::At))
                    .col(string(Observation::Customer))
                    .col(string(Observation::Region))
                    .col(string(Observation::Segment))
                    .col(string(Observation::Channel))
                    .col(string(Observation::Product))
                    .col(text(Observation::Fields))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("observation_by_source_and_time")
                    .table(Observation::Table)
                    .col(Observation::Source)
                    .col(Observation::At)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(CustomerBase::Table)
                    .col(string(CustomerBase::Region).primary_key())
                    .col(big_integer(CustomerBase::Customers))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Document::Table)
                    .col(string(Document::Kind))
                    .col(string(Document::Key))
                    .col(blob(Document::Body))
                    .col(big_integer(Document::At))
                    .col(big_integer(Document::UpdateTime))
                    .primary_key(Index::create().col(Document::Kind).col(Document::Key))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, _: &SchemaManager) -> Result<(), DbErr> {
        Err(DbErr::Migration("the indicator system is not rolled back".into()))
    }
}

/// The bins a median of a duration is read from, beside the cells.
pub struct MedianBins;

impl MigrationName for MedianBins {
    fn name(&self) -> &str {
        "m20261202_000001_median_bins"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for MedianBins {
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(CellBin::Table)
                    .col(big_integer(CellBin::Measure))
                    .col(small_integer(CellBin::Grain))
                    .col(string(CellBin::Dimension))
                    .col(big_integer(CellBin::Period))
                    .col(string(CellBin::Value))
                    .col(big_integer(CellBin::Bin))
                    .col(big_integer(CellBin::Count))
                    .primary_key(
                        Index::create()
                            .col(CellBin::Measure)
                            .col(CellBin::Grain)
                            .col(CellBin::Dimension)
                            .col(CellBin::Period)
                            .col(CellBin::Value)
                            .col(CellBin::Bin),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(CellBin::Table).to_owned()).await
    }
}

/// The closed loop: detractor follow-ups and appeal risks, and late answers on cases.
///
/// Applying it rewinds the cursor on recovery's feed. Before it, measurement did not ask for the
/// follow-up and appeal-risk events and read no answer due time on resolved cases, so those
/// already published are absorbed again. Everything recovery's events amend is idempotent
/// (work-order facts end as the last event left them, snapshots keep the latest by sequence,
/// programme windows are overwritten), so the replay moves no cell twice.
pub struct ClosedLoop;

impl MigrationName for ClosedLoop {
    fn name(&self) -> &str {
        "m20261202_000002_closed_loop"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for ClosedLoop {
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .exec_stmt(
                Query::delete()
                    .from_table(ConsumerCursor::Table)
                    .and_where(Expr::col(ConsumerCursor::Consumer).eq("recovery"))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter().table(OrderFact::Table).add_column(boolean_null(OrderFact::AnsweredLate)).to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(LoopFact::Table)
                    .col(small_integer(LoopFact::Kind))
                    .col(string(LoopFact::Key))
                    .col(big_integer(LoopFact::Version))
                    .col(big_integer(LoopFact::At))
                    .col(blob(LoopFact::Body))
                    .primary_key(Index::create().col(LoopFact::Kind).col(LoopFact::Key))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, _: &SchemaManager) -> Result<(), DbErr> {
        Err(DbErr::Migration("the closed loop is not rolled back".into()))
    }
}

/// Root-cause names: measurement asks classification's feed for `TaxonomyActivated` as well.
///
/// Applying it rewinds the cursor on classification's feed, so the taxonomies already announced
/// are read. Classification and correction events only set a work order's cause and mark it
/// corrected, which the replay leaves as it was, so no cell moves twice.
pub struct CauseNames;

impl MigrationName for CauseNames {
    fn name(&self) -> &str {
        "m20261203_000001_cause_names"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for CauseNames {
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .exec_stmt(
                Query::delete()
                    .from_table(ConsumerCursor::Table)
                    .and_where(Expr::col(ConsumerCursor::Consumer).eq("classification"))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, _: &SchemaManager) -> Result<(), DbErr> {
        Ok(())
    }
}

/// On PostgreSQL, the tables whose rows each batch rewrites leave half of every page free: a work
/// order's fact is written again when it is classified and when its case is resolved, and a cell
/// (and its bins, updated the same way) every time an event counts in it. With room on the row's
/// own page, an update that changes no indexed column can be a heap-only tuple: no new entry in
/// the key's index and one page written, where on a full page an update usually moved the row and
/// indexed it again (docs/performance.md). None of the three is indexed on a column an update
/// changes. Half leaves room for a new version of every row on its page until the old ones are
/// pruned; the price is that rows no longer updated stay at about half density. Only the catalogue
/// changes: pages already full keep their rows until they are rewritten, and replicas of the
/// previous version work on as before. SQLite updates in place, so there the step is only recorded.
pub struct RoomForUpdates;

/// How full PostgreSQL fills the pages of [`RoomForUpdates`]' tables on insert, in percent.
const FILLED_ON_INSERT: u8 = 50;

impl RoomForUpdates {
    /// Applies `change` (`ALTER TABLE <table> <change>`) to each of the tables on PostgreSQL;
    /// nothing on SQLite.
    async fn alter_tables(manager: &SchemaManager<'_>, change: &str) -> Result<(), DbErr> {
        if manager.get_database_backend() != sea_orm::DbBackend::Postgres {
            return Ok(());
        }
        for table in [OrderFact::Table.into_iden(), Cell::Table.into_iden(), CellBin::Table.into_iden()] {
            manager.get_connection().execute_unprepared(&format!("ALTER TABLE {table} {change}")).await?;
        }
        Ok(())
    }
}

impl MigrationName for RoomForUpdates {
    fn name(&self) -> &str {
        "m20261206_000001_room_for_updates"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for RoomForUpdates {
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        Self::alter_tables(manager, &format!("SET (fillfactor = {FILLED_ON_INSERT})")).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        Self::alter_tables(manager, "RESET (fillfactor)").await
    }
}
