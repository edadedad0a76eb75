//! Remediation programmes (整改): removing a root cause or a service shortfall. One department
//! owns each programme; its actions have deadlines; an overdue programme escalates along the same
//! ladder as cases; and when the last action is done, the programme publishes the windows over
//! which measurement compares indicators before and after it.

use std::time::Duration;

use csm_kit::{Principal, Role, error::Violations, names, names::PROGRAMMES, paging, time};
use csm_proto::StoredEnum;
use csm_proto::recovery::v1::{
    CompleteProgrammeActionRequest, CreateProgrammeRequest, GetProgrammeRequest, ListProgrammesRequest,
    ListProgrammesResponse, Programme, ProgrammeAction, ProgrammeCompleted, ProgrammeCreated, ProgrammeStatus,
};
use uuid::Uuid;

use crate::{
    access::confined,
    error::Error,
    rules::Context,
    store::{
        programme, programme_action,
        programmes::{self, ProgrammeFilter},
    },
    validate,
};

const MAX_ACTIONS: usize = 50;
const DEFAULT_WINDOW: Duration = Duration::from_secs(30 * 86_400);
const MAX_WINDOW: Duration = Duration::from_secs(366 * 86_400);
const MAX_TITLE_CHARS: usize = 200;

/// The programme as callers see it at `now`.
pub fn view(row: &programme::Model, actions: &[programme_action::Model], now: i64) -> Programme {
    let timestamp = time::timestamp_from_micros;
    let open = row.status == ProgrammeStatus::Open.stored();
    Programme {
        name: format!("{PROGRAMMES}{}", row.id),
        title: row.title.clone(),
        leaf: row.leaf.clone(),
        shortfall: row.shortfall.clone(),
        owner_department: row.owner_department.clone(),
        status: ProgrammeStatus::from_stored(&row.status) as i32,
        deadline: Some(timestamp(row.deadline)),
        actions: actions
            .iter()
            .map(|action| ProgrammeAction {
                description: action.description.clone(),
                deadline: Some(timestamp(action.deadline)),
                complete_time: action.completed_at.map(timestamp),
                note: action.note.clone().unwrap_or_default(),
                overdue: action.completed_at.is_none() && now > action.deadline,
            })
            .collect(),
        create_time: Some(timestamp(row.created_at)),
        complete_time: row.completed_at.map(timestamp),
        baseline_start: Some(timestamp(row.created_at - row.verification_window)),
        baseline_end: Some(timestamp(row.created_at)),
        verification_start: row.completed_at.map(timestamp),
        verification_end: row.completed_at.map(|at| timestamp(at.saturating_add(row.verification_window))),
        escalation_level: row.escalation_level,
        overdue: open && now > row.deadline,
        created_by: row.created_by.clone(),
    }
}

#[derive(Debug, Clone)]
pub struct Programmes {
    context: Context,
}

impl Programmes {
    pub fn new(context: Context) -> Self {
        Self { context }
    }

    async fn load(&self, id: &str, name: &str) -> Result<Programme, Error> {
        let db = self.context.db().reader();
        let row = programmes::by_id(db, id).await?.ok_or_else(|| Error::NotFound(name.to_string()))?;
        let actions = programmes::actions_of(db, id).await?;
        Ok(view(&row, &actions, self.context.now()))
    }

