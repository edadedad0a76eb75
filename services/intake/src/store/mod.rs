//! Intake's storage: tables, migrations, and the conversions between stored rows and the contract.

mod entity;
pub mod migration;

use csm_kit::{names, time};
use csm_proto::StoredEnum;
use csm_proto::intake::v1::{
    AppealBody, Channel, Contact, ContactType, CustomerProfile, CustomerTag, WorkOrder, WorkOrderKind, WorkOrderStatus,
};
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter};

pub use entity::{contact, customer, customer_tag, product_event, survey_answer, usage_event, work_order};

fn optional_name(collection: &str, id: Option<&String>) -> String {
    id.map(|id| names::name_of(collection, id)).unwrap_or_default()
}

pub async fn work_order_by_id(db: &impl ConnectionTrait, id: &str) -> Result<Option<work_order::Model>, DbErr> {
    work_order::Entity::find_by_id(id.to_string()).one(db).await
}

/// The work orders of these ids that exist, by id.
pub async fn work_orders_by_ids(
    db: &impl ConnectionTrait,
    ids: &[String],
) -> Result<std::collections::HashMap<String, work_order::Model>, DbErr> {
    let rows = csm_kit::bulk::find_in(db, work_order::Entity::find(), work_order::Column::Id, ids).await?;
    Ok(rows.into_iter().map(|row| (row.id.clone(), row)).collect())
}

pub async fn customer_by_id(db: &impl ConnectionTrait, id: &str) -> Result<Option<customer::Model>, DbErr> {
    customer::Entity::find_by_id(id.to_string()).one(db).await
}

/// Whether the customer has a work order `department` is responsible for.
pub async fn customer_has_order_of(
    db: &impl ConnectionTrait,
    customer_id: &str,
    department: &str,
) -> Result<bool, DbErr> {
    let order = work_order::Entity::find()
        .filter(work_order::Column::CustomerId.eq(customer_id))
        .filter(work_order::Column::Department.eq(department))
        .one(db)
        .await?;
    Ok(order.is_some())
}

pub async fn customer_by_phone(db: &impl ConnectionTrait, phone: &str) -> Result<Option<customer::Model>, DbErr> {
    customer::Entity::find().filter(customer::Column::PhoneNumber.eq(phone)).one(db).await
}

pub async fn tags_of(db: &impl ConnectionTrait, customer_id: &str) -> Result<Vec<customer_tag::Model>, DbErr> {
    customer_tag::Entity::find().filter(customer_tag::Column::CustomerId.eq(customer_id)).all(db).await
}

/// A stored profile, from the columns contacts, work orders and customers share.
pub fn profile(
    segment: &Option<String>,
    vip_level: Option<i32>,
    region: &Option<String>,
    products: &Option<String>,
) -> CustomerProfile {
    CustomerProfile {
        segment: segment.clone().unwrap_or_default(),
        vip_level: vip_level.unwrap_or(0),
        region: region.clone().unwrap_or_default(),
        products: products
            .as_deref()
            .map(|p| p.split(',').filter(|p| !p.is_empty()).map(str::to_string).collect())
            .unwrap_or_default(),
    }
}

fn appeal(stored: &Option<String>) -> i32 {
    stored.as_deref().and_then(AppealBody::from_str_name).unwrap_or_default() as i32
}

impl From<&contact::Model> for Contact {
    fn from(row: &contact::Model) -> Self {
        Contact {
            name: names::name_of(names::CONTACTS, &row.id),
            channel: Channel::from_stored(&row.channel) as i32,
            phone_number: row.phone_number.clone(),
            contact_type: ContactType::from_stored(&row.contact_type) as i32,
            text: row.text.clone(),
            occurred_at: Some(time::timestamp_from_micros(row.occurred_at)),
            create_time: Some(time::timestamp_from_micros(row.created_at)),
            problem_code: row.problem_code.clone().unwrap_or_default(),
            request_id: row.request_id.clone().unwrap_or_default(),
            work_order: optional_name(names::WORK_ORDERS, row.work_order_id.as_ref()),
            customer: names::name_of(names::CUSTOMERS, &row.customer_id),
            appeal: appeal(&row.appeal),
            customer_profile: Some(profile(&row.segment, row.vip_level, &row.region, &row.products)),
        }
    }
}

impl From<&work_order::Model> for WorkOrder {
    fn from(row: &work_order::Model) -> Self {
        WorkOrder {
            name: names::name_of(names::WORK_ORDERS, &row.id),
            contact: names::name_of(names::CONTACTS, &row.contact_id),
            kind: WorkOrderKind::from_stored(&row.kind) as i32,
            status: WorkOrderStatus::from_stored(&row.status) as i32,
            channel: Channel::from_stored(&row.channel) as i32,
            contact_type: ContactType::from_stored(&row.contact_type) as i32,
            phone_number: row.phone_number.clone(),
            text: row.text.clone(),
            problem_code: row.problem_code.clone().unwrap_or_default(),
            open_time: Some(time::timestamp_from_micros(row.opened_at)),
            create_time: Some(time::timestamp_from_micros(row.created_at)),
            first_work_order: optional_name(names::WORK_ORDERS, row.first_work_order_id.as_ref()),
            customer: names::name_of(names::CUSTOMERS, &row.customer_id),
            appeal: appeal(&row.appeal),
            topic: row.topic.clone().unwrap_or_default(),
            reopen_count: row.reopen_count,
            reopen_time: row.reopened_at.map(time::timestamp_from_micros),
            customer_profile: Some(profile(&row.segment, row.vip_level, &row.region, &row.products)),
        }
    }
}

impl From<&customer_tag::Model> for CustomerTag {
    fn from(row: &customer_tag::Model) -> Self {
        CustomerTag {
            tag: row.tag.clone(),
            note: row.note.clone(),
            added_by: row.added_by.clone(),
            add_time: Some(time::timestamp_from_micros(row.added_at)),
        }
    }
}
