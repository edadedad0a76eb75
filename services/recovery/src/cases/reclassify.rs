//! A corrected root cause (ClassificationCorrected, 改判) reaching the case of its work order.
//!
//! Only a correction in the routing view moves anything. While the case is dispatched and no
//! department has accepted it, it goes to the department responsible for the corrected cause, with
//! that cause's time limit counted from the work order's open time, as if it had been classified
//! so from the start. Once a department has accepted it, first responsibility holds: the owner
//! keeps the case and its deadline, the case records the corrected cause (what the figures and
//! remediation programmes count by), and the audit entry names the department now responsible for
//! that cause, so a supervisor can decide on a transfer. Either way the change is audited and
//! announced with CaseStatusChanged (action "reclassified").

use csm_kit::{
    Masked,
    feed::{HandleError, UnitOfWork, decode, id_from_event},
    names,
};
use csm_proto::{classification::v1::ClassificationCorrected, feed::v1::Event, recovery::v1::CaseStatus};

use super::{
    change::Planned,
    routing::{place, route},
    write::write_from_feed,
};
use crate::{rules::Context, store};

/// Applies one ClassificationCorrected from classification's feed.
pub async fn apply(context: &Context, uow: &mut UnitOfWork, event: &Event) -> Result<(), HandleError> {
    let corrected: ClassificationCorrected = decode(event)?;
    let (Some(before), Some(after)) = (corrected.before, corrected.after) else {
        return Err(HandleError::Reject("ClassificationCorrected without before or after".into()));
    };
    if before.leaf == after.leaf {
        // Another view was corrected; the routing, and so the case, is unchanged.
        return Ok(());
    }
    if after.responsible_department.is_empty() {
        return Err(HandleError::Reject(format!("{} names no department", after.name)));
    }
    let id = id_from_event(&after.work_order, names::WORK_ORDERS)?;
    let Some(current) = store::case_by_work_order(&**uow, &id).await? else {
        // Classification's feed is applied in order, so the case exists unless it was never opened
        // for this order; nothing to correct then.
        return Ok(());
    };
    let status = store::status_of(&current);
    if status == CaseStatus::AwaitingDispatch {
        return Ok(());
    }
    let now = context.now();
    let mut row = current.clone();
    let department = after.responsible_department.clone();
    let reason = if status == CaseStatus::Dispatched {
        let from = row.department.clone();
        route(context, &mut row, &after)?;
        row.dispatched_at = Some(now);
        // The new department's clock starts from the ladder's first step.
        row.escalation_level = 0;
        format!("cause corrected from {} to {}: sent from {from} to {department}", before.leaf, after.leaf)
    } else {
        place(&mut row, &after);
        format!(
            "cause corrected from {} to {}: {department} is responsible for it; {} keeps the case",
            before.leaf,
            after.leaf,
            row.owner_department.as_deref().unwrap_or(&row.department)
        )
    };
    let reason = if corrected.reason.is_empty() { reason } else { format!("{reason} ({})", corrected.reason) };
    let planned = Planned::reclassification(&current, row, reason);
    let row = write_from_feed(context, uow, planned, &corrected.corrected_by).await?;
    tracing::info!(
        case = %format!("{}{}", names::CASES, row.id),
        phone = %Masked(&row.phone_number),
        department = %row.department,
        "case reclassified"
    );
    Ok(())
}
