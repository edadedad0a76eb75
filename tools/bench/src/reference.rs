//! References measured in the same run as a scenario, so its figures can be read as ratios that
//! survive a noisy machine:
//! - the disk's own flush latency (a 4 KiB write and `fdatasync`, where the databases keep their
//!   files): no durable commit is faster;
//! - the same rows a service wrote, written again straight through the driver into an empty copy
//!   of its schema with nothing else in the process: SQLite with a prepared statement per row,
//!   PostgreSQL with `COPY`, the same number of rows per durable transaction as the service's
//!   largest batch. What is above this is the service's own work.

use std::{io::Write, path::Path, time::Instant};

use anyhow::Context;
use futures_util::StreamExt;
use hdrhistogram::Histogram;
use rusqlite::{Connection, types::Value};
use sea_orm::sqlx::{AssertSqlSafe, Connection as _, PgConnection, postgres::PgConnectOptions, raw_sql};

use crate::load::histogram;

/// Latency of `samples` 4 KiB appends each followed by `fdatasync`, in microseconds, in `dir`.
pub fn disk_flush(dir: &Path, samples: usize) -> anyhow::Result<Histogram<u64>> {
    let path = dir.join("flush-probe");
    let mut file = std::fs::OpenOptions::new().create(true).append(true).open(&path)?;
    let block = vec![0x5a_u8; 4096];
    let mut latency = histogram();
    for _ in 0..samples {
        let started = Instant::now();
        file.write_all(&block)?;
        file.sync_data()?;
        latency.saturating_record(started.elapsed().as_micros() as u64);
    }
    std::fs::remove_file(path)?;
    Ok(latency)
}

/// "disk flush (4 KiB + fdatasync) p50 0.18 ms, p99 6.50 ms".
pub fn describe_flush(latency: &Histogram<u64>) -> String {
    format!(
        "disk flush (4 KiB + fdatasync, {} samples) p50 {:.2} ms, p99 {:.2} ms",
        latency.len(),
        latency.value_at_quantile(0.5) as f64 / 1000.0,
        latency.value_at_quantile(0.99) as f64 / 1000.0
    )
}

/// Tables a driver-only rewrite leaves out: the migration ledger is not the service's data.
fn copied(table: &str) -> bool {
    !table.starts_with("sqlite_") && table != "seaql_migrations"
}

/// Writes every row of the SQLite database `source` again into a new database beside it with the
/// same schema and settings, `transactions` durable transactions in all (each a slice of every
/// table); returns rows written and seconds taken.
pub fn sqlite_rewrite(source: &Path, transactions: usize) -> anyhow::Result<(u64, f64)> {
    let from = Connection::open(source)?;
    let target = source.with_file_name("driver-only.db");
    let to = Connection::open(&target)?;
    to.execute_batch("PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA wal_autocheckpoint=0;")?;
    let mut tables = Vec::new();
    {
        let mut schema = from.prepare("SELECT type, name, sql FROM sqlite_master WHERE sql IS NOT NULL")?;
        let rows = schema.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get(2)?)))?;
        for row in rows {
            let (kind, name, sql): (String, String, String) = row?;
            if copied(&name) || kind != "table" {
                to.execute_batch(&sql).with_context(|| format!("creating {name}"))?;
            }
            if kind == "table" && copied(&name) {
                tables.push(name);
            }
        }
    }
    // Every row in memory first, so what is timed is the writing alone.
    let mut data: Vec<(String, Vec<Vec<Value>>)> = Vec::new();
    for table in tables {
        let mut select = from.prepare(&format!("SELECT * FROM \"{table}\""))?;
        let columns = select.column_count();
        let rows = select
            .query_map([], |r| (0..columns).map(|i| r.get::<_, Value>(i)).collect::<Result<Vec<_>, _>>())?
            .collect::<Result<Vec<_>, _>>()?;
        data.push((table, rows));
    }
    let started = Instant::now();
    let mut written = 0u64;
    let mut to = to;
    for part in 0..transactions {
        let txn = to.transaction()?;
        for (table, rows) in &data {
            let Some(first) = rows.first() else { continue };
            let marks = vec!["?"; first.len()].join(",");
            let mut insert = txn.prepare_cached(&format!("INSERT INTO \"{table}\" VALUES ({marks})"))?;
            for row in slice(rows, part, transactions) {
                insert.execute(rusqlite::params_from_iter(row.iter()))?;
                written += 1;
            }
        }
        txn.commit()?;
    }
    Ok((written, started.elapsed().as_secs_f64()))
}

