//! Deciding a batch in memory: each item in order, seeing the effects of the items before it
//! (a repeat of an order opened earlier in the same batch, a customer created by an earlier item).
//! Nothing here touches the database; [`super::commit`] writes what the plan decided. This file
//! holds the plan and what every kind of item shares (replayed request ids, customers, orders);
//! contacts and the work orders they open are decided in [`contact`], usage and product events and
//! survey answers in [`events`].

mod contact;
mod events;

use std::collections::{HashMap, HashSet};

use csm_kit::{error::Violations, feed::Outbox, telemetry::TraceContext, time};
use csm_proto::{StoredEnum, intake::v1::HighFrequencyStatus};
use prost::Name;
use uuid::Uuid;

use super::{Item, Outcome, Refusal, Stored, Write, Written, lookups::Lookups};
use crate::{
    repeats::{Earlier, RepeatRule},
    store::{self, customer, product_event, survey_answer, usage_event, work_order},
};

/// A customer touched by the batch.
pub struct CustomerState {
    pub row: customer::Model,
    pub dirty: bool,
    /// The customer was stored before this batch: written back as an update, not an insert.
    pub stored: bool,
    /// Times of complaints this batch adds.
    pub new_complaints: Vec<i64>,
    /// The trace of the latest of them, for the status change they may cause.
    pub trace: TraceContext,
}

/// A batch being decided. Its events go to the batch's outbox as they are decided, encoded from
/// the values the responses carry, so neither is copied for the other.
pub struct Plan<'o> {
    pub now: i64,
    repeat: RepeatRule,
    lookups: Lookups,
    pub customers: HashMap<String, CustomerState>,
    /// Orders on a topic, per (customer id, topic): what later complaints may repeat.
    candidates: HashMap<(String, String), Vec<Earlier>>,
    /// Request ids seen earlier in this batch, with the fingerprint and the position of the item
    /// whose outcome a repeat of the request gets again.
    seen: HashMap<(&'static str, String), (String, usize)>,
    /// The outcome of each item applied so far, in order.
    outcomes: Vec<Outcome>,
    pub new_contacts: Vec<store::contact::Model>,
    pub new_orders: Vec<work_order::Model>,
    /// Stored orders reopened by this batch, by id.
    pub reopened: HashMap<String, work_order::Model>,
    pub new_usage: Vec<usage_event::Model>,
    pub new_products: Vec<product_event::Model>,
    pub new_surveys: Vec<survey_answer::Model>,
    /// Feed events in the order they were decided, each under the trace of its item.
    outbox: &'o mut Outbox,
    /// The trace of the item being applied.
    trace: TraceContext,
}

fn new_id() -> String {
    Uuid::now_v7().to_string()
}

impl<'o> Plan<'o> {
    pub fn new(lookups: Lookups, repeat: RepeatRule, outbox: &'o mut Outbox) -> Self {
        let mut candidates: HashMap<(String, String), Vec<Earlier>> = HashMap::new();
        for order in lookups.orders.values() {
            if let Some(topic) = &order.topic {
                candidates.entry((order.customer_id.clone(), topic.clone())).or_default().push(Earlier::from(order));
            }
        }
        Self {
            now: time::now_micros(),
            repeat,
            lookups,
            customers: HashMap::new(),
            candidates,
            seen: HashMap::new(),
            outcomes: Vec::new(),
            new_contacts: Vec::new(),
            new_orders: Vec::new(),
            reopened: HashMap::new(),
            new_usage: Vec::new(),
            new_products: Vec::new(),
            new_surveys: Vec::new(),
            outbox,
            trace: TraceContext::default(),
        }
    }

    /// Decides `write`, seeing the effects of the items applied before it.
    pub fn apply(&mut self, write: &Write) {
        self.trace = write.trace.clone();
        let outcome = match &write.item {
            Item::Contact { contact, caller } => self.contact(contact, caller),
            Item::Usage(event) => self.usage(event),
            Item::Product(event) => self.product(event),
            Item::Survey(answer) => self.survey(answer),
        };
        self.outcomes.push(outcome);
    }

