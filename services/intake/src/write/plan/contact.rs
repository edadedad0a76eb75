//! Contacts and the work orders (工单) complaints and fault reports open: the customer a contact
//! updates, the earlier order it is related to, whether its order repeats an earlier problem
//! (重复投诉), and the reopening of that problem's first order, by the rule of [`crate::repeats`].

use csm_kit::time;
use csm_proto::StoredEnum;
use csm_proto::intake::v1::{
    AppealBody, Contact, ContactRecorded, ContactType, WorkOrder, WorkOrderKind, WorkOrderOpened, WorkOrderStatus,
};

use super::{Plan, invalid, new_id};
use crate::{
    repeats::{self, Earlier, topic_of_code},
    store::{contact, customer, work_order},
    validate::{NewContact, Profile},
    write::{Outcome, Stored, Written},
};

impl Plan<'_> {
    pub(super) fn contact(&mut self, new: &NewContact, caller: &str) -> Outcome {
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
                Some(order) => Some(Earlier::from(order)),
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
            let mut row = work_order::Model {
                id: new_id(),
                contact_id: contact_id.clone(),
                customer_id: customer_id.clone(),
                kind: WorkOrderKind::New.stored(),
                status: WorkOrderStatus::Open.stored(),
                channel: new.channel.stored(),
                contact_type: new.contact_type.stored(),
                phone_number: new.phone_number.clone(),
                text: new.text.clone(),
                problem_code: new.problem_code.clone(),
                topic: topic.clone(),
                department: None,
                appeal: appeal_column(new),
                segment: new.profile.segment.clone(),
                vip_level: new.profile.vip_level,
                region: new.profile.region.clone(),
                products: new.profile.products_column(),
                opened_at: at,
                created_at: self.now,
                first_work_order_id: None,
                reopen_count: 0,
                reopened_at: None,
            };
            if let Some(repeated) = &repeated {
                repeats::link_to_first(&mut row, repeated.first());
            }
            if let Some(topic) = topic {
                self.candidates.entry((customer_id.clone(), topic)).or_default().push(Earlier::from(&row));
            }
            order_row = Some(row);
        }
        let contact_row = contact::Model {
            id: contact_id,
            request_id: new.request_id.clone(),
            request_fingerprint: new.fingerprint.clone(),
            customer_id,
            channel: new.channel.stored(),
            phone_number: new.phone_number.clone(),
            contact_type: new.contact_type.stored(),
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

        let recorded = ContactRecorded { contact: Some(Contact::from(&contact_row)) };
        self.publish(recorded.contact.as_ref().map_or("", |c| &c.name), &recorded);
        self.new_contacts.push(contact_row);
        let work_order = order_row.map(|row| {
            let opened = WorkOrderOpened { work_order: Some(WorkOrder::from(&row)) };
            self.publish(opened.work_order.as_ref().map_or("", |o| &o.name), &opened);
            let order = opened.work_order.unwrap_or_default();
            let first = row.first_work_order_id.clone();
            self.new_orders.push(row);
            if let Some(first) = first {
                self.reopen(&first, &order);
            }
            order
        });
        self.remember("contact", &new.request_id, &new.fingerprint);
        let stored = Stored::Contact { contact: recorded.contact.unwrap_or_default(), work_order };
        Ok(Written { stored, duplicate: false })
    }

    /// Reopens the first order of a problem for its repeat `repeat`: an order opened earlier in
    /// this batch, or a stored one (kept in `reopened` to be written).
    fn reopen(&mut self, first_id: &str, repeat: &WorkOrder) {
        let now = self.now;
        let reopened = if let Some(row) = self.new_orders.iter_mut().find(|o| o.id == first_id) {
            Some(repeats::reopen_first(row, repeat, now))
        } else {
            let stored = self.reopened.remove(first_id).or_else(|| self.lookups.orders.get(first_id).cloned());
            stored.map(|mut row| {
                let reopened = repeats::reopen_first(&mut row, repeat, now);
                self.reopened.insert(row.id.clone(), row);
                reopened
            })
        };
        if let Some(reopened) = reopened {
            self.publish(reopened.first_work_order.as_ref().map_or("", |o| &o.name), &reopened);
        }
    }
}

fn appeal_column(new: &NewContact) -> Option<String> {
    (new.appeal != AppealBody::Unspecified).then(|| new.appeal.stored())
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
