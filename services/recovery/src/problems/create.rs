//! Raising a service problem: the caller's fields checked, each refusal naming its field.

use csm_kit::{Principal, error::Violations, names, time};
use csm_proto::{
    StoredEnum,
    recovery::v1::{CreateServiceProblemRequest, ServiceProblem, ServiceProblemOrigin, ServiceProblemStatus},
};
use uuid::Uuid;

use super::Problems;
use crate::{
    affected::{opening, stored_list, view},
    error::Error,
    store::{problems, service_problem},
    validate,
};

pub const MAX_REGION_CHARS: usize = 32;
const MAX_CATEGORY_CHARS: usize = 64;
const MAX_LEAF_CHARS: usize = 128;
const MAX_PRODUCTS: usize = 20;
const MAX_PRODUCT_CHARS: usize = 32;
const MAX_ALARMS: usize = 50;
const MAX_ALARM_CHARS: usize = 128;
const MAX_SERVICE_CHARS: usize = 200;
const DEFAULT_PRIORITY: i32 = 3;

/// A region code as intake keeps it: letters, digits, '_' and '-', at most 32.
pub fn region<'a>(violations: &mut Violations, field: &str, value: &'a str) -> &'a str {
    let value = value.trim();
    let well_formed = !value.is_empty()
        && value.len() <= MAX_REGION_CHARS
        && value.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'));
    if !well_formed {
        violations.add(field, "a region code: 1 to 32 letters, digits, '_' or '-'");
    }
    value
}

/// Text of at most `max` characters, trimmed.
fn short(violations: &mut Violations, field: &str, value: &str, max: usize) -> String {
    let value = value.trim();
    if value.chars().count() > max {
        violations.add(field, format!("at most {max} characters"));
    }
    value.to_string()
}

/// A leaf key of the taxonomy: no spaces or control characters, at most 128 characters.
fn leaf(violations: &mut Violations, value: &str) -> String {
    let value = value.trim();
    if value.is_empty() {
        violations.add("service_problem.leaf", "is required");
    } else if value.chars().count() > MAX_LEAF_CHARS || value.chars().any(|c| c.is_whitespace() || c.is_control()) {
        violations.add("service_problem.leaf", format!("a leaf key: at most {MAX_LEAF_CHARS} characters, no spaces"));
    }
    value.to_string()
}

fn products(violations: &mut Violations, values: &[String]) -> Vec<String> {
    let keys: Vec<String> = values.iter().map(|p| p.trim().to_lowercase()).filter(|p| !p.is_empty()).collect();
    let key_like = |p: &String| {
        p.len() <= MAX_PRODUCT_CHARS && p.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-'))
    };
    if keys.len() > MAX_PRODUCTS || !keys.iter().all(key_like) {
        violations.add(
            "service_problem.products",
            format!("at most {MAX_PRODUCTS} keys of letters, digits, '_' or '-' (at most {MAX_PRODUCT_CHARS} each)"),
        );
    }
    keys
}

fn alarms(violations: &mut Violations, values: &[String]) -> Vec<String> {
    let alarms: Vec<String> = values.iter().map(|a| a.trim().to_string()).collect();
    if alarms.len() > MAX_ALARMS
        || alarms.iter().any(|a| a.is_empty() || a.chars().count() > MAX_ALARM_CHARS || a.chars().any(char::is_control))
    {
        violations.add(
            "service_problem.underlying_alarms",
            format!("at most {MAX_ALARMS} identifiers of 1 to {MAX_ALARM_CHARS} characters"),
        );
    }
    alarms
}

impl Problems {
    pub async fn create(
        &self,
        request: &CreateServiceProblemRequest,
        caller: &Principal,
    ) -> Result<ServiceProblem, Error> {
        let now = self.context.now();
        let asked = request.service_problem.clone().unwrap_or_default();
        let mut violations = Violations::new();
        let description =
            validate::text(&mut violations, "service_problem.description", &asked.description, true).to_string();
        let category = short(&mut violations, "service_problem.category", &asked.category, MAX_CATEGORY_CHARS);
        let priority = match asked.priority {
            0 => DEFAULT_PRIORITY,
            p @ 1..=4 => p,
            _ => {
                violations.add("service_problem.priority", "1 (most urgent) to 4, or 0 for the default 3");
                DEFAULT_PRIORITY
            }
        };
        let leaf = leaf(&mut violations, &asked.leaf);
        let region = region(&mut violations, "service_problem.region", &asked.region).to_string();
        let products = products(&mut violations, &asked.products);
        let when = |violations: &mut Violations, field: &str, ts: Option<&prost_types::Timestamp>| {
            ts.map(|ts| match time::from_timestamp(ts) {
                Some(at) => time::micros(at),
                None => {
                    violations.add(field, "a valid time");
                    now
                }
            })
        };
        let start_at = when(&mut violations, "service_problem.start_time", asked.start_time.as_ref()).unwrap_or(now);
        let end_at = when(&mut violations, "service_problem.end_time", asked.end_time.as_ref());
        if end_at.is_some_and(|end| end <= start_at) {
            violations.add("service_problem.end_time", "after start_time");
        }
        let alarms = alarms(&mut violations, &asked.underlying_alarms);
        let root_cause_service =
            short(&mut violations, "service_problem.root_cause_service", &asked.root_cause_service, MAX_SERVICE_CHARS);
        let department = match asked.department.trim() {
            "" => self.context.rules.care_department.clone(),
            named => validate::department(&mut violations, "service_problem.department", named).to_string(),
        };
        let request_id = names::request_id(&mut violations, "request_id", &request.request_id);
        violations.into_result()?;

        let db = self.context.db();
        if let Some(key) = request_id
            && let Some(existing) = problems::by_request(db.reader(), key).await?
        {
            return Ok(view(&existing));
        }
        let row = service_problem::Model {
            id: Uuid::now_v7().to_string(),
            status: ServiceProblemStatus::Submitted.stored(),
            description,
            category,
            priority,
            leaf,
            region,
            products: stored_list(&products),
            start_at,
            end_at,
            origin: ServiceProblemOrigin::Raised.stored(),
            originator: caller.subject.clone(),
            underlying_alarms: stored_list(&alarms),
            root_cause_service,
            department,
            linked_cases: 0,
            cared_customers: 0,
            created_at: now,
            status_changed_at: now,
            status_change_reason: String::new(),
            resolved_at: None,
            resolution: None,
            request_id: request_id.map(str::to_string),
            change_request_id: None,
            version: 0,
        };
        let mut uow = self.context.publisher.begin().await?;
        let opened = opening::open(&self.context, &mut uow, row, &caller.subject).await?;
        uow.commit().await?;
        opening::counted(&opened);
        Ok(view(&opened))
    }
}
