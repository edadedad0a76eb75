//! Proactive care of a problem's area: the customers recovery knows in its region (holding one of
//! its products, when it names any) who have no case linked to it are reached before they
//! complain, by the problem's department. Recovery learns where customers live and what they hold
//! from the profiles intake's work orders and survey answers carry ([`remember`]).

use std::collections::HashSet;

use csm_kit::{feed::UnitOfWork, time};
use csm_proto::{
    StoredEnum,
    intake::v1::CustomerProfile,
    recovery::v1::{CareReason, CareTaskOpened, ContactMethod},
};
use sea_orm::{ConnectionTrait, DbErr, IntoActiveModel};
use uuid::Uuid;

use super::{list_of, stored_list};
use crate::{
    config::DetractorSettings,
    rules::Context,
    store::{care_task, known_customer, problems, service_problem},
};

/// Known customers read at a time while choosing whom to care for.
const PAGE: u64 = 1_000;

/// Remembers the region, products and VIP level of `phone` from a profile seen at `at`; a profile
/// without a region says nothing recovery can use.
pub async fn remember(
    db: &impl ConnectionTrait,
    phone: &str,
    profile: Option<&CustomerProfile>,
    at: Option<&prost_types::Timestamp>,
) -> Result<(), DbErr> {
    match known(phone, profile, at) {
        Some(row) => problems::remember_customer(db, row).await,
        None => Ok(()),
    }
}

/// What [`remember`] would store of a profile, for a batch to remember with others; `None` for
/// a profile without a region or a customer without a phone number.
pub fn known(
    phone: &str,
    profile: Option<&CustomerProfile>,
    at: Option<&prost_types::Timestamp>,
) -> Option<known_customer::Model> {
    let (profile, phone) = (profile?, phone.trim());
    let region = profile.region.trim();
    if region.is_empty() || phone.is_empty() {
        return None;
    }
    let products: Vec<String> =
        profile.products.iter().map(|p| p.trim().to_lowercase()).filter(|p| !p.is_empty()).collect();
    let changed_at = at.and_then(time::from_timestamp).map_or(0, time::micros);
    Some(known_customer::Model {
        phone_number: phone.to_string(),
        region: region.to_string(),
        products: stored_list(&products),
        vip_level: profile.vip_level,
        changed_at,
    })
}

/// How a customer of the area is reached: by SMS, unless their VIP level is one the operator
/// always phones (`recovery.detractors.always_phone_vip_level`, as for detractors).
fn contact_method(settings: &DetractorSettings, vip_level: i32) -> (ContactMethod, &'static str) {
    if settings.always_phone_vip_level > 0 && vip_level >= settings.always_phone_vip_level {
        (ContactMethod::Phone, "vip")
    } else {
        (ContactMethod::Sms, "service_problem")
    }
}

/// Up to `limit` customers of the problem's area to care for, leaving out those in `complained`.
pub async fn candidates(
    uow: &UnitOfWork,
    problem: &service_problem::Model,
    complained: &HashSet<String>,
    limit: u32,
) -> Result<Vec<known_customer::Model>, DbErr> {
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    let products = list_of(&problem.products);
    let holds = |customer: &known_customer::Model| {
        products.is_empty() || list_of(&customer.products).iter().any(|p| products.contains(p))
    };
    let mut chosen = Vec::new();
    let mut after = String::new();
    while chosen.len() < limit {
        let page = problems::customers_in(&**uow, &problem.region, &after, PAGE).await?;
        let Some(last) = page.last() else {
            break;
        };
        after = last.phone_number.clone();
        let full = page.len() as u64 == PAGE;
        chosen.extend(page.into_iter().filter(|c| holds(c) && !complained.contains(&c.phone_number)));
        if !full {
            break;
        }
    }
    chosen.truncate(limit);
    Ok(chosen)
}

/// Opens a care task for each of `customers` for the problem's department, announced with
/// CareTaskOpened.
pub async fn open_tasks(
    context: &Context,
    uow: &mut UnitOfWork,
    problem: &service_problem::Model,
    customers: Vec<known_customer::Model>,
) -> Result<(), DbErr> {
    let now = context.now();
    let rows: Vec<care_task::Model> = customers
        .into_iter()
        .map(|customer| {
            let (method, why) = contact_method(&context.rules.detractors, customer.vip_level);
            care_task::Model {
                id: Uuid::now_v7().to_string(),
                phone_number: customer.phone_number,
                department: problem.department.clone(),
                risk_score: 1.0,
                factors: "[]".into(),
                model_version: String::new(),
                created_at: now,
                outcome: None,
                note: None,
                completed_at: None,
                completed_by: None,
                reason: CareReason::ServiceProblem.stored(),
                survey_answer_id: None,
                answer: None,
                history: None,
                contact_method: method.stored(),
                contact_reason: why.to_string(),
                follow_up_at: None,
                recover_at: None,
                case_id: None,
                service_problem_id: Some(problem.id.clone()),
            }
        })
        .collect();
    for row in &rows {
        let task = crate::care::view(row);
        uow.publish(task.name.clone(), &CareTaskOpened { care_task: Some(task) });
    }
    csm_kit::bulk::insert_all(&**uow, rows.into_iter().map(IntoActiveModel::into_active_model).collect()).await
}
