//! Data access for measurement: measures and their cells, work-order and closed-loop facts,
//! stored observations, the catalogue, the customer base and reference documents.
//!
//! One file per table (`measures`, `cells` with their bins, `facts`, `loops`, `observations`,
//! `customer_base`, `documents`, `stamp`), all reached through this module; `postgres` writes a
//! batch's facts, observations and cells on PostgreSQL as one array statement per table; here
//! only what they share: how many rows one statement carries, running a query, and the writers'
//! lock.

pub mod migration;
pub mod schema;

mod cells;
mod customer_base;
mod documents;
mod facts;
mod loops;
mod measures;
mod observations;
mod postgres;
mod stamp;

pub use cells::{add_to_cells, all_cells, cell_writes, read_cells};
pub use customer_base::{customer_base, set_customer_base};
pub use documents::{get_document, kind, list_documents, put_document};
pub use facts::{fact_writes, load_facts, path_as_stored, scan_facts};
pub use loops::{load_loop_facts, save_loop_facts, scan_loop_facts};
pub use measures::{ensure_measures, load_measures, measure_summary};
pub use observations::{StoredObservation, observation_writes, scan_observations};
pub use stamp::{CreateFactStamp, fact_stamp, stamp_write};

use sea_orm::{ConnectionTrait, DbErr, QueryResult, Statement, StatementBuilder};

/// Rows per multi-row statement: well under SQLite's and PostgreSQL's bind-parameter limits.
const ROWS_PER_STATEMENT: usize = 400;

/// Write statements built before they run: a batch works out its next writes while the database
/// carries out the ones before (see `absorb`), as building them needs nothing stored. (Not the
/// kit's `bulk::Writes`, which joins PostgreSQL batch writes into one statement.)
#[derive(Debug, Default)]
pub struct Statements(Vec<Statement>);

impl Statements {
    fn push(&mut self, statement: Statement) {
        self.0.push(statement);
    }

    /// Runs the statements in order.
    pub async fn run(self, db: &impl ConnectionTrait) -> Result<(), DbErr> {
        for statement in self.0 {
            db.execute_raw(statement).await?;
        }
        Ok(())
    }
}

impl From<Statement> for Statements {
    fn from(statement: Statement) -> Self {
        Self(vec![statement])
    }
}

async fn fetch(db: &impl ConnectionTrait, query: impl StatementBuilder) -> Result<Vec<QueryResult>, DbErr> {
    db.query_all(&query).await
}

/// Serialises the writers of cells and facts on PostgreSQL for the rest of the transaction (the
/// three feed consumers and catalogue changes); SQLite's single writer already does.
pub async fn lock_writers(db: &impl ConnectionTrait) -> Result<(), DbErr> {
    csm_kit::db::lock_for_transaction(db, 7270301).await
}