    /// The outcome of every item applied, in order.
    pub fn take_outcomes(&mut self) -> Vec<Outcome> {
        std::mem::take(&mut self.outcomes)
    }

    /// Queues `payload` as an event about `subject`, under the trace of the item being applied.
    fn publish<M: Name>(&mut self, subject: &str, payload: &M) {
        self.outbox.publish_traced(&self.trace, subject, payload);
    }

    /// Queues `payload` as an event about `subject`, under `trace`.
    pub fn publish_traced<M: Name>(&mut self, trace: &TraceContext, subject: &str, payload: &M) {
        self.outbox.publish_traced(trace, subject, payload);
    }

    /// An earlier result for the same request id, in this batch or stored: the same result for
    /// the same request, a refusal for a different one.
    fn replay(
        &self,
        kind: &'static str,
        request_id: &Option<String>,
        fingerprint: &str,
        stored: impl FnOnce(&Lookups, &str) -> Option<(String, Stored)>,
    ) -> Option<Outcome> {
        let request_id = request_id.as_ref()?;
        let in_batch = self.seen.get(&(kind, request_id.clone())).and_then(|(fingerprint, position)| {
            let earlier = self.outcomes.get(*position)?.as_ref().ok()?;
            Some((fingerprint.clone(), earlier.stored.clone()))
        });
        let earlier = in_batch.or_else(|| stored(&self.lookups, request_id))?;
        Some(if earlier.0 == fingerprint {
            Ok(Written { stored: earlier.1, duplicate: true })
        } else {
            Err(Refusal::RequestIdReused(request_id.clone()))
        })
    }

    /// Remembers the request id of the item being applied, which is being stored: a repeat later in
    /// the batch gets its outcome again.
    fn remember(&mut self, kind: &'static str, request_id: &Option<String>, fingerprint: &str) {
        if let Some(request_id) = request_id {
            self.seen.insert((kind, request_id.clone()), (fingerprint.to_string(), self.outcomes.len()));
        }
    }

    /// The customer of `phone`, created on first sight.
    fn customer(&mut self, phone: &str, at: i64) -> &mut CustomerState {
        let stored = self.lookups.customers.remove(phone);
        self.customers.entry(phone.to_string()).or_insert_with(|| match stored {
            Some(row) => CustomerState {
                row,
                dirty: false,
                stored: true,
                new_complaints: Vec::new(),
                trace: TraceContext::default(),
            },
            None => CustomerState {
                row: customer::Model {
                    id: new_id(),
                    phone_number: phone.to_string(),
                    segment: None,
                    vip_level: None,
                    region: None,
                    products: None,
                    first_contact_at: at,
                    last_contact_at: at,
                    last_complaint_at: None,
                    hf_status: HighFrequencyStatus::None.stored(),
                    hf_qualified_at: None,
                    hf_rule: None,
                    hf_window_start: None,
                    hf_window_end: None,
                    hf_window_complaints: None,
                },
                dirty: true,
                stored: false,
                new_complaints: Vec::new(),
                trace: TraceContext::default(),
            },
        })
    }

    /// An order stored or opened earlier in this batch.
    fn order(&self, id: &str) -> Option<&work_order::Model> {
        self.new_orders
            .iter()
            .find(|o| o.id == id)
            .or_else(|| self.reopened.get(id))
            .or_else(|| self.lookups.orders.get(id))
    }

    /// Customers this batch gave new complaints, which may change their high-frequency status.
    pub fn complaining_customers(&self) -> HashSet<String> {
        self.customers.values().filter(|c| !c.new_complaints.is_empty()).map(|c| c.row.id.clone()).collect()
    }
}

fn invalid(field: &str, description: impl Into<String>) -> Refusal {
    Refusal::Invalid(Violations::one(field, description))
}
