//! Opening, dispatching and reopening cases from the upstream feeds.
//!
//! Intake's WorkOrderOpened and classification's WorkOrderClassified come on separate feeds, in no
//! guaranteed order between them. Whichever comes first creates the case: intake's as awaiting
//! dispatch, classification's as dispatched straight away; the two feeds' transactions take turns
//! from their first read of cases to their commit ([`take_turn`]), so both never open a case for
//! one order. Classification's always ends in a dispatched case, sent to the responsible
//! department with the deadline from the leaf's time limit (on the department's working-time
//! calendar, if it has one), and publishes CaseOpened.
//! Intake's WorkOrderReopened (the customer raised the same problem again) reopens the case of
//! the first order if it was already resolved. A corrected classification is applied by
//! [`super::reclassify`]. Every change is planned as a [`Planned`], as the API's are. Registrations
//! and dispatches are set aside as their events are handled and written together when the feed
//! transaction is flushed ([`write_all_from_feed`]): a few statements a batch instead of a few an
//! order. A dispatched case of an open service problem's leaf and region is linked to it in the
//! same transaction (see [`crate::affected`]); each event's customer profile is remembered for
//! reaching a problem's area.

use std::collections::HashSet;

use csm_kit::{
    Masked,
    feed::{EventHandler, HandleError, UnitOfWork, carries, decode, id_from_event, time_from_event},
    names,
    telemetry::TraceContext,
    time,
};
use csm_proto::{
    StoredEnum,
    classification::v1::{Classification, ClassificationCorrected, WorkOrderClassified},
    feed::v1::Event,
    intake::v1::{Channel, ContactType, WorkOrder, WorkOrderOpened, WorkOrderReopened},
    recovery::v1::{CaseStatus, ReopenCause, Transition},
};
use prost::Name;
use uuid::Uuid;

use super::{
    change::{self, Planned, StepInput},
    reclassify, routing,
    write::{write_all_from_feed, write_from_feed},
};
use crate::{
    affected::{
        care::known,
        detection,
        linking::{self, OpenProblems},
    },
    lifecycle::Step,
    rules::Context,
    store::{self, NO_DEADLINE, case, known_customer, problems},
};

const FROM_INTAKE: &str = "intake";
const FROM_CLASSIFICATION: &str = "classification";

/// A case awaiting dispatch for `work_order`, its regulator's clock started when the customer
/// raised the problem.
fn new_case(context: &Context, work_order: &WorkOrder) -> Result<case::Model, HandleError> {
    let opened_at = time::micros(time_from_event(work_order.open_time.as_ref(), "work order open_time")?);
    Ok(case::Model {
        id: Uuid::now_v7().to_string(),
        work_order_id: id_from_event(&work_order.name, names::WORK_ORDERS)?,
        phone_number: work_order.phone_number.clone(),
        channel: Channel::try_from(work_order.channel).unwrap_or_default().stored(),
        text: work_order.text.clone(),
        status: CaseStatus::AwaitingDispatch.stored(),
        department: String::new(),
        leaf: String::new(),
        path: String::new(),
        taxonomy_version: String::new(),
        opened_at,
        dispatched_at: None,
        deadline: NO_DEADLINE,
        resolved_at: None,
        resolution: None,
        resolved_by: None,
        resolved_on_time: None,
        resolve_request_id: None,
        owner_department: None,
        contact_type: ContactType::try_from(work_order.contact_type).unwrap_or_default().stored(),
        time_limit: 0,
        promised_at: None,
        paused_at: None,
        pause_reason: None,
        escalation_level: 0,
        callback_due: None,
        callback_outcome: None,
        callback_at: None,
        reopen_count: 0,
        version: 0,
        answer_due: context.rules.answer_due(opened_at),
        appeal_risk_level: 0,
        region: work_order.customer_profile.as_ref().map(|p| p.region.trim().to_string()).unwrap_or_default(),
        service_problem_id: None,
    })
}

/// Applies intake's WorkOrderOpened: registers the case, awaiting dispatch.
#[derive(Debug, Clone)]
pub struct WorkOrderOpenedHandler {
    pub context: Context,
}

