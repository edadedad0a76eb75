//! Leases: one contender at a time holds one, renewing keeps it, releasing or letting it expire
//! hands it on, and work run under a lease moves to a standby when its holder stops.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use csm_kit::{
    Database,
    config::DatabaseSettings,
    lease::{self, Lease, LeaseMigration},
};
use sea_orm_migration::{MigrationTrait, MigratorTrait};
use tokio_util::sync::CancellationToken;

struct LeaseOnly;

impl MigratorTrait for LeaseOnly {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![Box::new(LeaseMigration)]
    }
}

async fn database(dir: &tempfile::TempDir) -> Database {
    Database::open::<LeaseOnly>(&DatabaseSettings::sqlite(dir.path().join("lease.db"))).await.unwrap()
}

#[tokio::test]
async fn one_holder_at_a_time_until_released_or_expired() {
    let dir = tempfile::tempdir().unwrap();
    let db = database(&dir).await;
    let term = Duration::from_millis(400);
    let first = Lease::new(db.clone(), "feed:intake", term);
    let second = Lease::new(db.clone(), "feed:intake", term);
    let other = Lease::new(db.clone(), "feed:classification", term);

    assert!(first.try_acquire().await.unwrap());
    assert!(!second.try_acquire().await.unwrap(), "held by the first");
    assert!(other.try_acquire().await.unwrap(), "another lease is independent");
    assert!(first.try_acquire().await.unwrap(), "the holder renews");
    let (holder, _) = lease::current_holder(db.reader(), "feed:intake").await.unwrap().unwrap();
    assert_eq!(holder, first.holder());

    first.release().await.unwrap();
    assert!(second.try_acquire().await.unwrap(), "released: the second takes it");
    assert!(!first.try_acquire().await.unwrap());

    // The second stops renewing (as if it died): after the term the first takes it back.
    tokio::time::sleep(term + Duration::from_millis(50)).await;
    assert!(first.try_acquire().await.unwrap(), "expired: taken over");
    second.release().await.unwrap();
    let (holder, _) = lease::current_holder(db.reader(), "feed:intake").await.unwrap().unwrap();
    assert_eq!(holder, first.holder(), "a former holder cannot release it");
}

#[tokio::test]
async fn work_runs_on_one_contender_and_moves_when_it_stops() {
    let dir = tempfile::tempdir().unwrap();
    let db = database(&dir).await;
    // Long enough that a durable write stalled on a busy disk (a renewal times out after a third of
    // the term) does not cost the holder its lease and restart the work mid-test.
    let term = Duration::from_millis(1500);
    let running = Arc::new(AtomicUsize::new(0));
    let started = Arc::new(AtomicUsize::new(0));
    let contender = |stop: CancellationToken| {
        let (running, started) = (running.clone(), started.clone());
        tokio::spawn(lease::exclusively(Lease::new(db.clone(), "sweep", term), stop, move |held| {
            let (running, started) = (running.clone(), started.clone());
            async move {
                started.fetch_add(1, Ordering::SeqCst);
                assert_eq!(running.fetch_add(1, Ordering::SeqCst), 0, "never two at once");
                held.cancelled().await;
                running.fetch_sub(1, Ordering::SeqCst);
            }
        }))
    };
    let (stop_a, stop_b) = (CancellationToken::new(), CancellationToken::new());
    let a = contender(stop_a.clone());
    tokio::time::sleep(Duration::from_millis(50)).await;
    let b = contender(stop_b.clone());
    tokio::time::sleep(term * 2).await;
    assert_eq!(started.load(Ordering::SeqCst), 1, "the standby waits while the holder renews");

    stop_a.cancel();
    a.await.unwrap();
    tokio::time::sleep(term).await;
    assert_eq!(started.load(Ordering::SeqCst), 2, "the standby took over");
    assert_eq!(running.load(Ordering::SeqCst), 1);
    stop_b.cancel();
    b.await.unwrap();
    assert_eq!(running.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn renewals_never_wait_on_a_transaction_of_the_work_they_guard() {
    // SQLite has one writing connection: the work's transaction holds it across several renewals.
    let dir = tempfile::tempdir().unwrap();
    let db = database(&dir).await;
    let term = Duration::from_millis(300);
    let stop = CancellationToken::new();
    let (committed, done) = tokio::sync::oneshot::channel();
    let mut committed = Some(committed);
    let work_db = db.clone();
    let contender =
        tokio::spawn(lease::exclusively(Lease::new(db.clone(), "sweep", term), stop.clone(), move |held| {
            let (db, committed) = (work_db.clone(), committed.take());
            async move {
                let txn = db.begin().await.unwrap();
                tokio::time::sleep(term * 2).await;
                txn.commit().await.unwrap();
                if let Some(committed) = committed {
                    let _ = committed.send(());
                }
                held.cancelled().await;
            }
        }));
    tokio::time::timeout(Duration::from_secs(5), done)
        .await
        .expect("the work committed while renewals were due")
        .unwrap();
    stop.cancel();
    contender.await.unwrap();
}
