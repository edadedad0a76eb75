//! Asking other departments for help. The owner of a case keeps first responsibility; a helping
//! department gets a sub-task with its own deadline, sees the case, and reports back. The owner
//! sees every sub-task on the case.

use csm_kit::{Principal, Role, error::Violations, names, paging, time};
use csm_proto::recovery::v1::{
    CaseStatus, CompleteSubTaskRequest, ListSubTasksRequest, ListSubTasksResponse, RequestHelpRequest, SubTask,
};
use uuid::Uuid;

use super::{Cases, view::sub_task_view};
use crate::{
    access::confined,
    error::Error,
    store::{self, sub_task, sub_tasks},
    validate,
};

const MAX_HELP_DAYS: u64 = 90;

/// "cases/{case}/subTasks/{id}" split into its two ids.
fn parse_name(name: &str) -> Result<(&str, &str), Violations> {
    name.strip_prefix(names::CASES)
        .and_then(|rest| rest.split_once("/subTasks/"))
        .filter(|(case, id)| [case, id].iter().all(|part| !part.is_empty() && !part.contains('/')))
        .ok_or_else(|| Violations::one("name", "a sub-task name: cases/{case}/subTasks/{id}"))
}

impl Cases {
    pub async fn request_help(&self, request: &RequestHelpRequest, caller: &Principal) -> Result<SubTask, Error> {
        let mut violations = Violations::new();
        let department = validate::department(&mut violations, "department", &request.department).to_string();
        let text = validate::text(&mut violations, "request", &request.request, true).to_string();
        let limit = validate::duration(
            &mut violations,
            "time_limit",
            request.time_limit.as_ref(),
            self.context().rules.help_time_limit,
            std::time::Duration::from_secs(MAX_HELP_DAYS * 86_400),
        );
        let request_id = names::request_id(&mut violations, "request_id", &request.request_id);
        violations.into_result()?;

        let case = self.visible_case(&request.name, caller).await?;
        let db = self.context().db();
        if let Some(key) = request_id
            && let Some(existing) = sub_tasks::by_request(db.reader(), &case.id, key).await?
        {
            return Ok(sub_task_view(&existing, self.context().now()));
        }
        let owner = case.owner_department.as_deref();
        let is_owner = caller.has(Role::Department) && caller.department.as_deref() == owner && owner.is_some();
        if !is_owner && !caller.has(Role::Administrator) {
            return Err(Error::PermissionDenied(format!("only the owner of {} may ask for help", request.name)));
        }
        let status = store::status_of(&case);
        if !matches!(status, CaseStatus::Accepted | CaseStatus::InProgress | CaseStatus::Pending | CaseStatus::Held) {
            return Err(Error::IllegalTransition { name: request.name.clone(), status, action: "request_help" });
        }
        if owner == Some(department.as_str()) {
            return Err(Violations::one("department", "the owner cannot ask itself for help").into());
        }
        let now = self.context().now();
        let row = sub_task::Model {
            id: Uuid::now_v7().to_string(),
            case_id: case.id.clone(),
            department: department.clone(),
            request: text,
            requested_by: caller.subject.clone(),
            created_at: now,
            deadline: self.context().rules.calendar.deadline(&department, now, time::duration_micros(limit)),
            completed_at: None,
            reply: None,
            completed_by: None,
            request_id: request_id.map(str::to_string),
        };
        let uow = self.context().publisher.begin().await?;
        sub_tasks::insert(&*uow, row.clone()).await?;
        let entry = store::HistoryEntry {
            case_id: &case.id,
            from: Some(status),
            to: status,
            action: "request_help",
            actor: &caller.subject,
            reason: &format!("asked {department}: {}", row.request),
            at: now,
            request_id: None,
        };
        store::record_history(&*uow, entry).await?;
        uow.commit().await?;
        Ok(sub_task_view(&row, now))
    }

    pub async fn complete_sub_task(
        &self,
        request: &CompleteSubTaskRequest,
        caller: &Principal,
    ) -> Result<SubTask, Error> {
        let mut violations = Violations::new();
        let reply = validate::text(&mut violations, "reply", &request.reply, true).to_string();
        let ids = parse_name(&request.name);
        let (case_id, id) = match ids {
            Ok(ids) => ids,
            Err(v) => {
                violations.merge(v);
                ("", "")
            }
        };
        violations.into_result()?;
        let db = self.context().db();
        let task = sub_tasks::by_id(db.reader(), id)
            .await?
            .filter(|task| task.case_id == case_id)
            .ok_or_else(|| Error::NotFound(request.name.to_string()))?;
        let helper = caller.has(Role::Department) && caller.department.as_deref() == Some(task.department.as_str());
        if !helper && !caller.has(Role::Administrator) {
            return Err(Error::PermissionDenied(format!(
                "{} is a sub-task of the {} department",
                request.name, task.department
            )));
        }
        let now = self.context().now();
        let uow = self.context().publisher.begin().await?;
        if !sub_tasks::complete(&*uow, id, &reply, &caller.subject, now).await? {
            uow.rollback().await?;
            return Err(Error::Precondition {
                name: request.name.clone(),
                reason: "SUB_TASK_DONE",
                message: format!("{} is already done", request.name),
            });
        }
        let case = store::case_by_id(&*uow, case_id)
            .await?
            .ok_or_else(|| Error::NotFound(names::name_of(names::CASES, case_id)))?;
        let status = store::status_of(&case);
        let entry = store::HistoryEntry {
            case_id,
            from: Some(status),
            to: status,
            action: "help_given",
            actor: &caller.subject,
            reason: &format!("{} replied: {reply}", task.department),
            at: now,
            request_id: None,
        };
        store::record_history(&*uow, entry).await?;
        uow.commit().await?;
        let done = sub_tasks::by_id(db.reader(), id).await?.ok_or_else(|| Error::NotFound(request.name.to_string()))?;
        Ok(sub_task_view(&done, now))
    }

    pub async fn list_sub_tasks(
        &self,
        request: &ListSubTasksRequest,
        caller: &Principal,
    ) -> Result<ListSubTasksResponse, Error> {
        let page_size = paging::page_size(request.page_size, 50, 500)?;
        let department = confined(caller, &request.department, "sub-tasks")?;
        let filters = paging::fingerprint(&[
            department.as_deref().unwrap_or_default(),
            if request.include_completed { "all" } else { "open" },
        ]);
        let after = paging::decode_keyset(&request.page_token, &filters)?;
        let mut rows = sub_tasks::queue(
            self.context().db().reader(),
            department.as_deref(),
            request.include_completed,
            after,
            page_size + 1,
        )
        .await?;
        let next_page_token = paging::next_page(&mut rows, page_size, &filters, |last| (last.deadline, &last.id));
        let now = self.context().now();
        Ok(ListSubTasksResponse {
            sub_tasks: rows.iter().map(|row| sub_task_view(row, now)).collect(),
            next_page_token,
        })
    }
}
