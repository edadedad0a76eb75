//! Recording contacts and opening work orders.
//!
//! A contact, the work order it opens and the WorkOrderOpened event are written in one transaction:
//! either all of them exist or none does. A retried call (same `request_id`) finds the first
//! result and returns it unchanged, even when the retry races the original.

use chrono::Utc;
use csm_kit::{Masked, Principal, feed::Publisher, time};
use csm_proto::intake::v1::{
    Contact, SubmitContactRequest, SubmitContactResponse, WorkOrder, WorkOrderKind, WorkOrderOpened, WorkOrderStatus,
};
use uuid::Uuid;

use crate::{
    error::Error,
    store::{self, contact, work_order},
    validate::{ContactRules, NewContact},
};

#[derive(Debug, Clone)]
pub struct Contacts {
    publisher: Publisher,
    rules: ContactRules,
}

impl Contacts {
    pub fn new(publisher: Publisher, rules: ContactRules) -> Self {
        Self { publisher, rules }
    }

    pub async fn submit(
        &self,
        request: SubmitContactRequest,
        caller: &Principal,
    ) -> Result<SubmitContactResponse, Error> {
        let contact = self.rules.validate(&request, Utc::now())?;
        if let Some(request_id) = &contact.request_id
            && let Some(earlier) = self.replay(request_id, &contact.fingerprint).await?
        {
            return Ok(earlier);
        }
        match self.record(&contact, caller).await {
            Err(Error::Database(error)) if store::is_unique_violation(&error) => {
                // A concurrent call with the same request_id committed first.
                let request_id = contact.request_id.as_deref().unwrap_or_default();
                self.replay(request_id, &contact.fingerprint).await?.ok_or(Error::Database(error))
            }
            outcome => outcome,
        }
    }

    /// The response of an earlier call with this request_id, if there was one.
    async fn replay(&self, request_id: &str, fingerprint: &str) -> Result<Option<SubmitContactResponse>, Error> {
        let db = self.publisher.database().reader();
        let Some(earlier) = store::contact_by_request_id(db, request_id).await? else {
            return Ok(None);
        };
        if earlier.request_fingerprint != fingerprint {
            return Err(Error::RequestIdReused(request_id.to_string()));
        }
        let work_order = match &earlier.work_order_id {
            Some(id) => store::work_order_by_id(db, id).await?.as_ref().map(WorkOrder::from),
            None => None,
        };
        Ok(Some(SubmitContactResponse { contact: Some(Contact::from(&earlier)), work_order }))
    }

    async fn record(&self, new: &NewContact, caller: &Principal) -> Result<SubmitContactResponse, Error> {
        let now = time::now_micros();
        let contact_id = Uuid::now_v7().to_string();
        let work_order_row = new.opens_work_order().then(|| work_order::Model {
            id: Uuid::now_v7().to_string(),
            contact_id: contact_id.clone(),
            kind: WorkOrderKind::New.as_str_name().to_string(),
            status: WorkOrderStatus::Open.as_str_name().to_string(),
            channel: new.channel.as_str_name().to_string(),
            contact_type: new.contact_type.as_str_name().to_string(),
            phone_number: new.phone_number.clone(),
            text: new.text.clone(),
            problem_code: new.problem_code.clone(),
            opened_at: time::micros(new.occurred_at),
            created_at: now,
            first_work_order_id: None,
        });
        let contact_row = contact::Model {
            id: contact_id,
            request_id: new.request_id.clone(),
            request_fingerprint: new.fingerprint.clone(),
            channel: new.channel.as_str_name().to_string(),
            phone_number: new.phone_number.clone(),
            contact_type: new.contact_type.as_str_name().to_string(),
            text: new.text.clone(),
            problem_code: new.problem_code.clone(),
            occurred_at: time::micros(new.occurred_at),
            created_at: now,
            recorded_by: caller.subject.clone(),
            work_order_id: work_order_row.as_ref().map(|w| w.id.clone()),
        };
        let contact = Contact::from(&contact_row);
        let work_order = work_order_row.as_ref().map(WorkOrder::from);

        let mut uow = self.publisher.begin().await?;
        store::insert_contact(&*uow, contact_row).await?;
        if let (Some(row), Some(order)) = (work_order_row, &work_order) {
            store::insert_work_order(&*uow, row).await?;
            uow.publish(&order.name, &WorkOrderOpened { work_order: Some(order.clone()) });
        }
        uow.commit().await?;

        tracing::debug!(
            contact = %contact.name,
            work_order = %contact.work_order,
            phone = %Masked(&new.phone_number),
            channel = new.channel.as_str_name(),
            "contact recorded"
        );
        Ok(SubmitContactResponse { contact: Some(contact), work_order })
    }

    pub async fn work_order(&self, name: &str) -> Result<WorkOrder, Error> {
        let id = csm_kit::names::id_in("name", name, store::WORK_ORDERS)?;
        store::work_order_by_id(self.publisher.database().reader(), id)
            .await?
            .as_ref()
            .map(WorkOrder::from)
            .ok_or_else(|| Error::NotFound(name.to_string()))
    }
}
