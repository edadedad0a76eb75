//! Group commit: concurrent writes share transactions, never more items than the writer's limit
//! (a larger request goes alone), and a failing item fails only its own request while the others
//! of its batch are stored.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::{Arc, Mutex};

use csm_kit::{
    Database,
    config::DatabaseSettings,
    feed::{FeedMigration, Publisher, UnitOfWork},
    group_commit::{BatchWriter, GroupCommit, WriteFailed},
};
use sea_orm::{ConnectionTrait, DbBackend, DbErr, Statement};
use sea_orm_migration::{MigrationTrait, MigratorTrait};

struct FeedOnly;

impl MigratorTrait for FeedOnly {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![Box::new(FeedMigration)]
    }
}

/// Stores numbers; 13 breaks the database statement, as a poison item would. Records the size of
/// every batch it is given.
#[derive(Default)]
struct Numbers {
    batches: Arc<Mutex<Vec<usize>>>,
}

impl BatchWriter for Numbers {
    type Item = i64;
    type Output = i64;

    async fn write(&self, uow: &mut UnitOfWork, items: &[i64]) -> Result<Vec<i64>, DbErr> {
        self.batches.lock().unwrap().push(items.len());
        for item in items {
            let sql = if *item == 13 { "INSERT INTO nowhere VALUES (?)" } else { "INSERT INTO numbers (n) VALUES (?)" };
            uow.execute_raw(Statement::from_sql_and_values(DbBackend::Sqlite, sql, [(*item).into()])).await?;
        }
        Ok(items.iter().map(|n| n * 10).collect())
    }
}

/// A database with the numbers table, in `dir`.
async fn numbers_database(dir: &tempfile::TempDir) -> Database {
    let db = Database::open::<FeedOnly>(&DatabaseSettings::sqlite(dir.path().join("g.db"))).await.unwrap();
    db.writer().execute_unprepared("CREATE TABLE numbers (n BIGINT)").await.unwrap();
    db
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writes_share_commits_and_a_poison_item_fails_alone() {
    let dir = tempfile::tempdir().unwrap();
    let db = numbers_database(&dir).await;
    let publisher = Publisher::new(db.clone(), "test").await.unwrap();
    let numbers = Numbers::default();
    let batches = numbers.batches.clone();
    let (writes, task) = GroupCommit::new(publisher, numbers, 64);
    let writer = tokio::spawn(task);

    let calls: Vec<_> = (0..200)
        .map(|n| {
            let writes = writes.clone();
            tokio::spawn(async move { (n, writes.write(n).await) })
        })
        .collect();
    let many = writes.write_all((1000..1010).collect()).await.unwrap();
    assert_eq!(many, (10000..10100).step_by(10).collect::<Vec<_>>());
    for call in calls {
        let (n, outcome) = call.await.unwrap();
        match outcome {
            Ok(output) => assert_eq!(output, n * 10),
            Err(WriteFailed::Database(_)) => assert_eq!(n, 13, "only the poison item fails"),
            Err(other) => panic!("{n}: {other}"),
        }
    }
    let stored = db
        .reader()
        .query_one_raw(Statement::from_string(DbBackend::Sqlite, "SELECT COUNT(*) AS c FROM numbers"))
        .await
        .unwrap()
        .unwrap()
        .try_get::<i64>("", "c")
        .unwrap();
    assert_eq!(stored, 199 + 10);
    assert!(batches.lock().unwrap().iter().any(|&size| size > 1), "writes were grouped");

    drop(writes);
    writer.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_takes_whole_requests_up_to_the_limit_and_a_larger_request_alone() {
    let dir = tempfile::tempdir().unwrap();
    let publisher = Publisher::new(numbers_database(&dir).await, "test").await.unwrap();
    let numbers = Numbers::default();
    let batches = numbers.batches.clone();
    let (writes, task) = GroupCommit::new(publisher, numbers, 10);
    assert_eq!(writes.max_batch(), 10);
    let writer = tokio::spawn(task);

    // Requests of 4 items queue faster than they commit: no two of them fit a batch with a third.
    let mut calls: Vec<_> = (0..40i64)
        .map(|n| {
            let writes = writes.clone();
            let first = 100 + n * 4; // past 13, the poison item
            tokio::spawn(async move { writes.write_all((first..first + 4).collect()).await.unwrap().len() })
        })
        .collect();
    let large = writes.clone();
    calls.push(tokio::spawn(async move { large.write_all((1000..1015).collect()).await.unwrap().len() }));
    let answered: usize = futures_util::future::join_all(calls).await.into_iter().map(Result::unwrap).sum();
    assert_eq!(answered, 40 * 4 + 15);

    let batches = batches.lock().unwrap().clone();
    assert!(batches.contains(&8), "requests were grouped: {batches:?}");
    assert!(batches.iter().all(|&size| size <= 10 || size == 15), "a batch past the limit: {batches:?}");
    assert_eq!(batches.iter().filter(|&&size| size > 10).count(), 1, "the larger request alone: {batches:?}");
    drop(writes);
    writer.await.unwrap();
}
