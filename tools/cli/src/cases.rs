//! `csm cases list|show|accept|start|pend|hold|resume|resolve|callback|close|cancel|reopen|transfer`:
//! recovery's cases, as a department or supervisor works them. A department's token sees and acts
//! on its own cases only (recovery confines it).

use csm_proto::recovery::v1::{
    Case, CaseOrder, GetCaseRequest, ListCaseHistoryRequest, ListCasesRequest, RecordCallbackRequest,
    ResolveCaseRequest, TransferCaseRequest, Transition, TransitionCaseRequest,
};

use crate::{
    connect::{Connection, Endpoint},
    import::parse_time,
    output::{self, Out, Outcome},
    schema,
};

type Client = csm_proto::recovery::v1::recovery_service_client::RecoveryServiceClient<crate::clients::Authenticated>;

#[derive(Debug, clap::Subcommand)]
pub enum CasesCommand {
    /// Cases, soonest deadline first.
    List {
        /// Only this department's cases.
        #[arg(long)]
        department: Option<String>,
        /// Only cases in this status (dispatched, accepted, in_progress, pending, held, resolved,
        /// callback_done, closed, cancelled, awaiting_dispatch).
        #[arg(long)]
        status: Option<String>,
        /// Only cases past their deadline and not yet resolved.
        #[arg(long)]
        overdue: bool,
        /// Only unresolved cases near or past the regulator's answer time.
        #[arg(long)]
        appeal_risk: bool,
        /// Only this customer's cases.
        #[arg(long)]
        phone: Option<String>,
        /// Soonest regulator answer time first, instead of soonest deadline.
        #[arg(long)]
        by_answer_due: bool,
        /// At most this many cases.
        #[arg(long, default_value_t = 50)]
        limit: usize,
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        connection: Connection,
    },
    /// One case with its history.
    Show {
        /// "cases/{id}" or the id alone.
        name: String,
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        connection: Connection,
    },
    /// Take first responsibility for a dispatched case (as its department).
    Accept(Act),
    /// Start work on an accepted case.
    Start(Act),
    /// Wait for the customer (the deadline clock pauses); --reason required.
    Pend(Act),
    /// Hold for an obstacle on the operator's side; --reason required.
    Hold(Act),
    /// Resume a pending or held case.
    Resume(Act),
    /// Close a case whose callback is done.
    Close(Act),
    /// Withdraw a case not yet resolved; --reason required.
    Cancel(Act),
    /// Reopen a resolved or closed case with a fresh deadline; --reason required.
    Reopen(Act),
    /// Resolve a case: what was done for the customer and about the cause, in --reason.
    Resolve(Act),
    /// Record the callback after resolution.
    Callback {
        name: String,
        /// satisfied, basically_satisfied, dissatisfied or unreachable.
        #[arg(long)]
        outcome: String,
        /// What the customer said.
        #[arg(long, default_value = "")]
        note: String,
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        connection: Connection,
    },
    /// Transfer a case to another department (supervisors).
    Transfer {
        name: String,
        #[arg(long)]
        department: String,
        #[arg(long)]
        reason: String,
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        connection: Connection,
    },
}

/// A change to one case.
#[derive(Debug, clap::Args)]
pub struct Act {
    /// "cases/{id}" or the id alone.
    pub name: String,
    /// Why (required to pend, hold, cancel and reopen); for resolve, the resolution.
    #[arg(long, alias = "resolution")]
    pub reason: Option<String>,
    /// With accept: the time limit told to the customer (RFC 3339, or local time in --time-zone).
    #[arg(long)]
    pub promised_time: Option<String>,
    #[arg(long, default_value = "Asia/Shanghai")]
    pub time_zone: chrono_tz::Tz,
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub connection: Connection,
}

fn case_name(name: &str) -> String {
    if name.starts_with("cases/") { name.to_string() } else { format!("cases/{name}") }
}

