//! Customers as staff see them: profile, tags, a summary of their contact history, and their
//! high-frequency complainant status (as [`crate::high_frequency::view`] shows it).
//!
//! Tags are checked against the derogatory labels first ([`crate::tags`]). Adding or removing one
//! is written here, not through the group-commit writer: a rare staff action on one customer, in a
//! transaction of its own with its CustomerTagsChanged event.

use csm_kit::{Principal, error::Violations, feed::Publisher, names, time};
use csm_proto::StoredEnum;
use csm_proto::intake::v1::{
    AddCustomerTagRequest, ContactSummary, ContactType, ContactTypeCount, Customer, CustomerTag, CustomerTagsChanged,
    GetCustomerRequest, RemoveCustomerTagRequest, WorkOrder, WorkOrderKind,
};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, DbErr, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect,
    sea_query::OnConflict,
};

use crate::{
    error::Error,
    high_frequency,
    store::{self, contact, customer, customer_tag, survey_answer, work_order},
    tags::TagRules,
    validate,
};

#[derive(Debug, Clone)]
pub struct Customers {
    publisher: Publisher,
    tags: TagRules,
}

impl Customers {
    pub fn new(publisher: Publisher, tags: TagRules) -> Self {
        Self { publisher, tags }
    }

    fn db(&self) -> &sea_orm::DatabaseConnection {
        self.publisher.database().reader()
    }

    /// The customer named in a request: by resource name, or by phone number.
    async fn find(&self, name: &str, phone_number: &str) -> Result<customer::Model, Error> {
        let found = match (name.trim(), phone_number.trim()) {
            ("", "") => return Err(Violations::one("name", "give the customer's name or phone number").into()),
            ("", phone) => store::customer_by_phone(self.db(), &validate::normalise_phone(phone)).await?,
            (name, _) => store::customer_by_id(self.db(), names::id_in("name", name, names::CUSTOMERS)?).await?,
        };
        found.ok_or_else(|| {
            Error::NotFound(if name.is_empty() {
                "the customer with this phone number".into()
            } else {
                name.to_string()
            })
        })
    }

    /// The customer, for a department caller only if one of the customer's work orders is its
    /// department's (refused alike when the customer does not exist).
    pub async fn get(&self, request: &GetCustomerRequest, caller: &Principal) -> Result<Customer, Error> {
        let found = self.find(&request.name, &request.phone_number).await;
        if let Some(own) = caller.confined_department() {
            let reaches = match &found {
                Ok(row) => store::customer_has_order_of(self.db(), &row.id, own).await?,
                Err(_) => false,
            };
            if !reaches {
                return Err(Error::PermissionDenied(format!("not a customer of the {own} department")));
            }
        }
        self.view(found?).await
    }

    pub async fn add_tag(&self, request: &AddCustomerTagRequest, caller: &Principal) -> Result<Customer, Error> {
        let tag = self.tags.check(&request.tag, &request.note)?;
        let row = self.find(&request.name, "").await?;
        let mut uow = self.publisher.begin().await?;
        customer_tag::Entity::insert(customer_tag::ActiveModel {
            customer_id: Set(row.id.clone()),
            tag: Set(tag),
            note: Set(request.note.trim().to_string()),
            added_by: Set(caller.subject.clone()),
            added_at: Set(time::now_micros()),
        })
        .on_conflict(
            OnConflict::columns([customer_tag::Column::CustomerId, customer_tag::Column::Tag])
                .update_columns([
                    customer_tag::Column::Note,
                    customer_tag::Column::AddedBy,
                    customer_tag::Column::AddedAt,
                ])
                .to_owned(),
        )
        .exec_without_returning(&*uow)
        .await?;
        self.publish_tags(&mut uow, &row).await?;
        uow.commit().await?;
        self.view(row).await
    }

    pub async fn remove_tag(&self, request: &RemoveCustomerTagRequest) -> Result<Customer, Error> {
        let row = self.find(&request.name, "").await?;
        let tag = request.tag.trim().to_lowercase();
        let mut uow = self.publisher.begin().await?;
        let removed = customer_tag::Entity::delete_many()
            .filter(customer_tag::Column::CustomerId.eq(row.id.as_str()))
            .filter(customer_tag::Column::Tag.eq(tag))
            .exec(&*uow)
            .await?;
        if removed.rows_affected > 0 {
            self.publish_tags(&mut uow, &row).await?;
        }
        uow.commit().await?;
        self.view(row).await
    }

