//! Recovery's feed, as tickets: every case becomes (or updates) a ticket in the listing view, and
//! each create, status change and resolution is queued for the hub's listeners in the same
//! transaction as the cursor, so none is lost or queued twice across a crash or a restart.

use csm_kit::{
    feed::{EventHandler, HandleError, UnitOfWork, carries, decode},
    names, time,
};
use csm_proto::{
    StoredEnum,
    feed::v1::Event,
    intake::v1::{Channel, ContactType},
    recovery::v1::{
        CallbackRecorded, Case, CaseLinkedToProblem, CaseOpened, CaseReopened, CaseResolved, CaseStatusChanged,
    },
};
use prost::Name;

use crate::{
    App,
    hub::{self, EventType},
    shapes::{self as view, id_of},
    store::entity::ticket,
    tickets::{channel, store},
};

#[derive(Debug, Clone)]
pub struct CaseFeed {
    pub app: App,
}

impl EventHandler for CaseFeed {
    fn event_types(&self) -> Vec<String> {
        vec![
            CaseOpened::full_name(),
            CaseStatusChanged::full_name(),
            CaseResolved::full_name(),
            CallbackRecorded::full_name(),
            CaseReopened::full_name(),
            CaseLinkedToProblem::full_name(),
        ]
    }

    fn work(&self) -> &'static str {
        "notify"
    }

    async fn handle(&self, uow: &mut UnitOfWork, event: &Event) -> Result<(), HandleError> {
        let at = time::micros(csm_kit::feed::time_from_event(event.occurred_at.as_ref(), "occurred_at")?);
        if carries::<CaseLinkedToProblem>(event) {
            let link: CaseLinkedToProblem = decode(event)?;
            if let Some(mut row) = store::find(&**uow, &id_of(&link.work_order)).await? {
                row.service_problem = Some(link.service_problem);
                store::save_case_view(&**uow, &row).await?;
            }
            return Ok(());
        }
        let (case, reason) = if carries::<CaseStatusChanged>(event) {
            let changed: CaseStatusChanged = decode(event)?;
            let reason = if changed.reason.is_empty() { changed.action } else { changed.reason };
            (changed.case, Some(reason))
        } else if carries::<CaseOpened>(event) {
            (decode::<CaseOpened>(event)?.case, Some("dispatched".to_string()))
        } else if carries::<CaseResolved>(event) {
            let case = decode::<CaseResolved>(event)?.case;
            let resolution = case.as_ref().map(|c| c.resolution.clone());
            (case, resolution)
        } else if carries::<CallbackRecorded>(event) {
            (decode::<CallbackRecorded>(event)?.case, Some("callback".to_string()))
        } else {
            let reopened: CaseReopened = decode(event)?;
            let reason = if reopened.reason.is_empty() { "reopened".to_string() } else { reopened.reason };
            (reopened.case, Some(reason))
        };
        let case = case.ok_or_else(|| HandleError::Reject(format!("{} without its case", event.subject)))?;
        apply(&self.app, uow, &case, reason, at).await?;
        Ok(())
    }

    async fn flush(&self, _uow: &mut UnitOfWork) -> Result<(), HandleError> {
        self.app.queued.notify_one();
        Ok(())
    }
}

/// A ticket for a case that came in through another channel: its severity from how serious the
/// contact is, its type from the contact type.
fn from_case(case: &Case, at: i64) -> ticket::Model {
    let channel_kind = Channel::from_stored(&case.channel);
    let contact = ContactType::from_stored(&case.contact_type);
    let severity = match (channel_kind, contact) {
        (Channel::RegulatorAppeal | Channel::ConsumerAssociationAppeal, _) => "Critical",
        (_, ContactType::FaultReport) => "Major",
        _ => "Minor",
    };
    let ticket_type = match contact {
        ContactType::FaultReport => "faultReport",
        ContactType::Complaint => "complaint",
        _ => "other",
    };
    let opened = case.open_time.as_ref().and_then(time::from_timestamp).map_or(at, time::micros);
    let channel_name = channel(&case.channel).map_or_else(
        || "unspecified".to_string(),
        |c| c.as_str_name().trim_start_matches("CHANNEL_").to_ascii_lowercase(),
    );
    ticket::Model {
        id: id_of(&case.work_order),
        status: "acknowledged".into(),
        status_changed_at: opened,
        severity: severity.into(),
        ticket_type: ticket_type.into(),
        description: case.text.clone(),
        channel: channel_name,
        phone_number: Some(case.phone_number.clone()),
        created_at: opened,
        updated_at: at,
        notes: "[]".into(),
        ..Default::default()
    }
}

async fn apply(
    app: &App,
    uow: &mut UnitOfWork,
    case: &Case,
    reason: Option<String>,
    at: i64,
) -> Result<(), HandleError> {
    if !case.work_order.starts_with(names::WORK_ORDERS) {
        return Err(HandleError::Reject(format!("case {} names no work order", case.name)));
    }
    let id = id_of(&case.work_order);
    let (mut row, new) = match store::find(&**uow, &id).await? {
        Some(row) => (row, false),
        None => (from_case(case, at), true),
    };
    row.case_name = Some(case.name.clone());
    row.department = case.department.clone();
    row.updated_at = at;
    row.expected_resolution_at =
        case.dispatch_time.as_ref().and(case.deadline.as_ref()).and_then(time::from_timestamp).map(time::micros);
    row.resolved_at = case.resolve_time.as_ref().and_then(time::from_timestamp).map(time::micros);
    if !case.service_problem.is_empty() {
        row.service_problem = Some(case.service_problem.clone());
    }
    let status = view::status_of(case);
    let changed = status != row.status;
    if changed {
        row.status = status.clone();
        row.status_changed_at = at;
        row.status_change_reason = reason.filter(|r| !r.is_empty());
    }
    let mut events = Vec::new();
    // A create call may have made the ticket meanwhile; then it is only brought up to date.
    if new && store::insert_new(&**uow, row.clone()).await? {
        events.push(EventType::Create);
    } else {
        store::save_case_view(&**uow, &row).await?;
    }
    if changed {
        events.push(EventType::StatusChange);
        if status == "resolved" {
            events.push(EventType::Resolved);
        }
    }
    if !events.is_empty() {
        hub::notify(&**uow, app, &row, &events).await?;
    }
    Ok(())
}
