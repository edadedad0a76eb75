//! Where a classification sends a case: the root cause it is placed under, the department
//! responsible, and the deadline from the leaf's time limit counted from when the customer raised
//! the problem on the operator's calendar, as classification counts it.

use csm_kit::{
    feed::{HandleError, time_from_event},
    time,
};
use csm_proto::classification::v1::Classification;

use crate::{rules::Context, store::case};

/// Records on `row` the cause `classification` places it under: the routing leaf, its path and
/// the taxonomy version.
pub fn place(row: &mut case::Model, classification: &Classification) {
    row.leaf = classification.leaf.clone();
    row.path = classification.path.join("/");
    row.taxonomy_version = classification.taxonomy_version.clone();
}

/// Places `row` under `classification` and hands it to the department responsible, with the
/// leaf's time limit counted from the order's open time on the operator's calendar (or, for a
/// leaf without one, the deadline classification gave).
pub fn route(context: &Context, row: &mut case::Model, classification: &Classification) -> Result<(), HandleError> {
    if classification.responsible_department.is_empty() {
        return Err(HandleError::Reject(format!("{} names no department", classification.name)));
    }
    let fallback_deadline = time_from_event(classification.deadline.as_ref(), "classification deadline")?;
    let time_limit =
        classification.time_limit.and_then(|limit| time::duration_from_proto(&limit)).map_or(0, time::duration_micros);
    let department = &classification.responsible_department;
    place(row, classification);
    row.time_limit = time_limit;
    row.deadline = if time_limit > 0 {
        context.rules.calendar.deadline(department, row.opened_at, time_limit)
    } else {
        time::micros(fallback_deadline)
    };
    row.department = department.clone();
    Ok(())
}
