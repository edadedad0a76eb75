//! Order facts kept between batches (`absorb::FactCache`) are not trusted once another writer
//! has changed facts, even a writer that stamps nothing: on PostgreSQL, a replica of the version
//! before, still running during a rolling upgrade. (SQLite has one writing process.)

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use csm_kit::{Database, config::DatabaseSettings};
use csm_measurement::{
    absorb::{self, FactCache},
    calendar::Calendar,
    catalogue,
    cells::MeasureSet,
    facts::{OrderChange, Profile, Update},
    store,
};
use sea_orm::{ConnectionTrait, DbBackend};

/// 2026-11-20T00:00:00Z.
const BASE: i64 = 1_795_132_800_000_000;

fn opened(id: &str) -> Update {
    let change = OrderChange::Opened {
        opened_at: BASE,
        channel: "hotline".into(),
        profile: Profile { region: "GD-SZ".into(), segment: "premium".into(), product: "mobile".into() },
        kind: "new".into(),
        contact_type: "complaint".into(),
        appeal: String::new(),
    };
    Update::Order { work_order_id: id.into(), changes: vec![change] }
}

async fn absorb(db: &Database, cache: &FactCache, calendar: &Calendar, measures: &MeasureSet, update: Update) {
    absorb::absorb(db.writer(), cache, calendar, measures, vec![update]).await.unwrap();
}

#[tokio::test]
async fn facts_changed_by_a_writer_that_stamps_nothing_are_read_again() {
    let server = match std::env::var("CSM_TEST_POSTGRES") {
        Ok(server) if !server.is_empty() => server.trim_end_matches('/').to_string(),
        _ => return,
    };
    let name = format!("csm_t_{:016x}_kept_facts", rand::random::<u64>());
    let settings = DatabaseSettings { url: format!("{server}/{name}"), ..DatabaseSettings::default() };
    let db = Database::open::<store::migration::Migrator>(&settings).await.unwrap();
    let calendar = Calendar::new("Asia/Shanghai").unwrap();
    catalogue::seed(db.writer(), &calendar).await.unwrap();
    let measures = catalogue::measure_set(db.writer()).await.unwrap();
    let cache = FactCache::new();
    let id = "wo-1".to_string();

    absorb(&db, &cache, &calendar, &measures, opened(&id)).await;
    // The version before classifies the order, writing its fact as it always did, unstamped.
    let mut fact = store::load_facts(db.writer(), std::slice::from_ref(&id)).await.unwrap().remove(&id).unwrap();
    fact.path = vec!["system".into(), "billing_error".into()];
    fact.department = "billing".into();
    store::fact_writes(DbBackend::Postgres, &[(&id, &fact)]).run(db.writer()).await.unwrap();
    // This replica's next batch on the same order starts from the classified fact.
    let repeat = Update::Order { work_order_id: id.clone(), changes: vec![OrderChange::BecameRepeat] };
    absorb(&db, &cache, &calendar, &measures, repeat).await;

    let stored = store::load_facts(db.writer(), std::slice::from_ref(&id)).await.unwrap().remove(&id).unwrap();
    db.close().await;
    let admin = sea_orm::Database::connect(format!("{server}/postgres")).await.unwrap();
    admin.execute_unprepared(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)")).await.unwrap();
    assert_eq!((stored.kind.as_str(), stored.department.as_str()), ("repeat", "billing"));
    assert_eq!(stored.path, ["system", "billing_error"]);
}
