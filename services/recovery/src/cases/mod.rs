//! Cases (工单处理) and what hangs off them, in one room:
//! - this file: reading cases as a department, an agent or a supervisor may see them;
//! - [`view`]: a case and its sub-tasks as the API and the feed show them;
//! - [`change`]: planning every change a case goes through, and [`write`]: writing it (case,
//!   audit entry and events in one transaction, API changes in a group commit);
//! - [`requests`]: the changes callers ask for; [`dispatch`] and [`reclassify`]: the changes the
//!   upstream feeds bring; [`routing`]: where a classification sends a case;
//! - [`help`]: sub-tasks for other departments; [`recovery_actions`]: service recovery.
//!
//! A caller confined to a department sees the cases dispatched to or owned by its department, and
//! those it was asked to help on (see [`crate::access`]).

pub mod change;
pub mod dispatch;
mod help;
mod reclassify;
mod recovery_actions;
mod requests;
mod routing;
pub mod view;
pub mod write;

pub use view::case_view;
use view::sub_task_view;
use write::CaseWriter;

use csm_kit::{Principal, error::Violations, group_commit::GroupCommit, names, paging, time};
use csm_proto::StoredEnum;
use csm_proto::recovery::v1::{
    Case, CaseHistoryEntry, CaseOrder, CaseStatus, ListCaseHistoryResponse, ListCasesRequest, ListCasesResponse,
};

use crate::{
    access::confined,
    error::Error,
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
        case_view(row, &self.context.rules, now, tasks.iter().map(|task| sub_task_view(task, now)).collect())
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
        let by_answer_due = match CaseOrder::try_from(request.order_by) {
            Ok(order) => order == CaseOrder::AnswerDue,
            Err(_) => {
                violations.add("order_by", format!("unknown case order {}", request.order_by));
                false
            }
        };
        violations.into_result()?;

        let service_problem = match request.service_problem.trim() {
            "" => None,
            name => Some(names::id_in("service_problem", name, names::SERVICE_PROBLEMS)?.to_string()),
        };
        let department = confined(caller, &request.department, "cases")?;
        let now = self.context.now();
        let filter = CaseFilter {
            department,
            status,
            phone_number: (!request.phone_number.is_empty()).then(|| request.phone_number.clone()),
            overdue_at: request.overdue_only.then_some(now),
            answer_due_by: request
                .appeal_risk_only
                .then(|| now.saturating_add(time::duration_micros(self.context.rules.regulator.warn_before))),
            by_answer_due,
            service_problem,
        };
        let filters = paging::fingerprint(&[
            filter.department.as_deref().unwrap_or_default(),
            &request.status.to_string(),
            filter.phone_number.as_deref().unwrap_or_default(),
            if request.overdue_only { "overdue" } else { "" },
            if request.appeal_risk_only { "appeal_risk" } else { "" },
            if by_answer_due { "answer_due" } else { "" },
            filter.service_problem.as_deref().unwrap_or_default(),
        ]);
        let after = paging::decode_keyset(&request.page_token, &filters)?;

        let db = self.context.db().reader();
        let mut rows = store::list_cases(db, &filter, after, page_size + 1).await?;
        let next_page_token = paging::next_page(&mut rows, page_size, &filters, |last| {
            (if by_answer_due { last.answer_due } else { last.deadline }, &last.id)
        });
        // Queues show the case without its sub-tasks; GetCase has them.
        let cases = rows.iter().map(|row| case_view(row, &self.context.rules, now, Vec::new())).collect();
        Ok(ListCasesResponse { cases, next_page_token })
    }

    pub async fn history(&self, name: &str, caller: &Principal) -> Result<ListCaseHistoryResponse, Error> {
        let row = self.visible_case(name, caller).await?;
        let entries = store::history(self.context.db().reader(), &row.id)
            .await?
            .into_iter()
            .map(|entry| CaseHistoryEntry {
                from_status: entry.from_status.as_deref().map_or_else(Default::default, CaseStatus::from_stored) as i32,
                to_status: CaseStatus::from_stored(&entry.to_status) as i32,
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
        let id = names::id_in("name", name, names::CASES)?;
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
            (None, None) => Err(Error::NotFound(name.to_string())),
        }
    }
}
