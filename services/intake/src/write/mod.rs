//! The group-commit writer: one task writes what callers submit, many requests sharing one
//! transaction. Through it go every contact (with the work order a complaint or fault report opens,
//! a repeat's link to the first order of its problem and that order's reopening (重复投诉), and the
//! customer it creates or updates, high-frequency status included (高频次投诉客户)), usage and
//! product events, and survey answers. A batch is read with a handful of queries ([`lookups`]),
//! decided in memory item by item ([`plan`]), and written in one transaction with its feed events,
//! through a [`Store`]: prepared statements per row on a synchronous SQLite connection
//! ([`sqlite`]), `COPY` and array parameters on a PostgreSQL connection of the driver's own
//! ([`postgres`]), multi-row statements through sea-orm on an in-memory database ([`store_ops`]);
//! so throughput does not depend on how many items share a commit.
//!
//! Three kinds of change are written elsewhere, each in a transaction of its own with its feed
//! events, because batching would gain nothing or break what they are committed with:
//! - customer tags ([`crate::customers`]): a rare staff action on one customer, answered with the
//!   customer as stored after it;
//! - what a work order's root-cause leaf links ([`crate::leaves`]): its topic, repeat links and
//!   reopenings are written in the transaction of classification's feed follower, which moves the
//!   follower's cursor past the event; through the writer the change and the cursor would commit
//!   apart;
//! - complainants becoming inactive as time passes ([`crate::sweeper`]): a periodic task on one
//!   replica, in batches of its own.

mod lookups;
mod plan;
mod postgres;
mod sqlite;
mod store_ops;

use csm_kit::{
    bulk::Writes,
    error::Violations,
    feed::{Outbox, UnitOfWork},
    group_commit::{BatchWriter, PostgresBatchWriter, SqliteBatchWriter},
    telemetry::TraceContext,
};
use csm_proto::intake::v1::{Contact, ProductEvent, SurveyAnswer, UsageEvent, WorkOrder};
use sea_orm::DbErr;

use self::{lookups::Lookups, postgres::PostgresStore, store_ops::Store};
use crate::{
    error::Error,
    high_frequency::{self, Rule},
    repeats::RepeatRule,
    store::{contact, customer, product_event, survey_answer, usage_event, work_order},
    validate::{NewContact, NewProductEvent, NewSurveyAnswer, NewUsageEvent},
};

/// One thing to store.
#[derive(Debug, Clone)]
pub enum Item {
    Contact { contact: NewContact, caller: String },
    Usage(NewUsageEvent),
    Product(NewProductEvent),
    Survey(NewSurveyAnswer),
}

/// An item with the trace of the request it came from: the writer works in a task of its own, so
/// each item's events are published under its request's trace, not the writer's.
#[derive(Debug, Clone)]
pub struct Write {
    pub item: Item,
    pub trace: TraceContext,
}

impl Write {
    /// `item`, traced as the current span.
    pub fn traced(item: Item) -> Self {
        Self { item, trace: TraceContext::current() }
    }
}

/// What was stored (or found stored, for a duplicate).
// Short-lived values of one batch: boxing the large variants would only add allocations.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum Stored {
    Contact { contact: Contact, work_order: Option<WorkOrder> },
    Usage(UsageEvent),
    Product(ProductEvent),
    Survey(SurveyAnswer),
}

