//! What one survey answer does: a dissatisfied one is followed up (a reopened case or a detractor
//! task), a satisfied one recovers the customer's earlier loops.

use csm_kit::metrics::KeyValue;
use csm_kit::{
    Masked,
    feed::{HandleError, UnitOfWork, id_from_event, time_from_event},
    names, time,
};
use csm_proto::{
    StoredEnum,
    intake::v1::{Channel, SurveyAnswer, SurveyAnswered, SurveyScale},
    recovery::v1::{
        CareReason, CareTaskOpened, CaseStatus, CustomerHistory, DetractorAnswer, DetractorRoute, ReopenCause,
        Transition,
    },
};
use prost::Message;
use uuid::Uuid;

use super::{policy, recovered};
use crate::closed_loop::publish;
use crate::{
    care,
    cases::{
        change::{self, StepInput},
        write::write_from_feed,
    },
    lifecycle::Step,
    rules::Context,
    store::{self, care as care_store, care_task, case, detractor, detractors},
};

/// Cases read for a customer's history.
const HISTORY_CASES: u64 = 200;
/// Cases named in the history.
const RECENT_CASES: usize = 5;
const FROM_SURVEYS: &str = "survey";

pub async fn answered(context: &Context, uow: &mut UnitOfWork, answered: SurveyAnswered) -> Result<(), HandleError> {
    let Some(answer) = answered.survey_answer else {
        return Err(HandleError::Reject("SurveyAnswered without an answer".into()));
    };
    let id = id_from_event(&answer.name, names::SURVEY_ANSWERS)?;
    let phone = answer.phone_number.trim().to_string();
    if phone.is_empty() {
        return Err(HandleError::Reject(format!("{} has no phone number", answer.name)));
    }
    let answered_at = time::micros(time_from_event(answer.occurred_at.as_ref(), "survey answer occurred_at")?);
    let scale = SurveyScale::try_from(answer.scale).unwrap_or_default();
    match context.rules.dissatisfied(scale, answer.score) {
        None => return Ok(()),
        Some(false) => return recovered(uow, &phone, answered_at).await,
        Some(true) => {}
    }
    if detractors::by_answer(&**uow, &id).await?.is_some() {
        return Ok(());
    }
    let profile = answered.profile.unwrap_or_default();
    let case = match answer.work_order.trim() {
        "" => None,
        order => store::case_by_work_order(&**uow, &id_from_event(order, names::WORK_ORDERS)?).await?,
    };
    let history = history(context, uow, &phone, profile.vip_level).await?;
    let customer = policy::Customer {
        vip_level: profile.vip_level,
        high_frequency: history.high_frequency,
        appeal_risk: history.appeal_risk,
    };
    let (method, why) = policy::contact_method(&context.rules.detractors, &id, customer);
    let detractor_answer = detractor_answer(&answer, scale, answered_at);
    let mut row = detractor::Model {
        survey_answer_id: id.clone(),
        phone_number: phone.clone(),
        answer: detractor_answer.encode_to_vec(),
        answered_at,
        route: DetractorRoute::CareTask.stored(),
        case_id: case.as_ref().map(|c| c.id.clone()),
        care_task_id: None,
        department: String::new(),
        contact_method: method.stored(),
        contact_at: None,
        close_at: None,
        recover_at: None,
        region: profile.region.clone(),
        segment: profile.segment.clone(),
    };
    match case.filter(|c| reopenable(context, c, answered_at)) {
        Some(case) => {
            row.route = DetractorRoute::ReopenedCase.stored();
            row.department = case.owner_department.clone().unwrap_or_else(|| case.department.clone());
            reopen(context, uow, &case, &answer, scale).await?;
        }
        None => {
            row.department = department(context, row.case_id.as_deref(), &answer, uow).await?;
            let task = care_task::Model {
                id: Uuid::now_v7().to_string(),
                phone_number: phone.clone(),
                department: row.department.clone(),
                risk_score: 1.0,
                factors: "[]".into(),
                model_version: String::new(),
                created_at: context.now(),
                outcome: None,
                note: None,
                completed_at: None,
                completed_by: None,
                reason: CareReason::DetractorAnswer.stored(),
                survey_answer_id: Some(id.clone()),
                answer: Some(row.answer.clone()),
                history: Some(history.encode_to_vec()),
                contact_method: method.stored(),
                contact_reason: why.to_string(),
                follow_up_at: None,
                recover_at: None,
                case_id: row.case_id.clone(),
                service_problem_id: None,
            };
            care_store::insert(&**uow, task.clone()).await?;
            row.care_task_id = Some(task.id.clone());
            let task = care::view(&task);
            uow.publish(task.name.clone(), &CareTaskOpened { care_task: Some(task) });
        }
    }
    detractors::insert(&**uow, row.clone()).await?;
    publish(uow, &row);
    tracing::info!(
        answer = %answer.name, phone = %Masked(&phone), route = %row.route, department = %row.department,
        contact_method = %row.contact_method, contact_reason = why, "detractor followed up"
    );
    csm_kit::metrics::get().detractors.add(
        1,
        &[KeyValue::new("route", label(&row.route)), KeyValue::new("contact_method", label(&row.contact_method))],
    );
    Ok(())
}

