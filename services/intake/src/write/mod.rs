//! Everything intake stores goes through one group-commit writer: contacts (with their work
//! orders, repeat links and customers), usage and product events, survey answers. A batch is read
//! with a handful of queries, decided in memory item by item ([`plan`]), and written in one
//! transaction with its feed events, through a [`Store`]: multi-row statements on the pool, prepared
//! statements per row on a synchronous SQLite connection ([`store_ops`]); so throughput does not
//! depend on how many items share a commit.

mod plan;
mod sqlite;
mod store_ops;

use std::collections::{HashMap, HashSet};

use csm_kit::{
    error::Violations,
    feed::{Outbox, UnitOfWork},
    group_commit::{BatchWriter, SqliteBatchWriter},
    telemetry::TraceContext,
};
use csm_proto::intake::v1::{
    Contact, ContactRecorded, HighFrequency, HighFrequencyStatus, HighFrequencyStatusChanged, ProductEvent,
    ProductEventRecorded, SurveyAnswer, SurveyAnswered, UsageEvent, UsageEventRecorded, WorkOrder, WorkOrderOpened,
    WorkOrderReopened,
};
use sea_orm::DbErr;

pub use plan::CustomerState;

use self::store_ops::{Store, Table};
use crate::{
    high_frequency::Rule,
    repeats::RepeatRule,
    store::{self, contact, customer, product_event, survey_answer, usage_event, work_order},
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

pub type Outcome = Result<Written, Refusal>;

/// A feed event of the batch, published in the order the plan made it.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum Event {
    ContactRecorded(ContactRecorded),
    WorkOrderOpened(WorkOrderOpened),
    WorkOrderReopened(WorkOrderReopened),
    HighFrequencyStatusChanged(HighFrequencyStatusChanged),
    UsageEventRecorded(UsageEventRecorded),
    ProductEventRecorded(ProductEventRecorded),
    SurveyAnswered(SurveyAnswered),
}

impl Event {
    fn publish(self, trace: &TraceContext, uow: &mut Outbox) {
        let subject = |name: Option<&String>| name.cloned().unwrap_or_default();
        match self {
            Event::ContactRecorded(e) => uow.publish_traced(trace, subject(e.contact.as_ref().map(|c| &c.name)), &e),
            Event::WorkOrderOpened(e) => {
                uow.publish_traced(trace, subject(e.work_order.as_ref().map(|o| &o.name)), &e);
            }
            Event::WorkOrderReopened(e) => {
                uow.publish_traced(trace, subject(e.first_work_order.as_ref().map(|o| &o.name)), &e);
            }
            Event::HighFrequencyStatusChanged(e) => uow.publish_traced(trace, e.customer.clone(), &e),
            Event::UsageEventRecorded(e) => {
                uow.publish_traced(trace, subject(e.usage_event.as_ref().map(|u| &u.name)), &e);
            }
            Event::ProductEventRecorded(e) => {
                uow.publish_traced(trace, subject(e.product_event.as_ref().map(|p| &p.name)), &e);
            }
            Event::SurveyAnswered(e) => {
                uow.publish_traced(trace, subject(e.survey_answer.as_ref().map(|s| &s.name)), &e);
            }
        }
    }
}

/// What is stored that the batch's decisions depend on.
#[derive(Debug, Default)]
pub struct Lookups {
    contacts: HashMap<String, contact::Model>,
    usage: HashMap<String, usage_event::Model>,
    products: HashMap<String, product_event::Model>,
    surveys: HashMap<String, survey_answer::Model>,
    /// Orders referenced, repeatable, or first orders of those; and orders of duplicates.
    orders: HashMap<String, work_order::Model>,
    customers: HashMap<String, customer::Model>,
}