pub async fn run(command: CasesCommand, out: Out<'_>) -> anyhow::Result<Outcome> {
    use CasesCommand as C;
    let (transition, act) = match command {
        C::List { department, status, overdue, appeal_risk, phone, by_answer_due, limit, json, connection } => {
            let status = status.map(|s| schema::CASE_STATUS.parse(&s)).transpose()?.unwrap_or(0);
            let request = ListCasesRequest {
                department: department.unwrap_or_default(),
                status,
                phone_number: phone.unwrap_or_default(),
                overdue_only: overdue,
                appeal_risk_only: appeal_risk,
                order_by: if by_answer_due { CaseOrder::AnswerDue } else { CaseOrder::Unspecified } as i32,
                ..ListCasesRequest::default()
            };
            let (mut client, endpoint) = connection.connect()?.recovery()?;
            let cases = list(&mut client, &endpoint, request, limit).await?;
            return print_cases(out, &cases, json);
        }
        C::Show { name, json, connection } => {
            let (mut client, endpoint) = connection.connect()?.recovery()?;
            return show(&mut client, &endpoint, &case_name(&name), json, out).await;
        }
        C::Callback { name, outcome, note, json, connection } => {
            let (mut client, endpoint) = connection.connect()?.recovery()?;
            let request = RecordCallbackRequest {
                name: case_name(&name),
                outcome: schema::CALLBACK_OUTCOME.parse(&outcome)?,
                note,
                request_id: uuid::Uuid::new_v4().to_string(),
            };
            let case = client.record_callback(request).await.map_err(|s| endpoint.error("RecordCallback", &s))?;
            return changed(out, &case.into_inner(), json);
        }
        C::Transfer { name, department, reason, json, connection } => {
            let (mut client, endpoint) = connection.connect()?.recovery()?;
            let request = TransferCaseRequest {
                name: case_name(&name),
                department,
                reason,
                request_id: uuid::Uuid::new_v4().to_string(),
            };
            let case = client.transfer_case(request).await.map_err(|s| endpoint.error("TransferCase", &s))?;
            return changed(out, &case.into_inner(), json);
        }
        C::Resolve(act) => (None, act),
        C::Accept(act) => (Some(Transition::Accept), act),
        C::Start(act) => (Some(Transition::Start), act),
        C::Pend(act) => (Some(Transition::PendOnCustomer), act),
        C::Hold(act) => (Some(Transition::Hold), act),
        C::Resume(act) => (Some(Transition::Resume), act),
        C::Close(act) => (Some(Transition::Close), act),
        C::Cancel(act) => (Some(Transition::Cancel), act),
        C::Reopen(act) => (Some(Transition::Reopen), act),
    };
    let (mut client, endpoint) = act.connection.connect()?.recovery()?;
    let name = case_name(&act.name);
    let reason = act.reason.clone().unwrap_or_default();
    let needs_reason = matches!(
        transition,
        None | Some(Transition::PendOnCustomer | Transition::Hold | Transition::Cancel | Transition::Reopen)
    );
    if needs_reason && reason.trim().is_empty() {
        anyhow::bail!("give --reason: it is required for this change (for resolve, what was done)");
    }
    let case = match transition {
        None => {
            let request = ResolveCaseRequest { name, resolution: reason, request_id: uuid::Uuid::new_v4().to_string() };
            client.resolve_case(request).await.map_err(|s| endpoint.error("ResolveCase", &s))?
        }
        Some(transition) => {
            let promised_time = act
                .promised_time
                .as_deref()
                .map(|t| parse_time(t, act.time_zone).map(csm_kit::time::to_timestamp))
                .transpose()
                .map_err(|e| anyhow::anyhow!("--promised-time: {e}"))?;
            let request = TransitionCaseRequest {
                name,
                transition: transition as i32,
                reason,
                promised_time,
                request_id: uuid::Uuid::new_v4().to_string(),
            };
            client.transition_case(request).await.map_err(|s| endpoint.error("TransitionCase", &s))?
        }
    };
    changed(out, &case.into_inner(), act.json)
}

/// Up to `limit` cases, following pages.
async fn list(
    client: &mut Client,
    endpoint: &Endpoint,
    mut request: ListCasesRequest,
    limit: usize,
) -> anyhow::Result<Vec<Case>> {
    let mut cases = Vec::new();
    loop {
        request.page_size = i32::try_from(limit.saturating_sub(cases.len()).clamp(1, 500)).unwrap_or(500);
        let page = client.list_cases(request.clone()).await.map_err(|s| endpoint.error("ListCases", &s))?.into_inner();
        cases.extend(page.cases);
        if page.next_page_token.is_empty() || cases.len() >= limit {
            break;
        }
        request.page_token = page.next_page_token;
    }
    cases.truncate(limit);
    Ok(cases)
}

