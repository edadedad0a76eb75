//! Working cases: what a department, an agent or a supervisor sees of them, and every change
//! they go through (see [`change`]).
//!
//! A caller confined to a department (the department role without a wider one) sees the cases
//! dispatched to or owned by its department, and those it was asked to help on. Following
//! AIP-211, such a caller gets PERMISSION_DENIED for any case outside its reach, whether or not
//! the case exists, so nothing leaks across departments.

pub mod change;

use change::CaseWriter;

use csm_kit::{Principal, error::Violations, group_commit::GroupCommit, names, paging, time};
use csm_proto::recovery::v1::{
    CallbackOutcome, Case, CaseHistoryEntry, CaseStatus, ListCaseHistoryResponse, ListCasesRequest, ListCasesResponse,
    SubTask,
};
use prost_types::Duration;

use crate::{
    error::Error,
    help,
    lifecycle::{clock_running, tmf621_status},
    rules::Context,
    store::{self, CaseFilter, case, sub_task, sub_tasks},
};

#[derive(Debug, Clone)]
pub struct Cases {
    context: Context,
    changes: GroupCommit<CaseWriter>,
}

impl Cases {
    pub fn new(context: Context, changes: GroupCommit<CaseWriter>) -> Self {
        Self { context, changes }
    }

    pub fn context(&self) -> &Context {
        &self.context
    }

    fn changes(&self) -> &GroupCommit<CaseWriter> {
        &self.changes
    }

    pub async fn get(&self, name: &str, caller: &Principal) -> Result<Case, Error> {
        let (row, tasks) = self.visible_case_and_sub_tasks(name, caller).await?;
        Ok(self.view(&row, &tasks))
    }

    /// The case as callers see it, with its sub-tasks.
    pub fn view(&self, row: &case::Model, tasks: &[sub_task::Model]) -> Case {
        let now = self.context.now();
        case_view(row, now, tasks.iter().map(|task| help::sub_task_view(task, now)).collect())
    }

    pub async fn list(&self, request: &ListCasesRequest, caller: &Principal) -> Result<ListCasesResponse, Error> {
        let mut violations = Violations::new();
        let page_size = paging::page_size(request.page_size, 50, 500).unwrap_or_else(|v| {
            violations.merge(v);
            0
        });
        let status = match CaseStatus::try_from(request.status) {
            Ok(CaseStatus::Unspecified) => None,
            Ok(status) => Some(status),
            Err(_) => {
                violations.add("status", format!("unknown case status {}", request.status));
                None
            }
        };
        violations.into_result()?;

        let department = help::confined(caller, &request.department, "cases")?;
        let now = self.context.now();
        let filter = CaseFilter {
            department,
            status,
            phone_number: (!request.phone_number.is_empty()).then(|| request.phone_number.clone()),
            overdue_at: request.overdue_only.then_some(now),
        };
        let filters = paging::fingerprint(&[
            filter.department.as_deref().unwrap_or_default(),
            &request.status.to_string(),
            filter.phone_number.as_deref().unwrap_or_default(),
            if request.overdue_only { "overdue" } else { "" },
        ]);
        let after = paging::decode_keyset(&request.page_token, &filters)?;

        let db = self.context.db().reader();
        let mut rows = store::list_cases(db, &filter, after, page_size + 1).await?;
        let next_page_token = paging::next_page(&mut rows, page_size, &filters, |last| (last.deadline, &last.id));
        // Queues show the case without its sub-tasks; GetCase has them.
        let cases = rows.iter().map(|row| case_view(row, now, Vec::new())).collect();
        Ok(ListCasesResponse { cases, next_page_token })
    }

    pub async fn history(&self, name: &str, caller: &Principal) -> Result<ListCaseHistoryResponse, Error> {
        let row = self.visible_case(name, caller).await?;
        let entries = store::history(self.context.db().reader(), &row.id)
            .await?
            .into_iter()
            .map(|entry| CaseHistoryEntry {
                from_status: entry.from_status.as_deref().and_then(CaseStatus::from_str_name).unwrap_or_default()
                    as i32,
                to_status: CaseStatus::from_str_name(&entry.to_status).unwrap_or_default() as i32,
                action: entry.action,
                actor: entry.actor,
                reason: entry.reason,
                time: Some(time::timestamp_from_micros(entry.at)),
            })
            .collect();
        Ok(ListCaseHistoryResponse { entries })
    }

    /// The case named `name`, if `caller` may see it.
    pub async fn visible_case(&self, name: &str, caller: &Principal) -> Result<case::Model, Error> {
        Ok(self.visible_case_and_sub_tasks(name, caller).await?.0)
    }

    /// The case named `name` and its sub-tasks, read together, if `caller` may see the case.
    pub async fn visible_case_and_sub_tasks(
        &self,
        name: &str,
        caller: &Principal,
    ) -> Result<(case::Model, Vec<sub_task::Model>), Error> {
        let id = names::id_in("name", name, store::CASES)?;
        let found = sub_tasks::case_with_sub_tasks(self.context.db().reader(), id).await?;
        match (caller.confined_department(), found) {
            (Some(own), Some((row, tasks))) => {
                let reaches = row.department == own
                    || row.owner_department.as_deref() == Some(own)
                    || tasks.iter().any(|task| task.department == own);
                if reaches {
                    Ok((row, tasks))
                } else {
                    Err(Error::PermissionDenied(format!("{name} is not a case of the {own} department")))
                }
            }
            (Some(own), None) => Err(Error::PermissionDenied(format!("{name} is not a case of the {own} department"))),
            (None, Some(found)) => Ok(found),
            (None, None) => Err(Error::not_found("Case", name)),
        }
    }
}

/// A stored case as the API shows it at `now`.
pub fn case_view(row: &case::Model, now: i64, sub_tasks: Vec<SubTask>) -> Case {
    let status = store::status_of(row);
    let dispatched = row.dispatched_at.is_some();
    let timestamp = time::timestamp_from_micros;
    Case {
        name: format!("{}{}", store::CASES, row.id),
        work_order: format!("{}{}", store::WORK_ORDERS, row.work_order_id),
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
        time_limit: (row.time_limit > 0).then(|| Duration {
            seconds: row.time_limit / 1_000_000,
            nanos: i32::try_from((row.time_limit % 1_000_000) * 1000).unwrap_or(0),
        }),
        promised_time: row.promised_at.map(timestamp),
        paused_since: row.paused_at.map(timestamp),
        pause_reason: row.pause_reason.clone().unwrap_or_default(),
        escalation_level: row.escalation_level,
        callback_due_time: row.callback_due.map(timestamp),
        callback_outcome: row.callback_outcome.as_deref().and_then(CallbackOutcome::from_str_name).unwrap_or_default()
            as i32,
        callback_time: row.callback_at.map(timestamp),
        reopen_count: row.reopen_count,
        contact_type: row.contact_type.clone(),
        sub_tasks,
        overdue: clock_running(status) && dispatched && now > row.deadline,
    }
}
