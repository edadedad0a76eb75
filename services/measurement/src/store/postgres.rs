//! PostgreSQL's way of writing and reading a batch: one statement per table, each column one array
//! parameter read as rows ([`csm_kit::bulk::arrays_as_rows`]), where SQLite takes multi-row
//! `VALUES` lists of a few hundred rows. A batch of 8,192 events touches thousands of facts,
//! observations and cells; as `VALUES` lists the service built a statement's text and bound a
//! value per column per row, for each few hundred rows. As arrays the text is constant (prepared
//! once per connection) and each column is one value (docs/performance.md).
//!
//! The statements run on the batch's own transaction (the feed consumer's), so array parameters
//! are sea-orm values, whose arrays have no NULL elements: a nullable column travels as text,
//! with the empty string for NULL, and is cast back in the `SELECT`.

use std::sync::LazyLock;

use csm_kit::bulk::{array_parameters, arrays_as_rows};
use sea_orm::{ConnectionTrait, DbBackend, DbErr, QueryResult, Statement, Value};

use super::Statements;
use crate::{cells::CellKey, facts::OrderFact, formula::Tally, observe::Observation};

/// The stored rows of `table` whose `column` is one of `keys` (each given once), one index probe
/// per key ([`csm_kit::bulk::rows_by_key_sql`]).
pub(super) async fn rows_by_key(
    db: &impl ConnectionTrait,
    table: &str,
    column: &str,
    keys: &[String],
) -> Result<Vec<QueryResult>, DbErr> {
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    let sql = csm_kit::bulk::rows_by_key_sql(table, column);
    db.query_all_raw(Statement::from_sql_and_values(DbBackend::Postgres, sql, [keys.to_vec().into()])).await
}

/// A nullable number as text: empty for NULL.
fn number_text(value: Option<i64>) -> String {
    value.map(|n| n.to_string()).unwrap_or_default()
}

/// A nullable flag as text: `t`, `f`, or empty for NULL.
fn flag_text(value: Option<bool>) -> String {
    match value {
        Some(true) => "t".into(),
        Some(false) => "f".into(),
        None => String::new(),
    }
}

/// Inserts or replaces facts given as one array per column, in [`FactColumns`]' order.
static ORDER_FACT_UPSERT: LazyLock<String> = LazyLock::new(|| {
    let types = [
        "text", "text", "text", "text", "text", "text", "text", "text", "text", "text", "text", "bool", "text", "text",
        "int4", "text", "text", "text", "text",
    ];
    format!(
        "INSERT INTO order_fact (work_order_id, opened_at, channel, region, segment, product, kind, \
         contact_type, appeal, path, department, corrected, resolved_at, on_time, reopen_count, callback_at, \
         callback_within_due, callback_outcome, answered_late) \
         SELECT id, NULLIF(opened_at, '')::int8, channel, region, segment, product, kind, contact_type, appeal, \
         path, department, corrected, NULLIF(resolved_at, '')::int8, NULLIF(on_time, '')::bool, reopen_count, \
         NULLIF(callback_at, '')::int8, NULLIF(callback_within_due, '')::bool, callback_outcome, \
         NULLIF(answered_late, '')::bool \
         FROM {} AS t(id, opened_at, channel, region, segment, product, kind, contact_type, appeal, path, \
         department, corrected, resolved_at, on_time, reopen_count, callback_at, callback_within_due, \
         callback_outcome, answered_late) \
         ON CONFLICT (work_order_id) DO UPDATE SET opened_at = excluded.opened_at, channel = excluded.channel, \
         region = excluded.region, segment = excluded.segment, product = excluded.product, kind = excluded.kind, \
         contact_type = excluded.contact_type, appeal = excluded.appeal, path = excluded.path, \
         department = excluded.department, corrected = excluded.corrected, resolved_at = excluded.resolved_at, \
         on_time = excluded.on_time, reopen_count = excluded.reopen_count, callback_at = excluded.callback_at, \
         callback_within_due = excluded.callback_within_due, callback_outcome = excluded.callback_outcome, \
         answered_late = excluded.answered_late",
        arrays_as_rows(&array_parameters(&types))
    )
});