fn print_cases(out: Out<'_>, cases: &[Case], json: bool) -> anyhow::Result<Outcome> {
    if json {
        let values = cases.iter().map(schema::to_json).collect::<anyhow::Result<Vec<_>>>()?;
        output::json(out, &serde_json::Value::Array(values))?;
        return Ok(Outcome::Done);
    }
    let mut table =
        output::table(["case", "status", "department", "root cause", "deadline", "overdue", "answer due", "text"]);
    for case in cases {
        table.add_row([
            case.name.clone(),
            schema::CASE_STATUS.short(case.status),
            case.department.clone(),
            case.leaf.clone(),
            output::time(case.deadline.as_ref()),
            if case.overdue { "overdue".into() } else { String::new() },
            output::time(case.answer_due_time.as_ref()),
            output::clip(&case.text, 30),
        ]);
    }
    writeln!(out, "{table}\n{} cases", cases.len())?;
    Ok(Outcome::Done)
}

async fn show(
    client: &mut Client,
    endpoint: &Endpoint,
    name: &str,
    json: bool,
    out: Out<'_>,
) -> anyhow::Result<Outcome> {
    let case =
        client.get_case(GetCaseRequest { name: name.to_string() }).await.map_err(|s| endpoint.error("GetCase", &s))?;
    let case = case.into_inner();
    let history = client
        .list_case_history(ListCaseHistoryRequest { name: name.to_string() })
        .await
        .map_err(|s| endpoint.error("ListCaseHistory", &s))?
        .into_inner();
    if json {
        let value =
            serde_json::json!({ "case": schema::to_json(&case)?, "history": schema::to_json(&history)?["entries"] });
        output::json(out, &value)?;
        return Ok(Outcome::Done);
    }
    let fields = [
        ("status", schema::CASE_STATUS.short(case.status)),
        ("department", case.department.clone()),
        ("owner", case.owner_department.clone()),
        ("work order", case.work_order.clone()),
        ("customer", csm_kit::Masked(&case.phone_number).to_string()),
        ("channel", case.channel.clone()),
        ("root cause", format!("{} ({})", case.leaf, case.path.join(" > "))),
        ("opened", output::time(case.open_time.as_ref())),
        ("deadline", output::time(case.deadline.as_ref())),
        ("answer due", output::time(case.answer_due_time.as_ref())),
        ("overdue", case.overdue.to_string()),
        ("appeal risk", case.appeal_risk.to_string()),
        ("resolved", output::time(case.resolve_time.as_ref())),
        ("resolution", case.resolution.clone()),
        ("reopened", case.reopen_count.to_string()),
        ("text", case.text.clone()),
    ];
    writeln!(out, "{}", case.name)?;
    for (label, value) in fields.iter().filter(|(_, v)| !v.is_empty()) {
        writeln!(out, "  {label:<12} {value}")?;
    }
    let mut table = output::table(["time", "action", "from", "to", "by", "reason"]);
    for entry in &history.entries {
        table.add_row([
            output::time(entry.time.as_ref()),
            entry.action.clone(),
            schema::CASE_STATUS.short(entry.from_status),
            schema::CASE_STATUS.short(entry.to_status),
            entry.actor.clone(),
            output::clip(&entry.reason, 40),
        ]);
    }
    writeln!(out, "\nhistory\n{table}")?;
    Ok(Outcome::Done)
}

fn changed(out: Out<'_>, case: &Case, json: bool) -> anyhow::Result<Outcome> {
    if json {
        output::json(out, &schema::to_json(case)?)?;
    } else {
        let owner = if case.owner_department.is_empty() { &case.department } else { &case.owner_department };
        writeln!(
            out,
            "{} is now {} (department {owner}, deadline {})",
            case.name,
            schema::CASE_STATUS.short(case.status),
            output::time(case.deadline.as_ref())
        )?;
    }
    Ok(Outcome::Done)
}
