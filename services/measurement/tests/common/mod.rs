//! What the measurement crate's tests stand on: a fresh SQLite database with the shipped
//! catalogue, and the measures it counts.

use csm_kit::{Database, config::DatabaseSettings};
use csm_measurement::{calendar::Calendar, catalogue, cells::MeasureSet, store};

pub struct Fixture {
    pub db: Database,
    pub calendar: Calendar,
    pub measures: MeasureSet,
    _dir: tempfile::TempDir,
}

impl Fixture {
    pub async fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let db = Database::open::<store::migration::Migrator>(&DatabaseSettings::sqlite(dir.path().join("m.db")))
            .await
            .unwrap();
        let calendar = Calendar::new("Asia/Shanghai").unwrap();
        catalogue::seed(db.writer(), &calendar).await.unwrap();
        let measures = catalogue::measure_set(db.writer()).await.unwrap();
        Self { db, calendar, measures, _dir: dir }
    }
}