/// Inserts observations given as one array per column.
static OBSERVATION_INSERT: LazyLock<String> = LazyLock::new(|| {
    let types = ["int2", "int8", "text", "text", "text", "text", "text", "text"];
    format!(
        "INSERT INTO observation (source, \"at\", customer, region, segment, channel, product, fields) \
         SELECT * FROM {} AS r",
        arrays_as_rows(&array_parameters(&types))
    )
});

/// The types of a cell's key, then of its tallies: a count and a total for a cell, a bin and a
/// count for a bin.
const CELL_KEY_TYPES: [&str; 5] = ["int8", "int2", "text", "int8", "text"];

/// Adds to cells given as one array per column.
static CELL_UPSERT: LazyLock<String> = LazyLock::new(|| {
    let types = [&CELL_KEY_TYPES[..], &["int8", "float8"]].concat();
    format!(
        "INSERT INTO cell (measure, grain, dimension, period, value, count, total) SELECT * FROM {} AS r \
         ON CONFLICT (measure, grain, dimension, period, value) \
         DO UPDATE SET count = cell.count + excluded.count, total = cell.total + excluded.total",
        arrays_as_rows(&array_parameters(&types))
    )
});

/// Adds to the bins of cells given as one array per column.
static CELL_BIN_UPSERT: LazyLock<String> = LazyLock::new(|| {
    let types = [&CELL_KEY_TYPES[..], &["int8", "int8"]].concat();
    format!(
        "INSERT INTO cell_bin (measure, grain, dimension, period, value, bin, count) SELECT * FROM {} AS r \
         ON CONFLICT (measure, grain, dimension, period, value, bin) \
         DO UPDATE SET count = cell_bin.count + excluded.count",
        arrays_as_rows(&array_parameters(&types))
    )
});

/// The facts' columns, one array each, in [`ORDER_FACT_UPSERT`]'s order.
#[derive(Default)]
struct FactColumns {
    id: Vec<String>,
    opened_at: Vec<String>,
    channel: Vec<String>,
    region: Vec<String>,
    segment: Vec<String>,
    product: Vec<String>,
    kind: Vec<String>,
    contact_type: Vec<String>,
    appeal: Vec<String>,
    path: Vec<String>,
    department: Vec<String>,
    corrected: Vec<bool>,
    resolved_at: Vec<String>,
    on_time: Vec<String>,
    reopen_count: Vec<i32>,
    callback_at: Vec<String>,
    callback_within_due: Vec<String>,
    callback_outcome: Vec<String>,
    answered_late: Vec<String>,
}

impl FactColumns {
    fn push(&mut self, id: &str, fact: &OrderFact, path_separator: &str) {
        self.id.push(id.to_string());
        self.opened_at.push(number_text(fact.opened_at));
        self.channel.push(fact.channel.clone());
        self.region.push(fact.region.clone());
        self.segment.push(fact.segment.clone());
        self.product.push(fact.product.clone());
        self.kind.push(fact.kind.clone());
        self.contact_type.push(fact.contact_type.clone());
        self.appeal.push(fact.appeal.clone());
        self.path.push(fact.path.join(path_separator));
        self.department.push(fact.department.clone());
        self.corrected.push(fact.corrected);
        self.resolved_at.push(number_text(fact.resolved_at));
        self.on_time.push(flag_text(fact.on_time));
        self.reopen_count.push(fact.reopen_count);
        self.callback_at.push(number_text(fact.callback_at));
        self.callback_within_due.push(flag_text(fact.callback_within_due));
        self.callback_outcome.push(fact.callback_outcome.clone());
        self.answered_late.push(flag_text(fact.answered_late));
    }

    fn into_values(self) -> Vec<Value> {
        // Destructured, so that a column added to the struct must be placed here too.
        let FactColumns {
            id,
            opened_at,
            channel,
            region,
            segment,
            product,
            kind,
            contact_type,
            appeal,
            path,
            department,
            corrected,
            resolved_at,
            on_time,
            reopen_count,
            callback_at,
            callback_within_due,
            callback_outcome,
            answered_late,
        } = self;
        vec![
            id.into(),
            opened_at.into(),
            channel.into(),
            region.into(),
            segment.into(),
            product.into(),
            kind.into(),
            contact_type.into(),
            appeal.into(),
            path.into(),
            department.into(),
            corrected.into(),
            resolved_at.into(),
            on_time.into(),
            reopen_count.into(),
            callback_at.into(),
            callback_within_due.into(),
            callback_outcome.into(),
            answered_late.into(),
        ]
    }
}