    pub async fn create(&self, request: &CreateProgrammeRequest, caller: &Principal) -> Result<Programme, Error> {
        let now = self.context.now();
        let mut violations = Violations::new();
        let title = validate::text(&mut violations, "title", &request.title, true).to_string();
        if title.chars().count() > MAX_TITLE_CHARS {
            violations.add("title", format!("at most {MAX_TITLE_CHARS} characters"));
        }
        let leaf = request.leaf.trim().to_string();
        let shortfall = validate::text(&mut violations, "shortfall", &request.shortfall, false).to_string();
        if leaf.is_empty() == shortfall.is_empty() {
            violations.add("leaf", "name either the root-cause leaf or the service shortfall");
        }
        let owner = validate::department(&mut violations, "owner_department", &request.owner_department).to_string();
        let future = |violations: &mut Violations, field: &str, ts: Option<&prost_types::Timestamp>| match ts
            .and_then(time::from_timestamp)
            .map(time::micros)
        {
            Some(at) if at > now => at,
            _ => {
                violations.add(field, "a time in the future");
                0
            }
        };
        let deadline = future(&mut violations, "deadline", request.deadline.as_ref());
        if request.actions.is_empty() || request.actions.len() > MAX_ACTIONS {
            violations.add("actions", format!("between 1 and {MAX_ACTIONS} actions"));
        }
        let mut actions = Vec::new();
        for (i, action) in request.actions.iter().enumerate() {
            let description =
                validate::text(&mut violations, &format!("actions[{i}].description"), &action.description, true);
            let field = format!("actions[{i}].deadline");
            let at = future(&mut violations, &field, action.deadline.as_ref());
            if deadline > 0 && at > deadline {
                violations.add(field, "not after the programme's deadline");
            }
            actions.push((description.to_string(), at));
        }
        let window = validate::duration(
            &mut violations,
            "verification_window",
            request.verification_window.as_ref(),
            DEFAULT_WINDOW,
            MAX_WINDOW,
        );
        let request_id = names::request_id(&mut violations, "request_id", &request.request_id);
        violations.into_result()?;
        if !caller.has(Role::Supervisor) && !caller.has(Role::Administrator) {
            return Err(Error::PermissionDenied("only a supervisor opens a remediation programme".into()));
        }

        let db = self.context.db();
        if let Some(key) = request_id
            && let Some(existing) = programmes::by_request(db.reader(), key).await?
        {
            return self.load(&existing.id, &format!("{PROGRAMMES}{}", existing.id)).await;
        }
        let id = Uuid::now_v7().to_string();
        let row = programme::Model {
            id: id.clone(),
            title,
            leaf,
            shortfall,
            owner_department: owner,
            status: ProgrammeStatus::Open.stored(),
            deadline,
            created_at: now,
            created_by: caller.subject.clone(),
            completed_at: None,
            verification_window: time::duration_micros(window),
            escalation_level: 0,
            request_id: request_id.map(str::to_string),
        };
        let action_rows: Vec<_> = actions
            .into_iter()
            .enumerate()
            .map(|(position, (description, deadline))| programme_action::Model {
                programme_id: id.clone(),
                position: i32::try_from(position).unwrap_or(i32::MAX),
                description,
                deadline,
                completed_at: None,
                completed_by: None,
                note: None,
            })
            .collect();
        let programme = view(&row, &action_rows, now);
        let mut uow = self.context.publisher.begin().await?;
        programmes::insert(&*uow, row, action_rows).await?;
        uow.publish(programme.name.clone(), &ProgrammeCreated { programme: Some(programme.clone()) });
        uow.commit().await?;
        Ok(programme)
    }

    pub async fn get(&self, request: &GetProgrammeRequest, caller: &Principal) -> Result<Programme, Error> {
        let id = names::id_in("name", &request.name, names::PROGRAMMES)?;
        let programme = self.load(id, &request.name).await;
        match (caller.confined_department(), programme) {
            (Some(own), Ok(p)) if p.owner_department == own => Ok(p),
            (Some(own), _) => Err(Error::PermissionDenied(format!("{} is not a programme of {own}", request.name))),
            (None, result) => result,
        }
    }