impl Lookups {
    async fn load(db: &impl Store, items: &[Write], repeat: &RepeatRule) -> Result<Self, DbErr> {
        let mut request_ids: HashMap<&str, Vec<String>> = HashMap::new();
        let mut phones = HashSet::new();
        let mut referenced = Vec::new();
        let mut topics = HashSet::new();
        let mut earliest_complaint = i64::MAX;
        for write in items {
            let (kind, request_id) = match &write.item {
                Item::Contact { contact, .. } => {
                    phones.insert(contact.phone_number.clone());
                    referenced.extend(contact.related_work_order_id.clone());
                    if let (true, Some(code)) = (contact.opens_work_order(), &contact.problem_code) {
                        topics.insert(crate::repeats::topic_of_code(code));
                        earliest_complaint = earliest_complaint.min(csm_kit::time::micros(contact.occurred_at));
                    }
                    ("contact", &contact.request_id)
                }
                Item::Usage(event) => {
                    phones.insert(event.event.phone_number.clone());
                    ("usage", &event.request_id)
                }
                Item::Product(event) => ("product", &event.request_id),
                Item::Survey(answer) => {
                    phones.insert(answer.answer.phone_number.clone());
                    referenced.extend(answer.work_order_id.clone());
                    ("survey", &answer.request_id)
                }
            };
            if let Some(request_id) = request_id {
                request_ids.entry(kind).or_default().push(request_id.clone());
            }
        }
        let ids = |kind: &str| request_ids.get(kind).cloned().unwrap_or_default();
        let phones: Vec<String> = phones.into_iter().collect();
        let mut lookups = Self {
            contacts: by_request::<contact::Entity>(db, contact::Column::RequestId, &ids("contact"), |r| &r.request_id)
                .await?,
            usage: by_request::<usage_event::Entity>(db, usage_event::Column::RequestId, &ids("usage"), |r| {
                &r.request_id
            })
            .await?,
            products: by_request::<product_event::Entity>(db, product_event::Column::RequestId, &ids("product"), |r| {
                &r.request_id
            })
            .await?,
            surveys: by_request::<survey_answer::Entity>(db, survey_answer::Column::RequestId, &ids("survey"), |r| {
                &r.request_id
            })
            .await?,
            orders: HashMap::new(),
            customers: db
                .find::<customer::Entity>(customer::Column::PhoneNumber, &phones)
                .await?
                .into_iter()
                .map(|row| (row.phone_number.clone(), row))
                .collect(),
        };

        referenced.extend(lookups.contacts.values().filter_map(|c| c.work_order_id.clone()));
        lookups.orders = work_orders(db, &referenced).await?;
        if !topics.is_empty() {
            let customer_ids: Vec<String> = lookups.customers.values().map(|c| c.id.clone()).collect();
            let since = earliest_complaint.saturating_sub(repeat.window());
            let topics: Vec<String> = topics.into_iter().collect();
            for order in db.orders_on_topics(&customer_ids, &topics, since).await? {
                lookups.orders.insert(order.id.clone(), order);
            }
        }
        // The first orders of the problems these orders belong to, which a repeat reopens.
        let firsts: Vec<String> = lookups
            .orders
            .values()
            .filter_map(|o| o.first_work_order_id.clone())
            .filter(|id| !lookups.orders.contains_key(id))
            .collect();
        lookups.orders.extend(work_orders(db, &firsts).await?);
        Ok(lookups)
    }
}

/// Rows of `E` stored under any of these request ids, by request id.
async fn by_request<E: Table>(
    db: &impl Store,
    column: E::Column,
    request_ids: &[String],
    request_id_of: fn(&E::Model) -> &Option<String>,
) -> Result<HashMap<String, E::Model>, DbErr> {
    let rows = db.find::<E>(column, request_ids).await?;
    Ok(rows.into_iter().filter_map(|row| Some((request_id_of(&row).clone()?, row))).collect())
}