impl EventHandler for WorkOrderOpenedHandler {
    fn work(&self) -> &'static str {
        "register"
    }

    fn event_types(&self) -> Vec<String> {
        vec![WorkOrderOpened::full_name(), WorkOrderReopened::full_name()]
    }

    /// Sets the order's case aside for [`Self::flush`], which registers the batch's cases together.
    async fn handle(&self, uow: &mut UnitOfWork, event: &Event) -> Result<(), HandleError> {
        if carries::<WorkOrderReopened>(event) {
            // The first order's case may be among those waiting.
            register_waiting(&self.context, uow).await?;
            take_turn(uow).await?;
            return reopen_on_repeat(&self.context, uow, decode(event)?).await;
        }
        let opened: WorkOrderOpened = decode(event)?;
        let work_order =
            opened.work_order.ok_or_else(|| HandleError::Reject("WorkOrderOpened without a work order".into()))?;
        let waiting = Waiting::of(&self.context, &work_order)?;
        uow.stash::<Registrations>().0.push(waiting);
        Ok(())
    }

    async fn flush(&self, uow: &mut UnitOfWork) -> Result<(), HandleError> {
        register_waiting(&self.context, uow).await
    }
}

/// A case waiting, with the others of its feed transaction, to be registered or dispatched: the
/// new case its order would open, the customer's profile to remember, and the trace its events
/// continue.
#[derive(Debug, Clone)]
struct Waiting {
    row: case::Model,
    customer: Option<known_customer::Model>,
    trace: TraceContext,
}

impl Waiting {
    /// The case `work_order` would open, with its customer's profile, continuing the current trace.
    fn of(context: &Context, work_order: &WorkOrder) -> Result<Self, HandleError> {
        let profile = work_order.customer_profile.as_ref();
        Ok(Self {
            row: new_case(context, work_order)?,
            customer: known(&work_order.phone_number, profile, work_order.open_time.as_ref()),
            trace: TraceContext::current(),
        })
    }
}

#[derive(Debug, Clone, Default)]
struct Registrations(Vec<Waiting>);

/// Whether this feed transaction holds its turn at opening cases.
#[derive(Debug, Clone, Copy, Default)]
struct HoldsTurn(bool);

/// Waits for this transaction's turn at opening cases ([`store::lock_case_openers`]) and keeps it
/// to the commit. Taken once, just before the transaction first reads cases: the events of a
/// batch are decoded and routed before it, so the other feed waits only while cases are read and
/// written, not while this one's events are handled. Nothing is locked before it but the
/// consumer's own cursor, so neither feed can hold a row the other waits for while it waits.
async fn take_turn(uow: &mut UnitOfWork) -> Result<(), HandleError> {
    if !uow.stash::<HoldsTurn>().0 {
        store::lock_case_openers(&**uow).await?;
        uow.stash::<HoldsTurn>().0 = true;
    }
    Ok(())
}

/// Registers the cases set aside, in their order, in a few statements: every customer remembered,
/// each order without a case given one.
async fn register_waiting(context: &Context, uow: &mut UnitOfWork) -> Result<(), HandleError> {
    let waiting = uow.take_stash::<Registrations>().0;
    if waiting.is_empty() {
        return Ok(());
    }
    take_turn(uow).await?;
    problems::remember_customers(&**uow, waiting.iter().filter_map(|w| w.customer.clone()).collect()).await?;
    let ids: Vec<String> = waiting.iter().map(|w| w.row.work_order_id.clone()).collect();
    let mut registered: HashSet<String> = store::cases_by_work_orders(&**uow, &ids).await?.into_keys().collect();
    let changes = waiting
        .into_iter()
        .filter(|w| registered.insert(w.row.work_order_id.clone()))
        .map(|w| (Planned::registration(w.row, "work order registered"), w.trace))
        .collect();
    write_all_from_feed(context, uow, changes, FROM_INTAKE).await.map(drop)
}

/// The customer raised the same problem again: a resolved case of the first order goes back to
/// its owner with a fresh deadline, and counts as a dissatisfied order. A case still being worked
/// keeps going; the repeat is noted in its audit trail.
async fn reopen_on_repeat(
    context: &Context,
    uow: &mut UnitOfWork,
    event: WorkOrderReopened,
) -> Result<(), HandleError> {
    let (Some(first), Some(repeat)) = (event.first_work_order, event.repeat_work_order) else {
        return Err(HandleError::Reject("WorkOrderReopened without both work orders".into()));
    };
    let first_id = id_from_event(&first.name, names::WORK_ORDERS)?;
    let Some(current) = store::case_by_work_order(&**uow, &first_id).await? else {
        tracing::warn!(work_order = %first.name, "repeat of a work order recovery has no case for");
        return Ok(());
    };
    let reason = format!("the customer raised the same problem again ({})", repeat.name);
    let status = store::status_of(&current);
    let step = Step::Transition(Transition::Reopen);
    if step.target(status).is_none() {
        let planned = Planned::note(&current, "repeat_order", reason);
        return write_from_feed(context, uow, planned, FROM_INTAKE).await.map(drop);
    }
    let input = StepInput {
        reason,
        reopen_cause: Some(ReopenCause::RepeatOrder),
        repeat_work_order: repeat.name.clone(),
        ..StepInput::default()
    };
    let planned =
        change::plan(context, &current, step, &input, context.now()).map_err(|e| HandleError::Reject(e.to_string()))?;
    write_from_feed(context, uow, planned, FROM_INTAKE).await.map(drop)
}

