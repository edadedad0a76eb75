//! What is stored that a batch's decisions depend on, read before anything is decided with a
//! handful of queries for the whole batch: earlier results of the same request ids, the customers
//! of the phone numbers, the orders named by contacts and survey answers, the orders a complaint
//! may repeat (重复投诉) and the first orders of their problems.

use std::collections::{HashMap, HashSet};

use csm_kit::time;
use sea_orm::DbErr;

use super::{
    Item, Write,
    store_ops::{Store, Table},
};
use crate::{
    repeats::{RepeatRule, topic_of_code},
    store::{contact, customer, product_event, survey_answer, usage_event, work_order},
};

/// What is stored that the batch's decisions depend on.
#[derive(Debug, Default)]
pub struct Lookups {
    pub(super) contacts: HashMap<String, contact::Model>,
    pub(super) usage: HashMap<String, usage_event::Model>,
    pub(super) products: HashMap<String, product_event::Model>,
    pub(super) surveys: HashMap<String, survey_answer::Model>,
    /// Orders referenced, repeatable, or first orders of those; and orders of duplicates.
    pub(super) orders: HashMap<String, work_order::Model>,
    pub(super) customers: HashMap<String, customer::Model>,
}

impl Lookups {
    pub(super) async fn load(db: &impl Store, items: &[Write], repeat: &RepeatRule) -> Result<Self, DbErr> {
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
                        topics.insert(topic_of_code(code));
                        earliest_complaint = earliest_complaint.min(time::micros(contact.occurred_at));
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
