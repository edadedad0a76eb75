//! Merging what the three upstream feeds say about each work order into one fact row: intake's
//! WorkOrderOpened, classification's WorkOrderClassified and recovery's CaseResolved.

use csm_kit::{
    feed::{EventHandler, HandleError, UnitOfWork, carries, decode, id_from_event, time_from_event},
    time,
};
use csm_proto::{
    classification::v1::WorkOrderClassified,
    feed::v1::Event,
    intake::v1::{Channel, WorkOrder, WorkOrderOpened},
    recovery::v1::CaseResolved,
};
use prost::Name;

use crate::{
    calendar::Calendar,
    store::{self, Classified, FactUpdate, Resolved},
};

/// Applies the events of one upstream feed to the facts.
#[derive(Debug, Clone)]
pub struct FactsHandler {
    calendar: Calendar,
    event_types: Vec<String>,
}

impl FactsHandler {
    pub fn intake(calendar: Calendar) -> Self {
        Self { calendar, event_types: vec![WorkOrderOpened::full_name()] }
    }

    pub fn classification(calendar: Calendar) -> Self {
        Self { calendar, event_types: vec![WorkOrderClassified::full_name()] }
    }

    pub fn recovery(calendar: Calendar) -> Self {
        Self { calendar, event_types: vec![CaseResolved::full_name()] }
    }

    fn opened(&self, work_order: &WorkOrder) -> Result<FactUpdate, HandleError> {
        let opened_at = time_from_event(work_order.open_time.as_ref(), "work order open_time")?;
        Ok(FactUpdate {
            work_order_id: id_from_event(&work_order.name, "workOrders/")?,
            opened_at: time::micros(opened_at),
            opened_day: self.calendar.day_of(opened_at),
            channel: Channel::try_from(work_order.channel).unwrap_or_default().as_str_name().to_string(),
            classified: None,
            resolved: None,
        })
    }

    fn update_for(&self, event: &Event) -> Result<FactUpdate, HandleError> {
        if carries::<WorkOrderOpened>(event) {
            let opened: WorkOrderOpened = decode(event)?;
            let work_order = opened.work_order.ok_or_else(|| HandleError::Reject("no work order".into()))?;
            return self.opened(&work_order);
        }
        if carries::<WorkOrderClassified>(event) {
            let classified: WorkOrderClassified = decode(event)?;
            let (Some(classification), Some(work_order)) = (classified.classification, classified.work_order) else {
                return Err(HandleError::Reject("classification or work order missing".into()));
            };
            let deadline = time_from_event(classification.deadline.as_ref(), "classification deadline")?;
            let mut update = self.opened(&work_order)?;
            update.classified = Some(Classified {
                category: classification.path.first().cloned().unwrap_or_default(),
                root_cause: classification.leaf,
                department: classification.responsible_department,
                deadline: time::micros(deadline),
            });
            return Ok(update);
        }
        let resolved: CaseResolved = decode(event)?;
        let case = resolved.case.ok_or_else(|| HandleError::Reject("CaseResolved without a case".into()))?;
        let resolved_at = time_from_event(case.resolve_time.as_ref(), "case resolve_time")?;
        let deadline = time_from_event(case.deadline.as_ref(), "case deadline")?;
        let work_order = WorkOrder {
            name: case.work_order.clone(),
            channel: Channel::from_str_name(&case.channel).unwrap_or_default() as i32,
            open_time: case.open_time,
            ..WorkOrder::default()
        };
        let mut update = self.opened(&work_order)?;
        update.classified = Some(Classified {
            category: case.path.first().cloned().unwrap_or_default(),
            root_cause: case.leaf,
            department: case.department,
            deadline: time::micros(deadline),
        });
        update.resolved = Some(Resolved {
            resolved_at: time::micros(resolved_at),
            resolved_day: self.calendar.day_of(resolved_at),
            on_time: case.resolved_on_time,
        });
        Ok(update)
    }
}

impl EventHandler for FactsHandler {
    fn event_types(&self) -> Vec<String> {
        self.event_types.clone()
    }

    async fn handle(&self, uow: &mut UnitOfWork, event: &Event) -> Result<(), HandleError> {
        let update = self.update_for(event)?;
        store::merge_fact(&**uow, update).await?;
        Ok(())
    }
}