    async fn publish_tags(&self, uow: &mut csm_kit::feed::UnitOfWork, row: &customer::Model) -> Result<(), DbErr> {
        let tags = store::tags_of(&**uow, &row.id).await?;
        uow.publish(
            names::name_of(names::CUSTOMERS, &row.id),
            &CustomerTagsChanged {
                customer: names::name_of(names::CUSTOMERS, &row.id),
                phone_number: row.phone_number.clone(),
                tags: tags.iter().map(CustomerTag::from).collect(),
            },
        );
        Ok(())
    }

    async fn view(&self, row: customer::Model) -> Result<Customer, Error> {
        let db = self.db();
        let now = time::now_micros();
        let by_type: Vec<(String, i64)> = contact::Entity::find()
            .select_only()
            .column(contact::Column::ContactType)
            .expr_as(sea_orm::sea_query::Expr::cust("COUNT(*)"), "n")
            .filter(contact::Column::CustomerId.eq(row.id.as_str()))
            .group_by(contact::Column::ContactType)
            .into_tuple()
            .all(db)
            .await?;
        let appeals = contact::Entity::find()
            .filter(contact::Column::CustomerId.eq(row.id.as_str()))
            .filter(contact::Column::Appeal.is_not_null())
            .count(db)
            .await?;
        let orders_by_kind: Vec<(String, i64)> = work_order::Entity::find()
            .select_only()
            .column(work_order::Column::Kind)
            .expr_as(sea_orm::sea_query::Expr::cust("COUNT(*)"), "n")
            .filter(work_order::Column::CustomerId.eq(row.id.as_str()))
            .group_by(work_order::Column::Kind)
            .into_tuple()
            .all(db)
            .await?;
        let surveys = survey_answer::Entity::find()
            .filter(survey_answer::Column::CustomerId.eq(row.id.as_str()))
            .count(db)
            .await?;
        let recent: Vec<WorkOrder> = work_order::Entity::find()
            .filter(work_order::Column::CustomerId.eq(row.id.as_str()))
            .order_by_desc(work_order::Column::OpenedAt)
            .order_by_desc(work_order::Column::Id)
            .limit(10)
            .all(db)
            .await?
            .iter()
            .map(WorkOrder::from)
            .collect();
        let complaints = high_frequency::recent_complaints(db, std::slice::from_ref(&row.id), now)
            .await?
            .remove(&row.id)
            .unwrap_or_default();
        let tags = store::tags_of(db, &row.id).await?;

        let summary = ContactSummary {
            contacts: by_type.iter().map(|(_, n)| n).sum(),
            by_type: by_type
                .iter()
                .map(|(kind, count)| ContactTypeCount {
                    contact_type: ContactType::from_stored(kind) as i32,
                    count: *count,
                })
                .collect(),
            complaints_last_7_days: complaints.last_7_days,
            complaints_last_30_days: complaints.last_30_days,
            work_orders: orders_by_kind.iter().map(|(_, n)| n).sum(),
            repeat_work_orders: orders_by_kind
                .iter()
                .filter(|(kind, _)| kind == WorkOrderKind::Repeat.as_str_name())
                .map(|(_, n)| n)
                .sum(),
            appeals: i64::try_from(appeals).unwrap_or(i64::MAX),
            survey_answers: i64::try_from(surveys).unwrap_or(i64::MAX),
            last_complaint_time: row.last_complaint_at.map(time::timestamp_from_micros),
            recent_work_orders: recent,
        };
        Ok(Customer {
            name: names::name_of(names::CUSTOMERS, &row.id),
            phone_number: row.phone_number.clone(),
            profile: Some(store::profile(&row.segment, row.vip_level, &row.region, &row.products)),
            tags: tags.iter().map(CustomerTag::from).collect(),
            first_contact_time: Some(time::timestamp_from_micros(row.first_contact_at)),
            last_contact_time: Some(time::timestamp_from_micros(row.last_contact_at)),
            summary: Some(summary),
            high_frequency: Some(high_frequency::view(&row, complaints)),
        })
    }
}