async fn work_orders(db: &impl Store, ids: &[String]) -> Result<HashMap<String, work_order::Model>, DbErr> {
    let rows = db.find::<work_order::Entity>(work_order::Column::Id, ids).await?;
    Ok(rows.into_iter().map(|row| (row.id.clone(), row)).collect())
}

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
        let mut plan = plan::Plan::new(lookups, self.repeat);
        let outcomes: Vec<Outcome> = items.iter().map(|item| plan.apply(item)).collect();
        update_high_frequency(db, &self.high_frequency, &mut plan).await?;
        commit(db, outbox, plan).await?;
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

/// Updates the high-frequency status of the customers who complained in this batch, from their
/// stored complaints and the new ones, by event time.
async fn update_high_frequency(db: &impl Store, rule: &Rule, plan: &mut plan::Plan) -> Result<(), DbErr> {
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
        let previous = HighFrequencyStatus::from_str_name(&state.row.hf_status).unwrap_or(HighFrequencyStatus::None);
        let newest = state.new_complaints.iter().copied().max().unwrap_or(i64::MIN);
        let last = state.row.last_complaint_at.map_or(newest, |l| l.max(newest));
        state.row.last_complaint_at = Some(last);
        state.dirty = true;
        if state.row.hf_qualified_at.is_none() {
            let mut times = stored.remove(&state.row.id).unwrap_or_default();
            times.extend(state.new_complaints.iter().copied());
            times.sort_unstable();
            let Some(window) = rule.first_window(&times) else {
                continue;
            };
            state.row.hf_qualified_at = Some(window.end);
            state.row.hf_rule = Some(window.rule.as_str_name().to_string());
            state.row.hf_window_start = Some(window.start);
            state.row.hf_window_end = Some(window.end);
            state.row.hf_window_complaints = Some(window.complaints);
        }
        let status = rule.status_at(last, now);
        if status != previous {
            state.row.hf_status = status.as_str_name().to_string();
            changes.push((previous, state.row.clone(), state.trace.clone()));
        }
    }
    for (previous, row, trace) in changes {
        plan.events.push((trace, Event::HighFrequencyStatusChanged(status_changed(&row, previous, now))));
    }
    Ok(())
}

/// The event announcing a customer's new high-frequency status.
pub fn status_changed(row: &customer::Model, previous: HighFrequencyStatus, now: i64) -> HighFrequencyStatusChanged {
    HighFrequencyStatusChanged {
        customer: store::name(store::CUSTOMERS, &row.id),
        phone_number: row.phone_number.clone(),
        previous_status: previous as i32,
        high_frequency: Some(HighFrequency {
            status: HighFrequencyStatus::from_str_name(&row.hf_status).unwrap_or_default() as i32,
            qualify_time: row.hf_qualified_at.map(csm_kit::time::timestamp_from_micros),
            qualifying_window: crate::customers::window_of(row),
            last_complaint_time: row.last_complaint_at.map(csm_kit::time::timestamp_from_micros),
            complaints_last_7_days: 0,
            complaints_last_30_days: 0,
        }),
        change_time: Some(csm_kit::time::timestamp_from_micros(now)),
        profile: Some(store::profile(&row.segment, row.vip_level, &row.region, &row.products)),
    }
}

async fn commit(db: &impl Store, outbox: &mut Outbox, plan: plan::Plan) -> Result<(), DbErr> {
    db.upsert_customers(plan.customers.into_values().filter(|c| c.dirty).map(|c| c.row).collect()).await?;
    db.insert::<contact::Entity>(plan.new_contacts).await?;
    db.insert::<work_order::Entity>(plan.new_orders).await?;
    for order in plan.reopened.into_values() {
        db.reopen(order).await?;
    }
    db.insert::<usage_event::Entity>(plan.new_usage).await?;
    db.insert::<product_event::Entity>(plan.new_products).await?;
    db.insert::<survey_answer::Entity>(plan.new_surveys).await?;
    for (trace, event) in plan.events {
        event.publish(&trace, outbox);
    }
    Ok(())
}