/// The short lower-case form of a stored enum name for a metric label ("CONTACT_METHOD_SMS" → "sms").
fn label(stored: &str) -> String {
    let short = ["DETRACTOR_ROUTE_", "CONTACT_METHOD_"].iter().find_map(|p| stored.strip_prefix(p)).unwrap_or(stored);
    short.to_ascii_lowercase()
}

fn detractor_answer(answer: &SurveyAnswer, scale: SurveyScale, answered_at: i64) -> DetractorAnswer {
    DetractorAnswer {
        survey_answer: answer.name.clone(),
        scale: scale.stored(),
        score: answer.score,
        question: answer.question.clone(),
        indicator: answer.indicator.clone(),
        work_order: answer.work_order.clone(),
        comment: answer.comment.clone(),
        answer_time: Some(time::timestamp_from_micros(answered_at)),
        channel: Channel::try_from(answer.channel).unwrap_or_default().stored(),
    }
}

/// A case resolved or closed, at most `reopen_within` before the answer, goes back to work.
fn reopenable(context: &Context, case: &case::Model, answered_at: i64) -> bool {
    let done = matches!(store::status_of(case), CaseStatus::Resolved | CaseStatus::CallbackDone | CaseStatus::Closed);
    let window = time::duration_micros(context.rules.detractors.reopen_within);
    done && case.resolved_at.is_some_and(|resolved| answered_at >= resolved && answered_at - resolved <= window)
}

async fn reopen(
    context: &Context,
    uow: &mut UnitOfWork,
    case: &case::Model,
    answer: &SurveyAnswer,
    scale: SurveyScale,
) -> Result<(), HandleError> {
    let comment = if answer.comment.trim().is_empty() { String::new() } else { format!(": {}", answer.comment.trim()) };
    let input = StepInput {
        reason: format!("dissatisfied answer {} ({} {}){comment}", answer.name, scale.stored(), answer.score),
        reopen_cause: Some(ReopenCause::DetractorAnswer),
        survey_answer: answer.name.clone(),
        ..StepInput::default()
    };
    let step = Step::Transition(Transition::Reopen);
    let planned =
        change::plan(context, case, step, &input, context.now()).map_err(|e| HandleError::Reject(e.to_string()))?;
    write_from_feed(context, uow, planned, FROM_SURVEYS).await.map(drop)
}

/// Who must act on a detractor task: the department that owns the order's case, else the owner
/// of the indicator the answer counts towards, else the care department.
async fn department(
    context: &Context,
    case_id: Option<&str>,
    answer: &SurveyAnswer,
    uow: &mut UnitOfWork,
) -> Result<String, HandleError> {
    if let Some(id) = case_id
        && let Some(case) = store::case_by_id(&**uow, id).await?
    {
        let owner = case.owner_department.unwrap_or(case.department);
        if !owner.trim().is_empty() {
            return Ok(owner);
        }
    }
    let rules = &context.rules;
    Ok(rules
        .detractors
        .indicator_owners
        .get(answer.indicator.trim())
        .cloned()
        .unwrap_or_else(|| rules.care_department.clone()))
}

/// What the department should know of the customer before reaching them.
async fn history(
    context: &Context,
    uow: &mut UnitOfWork,
    phone: &str,
    vip_level: i32,
) -> Result<CustomerHistory, HandleError> {
    let cases = detractors::cases_of(&**uow, phone, HISTORY_CASES).await?;
    let now = context.now();
    let appeal_channels = [Channel::RegulatorAppeal.stored(), Channel::ConsumerAssociationAppeal.stored()];
    let at_risk = |c: &case::Model| detractors::unanswered(c) && now >= context.rules.appeal_risk_from(c.answer_due);
    let count = |keep: &dyn Fn(&case::Model) -> bool| {
        i32::try_from(cases.iter().filter(|c| keep(c)).count()).unwrap_or(i32::MAX)
    };
    Ok(CustomerHistory {
        cases: count(&|_| true),
        open_cases: count(&detractors::unanswered),
        reopened_cases: count(&|c| c.reopen_count > 0),
        earlier_detractor_answers: i32::try_from(detractors::count_for(&**uow, phone).await?).unwrap_or(i32::MAX),
        vip_level,
        high_frequency: detractors::is_high_frequency(&**uow, phone).await?,
        appeal_risk: cases.iter().any(|c| at_risk(c) || appeal_channels.contains(&c.channel)),
        recent_cases: cases.iter().take(RECENT_CASES).map(|c| format!("{}{}", names::CASES, c.id)).collect(),
    })
}
