//! The `fact_stamp` table: one row whose token every batch that changes order facts replaces,
//! so that a process can tell whether anyone else wrote facts since its own last batch (see
//! `absorb::FactCache`). This version's batches write an odd token of their own after their
//! facts. On PostgreSQL, where replicas of two versions can run side by side during a rolling
//! upgrade, a trigger also gives every statement that changes `order_fact` an even token of its
//! own, so that a writer that stamps nothing (the version before) is noticed too. SQLite has one
//! writing process, stopped before the next version starts.

use sea_orm::{
    ConnectionTrait, DbBackend, DbErr,
    sea_query::{Expr, ExprTrait, OnConflict, Query},
};
use sea_orm_migration::{prelude::*, schema::*};

use super::{Statements, fetch};

#[derive(DeriveIden)]
enum FactStamp {
    Table,
    Id,
    Token,
}

/// The one row's key.
const ROW: i16 = 1;

/// The token stored now; 0 before any batch stamped one.
pub async fn fact_stamp(db: &impl ConnectionTrait) -> Result<i64, DbErr> {
    let query = Query::select()
        .column(FactStamp::Token)
        .from(FactStamp::Table)
        .and_where(Expr::col(FactStamp::Id).eq(ROW))
        .to_owned();
    match fetch(db, query).await?.first() {
        Some(row) => row.try_get("", "token"),
        None => Ok(0),
    }
}

/// Replaces the stored token with `token`, after the batch's facts: the trigger has just given
/// them an even token, and this batch's odd one tells the next batch of this process that these
/// facts are its own.
pub fn stamp_write(backend: DbBackend, token: i64) -> Statements {
    let upsert = Query::insert()
        .into_table(FactStamp::Table)
        .columns([FactStamp::Id, FactStamp::Token])
        .values_panic([ROW.into(), token.into()])
        .on_conflict(OnConflict::column(FactStamp::Id).update_column(FactStamp::Token).to_owned())
        .to_owned();
    Statements::from(backend.build(&upsert))
}

/// On PostgreSQL, after every statement that changes `order_fact`: a new even token, never 0
/// (no row yet) and never a batch's own (odd). Dropped first, so that the migration can run again
/// after its record was deleted to roll back (docs/operations.md).
const TRIGGER: &str = "
CREATE OR REPLACE FUNCTION fact_stamp_touch() RETURNS trigger LANGUAGE plpgsql
SET search_path FROM CURRENT AS $$
BEGIN
    INSERT INTO fact_stamp (id, token) VALUES (1, 2 + 2 * floor(random() * 4611686018427387902)::int8)
    ON CONFLICT (id) DO UPDATE SET token = excluded.token;
    RETURN NULL;
END
$$;
DROP TRIGGER IF EXISTS order_fact_stamped ON order_fact;
CREATE TRIGGER order_fact_stamped AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON order_fact
    FOR EACH STATEMENT EXECUTE FUNCTION fact_stamp_touch();
";

/// Creates the table, empty (the first stamp inserts its row), and on PostgreSQL the trigger.
pub struct CreateFactStamp;

impl MigrationName for CreateFactStamp {
    fn name(&self) -> &str {
        "m20261207_000001_fact_stamp"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for CreateFactStamp {
    /// The table and its trigger together, or neither.
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(FactStamp::Table)
                    .if_not_exists()
                    .col(small_integer(FactStamp::Id).primary_key())
                    .col(big_integer(FactStamp::Token))
                    .to_owned(),
            )
            .await?;
        if manager.get_database_backend() == DbBackend::Postgres {
            manager.get_connection().execute_unprepared(TRIGGER).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() == DbBackend::Postgres {
            let drop = "DROP TRIGGER IF EXISTS order_fact_stamped ON order_fact; \
                        DROP FUNCTION IF EXISTS fact_stamp_touch()";
            manager.get_connection().execute_unprepared(drop).await?;
        }
        manager.drop_table(Table::drop().table(FactStamp::Table).to_owned()).await
    }
}
