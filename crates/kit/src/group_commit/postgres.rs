//! Group commit on PostgreSQL through the driver's own connection.
//!
//! A sea-orm transaction keeps its connection to itself, so a batch written through it can only
//! use statements with bound parameters: a multi-row `INSERT` the server parses, plans and binds
//! value by value. Here the writer takes a connection from the service's pool and runs the batch
//! on it through the driver, where it can stream rows with `COPY` ([`crate::bulk::copy_in`]) and
//! read by arrays (`= ANY($1)`) in one statement shape whatever the batch's size. Its events
//! go the same way, in the same transaction.

use std::{future::Future, sync::Arc};

use sea_orm::{
    DbErr,
    sqlx::{Connection as _, PgConnection, PgPool},
};

use super::{BatchWriter, WriteFailed, checked};
use crate::{
    db::{postgres_connection_error, postgres_error},
    feed::{Outbox, Publisher},
};

/// A [`BatchWriter`] that can also write its batch on a PostgreSQL connection of the driver's own.
/// The batch's transaction plans each statement for the values it carries, never from a plan
/// cached earlier on the connection (`plan_cache_mode = force_custom_plan`).
pub trait PostgresBatchWriter: BatchWriter {
    /// Writes `items` in the transaction open on `txn`, queueing their events in `outbox`; as
    /// [`BatchWriter::write`].
    fn write_postgres<'a>(
        &'a self,
        txn: &'a mut PgConnection,
        outbox: &'a mut Outbox,
        items: &'a [Self::Item],
    ) -> impl Future<Output = Result<Vec<Self::Output>, DbErr>> + 'a;
}

pub(super) async fn write_postgres<W: PostgresBatchWriter>(
    publisher: &Publisher,
    writer: &W,
    pool: &PgPool,
    items: &[W::Item],
) -> Result<Vec<W::Output>, WriteFailed> {
    let fail = |error: DbErr| WriteFailed::Database(Arc::new(error));
    let mut connection = pool.acquire().await.map_err(postgres_connection_error).map_err(fail)?;
    // Dropping `txn` on any early return rolls the batch back. Its reads are planned for the keys
    // each carries: the statements are prepared once per connection, and a generic plan made while
    // the tables were nearly empty (before autovacuum's first ANALYZE) would scan them whole once
    // they are not; planning these short statements costs far less than one such scan.
    let mut txn = connection
        .begin_with("BEGIN; SET LOCAL plan_cache_mode = force_custom_plan")
        .await
        .map_err(postgres_connection_error)
        .map_err(fail)?;
    let mut outbox = Outbox::default();
    let outputs = checked(writer.write_postgres(&mut txn, &mut outbox, items).await.map_err(fail)?, items.len())?;
    let events = outbox.write_postgres(&mut txn).await.map_err(fail)?;
    txn.commit().await.map_err(postgres_error).map_err(fail)?;
    publisher.committed(events);
    Ok(outputs)
}
