//! Deciding a batch in memory: each item in order, seeing the effects of the items before it
//! (a repeat of an order opened earlier in the same batch, a customer created by an earlier item).
//! Nothing here touches the database; [`super::commit`] writes what the plan decided.

use std::collections::{HashMap, HashSet};

use csm_kit::{error::Violations, telemetry::TraceContext, time};
use csm_proto::intake::v1::{
    Contact, ContactRecorded, ContactType, HighFrequencyStatus, ProductEvent, ProductEventRecorded, SurveyAnswer,
    SurveyAnswered, UsageEvent, UsageEventRecorded, WorkOrder, WorkOrderKind, WorkOrderOpened, WorkOrderReopened,
    WorkOrderStatus,
};
use prost::Message;
use uuid::Uuid;

use super::{Event, Item, Lookups, Outcome, Refusal, Stored, Write, Written};
use crate::{
    repeats::{Earlier, RepeatRule, topic_of_code},
    store::{self, contact, customer, product_event, survey_answer, usage_event, work_order},
    validate::{NewContact, NewProductEvent, NewSurveyAnswer, NewUsageEvent, Profile},
};

/// A customer touched by the batch.
pub struct CustomerState {
    pub row: customer::Model,
    pub dirty: bool,
    /// Times of complaints this batch adds.
    pub new_complaints: Vec<i64>,
    /// The trace of the latest of them, for the status change they may cause.
    pub trace: TraceContext,
}

pub struct Plan {
    pub now: i64,
    repeat: RepeatRule,
    lookups: Lookups,
    pub customers: HashMap<String, CustomerState>,
    /// Orders on a topic, per (customer id, topic): what later complaints may repeat.
    candidates: HashMap<(String, String), Vec<Earlier>>,
    /// Request ids seen earlier in this batch, with the fingerprint and the result.
    seen: HashMap<(&'static str, String), (String, Stored)>,
    pub new_contacts: Vec<contact::Model>,
    pub new_orders: Vec<work_order::Model>,
    /// Stored orders reopened by this batch, by id.
    pub reopened: HashMap<String, work_order::Model>,
    pub new_usage: Vec<usage_event::Model>,
    pub new_products: Vec<product_event::Model>,
    pub new_surveys: Vec<survey_answer::Model>,
    /// Feed events in the order they were decided, each with the trace of its item.
    pub events: Vec<(TraceContext, Event)>,
    /// The trace of the item being applied.
    trace: TraceContext,
}

fn new_id() -> String {
    Uuid::now_v7().to_string()
}

impl Plan {
    pub fn new(lookups: Lookups, repeat: RepeatRule) -> Self {
        let mut candidates: HashMap<(String, String), Vec<Earlier>> = HashMap::new();
        for order in lookups.orders.values() {
            if let Some(topic) = &order.topic {
                candidates.entry((order.customer_id.clone(), topic.clone())).or_default().push(earlier(order));
            }
        }
        Self {
            now: time::now_micros(),
            repeat,
            lookups,
            customers: HashMap::new(),
            candidates,
            seen: HashMap::new(),
            new_contacts: Vec::new(),
            new_orders: Vec::new(),
            reopened: HashMap::new(),
            new_usage: Vec::new(),
            new_products: Vec::new(),
            new_surveys: Vec::new(),
            events: Vec::new(),
            trace: TraceContext::default(),
        }
    }

    pub fn apply(&mut self, write: &Write) -> Outcome {
        self.trace = write.trace.clone();
        match &write.item {
            Item::Contact { contact, caller } => self.contact(contact, caller),
            Item::Usage(event) => self.usage(event),
            Item::Product(event) => self.product(event),
            Item::Survey(answer) => self.survey(answer),
        }
    }

    fn push(&mut self, event: Event) {
        self.events.push((self.trace.clone(), event));
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
        let earlier =
            self.seen.get(&(kind, request_id.clone())).cloned().or_else(|| stored(&self.lookups, request_id))?;
        Some(if earlier.0 == fingerprint {
            Ok(Written { stored: earlier.1, duplicate: true })
        } else {
            Err(Refusal::RequestIdReused(request_id.clone()))
        })
    }

    fn remember(&mut self, kind: &'static str, request_id: &Option<String>, fingerprint: &str, stored: &Stored) {
        if let Some(request_id) = request_id {
            self.seen.insert((kind, request_id.clone()), (fingerprint.to_string(), stored.clone()));
        }
    }

