//! Data access for intake, as functions over any connection so one function serves the pool and a
//! transaction alike.

pub mod entity;
pub mod migration;

use csm_kit::time;
use csm_proto::intake::v1::{Channel, Contact, ContactType, WorkOrder, WorkOrderKind, WorkOrderStatus};
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter};

pub use entity::{contact, work_order};

pub async fn contact_by_request_id(
    db: &impl ConnectionTrait,
    request_id: &str,
) -> Result<Option<contact::Model>, DbErr> {
    contact::Entity::find().filter(contact::Column::RequestId.eq(request_id)).one(db).await
}

pub async fn work_order_by_id(db: &impl ConnectionTrait, id: &str) -> Result<Option<work_order::Model>, DbErr> {
    work_order::Entity::find_by_id(id.to_string()).one(db).await
}

pub async fn insert_contact(db: &impl ConnectionTrait, row: contact::Model) -> Result<(), DbErr> {
    contact::Entity::insert(contact::ActiveModel::from(row)).exec_without_returning(db).await?;
    Ok(())
}

pub async fn insert_work_order(db: &impl ConnectionTrait, row: work_order::Model) -> Result<(), DbErr> {
    work_order::Entity::insert(work_order::ActiveModel::from(row)).exec_without_returning(db).await?;
    Ok(())
}

/// True when `error` is a unique-constraint violation (a concurrent insert of the same key).
pub fn is_unique_violation(error: &DbErr) -> bool {
    matches!(error.sql_err(), Some(sea_orm::SqlErr::UniqueConstraintViolation(_)))
}

pub const CONTACTS: &str = "contacts/";
pub const WORK_ORDERS: &str = "workOrders/";

impl From<&contact::Model> for Contact {
    fn from(row: &contact::Model) -> Self {
        Contact {
            name: format!("{CONTACTS}{}", row.id),
            channel: Channel::from_str_name(&row.channel).unwrap_or_default() as i32,
            phone_number: row.phone_number.clone(),
            contact_type: ContactType::from_str_name(&row.contact_type).unwrap_or_default() as i32,
            text: row.text.clone(),
            occurred_at: Some(time::timestamp_from_micros(row.occurred_at)),
            create_time: Some(time::timestamp_from_micros(row.created_at)),
            problem_code: row.problem_code.clone().unwrap_or_default(),
            request_id: row.request_id.clone().unwrap_or_default(),
            work_order: row.work_order_id.as_ref().map(|id| format!("{WORK_ORDERS}{id}")).unwrap_or_default(),
        }
    }
}

impl From<&work_order::Model> for WorkOrder {
    fn from(row: &work_order::Model) -> Self {
        WorkOrder {
            name: format!("{WORK_ORDERS}{}", row.id),
            contact: format!("{CONTACTS}{}", row.contact_id),
            kind: WorkOrderKind::from_str_name(&row.kind).unwrap_or_default() as i32,
            status: WorkOrderStatus::from_str_name(&row.status).unwrap_or_default() as i32,
            channel: Channel::from_str_name(&row.channel).unwrap_or_default() as i32,
            contact_type: ContactType::from_str_name(&row.contact_type).unwrap_or_default() as i32,
            phone_number: row.phone_number.clone(),
            text: row.text.clone(),
            problem_code: row.problem_code.clone().unwrap_or_default(),
            open_time: Some(time::timestamp_from_micros(row.opened_at)),
            create_time: Some(time::timestamp_from_micros(row.created_at)),
            first_work_order: row
                .first_work_order_id
                .as_ref()
                .map(|id| format!("{WORK_ORDERS}{id}"))
                .unwrap_or_default(),
        }
    }
}