    pub async fn list(
        &self,
        request: &ListProgrammesRequest,
        caller: &Principal,
    ) -> Result<ListProgrammesResponse, Error> {
        let mut violations = Violations::new();
        let page_size = paging::page_size(request.page_size, 50, 500).unwrap_or_else(|v| {
            violations.merge(v);
            0
        });
        let status = match ProgrammeStatus::try_from(request.status) {
            Ok(ProgrammeStatus::Unspecified) => None,
            Ok(status) => Some(status.stored()),
            Err(_) => {
                violations.add("status", format!("unknown programme status {}", request.status));
                None
            }
        };
        violations.into_result()?;
        let filter = ProgrammeFilter {
            owner_department: confined(caller, &request.owner_department, "programmes")?,
            status,
            leaf: (!request.leaf.is_empty()).then(|| request.leaf.clone()),
        };
        let filters = paging::fingerprint(&[
            filter.owner_department.as_deref().unwrap_or_default(),
            filter.status.as_deref().unwrap_or_default(),
            filter.leaf.as_deref().unwrap_or_default(),
        ]);
        let after = paging::decode_keyset(&request.page_token, &filters)?;
        let db = self.context.db().reader();
        let mut rows = programmes::list(db, &filter, after, page_size + 1).await?;
        let next_page_token = paging::next_page(&mut rows, page_size, &filters, |last| (last.deadline, &last.id));
        let now = self.context.now();
        let mut programmes = Vec::with_capacity(rows.len());
        for row in &rows {
            programmes.push(view(row, &programmes::actions_of(db, &row.id).await?, now));
        }
        Ok(ListProgrammesResponse { programmes, next_page_token })
    }

    pub async fn complete_action(
        &self,
        request: &CompleteProgrammeActionRequest,
        caller: &Principal,
    ) -> Result<Programme, Error> {
        let mut violations = Violations::new();
        let note = validate::text(&mut violations, "note", &request.note, false).to_string();
        let id = validate::id_in(&mut violations, &request.name, names::PROGRAMMES);
        violations.into_result()?;
        let db = self.context.db();
        let row = programmes::by_id(db.reader(), id).await?.ok_or_else(|| Error::NotFound(request.name.to_string()))?;
        let owner = caller.has(Role::Department) && caller.department.as_deref() == Some(row.owner_department.as_str());
        if !owner && !caller.has(Role::Supervisor) && !caller.has(Role::Administrator) {
            return Err(Error::PermissionDenied(format!("{} is owned by {}", request.name, row.owner_department)));
        }
        let actions = programmes::actions_of(db.reader(), id).await?;
        let Some(action) = actions.iter().find(|a| a.position == request.action_index) else {
            return Err(Violations::one("action_index", format!("between 0 and {}", actions.len() - 1)).into());
        };
        let open = ProgrammeStatus::Open.stored();
        if row.status != open {
            return Err(Error::Precondition {
                name: request.name.clone(),
                reason: "PROGRAMME_STATUS",
                message: format!("{} is {}", request.name, row.status),
            });
        }
        if action.completed_at.is_some() {
            return Err(Error::Precondition {
                name: request.name.clone(),
                reason: "ACTION_DONE",
                message: format!("action {} of {} is already done", request.action_index, request.name),
            });
        }
        let now = self.context.now();
        let mut uow = self.context.publisher.begin().await?;
        if !programmes::complete_action(&*uow, id, request.action_index, &note, &caller.subject, now).await? {
            uow.rollback().await?;
            return Err(Error::Conflict(request.name.clone()));
        }
        let remaining = programmes::actions_of(&*uow, id).await?.iter().filter(|a| a.completed_at.is_none()).count();
        if remaining == 0 && programmes::finish(&*uow, id, &open, &ProgrammeStatus::Completed.stored(), now).await? {
            let done = programmes::by_id(&*uow, id).await?.ok_or_else(|| Error::NotFound(request.name.to_string()))?;
            let programme = view(&done, &programmes::actions_of(&*uow, id).await?, now);
            uow.publish(programme.name.clone(), &ProgrammeCompleted { programme: Some(programme) });
        }
        uow.commit().await?;
        self.load(id, &request.name).await
    }
}
