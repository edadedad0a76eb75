//! Opening and dispatching cases from the upstream feeds.
//!
//! Intake's WorkOrderOpened and classification's WorkOrderClassified come on separate feeds, in no
//! guaranteed order between them. Whichever comes first creates the case: intake's as awaiting
//! dispatch, classification's as dispatched straight away. Classification's always ends in a
//! dispatched case, owned by the responsible department with the deadline from the leaf, and
//! publishes CaseOpened.

use csm_kit::{
    Masked,
    feed::{EventHandler, HandleError, UnitOfWork, decode, id_from_event, time_from_event},
    time,
};
use csm_proto::{
    classification::v1::WorkOrderClassified,
    feed::v1::Event,
    intake::v1::{Channel, WorkOrder, WorkOrderOpened},
    recovery::v1::{Case, CaseOpened, CaseStatus},
};
use prost::Name;
use uuid::Uuid;

use crate::store::{self, Dispatch, NO_DEADLINE, case};

const FROM_INTAKE: &str = "intake";
const FROM_CLASSIFICATION: &str = "classification";

/// A case awaiting dispatch for `work_order`.
fn new_case(work_order: &WorkOrder) -> Result<case::Model, HandleError> {
    let opened_at = time_from_event(work_order.open_time.as_ref(), "work order open_time")?;
    Ok(case::Model {
        id: Uuid::now_v7().to_string(),
        work_order_id: id_from_event(&work_order.name, store::WORK_ORDERS)?,
        phone_number: work_order.phone_number.clone(),
        channel: Channel::try_from(work_order.channel).unwrap_or_default().as_str_name().to_string(),
        text: work_order.text.clone(),
        status: store::status_name(CaseStatus::AwaitingDispatch),
        department: String::new(),
        leaf: String::new(),
        path: String::new(),
        taxonomy_version: String::new(),
        opened_at: time::micros(opened_at),
        dispatched_at: None,
        deadline: NO_DEADLINE,
        resolved_at: None,
        resolution: None,
        resolved_by: None,
        resolved_on_time: None,
        resolve_request_id: None,
    })
}

/// Applies intake's WorkOrderOpened: registers the case, awaiting dispatch.
#[derive(Debug, Clone, Default)]
pub struct WorkOrderOpenedHandler;

impl EventHandler for WorkOrderOpenedHandler {
    fn event_types(&self) -> Vec<String> {
        vec![WorkOrderOpened::full_name()]
    }

    async fn handle(&self, uow: &mut UnitOfWork, event: &Event) -> Result<(), HandleError> {
        let opened: WorkOrderOpened = decode(event)?;
        let work_order =
            opened.work_order.ok_or_else(|| HandleError::Reject("WorkOrderOpened without a work order".into()))?;
        let row = new_case(&work_order)?;
        if store::case_by_work_order(&**uow, &row.work_order_id).await?.is_some() {
            return Ok(());
        }
        let case_id = row.id.clone();
        store::insert_case(&**uow, row).await?;
        store::record_transition(
            &**uow,
            &case_id,
            None,
            CaseStatus::AwaitingDispatch,
            FROM_INTAKE,
            "work order registered",
        )
        .await?;
        Ok(())
    }
}

/// Applies classification's WorkOrderClassified: dispatches the case to its department.
#[derive(Debug, Clone, Default)]
pub struct WorkOrderClassifiedHandler;

impl EventHandler for WorkOrderClassifiedHandler {
    fn event_types(&self) -> Vec<String> {
        vec![WorkOrderClassified::full_name()]
    }

    async fn handle(&self, uow: &mut UnitOfWork, event: &Event) -> Result<(), HandleError> {
        let classified: WorkOrderClassified = decode(event)?;
        let (Some(classification), Some(work_order)) = (classified.classification, classified.work_order) else {
            return Err(HandleError::Reject("WorkOrderClassified without classification or work order".into()));
        };
        let deadline = time_from_event(classification.deadline.as_ref(), "classification deadline")?;
        if classification.responsible_department.is_empty() {
            return Err(HandleError::Reject(format!("{} names no department", classification.name)));
        }
        let dispatch = Dispatch {
            department: classification.responsible_department.clone(),
            leaf: classification.leaf.clone(),
            path: classification.path.join("/"),
            taxonomy_version: classification.taxonomy_version.clone(),
            dispatched_at: time::now_micros(),
            deadline: time::micros(deadline),
        };

        let id = id_from_event(&work_order.name, store::WORK_ORDERS)?;
        let (case_id, from) = match store::case_by_work_order(&**uow, &id).await? {
            Some(existing) if store::status_of(&existing) != CaseStatus::AwaitingDispatch => return Ok(()),
            Some(existing) => {
                store::dispatch(&**uow, &existing.id, dispatch.clone()).await?;
                (existing.id, Some(CaseStatus::AwaitingDispatch))
            }
            None => {
                let mut row = new_case(&work_order)?;
                row.status = store::status_name(CaseStatus::Dispatched);
                row.department = dispatch.department.clone();
                row.leaf = dispatch.leaf.clone();
                row.path = dispatch.path.clone();
                row.taxonomy_version = dispatch.taxonomy_version.clone();
                row.dispatched_at = Some(dispatch.dispatched_at);
                row.deadline = dispatch.deadline;
                let case_id = row.id.clone();
                store::insert_case(&**uow, row).await?;
                (case_id, None)
            }
        };
        let reason = format!("classified as {}", classification.leaf);
        store::record_transition(&**uow, &case_id, from, CaseStatus::Dispatched, FROM_CLASSIFICATION, &reason).await?;
        let row = store::case_by_id(&**uow, &case_id)
            .await?
            .ok_or_else(|| HandleError::Retry(format!("case {case_id} vanished")))?;
        let case = Case::from(&row);
        tracing::debug!(
            case = %case.name,
            phone = %Masked(&case.phone_number),
            department = %case.department,
            "case dispatched"
        );
        uow.publish(case.name.clone(), &CaseOpened { case: Some(case) });
        Ok(())
    }
}
