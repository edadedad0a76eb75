//! Recovery: the case lifecycle, first responsibility, deadlines and escalation, callbacks and
//! reopening, service-recovery actions, remediation programmes and proactive care.

mod actions;
mod batches;
mod callbacks;
mod care;
mod deadlines;
mod detractors;
mod lifecycle;
mod problem_detection;
mod problems;
mod programmes;
mod reclassify;
mod regulator;
mod responsibility;

use csm_proto::recovery::v1::{
    CallbackOutcome, Case, RecordCallbackRequest, ResolveCaseRequest, Transition, TransitionCaseRequest,
};
use tonic::Status;

use crate::support::desk::Desk;

/// `subject` asks for `transition` on `case`, giving `reason`.
pub async fn step(
    desk: &Desk,
    subject: &str,
    case: &str,
    transition: Transition,
    reason: &str,
) -> Result<Case, Status> {
    let request = TransitionCaseRequest {
        name: case.into(),
        transition: transition as i32,
        reason: reason.into(),
        ..Default::default()
    };
    desk.as_(subject).transition_case(request).await.map(tonic::Response::into_inner)
}

pub async fn resolve(desk: &Desk, subject: &str, case: &str) -> Result<Case, Status> {
    let request =
        ResolveCaseRequest {
            name: case.into(), resolution: "退还多扣费用并致歉".into(), request_id: String::new()
        };
    desk.as_(subject).resolve_case(request).await.map(tonic::Response::into_inner)
}

/// The callback system reports `outcome`.
pub async fn callback(desk: &Desk, case: &str, outcome: CallbackOutcome) -> Result<Case, Status> {
    let request = RecordCallbackRequest { name: case.into(), outcome: outcome as i32, ..Default::default() };
    desk.as_("csm-services").record_callback(request).await.map(tonic::Response::into_inner)
}
