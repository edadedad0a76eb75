//! The events a write transaction publishes, queued as it runs and written just before it commits:
//! numbered by moving the feed's head (see [`super::Publisher`] on why they are numbered then), on
//! every database and through every kind of transaction the services write with.
//!
//! On PostgreSQL the head's `UPDATE` and the events' insert are one statement (`WITH head AS
//! (UPDATE ...) INSERT ... SELECT FROM head, (SELECT unnest(...), ...)`), so publishing costs a
//! transaction one round trip; the group commit's batches add their own writes to the same
//! statement ([`Writes`]).

use prost::Name;
use sea_orm::{
    ConnectionTrait, DatabaseTransaction, DbBackend, DbErr, IdenStatic, IntoActiveModel, Iterable, Statement, Value,
};

use super::schema::outbox_event;
use crate::{
    bulk::{Writes, column_arrays, quoted_names},
    telemetry::TraceContext,
    time,
};

/// An event queued for the outbox, not yet numbered.
struct PendingEvent {
    subject: String,
    event_type: String,
    occurred_at: i64,
    traceparent: String,
    tracestate: String,
    payload: Vec<u8>,
}

/// Events queued by a write transaction, numbered and written just before it commits.
#[derive(Default)]
pub struct Outbox {
    pending: Vec<PendingEvent>,
}

impl std::fmt::Debug for Outbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Outbox").field("pending", &self.pending.len()).finish()
    }
}

impl PendingEvent {
    /// The outbox row of this event, numbered `sequence`.
    fn into_row(self, sequence: i64) -> outbox_event::Model {
        outbox_event::Model {
            sequence,
            subject: self.subject,
            event_type: self.event_type,
            occurred_at: self.occurred_at,
            traceparent: self.traceparent,
            tracestate: self.tracestate,
            payload: self.payload,
        }
    }
}

impl Outbox {
    /// Queues `payload` as an event about `subject`, published under `trace`.
    pub fn publish_traced<M: Name>(&mut self, trace: &TraceContext, subject: impl Into<String>, payload: &M) {
        self.pending.push(PendingEvent {
            subject: subject.into(),
            event_type: M::full_name(),
            occurred_at: time::now_micros(),
            traceparent: trace.traceparent.clone(),
            tracestate: trace.tracestate.clone(),
            payload: payload.encode_to_vec(),
        });
    }

    /// Events queued so far.
    pub fn len(&self) -> usize {
        self.pending.len()
    }

    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }

    /// Numbers and writes the queued events in `txn` (see the module's note on numbering); returns
    /// the rows written.
    pub(super) async fn write(self, txn: &DatabaseTransaction) -> Result<Vec<outbox_event::Model>, DbErr> {
        if self.pending.is_empty() {
            return Ok(Vec::new());
        }
        let count = i64::try_from(self.pending.len()).map_err(|e| DbErr::Custom(e.to_string()))?;
        let backend = txn.get_database_backend();
        if backend == DbBackend::Postgres {
            let rows = self.numbered(count);
            let last = write_events_postgres(txn, &rows, count).await?;
            return Ok(renumbered(rows, last - count));
        }
        let row = txn
            .query_one_raw(Statement::from_sql_and_values(
                backend,
                "UPDATE feed_head SET last_sequence = last_sequence + ? WHERE id = 1 RETURNING last_sequence",
                [count.into()],
            ))
            .await?
            .ok_or_else(|| DbErr::RecordNotFound("feed_head".into()))?;
        let rows = self.numbered(row.try_get("", "last_sequence")?);
        crate::bulk::insert_all(txn, rows.iter().cloned().map(IntoActiveModel::into_active_model).collect()).await?;
        Ok(rows)
    }

    /// As [`Outbox::write`], in a transaction of a synchronous SQLite connection
    /// ([`crate::group_commit::SqliteBatchWriter`]).
    pub(crate) fn write_sqlite(
        self,
        txn: &rusqlite::Transaction<'_>,
    ) -> Result<Vec<outbox_event::Model>, rusqlite::Error> {
        if self.pending.is_empty() {
            return Ok(Vec::new());
        }
        let count = i64::try_from(self.pending.len()).unwrap_or(i64::MAX);
        let last: i64 = txn
            .prepare_cached(
                "UPDATE feed_head SET last_sequence = last_sequence + ?1 WHERE id = 1 RETURNING last_sequence",
            )?
            .query_row([count], |row| row.get(0))?;
        let mut insert = txn.prepare_cached(
            "INSERT INTO outbox_event (sequence, subject, event_type, occurred_at, traceparent, tracestate, payload) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )?;
        let rows = self.numbered(last);
        for row in &rows {
            insert.execute(rusqlite::params![
                row.sequence,
                row.subject,
                row.event_type,
                row.occurred_at,
                row.traceparent,
                row.tracestate,
                row.payload,
            ])?;
        }
        Ok(rows)
    }

    /// As [`Outbox::write`], in a transaction on a PostgreSQL connection of the driver's own
    /// ([`crate::group_commit::PostgresBatchWriter`]): the events join the batch's `writes`, and
    /// all go in one statement.
    pub(crate) async fn write_postgres(
        self,
        txn: &mut sea_orm::sqlx::PgConnection,
        mut writes: Writes,
    ) -> Result<Vec<outbox_event::Model>, DbErr> {
        if self.pending.is_empty() {
            writes.execute(txn).await?;
            return Ok(Vec::new());
        }
        let count = i64::try_from(self.pending.len()).map_err(|e| DbErr::Custom(e.to_string()))?;
        let rows = self.numbered(count);
        let columns: Vec<outbox_event::Column> = outbox_event::Column::iter().collect();
        let arrays = column_arrays::<outbox_event::Entity>(rows.iter().cloned(), &columns)?.unwrap_or_default();
        let added = writes.bind(count)?;
        let unnest = writes.bind_arrays(arrays)?;
        for (name, sql) in postgres_parts(&added, &unnest) {
            writes.push_named(name, sql);
        }
        let last = writes.fetch_number(txn, LAST_SEQUENCE).await?;
        Ok(renumbered(rows, last - count))
    }

    /// The queued events as rows, numbered up to `last`, the head after this batch.
    fn numbered(self, last: i64) -> Vec<outbox_event::Model> {
        let first = last - self.pending.len() as i64 + 1;
        self.pending.into_iter().zip(first..).map(|(event, sequence)| event.into_row(sequence)).collect()
    }
}

