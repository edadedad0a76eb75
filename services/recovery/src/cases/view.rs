//! A stored case and its sub-tasks as the API and the feed show them at a moment: the TMF621
//! status beside recovery's own, whether the deadline has passed, the time limit as a duration.

use csm_kit::{names, time};
use csm_proto::{
    StoredEnum,
    recovery::v1::{CallbackOutcome, Case, SubTask},
};

use crate::{
    lifecycle::{UNANSWERED, clock_running, tmf621_status},
    rules::Rules,
    store::{self, case, sub_task},
};

/// A stored case as the API shows it at `now`.
pub fn case_view(row: &case::Model, rules: &Rules, now: i64, sub_tasks: Vec<SubTask>) -> Case {
    let status = store::status_of(row);
    let unanswered = UNANSWERED.contains(&status);
    let dispatched = row.dispatched_at.is_some();
    let timestamp = time::timestamp_from_micros;
    Case {
        name: format!("{}{}", names::CASES, row.id),
        work_order: format!("{}{}", names::WORK_ORDERS, row.work_order_id),
        phone_number: row.phone_number.clone(),
        status: status as i32,
        department: row.department.clone(),
        leaf: row.leaf.clone(),
        path: if row.path.is_empty() { Vec::new() } else { row.path.split('/').map(str::to_string).collect() },
        taxonomy_version: row.taxonomy_version.clone(),
        open_time: Some(timestamp(row.opened_at)),
        dispatch_time: row.dispatched_at.map(timestamp),
        deadline: (dispatched && row.deadline != store::NO_DEADLINE).then(|| timestamp(row.deadline)),
        resolve_time: row.resolved_at.map(timestamp),
        resolution: row.resolution.clone().unwrap_or_default(),
        resolved_by: row.resolved_by.clone().unwrap_or_default(),
        resolved_on_time: row.resolved_on_time.unwrap_or(false),
        text: row.text.clone(),
        channel: row.channel.clone(),
        owner_department: row.owner_department.clone().unwrap_or_default(),
        tmf621_status: tmf621_status(status).to_string(),
        time_limit: u64::try_from(row.time_limit)
            .ok()
            .filter(|micros| *micros > 0)
            .map(|micros| time::duration_to_proto(std::time::Duration::from_micros(micros))),
        promised_time: row.promised_at.map(timestamp),
        paused_since: row.paused_at.map(timestamp),
        pause_reason: row.pause_reason.clone().unwrap_or_default(),
        escalation_level: row.escalation_level,
        callback_due_time: row.callback_due.map(timestamp),
        callback_outcome: row.callback_outcome.as_deref().map_or_else(Default::default, CallbackOutcome::from_stored)
            as i32,
        callback_time: row.callback_at.map(timestamp),
        reopen_count: row.reopen_count,
        contact_type: row.contact_type.clone(),
        sub_tasks,
        overdue: clock_running(status) && dispatched && now > row.deadline,
        answer_due_time: Some(timestamp(row.answer_due)),
        appeal_risk: unanswered && now >= rules.appeal_risk_from(row.answer_due),
        answered_late: row.resolved_at.is_some_and(|at| at > row.answer_due),
        service_problem: row
            .service_problem_id
            .as_deref()
            .map(|id| format!("{}{id}", names::SERVICE_PROBLEMS))
            .unwrap_or_default(),
        region: row.region.clone(),
    }
}

pub fn sub_task_view(row: &sub_task::Model, now: i64) -> SubTask {
    SubTask {
        name: format!("{}{}/subTasks/{}", names::CASES, row.case_id, row.id),
        department: row.department.clone(),
        request: row.request.clone(),
        deadline: Some(time::timestamp_from_micros(row.deadline)),
        create_time: Some(time::timestamp_from_micros(row.created_at)),
        complete_time: row.completed_at.map(time::timestamp_from_micros),
        reply: row.reply.clone().unwrap_or_default(),
        overdue: row.completed_at.is_none() && now > row.deadline,
        requested_by: row.requested_by.clone(),
    }
}
