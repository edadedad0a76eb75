//! How measurement lays out its tables on each database, which no API shows: read from the
//! database's own catalogue after measurement's migrations ran on it.

use csm_kit::{Database, config::DatabaseSettings};
use csm_measurement::store::migration::Migrator;
use sea_orm::{ConnectionTrait, DbBackend, Statement};

use crate::support::Backend;

/// On PostgreSQL the tables every batch rewrites (work-order facts, cells and their bins) leave
/// half of each page free, so that a row amended by a later feed can stay on its page with no new
/// index entry (docs/performance.md). SQLite updates in place: there the step is only recorded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tables_every_batch_rewrites_leave_room_on_their_pages() {
    let backend = Backend::from_env();
    let settings = DatabaseSettings { url: backend.url("measurement"), ..DatabaseSettings::default() };
    let db = Database::open::<Migrator>(&settings).await.unwrap();
    let applied = db
        .reader()
        .query_one_raw(Statement::from_string(
            db.backend(),
            "SELECT version FROM seaql_migrations WHERE version = 'm20261206_000001_room_for_updates'",
        ))
        .await
        .unwrap();
    assert!(applied.is_some(), "the migration is recorded");
    if db.backend() == DbBackend::Postgres {
        for table in ["order_fact", "cell", "cell_bin"] {
            let row = db
                .reader()
                .query_one_raw(Statement::from_sql_and_values(
                    DbBackend::Postgres,
                    "SELECT array_to_string(reloptions, ',') FROM pg_class WHERE relname = $1 AND relkind = 'r'",
                    [table.into()],
                ))
                .await
                .unwrap()
                .unwrap_or_else(|| panic!("{table} exists"));
            let options: Option<String> = row.try_get_by_index(0).unwrap();
            assert_eq!(options.as_deref(), Some("fillfactor=50"), "{table}");
        }
    }
    db.close().await;
    backend.cleanup().await;
}