/// The events `rows` (numbered from 1) stored in one statement with the head's move; returns the
/// head after them, as [`column_arrays`] gathers them for the driver, here as sea-orm values (the
/// outbox has no NULL column).
async fn write_events_postgres(
    txn: &DatabaseTransaction,
    rows: &[outbox_event::Model],
    count: i64,
) -> Result<i64, DbErr> {
    let columns: Vec<outbox_event::Column> = outbox_event::Column::iter().collect();
    let arrays = column_arrays::<outbox_event::Entity>(rows.iter().cloned(), &columns)?.unwrap_or_default();
    let mut values: Vec<Value> = vec![count.into()];
    let mut types = Vec::new();
    for array in arrays {
        types.push(format!("${}::{}[]", values.len() + 1, array.sql_type()));
        values.push(array.into_value()?);
    }
    let parts: Vec<String> = postgres_parts("$1", &crate::bulk::arrays_as_rows(&types))
        .into_iter()
        .map(|(name, sql)| format!("{name} AS ({sql})"))
        .collect();
    let sql = format!("WITH {} {LAST_SEQUENCE}", parts.join(", "));
    let row = txn
        .query_one_raw(Statement::from_sql_and_values(DbBackend::Postgres, sql, values))
        .await?
        .ok_or_else(|| DbErr::RecordNotFound("feed_head".into()))?;
    row.try_get("", "last_sequence")
}

/// What a statement of [`postgres_parts`] answers: the head after its events.
const LAST_SEQUENCE: &str = "SELECT last_sequence FROM head";

/// The parts of a PostgreSQL statement that move the head by `added` (a placeholder) and store
/// the events `unnest` yields (the outbox's columns in the entity's order, as
/// [`crate::bulk::arrays_as_rows`] reads them), whose
/// sequences run from 1 and are shifted past where the head stood.
fn postgres_parts(added: &str, unnest: &str) -> [(&'static str, String); 2] {
    let columns: Vec<outbox_event::Column> = outbox_event::Column::iter().collect();
    let values: Vec<String> = columns
        .iter()
        .map(|column| match column {
            outbox_event::Column::Sequence => format!("h.last_sequence - {added} + r.\"sequence\""),
            other => format!("r.\"{}\"", other.as_str()),
        })
        .collect();
    [
        (
            "head",
            format!(
                "UPDATE feed_head SET last_sequence = last_sequence + {added} WHERE id = 1 RETURNING last_sequence"
            ),
        ),
        (
            "events",
            format!(
                "INSERT INTO outbox_event ({names}) SELECT {values} FROM head AS h, {unnest} AS r({names})",
                names = quoted_names(&columns),
                values = values.join(", "),
            ),
        ),
    ]
}

/// `rows`, numbered from 1, moved past `before`, the head as it stood before them.
fn renumbered(rows: Vec<outbox_event::Model>, before: i64) -> Vec<outbox_event::Model> {
    rows.into_iter().map(|row| outbox_event::Model { sequence: row.sequence + before, ..row }).collect()
}
