//! Group commit: concurrent writes share transactions, and a failing item fails only its own
//! request while the others of its batch are stored.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::{
    Arc,
    atomic::{AtomicUsize, Ordering},
};

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

/// Stores numbers; 13 breaks the database statement, as a poison item would.
struct Numbers {
    largest_batch: Arc<AtomicUsize>,
}

impl BatchWriter for Numbers {
    type Item = i64;
    type Output = i64;

    async fn write(&self, uow: &mut UnitOfWork, items: &[i64]) -> Result<Vec<i64>, DbErr> {
        self.largest_batch.fetch_max(items.len(), Ordering::SeqCst);
        for item in items {
            let sql = if *item == 13 { "INSERT INTO nowhere VALUES (?)" } else { "INSERT INTO numbers (n) VALUES (?)" };
            uow.execute_raw(Statement::from_sql_and_values(DbBackend::Sqlite, sql, [(*item).into()])).await?;
        }
        Ok(items.iter().map(|n| n * 10).collect())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writes_share_commits_and_a_poison_item_fails_alone() {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open::<FeedOnly>(&DatabaseSettings::sqlite(dir.path().join("g.db"))).await.unwrap();
    db.writer().execute_unprepared("CREATE TABLE numbers (n BIGINT)").await.unwrap();
    let publisher = Publisher::new(db.clone(), "test").await.unwrap();
    let largest_batch = Arc::new(AtomicUsize::new(0));
    let (writes, task) = GroupCommit::new(publisher, Numbers { largest_batch: largest_batch.clone() }, 64);
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
    assert!(largest_batch.load(Ordering::SeqCst) > 1, "writes were grouped");

    drop(writes);
    writer.await.unwrap();
}
