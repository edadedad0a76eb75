//! Recovery's schema, applied at start-up: the tables' names in `tables`, each migration in a file
//! of its own.

mod approvals;
mod cases;
mod closed_loop;
mod lifecycle;
mod problems;
mod tables;

use csm_kit::{feed::FeedMigration, lease::LeaseMigration};
use sea_orm_migration::prelude::*;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(FeedMigration),
            Box::new(cases::CreateCases),
            Box::new(lifecycle::CaseLifecycle),
            Box::new(LeaseMigration),
            Box::new(approvals::SecondApproval),
            Box::new(closed_loop::ClosedLoop),
            Box::new(problems::ServiceProblems),
        ]
    }
}