    /// The customer of `phone`, created on first sight.
    fn customer(&mut self, phone: &str, at: i64) -> &mut CustomerState {
        let stored = self.lookups.customers.remove(phone);
        self.customers.entry(phone.to_string()).or_insert_with(|| match stored {
            Some(row) => {
                CustomerState { row, dirty: false, new_complaints: Vec::new(), trace: TraceContext::default() }
            }
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
                    hf_status: HighFrequencyStatus::None.as_str_name().to_string(),
                    hf_qualified_at: None,
                    hf_rule: None,
                    hf_window_start: None,
                    hf_window_end: None,
                    hf_window_complaints: None,
                },
                dirty: true,
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

    fn contact(&mut self, new: &NewContact, caller: &str) -> Outcome {
        let replay = self.replay("contact", &new.request_id, &new.fingerprint, |lookups, request_id| {
            let row = lookups.contacts.get(request_id)?;
            let work_order = row.work_order_id.as_ref().and_then(|id| lookups.orders.get(id)).map(WorkOrder::from);
            Some((row.request_fingerprint.clone(), Stored::Contact { contact: Contact::from(row), work_order }))
        });
        if let Some(outcome) = replay {
            return outcome;
        }
        let at = time::micros(new.occurred_at);
        let known_customer = self
            .customers
            .get(&new.phone_number)
            .map(|c| c.row.id.clone())
            .or_else(|| self.lookups.customers.get(&new.phone_number).map(|c| c.id.clone()));
        let related = match &new.related_work_order_id {
            None => None,
            Some(id) => match self.order(id) {
                None => return Err(invalid("related_work_order", format!("workOrders/{id} not found"))),
                Some(order) if Some(&order.customer_id) != known_customer.as_ref() => {
                    return Err(invalid("related_work_order", "belongs to another customer"));
                }
                Some(order) => Some(earlier(order)),
            },
        };

        let trace = self.trace.clone();
        let customer = self.customer(&new.phone_number, at);
        merge_profile(&mut customer.row, &new.profile);
        customer.row.first_contact_at = customer.row.first_contact_at.min(at);
        customer.row.last_contact_at = customer.row.last_contact_at.max(at);
        customer.dirty = true;
        if new.contact_type == ContactType::Complaint {
            customer.new_complaints.push(at);
            customer.trace = trace;
        }
        let customer_id = customer.row.id.clone();

        let contact_id = new_id();
        let mut order_row = None;
        if new.opens_work_order() {
            let topic = new.problem_code.as_deref().map(topic_of_code);
            let repeated = related.or_else(|| {
                let topic = topic.as_ref()?;
                let earlier = self.candidates.get(&(customer_id.clone(), topic.clone()))?;
                self.repeat.repeated(earlier, &customer_id, topic, at, "").cloned()
            });
            let row = work_order::Model {
                id: new_id(),
                contact_id: contact_id.clone(),
                customer_id: customer_id.clone(),
                kind: if repeated.is_some() { WorkOrderKind::Repeat } else { WorkOrderKind::New }
                    .as_str_name()
                    .to_string(),
                status: WorkOrderStatus::Open.as_str_name().to_string(),
                channel: new.channel.as_str_name().to_string(),
                contact_type: new.contact_type.as_str_name().to_string(),
                phone_number: new.phone_number.clone(),
                text: new.text.clone(),
                problem_code: new.problem_code.clone(),
                topic: topic.clone(),
                appeal: appeal_column(new),
                segment: new.profile.segment.clone(),
                vip_level: new.profile.vip_level,
                region: new.profile.region.clone(),
                products: new.profile.products_column(),
                opened_at: at,
                created_at: self.now,
                first_work_order_id: repeated.as_ref().map(|r| r.first().to_string()),
                reopen_count: 0,
                reopened_at: None,
            };
            if let Some(topic) = topic {
                self.candidates.entry((customer_id.clone(), topic)).or_default().push(earlier(&row));
            }
            order_row = Some(row);
        }
        let contact_row = contact::Model {
            id: contact_id,
            request_id: new.request_id.clone(),
            request_fingerprint: new.fingerprint.clone(),
            customer_id,
            channel: new.channel.as_str_name().to_string(),
            phone_number: new.phone_number.clone(),
            contact_type: new.contact_type.as_str_name().to_string(),
            text: new.text.clone(),
            problem_code: new.problem_code.clone(),
            appeal: appeal_column(new),
            segment: new.profile.segment.clone(),
            vip_level: new.profile.vip_level,
            region: new.profile.region.clone(),
            products: new.profile.products_column(),
            occurred_at: at,
            created_at: self.now,
            recorded_by: caller.to_string(),
            work_order_id: order_row.as_ref().map(|o| o.id.clone()),
        };

        let contact = Contact::from(&contact_row);
        self.push(Event::ContactRecorded(ContactRecorded { contact: Some(contact.clone()) }));
        self.new_contacts.push(contact_row);
        let work_order = order_row.map(|row| {
            let order = WorkOrder::from(&row);
            self.push(Event::WorkOrderOpened(WorkOrderOpened { work_order: Some(order.clone()) }));
            let first = row.first_work_order_id.clone();
            self.new_orders.push(row);
            if let Some(first) = first {
                self.reopen(&first, &order);
            }
            order
        });
        let stored = Stored::Contact { contact, work_order };
        self.remember("contact", &new.request_id, &new.fingerprint, &stored);
        Ok(Written { stored, duplicate: false })
    }

    /// Reopens the first order of a problem for its repeat `repeat`.
    fn reopen(&mut self, first_id: &str, repeat: &WorkOrder) {
        let reopen = |row: &mut work_order::Model, now: i64| {
            row.status = WorkOrderStatus::Reopened.as_str_name().to_string();
            row.reopen_count += 1;
            row.reopened_at = Some(now);
        };
        let now = self.now;
        let first = if let Some(row) = self.new_orders.iter_mut().find(|o| o.id == first_id) {
            reopen(row, now);
            Some(WorkOrder::from(&*row))
        } else {
            let stored = self.reopened.remove(first_id).or_else(|| self.lookups.orders.get(first_id).cloned());
            stored.map(|mut row| {
                reopen(&mut row, now);
                let first = WorkOrder::from(&row);
                self.reopened.insert(row.id.clone(), row);
                first
            })
        };
        if let Some(first) = first {
            self.push(Event::WorkOrderReopened(WorkOrderReopened {
                first_work_order: Some(first),
                repeat_work_order: Some(repeat.clone()),
            }));
        }
    }

    fn usage(&mut self, new: &NewUsageEvent) -> Outcome {
        let replay = self.replay("usage", &new.request_id, &new.fingerprint, |lookups, request_id| {
            let row = lookups.usage.get(request_id)?;
            Some((row.request_fingerprint.clone(), Stored::Usage(UsageEvent::decode(row.body.as_slice()).ok()?)))
        });
        if let Some(outcome) = replay {
            return outcome;
        }
        let at = time::micros(new.occurred_at);
        let customer = self.customer(&new.event.phone_number, at);
        let (customer_id, profile) = (customer.row.id.clone(), profile_of(&customer.row));
        let mut event = new.event.clone();
        let id = new_id();
        event.name = store::name(store::USAGE_EVENTS, &id);
        event.customer = store::name(store::CUSTOMERS, &customer_id);
        event.create_time = Some(time::timestamp_from_micros(self.now));
        self.new_usage.push(usage_event::Model {
            id,
            request_id: new.request_id.clone(),
            request_fingerprint: new.fingerprint.clone(),
            customer_id,
            kind: new.kind.to_string(),
            product_code: event.product_code.clone(),
            occurred_at: at,
            created_at: self.now,
            body: event.encode_to_vec(),
        });
        self.push(Event::UsageEventRecorded(UsageEventRecorded {
            usage_event: Some(event.clone()),
            profile: Some(profile),
        }));
        let stored = Stored::Usage(event);
        self.remember("usage", &new.request_id, &new.fingerprint, &stored);
        Ok(Written { stored, duplicate: false })
    }

    fn product(&mut self, new: &NewProductEvent) -> Outcome {
        let replay = self.replay("product", &new.request_id, &new.fingerprint, |lookups, request_id| {
            let row = lookups.products.get(request_id)?;
            Some((row.request_fingerprint.clone(), Stored::Product(ProductEvent::decode(row.body.as_slice()).ok()?)))
        });
        if let Some(outcome) = replay {
            return outcome;
        }
        let mut event = new.event.clone();
        let id = new_id();
        event.name = store::name(store::PRODUCT_EVENTS, &id);
        event.create_time = Some(time::timestamp_from_micros(self.now));
        self.new_products.push(product_event::Model {
            id,
            request_id: new.request_id.clone(),
            request_fingerprint: new.fingerprint.clone(),
            product_code: event.product_code.clone(),
            stage: event.stage().as_str_name().to_string(),
            occurred_at: time::micros(new.occurred_at),
            created_at: self.now,
            body: event.encode_to_vec(),
        });
        self.push(Event::ProductEventRecorded(ProductEventRecorded { product_event: Some(event.clone()) }));
        let stored = Stored::Product(event);
        self.remember("product", &new.request_id, &new.fingerprint, &stored);
        Ok(Written { stored, duplicate: false })
    }

    fn survey(&mut self, new: &NewSurveyAnswer) -> Outcome {
        let replay = self.replay("survey", &new.request_id, &new.fingerprint, |lookups, request_id| {
            let row = lookups.surveys.get(request_id)?;
            Some((row.request_fingerprint.clone(), Stored::Survey(SurveyAnswer::decode(row.body.as_slice()).ok()?)))
        });
        if let Some(outcome) = replay {
            return outcome;
        }
        let at = time::micros(new.occurred_at);
        if let Some(id) = &new.work_order_id {
            match self.order(id) {
                None => return Err(invalid("survey_answer.work_order", format!("workOrders/{id} not found"))),
                Some(order) if order.phone_number != new.answer.phone_number => {
                    return Err(invalid("survey_answer.work_order", "belongs to another customer"));
                }
                Some(_) => {}
            }
        }
        let customer = self.customer(&new.answer.phone_number, at);
        customer.row.first_contact_at = customer.row.first_contact_at.min(at);
        customer.row.last_contact_at = customer.row.last_contact_at.max(at);
        customer.dirty = true;
        let (customer_id, profile) = (customer.row.id.clone(), profile_of(&customer.row));
        let mut answer = new.answer.clone();
        let id = new_id();
        answer.name = store::name(store::SURVEY_ANSWERS, &id);
        answer.customer = store::name(store::CUSTOMERS, &customer_id);
        answer.create_time = Some(time::timestamp_from_micros(self.now));
        self.new_surveys.push(survey_answer::Model {
            id,
            request_id: new.request_id.clone(),
            request_fingerprint: new.fingerprint.clone(),
            customer_id,
            scale: answer.scale().as_str_name().to_string(),
            score: answer.score,
            question: answer.question.clone(),
            work_order_id: new.work_order_id.clone(),
            occurred_at: at,
            created_at: self.now,
            body: answer.encode_to_vec(),
        });
        self.push(Event::SurveyAnswered(SurveyAnswered {
            survey_answer: Some(answer.clone()),
            profile: Some(profile),
        }));
        let stored = Stored::Survey(answer);
        self.remember("survey", &new.request_id, &new.fingerprint, &stored);
        Ok(Written { stored, duplicate: false })
    }

    /// Customers this batch gave new complaints, which may change their high-frequency status.
    pub fn complaining_customers(&self) -> HashSet<String> {
        self.customers.values().filter(|c| !c.new_complaints.is_empty()).map(|c| c.row.id.clone()).collect()
    }
}

fn earlier(order: &work_order::Model) -> Earlier {
    Earlier {
        id: order.id.clone(),
        customer_id: order.customer_id.clone(),
        topic: order.topic.clone(),
        opened_at: order.opened_at,
        first_work_order_id: order.first_work_order_id.clone(),
    }
}

fn invalid(field: &str, description: impl Into<String>) -> Refusal {
    Refusal::Invalid(Violations::one(field, description))
}

fn appeal_column(new: &NewContact) -> Option<String> {
    (new.appeal != csm_proto::intake::v1::AppealBody::Unspecified).then(|| new.appeal.as_str_name().to_string())
}

/// The latest values a channel gave win; what it did not give is kept.
fn merge_profile(row: &mut customer::Model, profile: &Profile) {
    if profile.segment.is_some() {
        row.segment.clone_from(&profile.segment);
    }
    if profile.vip_level.is_some() {
        row.vip_level = profile.vip_level;
    }
    if profile.region.is_some() {
        row.region.clone_from(&profile.region);
    }
    if let Some(products) = profile.products_column() {
        row.products = Some(products);
    }
}

fn profile_of(row: &customer::Model) -> csm_proto::intake::v1::CustomerProfile {
    store::profile(&row.segment, row.vip_level, &row.region, &row.products)
}