/// Part `part` of `parts` nearly equal parts of `rows`.
fn slice<T>(rows: &[T], part: usize, parts: usize) -> &[T] {
    let at = |p: usize| rows.len() * p / parts;
    &rows[at(part)..at(part + 1)]
}

/// As [`sqlite_rewrite`] on PostgreSQL: the database `url` is copied empty (its schema only) and
/// every row of it written again with `COPY`, `transactions` transactions in all.
pub async fn postgres_rewrite(url: &str, transactions: usize) -> anyhow::Result<(u64, f64)> {
    let options: PgConnectOptions = url.parse()?;
    let source = options.get_database().context("the URL names no database")?.to_string();
    let target = format!("{source}_driver_only");
    let mut admin = PgConnection::connect_with(&options.clone().database("postgres")).await?;
    sql(&mut admin, format!("DROP DATABASE IF EXISTS \"{target}\"")).await?;
    sql(&mut admin, format!("CREATE DATABASE \"{target}\" TEMPLATE \"{source}\"")).await?;
    let result = rewrite_into(&options, &target, transactions).await;
    sql(&mut admin, format!("DROP DATABASE IF EXISTS \"{target}\" WITH (FORCE)")).await?;
    result
}

/// Runs one statement made at run time (database and table names cannot be parameters).
async fn sql(connection: &mut PgConnection, statement: String) -> anyhow::Result<()> {
    raw_sql(AssertSqlSafe(statement)).execute(connection).await?;
    Ok(())
}

async fn rewrite_into(options: &PgConnectOptions, target: &str, transactions: usize) -> anyhow::Result<(u64, f64)> {
    let mut from = PgConnection::connect_with(options).await?;
    let mut to = PgConnection::connect_with(&options.clone().database(target)).await?;
    let tables: Vec<(String,)> =
        sea_orm::sqlx::query_as("SELECT tablename::text FROM pg_tables WHERE schemaname = 'public'")
            .fetch_all(&mut from)
            .await?;
    let tables: Vec<String> = tables.into_iter().map(|(t,)| t).filter(|t| copied(t)).collect();
    let mut data: Vec<(String, Vec<Vec<u8>>)> = Vec::new();
    for table in &tables {
        sql(&mut to, format!("TRUNCATE \"{table}\" CASCADE")).await?;
        let mut text = Vec::new();
        let mut out = from.copy_out_raw(&format!("COPY \"{table}\" TO STDOUT")).await?;
        while let Some(chunk) = out.next().await {
            text.extend_from_slice(&chunk?);
        }
        drop(out);
        // In COPY's text format a row is one line: newlines inside values are escaped.
        let rows = text.split_inclusive(|b| *b == b'\n').map(<[u8]>::to_vec).collect();
        data.push((table.clone(), rows));
    }
    let started = Instant::now();
    let mut written = 0u64;
    for part in 0..transactions {
        let mut txn = to.begin().await?;
        for (table, rows) in &data {
            let rows = slice(rows, part, transactions);
            if rows.is_empty() {
                continue;
            }
            let mut copy = txn.copy_in_raw(&format!("COPY \"{table}\" FROM STDIN")).await?;
            copy.send(rows.concat()).await?;
            written += copy.finish().await?;
        }
        txn.commit().await?;
    }
    Ok((written, started.elapsed().as_secs_f64()))
}