/// Applies classification's WorkOrderClassified: dispatches the case to its department.
#[derive(Debug, Clone)]
pub struct WorkOrderClassifiedHandler {
    pub context: Context,
}

impl EventHandler for WorkOrderClassifiedHandler {
    fn work(&self) -> &'static str {
        "dispatch"
    }

    /// Corrections come on the same cursor, so a correction is never applied before the
    /// classification it corrects.
    fn event_types(&self) -> Vec<String> {
        vec![WorkOrderClassified::full_name(), ClassificationCorrected::full_name()]
    }

    async fn flush(&self, uow: &mut UnitOfWork) -> Result<(), HandleError> {
        dispatch_waiting(&self.context, uow).await?;
        Ok(linking::flush(&self.context, uow).await?)
    }

    /// Routes the order's new case (which rejects a classification no case can be routed by) and
    /// sets it aside for [`Self::flush`], which dispatches the batch's cases together.
    async fn handle(&self, uow: &mut UnitOfWork, event: &Event) -> Result<(), HandleError> {
        if carries::<ClassificationCorrected>(event) {
            // The classification corrected may be among those waiting.
            dispatch_waiting(&self.context, uow).await?;
            take_turn(uow).await?;
            return reclassify::apply(&self.context, uow, event).await;
        }
        let classified: WorkOrderClassified = decode(event)?;
        let (Some(classification), Some(work_order)) = (classified.classification, classified.work_order) else {
            return Err(HandleError::Reject("WorkOrderClassified without classification or work order".into()));
        };
        let mut waiting = Waiting::of(&self.context, &work_order)?;
        routing::route(&self.context, &mut waiting.row, &classification)?;
        uow.stash::<Dispatches>().0.push(Classified { waiting, classification });
        Ok(())
    }
}

#[derive(Debug, Clone)]
struct Classified {
    waiting: Waiting,
    classification: Classification,
}

#[derive(Debug, Clone, Default)]
struct Dispatches(Vec<Classified>);

/// Dispatches the cases set aside, in their order: a case registered before is routed and sent
/// on, an order without one gets its new case (and its customer remembered); a case already
/// dispatched stays as it is. The batch's cases are read in one query, the open problems of its
/// leaves in another, and then written together; each dispatched case not linked to a problem
/// is looked at for a surge.
async fn dispatch_waiting(context: &Context, uow: &mut UnitOfWork) -> Result<(), HandleError> {
    let waiting = uow.take_stash::<Dispatches>().0;
    if waiting.is_empty() {
        return Ok(());
    }
    take_turn(uow).await?;
    let leaves: Vec<String> = waiting.iter().map(|c| c.classification.leaf.clone()).collect();
    let open_problems = OpenProblems::of_leaves(&**uow, &leaves).await?;
    let ids: Vec<String> = waiting.iter().map(|c| c.waiting.row.work_order_id.clone()).collect();
    let mut cases = store::cases_by_work_orders(&**uow, &ids).await?;
    let mut customers = Vec::new();
    let mut changes = Vec::with_capacity(waiting.len());
    let now = context.now();
    for Classified { waiting, classification } in waiting {
        let id = waiting.row.work_order_id.clone();
        let current = cases.get(&id).cloned();
        let mut row = match &current {
            Some(existing) if store::status_of(existing) != CaseStatus::AwaitingDispatch => continue,
            Some(existing) => {
                let mut row = existing.clone();
                if row.region.is_empty() {
                    row.region = waiting.row.region.clone();
                }
                routing::route(context, &mut row, &classification)?;
                row
            }
            None => {
                // A registered case's customer was remembered at its registration, from the same order.
                customers.extend(waiting.customer);
                waiting.row
            }
        };
        row.service_problem_id = open_problems.problem_for(&row);
        let planned = Planned::dispatch(current.as_ref(), row, now, format!("classified as {}", classification.leaf));
        cases.insert(id, planned.row.clone());
        changes.push((planned, waiting.trace));
    }
    problems::remember_customers(&**uow, customers).await?;
    let dispatched = write_all_from_feed(context, uow, changes, FROM_CLASSIFICATION).await?;
    let recent = detection::count_batch(context, uow, &dispatched).await?;
    for row in dispatched {
        linking::dispatched(context, uow, &row, FROM_CLASSIFICATION, &recent).await?;
        tracing::debug!(
            case = %format!("{}{}", names::CASES, row.id),
            phone = %Masked(&row.phone_number),
            department = %row.department,
            "case dispatched"
        );
    }
    Ok(())
}
