//! Usage and product lifecycle events and survey answers: recorded as given, named, and (but for
//! product events) attached to their customer; a survey answer may name a work order of the same
//! customer.

use csm_kit::{names, time};
use csm_proto::StoredEnum;
use csm_proto::intake::v1::{
    CustomerProfile, ProductEvent, ProductEventRecorded, SurveyAnswer, SurveyAnswered, UsageEvent, UsageEventRecorded,
};
use prost::Message;

use super::{Plan, invalid, new_id};
use crate::{
    store::{self, customer, product_event, survey_answer, usage_event},
    validate::{NewProductEvent, NewSurveyAnswer, NewUsageEvent},
    write::{Outcome, Stored, Written},
};

impl Plan<'_> {
    pub(super) fn usage(&mut self, new: &NewUsageEvent) -> Outcome {
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
        event.name = names::name_of(names::USAGE_EVENTS, &id);
        event.customer = names::name_of(names::CUSTOMERS, &customer_id);
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
        let recorded = UsageEventRecorded { usage_event: Some(event), profile: Some(profile) };
        self.publish(recorded.usage_event.as_ref().map_or("", |e| &e.name), &recorded);
        self.remember("usage", &new.request_id, &new.fingerprint);
        Ok(Written { stored: Stored::Usage(recorded.usage_event.unwrap_or_default()), duplicate: false })
    }

    pub(super) fn product(&mut self, new: &NewProductEvent) -> Outcome {
        let replay = self.replay("product", &new.request_id, &new.fingerprint, |lookups, request_id| {
            let row = lookups.products.get(request_id)?;
            Some((row.request_fingerprint.clone(), Stored::Product(ProductEvent::decode(row.body.as_slice()).ok()?)))
        });
        if let Some(outcome) = replay {
            return outcome;
        }
        let mut event = new.event.clone();
        let id = new_id();
        event.name = names::name_of(names::PRODUCT_EVENTS, &id);
        event.create_time = Some(time::timestamp_from_micros(self.now));
        self.new_products.push(product_event::Model {
            id,
            request_id: new.request_id.clone(),
            request_fingerprint: new.fingerprint.clone(),
            product_code: event.product_code.clone(),
            stage: event.stage().stored(),
            occurred_at: time::micros(new.occurred_at),
            created_at: self.now,
            body: event.encode_to_vec(),
        });
        let recorded = ProductEventRecorded { product_event: Some(event) };
        self.publish(recorded.product_event.as_ref().map_or("", |e| &e.name), &recorded);
        self.remember("product", &new.request_id, &new.fingerprint);
        Ok(Written { stored: Stored::Product(recorded.product_event.unwrap_or_default()), duplicate: false })
    }

    pub(super) fn survey(&mut self, new: &NewSurveyAnswer) -> Outcome {
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
        answer.name = names::name_of(names::SURVEY_ANSWERS, &id);
        answer.customer = names::name_of(names::CUSTOMERS, &customer_id);
        answer.create_time = Some(time::timestamp_from_micros(self.now));
        self.new_surveys.push(survey_answer::Model {
            id,
            request_id: new.request_id.clone(),
            request_fingerprint: new.fingerprint.clone(),
            customer_id,
            scale: answer.scale().stored(),
            score: answer.score,
            question: answer.question.clone(),
            work_order_id: new.work_order_id.clone(),
            occurred_at: at,
            created_at: self.now,
            body: answer.encode_to_vec(),
        });
        let answered = SurveyAnswered { survey_answer: Some(answer), profile: Some(profile) };
        self.publish(answered.survey_answer.as_ref().map_or("", |a| &a.name), &answered);
        self.remember("survey", &new.request_id, &new.fingerprint);
        Ok(Written { stored: Stored::Survey(answered.survey_answer.unwrap_or_default()), duplicate: false })
    }
}

fn profile_of(row: &customer::Model) -> CustomerProfile {
    store::profile(&row.segment, row.vip_level, &row.region, &row.products)
}
