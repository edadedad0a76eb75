//! How intake lays out its tables on each database, which no API shows: read from the database's
//! own catalogue and planner once intake has started on it.

use sea_orm::{ConnectionTrait, DbBackend, Statement, TransactionTrait};

use crate::support::{StandaloneIntake, complaint};

/// A work order opens with no department and learns it from its classification. Only orders whose
/// department is known are indexed by it, so opening one writes no entry there; every lookup by
/// department (a department caller's listings and customers) names one and still reads the index.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn work_orders_are_indexed_by_department_only_once_it_is_known() {
    let intake = StandaloneIntake::start(|_| {}).await;
    let opened = intake.intake().submit_contact(complaint("13900000101", "网速很慢")).await.unwrap().into_inner();
    assert!(opened.work_order.is_some(), "a complaint opens a work order");
    let db = sea_orm::Database::connect(intake.database_url()).await.unwrap();
    let backend = db.get_database_backend();
    let (definition, explain) = match backend {
        DbBackend::Postgres => {
            ("SELECT indexdef FROM pg_indexes WHERE indexname = 'work_order_by_department'", "EXPLAIN (COSTS OFF)")
        }
        _ => ("SELECT sql FROM sqlite_master WHERE name = 'work_order_by_department'", "EXPLAIN QUERY PLAN"),
    };
    let row = db.query_one_raw(Statement::from_string(backend, definition)).await.unwrap().expect("the index exists");
    let definition: String = row.try_get_by_index(0).unwrap();
    assert!(
        definition.to_lowercase().replace(['(', ')'], "").ends_with("where department is not null"),
        "{definition}"
    );

    // One transaction, so that the setting below holds for the plan asked next.
    let txn = db.begin().await.unwrap();
    if backend == DbBackend::Postgres {
        // With a handful of rows a sequential scan is always cheaper; the question is whether the
        // planner can use the index at all for a lookup naming a department.
        txn.execute_unprepared("SET LOCAL enable_seqscan = off").await.unwrap();
    }
    let column = if backend == DbBackend::Postgres { "QUERY PLAN" } else { "detail" };
    let lookup = format!("{explain} SELECT id FROM work_order WHERE department = 'billing'");
    let plan: Vec<String> = txn
        .query_all_raw(Statement::from_string(backend, lookup))
        .await
        .unwrap()
        .iter()
        .map(|row| row.try_get::<String>("", column).unwrap())
        .collect();
    assert!(plan.iter().any(|line| line.contains("work_order_by_department")), "{plan:?}");
    txn.rollback().await.unwrap();
    db.close().await.unwrap();
    intake.stop().await;
}