/// Inserts or replaces the facts (each work order once, as one statement may not update a row
/// twice), in one statement.
pub(super) fn fact_writes(facts: &[(&String, &OrderFact)], path_separator: &str) -> Statements {
    if facts.is_empty() {
        return Statements::default();
    }
    let mut columns = FactColumns::default();
    for (id, fact) in facts {
        columns.push(id, fact, path_separator);
    }
    Statements::from(statement(&ORDER_FACT_UPSERT, columns.into_values()))
}

/// Keeps observations that never change, in one statement; `fields` holds each one's fields as
/// the JSON stored with it.
pub(super) fn observation_writes(rows: &[(Observation, String)], fields: Vec<String>) -> Statements {
    if rows.is_empty() {
        return Statements::default();
    }
    let n = rows.len();
    let (mut source, mut at) = (Vec::with_capacity(n), Vec::with_capacity(n));
    let mut text: [Vec<String>; 5] = std::array::from_fn(|_| Vec::with_capacity(n));
    for (observation, customer) in rows {
        let dims = &observation.dims;
        source.push(observation.source.code());
        at.push(observation.at);
        let [customers, region, segment, channel, product] = &mut text;
        customers.push(customer.clone());
        region.push(dims.region.to_string());
        segment.push(dims.segment.to_string());
        channel.push(dims.channel.to_string());
        product.push(dims.product.to_string());
    }
    let mut values: Vec<Value> = vec![source.into(), at.into()];
    values.extend(text.into_iter().map(Value::from));
    values.push(fields.into());
    Statements::from(statement(&OBSERVATION_INSERT, values))
}

/// The columns of a cell's key, one array each: measure, grain, dimension, period, value.
#[derive(Default)]
struct CellKeys {
    measure: Vec<i64>,
    grain: Vec<i16>,
    dimension: Vec<String>,
    period: Vec<i64>,
    value: Vec<String>,
}

impl CellKeys {
    fn push(&mut self, key: &CellKey) {
        self.measure.push(key.measure);
        self.grain.push(key.grain.code());
        self.dimension.push(key.dimension.key().to_string());
        self.period.push(key.period);
        self.value.push(key.value.to_string());
    }

    fn into_values(self) -> Vec<Value> {
        vec![self.measure.into(), self.grain.into(), self.dimension.into(), self.period.into(), self.value.into()]
    }
}

/// Adds the deltas to the cells and their bins, one statement each. Each key appears once (the
/// deltas are summed per key), as one statement may not update a row twice.
pub(super) fn cell_writes(cells: &[(CellKey, Tally)]) -> Statements {
    let mut writes = Statements::default();
    if cells.is_empty() {
        return writes;
    }
    let (mut keys, mut count, mut total) = (CellKeys::default(), Vec::new(), Vec::new());
    let (mut bin_keys, mut bins, mut bin_count) = (CellKeys::default(), Vec::new(), Vec::new());
    for (key, tally) in cells {
        keys.push(key);
        count.push(tally.count);
        total.push(tally.total);
        for (bin, n) in tally.bins.iter() {
            bin_keys.push(key);
            bins.push(*bin);
            bin_count.push(*n);
        }
    }
    let mut values = keys.into_values();
    values.extend([count.into(), total.into()]);
    writes.push(statement(&CELL_UPSERT, values));
    if bins.is_empty() {
        return writes;
    }
    let mut values = bin_keys.into_values();
    values.extend([bins.into(), bin_count.into()]);
    writes.push(statement(&CELL_BIN_UPSERT, values));
    writes
}

fn statement(sql: &str, values: Vec<Value>) -> Statement {
    Statement::from_sql_and_values(DbBackend::Postgres, sql, values)
}