impl Stored {
    /// What kind of item this is, for an error that names it without its content.
    pub fn kind(&self) -> &'static str {
        match self {
            Stored::Contact { .. } => "a contact",
            Stored::Usage(_) => "a usage event",
            Stored::Product(_) => "a product event",
            Stored::Survey(_) => "a survey answer",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Written {
    pub stored: Stored,
    /// The request id had been stored before with the same request; nothing new was stored.
    pub duplicate: bool,
}

/// Why an item was not stored, decided against what is stored.
#[derive(Debug, Clone, PartialEq)]
pub enum Refusal {
    RequestIdReused(String),
    Invalid(Violations),
}

impl From<Refusal> for Error {
    fn from(refusal: Refusal) -> Self {
        match refusal {
            Refusal::RequestIdReused(id) => Error::RequestIdReused(id),
            Refusal::Invalid(violations) => Error::Invalid(violations),
        }
    }
}

pub type Outcome = Result<Written, Refusal>;

/// Writes batches of [`Write`]s for the group commit.
#[derive(Debug, Clone)]
pub struct IntakeWriter {
    repeat: RepeatRule,
    high_frequency: Rule,
}

impl IntakeWriter {
    pub fn new(repeat: RepeatRule, high_frequency: Rule) -> Self {
        Self { repeat, high_frequency }
    }

    /// Decides the batch item by item, then writes what it decided and queues its events.
    async fn write_batch(&self, db: &impl Store, outbox: &mut Outbox, items: &[Write]) -> Result<Vec<Outcome>, DbErr> {
        let lookups = Lookups::load(db, items, &self.repeat).await?;
        let mut plan = plan::Plan::new(lookups, self.repeat, outbox);
        for item in items {
            plan.apply(item);
        }
        update_high_frequency(db, &self.high_frequency, &mut plan).await?;
        let outcomes = plan.take_outcomes();
        commit(db, plan).await?;
        Ok(outcomes)
    }
}

impl BatchWriter for IntakeWriter {
    type Item = Write;
    type Output = Outcome;

    async fn write(&self, uow: &mut UnitOfWork, items: &[Write]) -> Result<Vec<Outcome>, DbErr> {
        let (txn, outbox) = uow.parts();
        self.write_batch(txn, outbox, items).await
    }
}

impl SqliteBatchWriter for IntakeWriter {
    async fn write_sqlite(
        &self,
        txn: &rusqlite::Transaction<'_>,
        outbox: &mut Outbox,
        items: &[Write],
    ) -> Result<Vec<Outcome>, DbErr> {
        self.write_batch(txn, outbox, items).await
    }
}

impl PostgresBatchWriter for IntakeWriter {
    async fn write_postgres(
        &self,
        txn: &mut sea_orm::sqlx::PgConnection,
        writes: &mut Writes,
        outbox: &mut Outbox,
        items: &[Write],
    ) -> Result<Vec<Outcome>, DbErr> {
        self.write_batch(&PostgresStore::new(txn, writes), outbox, items).await
    }
}

/// Records the complaints of this batch on their customers by the high-frequency rule, reading
/// the stored complaints of those not yet qualified; queues an event for each status that changed.
async fn update_high_frequency(db: &impl Store, rule: &Rule, plan: &mut plan::Plan<'_>) -> Result<(), DbErr> {
    let complaining = plan.complaining_customers();
    if complaining.is_empty() {
        return Ok(());
    }
    let never_qualified: Vec<String> = plan
        .customers
        .values()
        .filter(|c| complaining.contains(&c.row.id) && c.row.hf_qualified_at.is_none())
        .map(|c| c.row.id.clone())
        .collect();
    let (from, to) = plan
        .customers
        .values()
        .flat_map(|c| c.new_complaints.iter().copied())
        .fold((i64::MAX, i64::MIN), |(lo, hi), t| (lo.min(t), hi.max(t)));
    let mut stored = db
        .complaint_times(&never_qualified, from.saturating_sub(rule.reach()), to.saturating_add(rule.reach()))
        .await?;
    let now = plan.now;
    let mut changes = Vec::new();
    for state in plan.customers.values_mut().filter(|c| !c.new_complaints.is_empty()) {
        state.dirty = true;
        let stored = stored.remove(&state.row.id).unwrap_or_default();
        if let Some(previous) = rule.record_complaints(&mut state.row, &state.new_complaints, stored, now) {
            changes.push((state.trace.clone(), high_frequency::status_changed(&state.row, previous, now)));
        }
    }
    for (trace, changed) in changes {
        plan.publish_traced(&trace, &changed.customer, &changed);
    }
    Ok(())
}

async fn commit(db: &impl Store, plan: plan::Plan<'_>) -> Result<(), DbErr> {
    // New customers are plain inserts (a `COPY` on PostgreSQL); only those stored before need the
    // upsert's update.
    let (stored, new): (Vec<_>, Vec<_>) = plan.customers.into_values().filter(|c| c.dirty).partition(|c| c.stored);
    db.insert::<customer::Entity>(new.into_iter().map(|c| c.row).collect()).await?;
    db.upsert_customers(stored.into_iter().map(|c| c.row).collect()).await?;
    db.insert::<contact::Entity>(plan.new_contacts).await?;
    db.insert::<work_order::Entity>(plan.new_orders).await?;
    db.reopen(plan.reopened.into_values().collect()).await?;
    db.insert::<usage_event::Entity>(plan.new_usage).await?;
    db.insert::<product_event::Entity>(plan.new_products).await?;
    db.insert::<survey_answer::Entity>(plan.new_surveys).await?;
    Ok(())
}
