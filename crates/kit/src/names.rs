//! The words every service shares, defined once: resource names (AIP-122: `workOrders/{id}`,
//! `cases/{id}`, ...; requests carry names, storage keeps ids), the resource type each collection
//! holds (named in NOT_FOUND details), and request ids (the idempotency keys callers send).

use tonic::Status;

use crate::error::{self, Violations};

/// Intake's collections.
pub const CONTACTS: &str = "contacts/";
pub const WORK_ORDERS: &str = "workOrders/";
pub const CUSTOMERS: &str = "customers/";
pub const USAGE_EVENTS: &str = "usageEvents/";
pub const PRODUCT_EVENTS: &str = "productEvents/";
pub const SURVEY_ANSWERS: &str = "surveyAnswers/";
/// Classification's collections.
pub const TAXONOMIES: &str = "taxonomies/";
pub const TEXT_MODELS: &str = "textModels/";
pub const RISK_MODELS: &str = "riskModels/";
pub const TRAINING_JOBS: &str = "trainingJobs/";
/// Recovery's collections.
pub const CASES: &str = "cases/";
pub const RECOVERY_ACTIONS: &str = "recoveryActions/";
pub const PROGRAMMES: &str = "programmes/";
pub const CARE_TASKS: &str = "careTasks/";
pub const SERVICE_PROBLEMS: &str = "serviceProblems/";
/// Measurement's collections.
pub const INDICATORS: &str = "indicators/";
pub const INDEX_MODELS: &str = "indexModels/";
pub const AUDITS: &str = "audits/";
pub const AUDIT_CHECKLISTS: &str = "auditChecklists/";
pub const BENCHMARKS: &str = "benchmarks/";

/// Each collection with the type of resource it holds.
const TYPES: [(&str, &str); 20] = [
    (CONTACTS, "Contact"),
    (WORK_ORDERS, "WorkOrder"),
    (CUSTOMERS, "Customer"),
    (USAGE_EVENTS, "UsageEvent"),
    (PRODUCT_EVENTS, "ProductEvent"),
    (SURVEY_ANSWERS, "SurveyAnswer"),
    (TAXONOMIES, "Taxonomy"),
    (TEXT_MODELS, "TextModel"),
    (RISK_MODELS, "RiskModel"),
    (TRAINING_JOBS, "TrainingJob"),
    (CASES, "Case"),
    (RECOVERY_ACTIONS, "RecoveryAction"),
    (PROGRAMMES, "Programme"),
    (CARE_TASKS, "CareTask"),
    (SERVICE_PROBLEMS, "ServiceProblem"),
    (INDICATORS, "Indicator"),
    (INDEX_MODELS, "IndexModel"),
    (AUDITS, "Audit"),
    (AUDIT_CHECKLISTS, "AuditChecklist"),
    (BENCHMARKS, "Benchmark"),
];

/// The type of resource `name` names, by its collection: "WorkOrder" for `workOrders/42`, and
/// "SubTask" for `cases/1/subTasks/2`; "Resource" for a name of no known collection.
pub fn resource_type(name: &str) -> &'static str {
    if name.starts_with(CASES) && name.contains("/subTasks/") {
        return "SubTask";
    }
    if name.starts_with(WORK_ORDERS) && name.ends_with("/classification") {
        return "Classification";
    }
    TYPES.iter().find(|(collection, _)| name.starts_with(collection)).map_or("Resource", |(_, kind)| kind)
}

/// NOT_FOUND for the resource `name`, its type told by its collection.
pub fn not_found(name: &str) -> Status {
    error::not_found(resource_type(name), name)
}

/// The name of the resource `id` in `collection`.
pub fn name_of(collection: &str, id: &str) -> String {
    format!("{collection}{id}")
}

/// Longest request id accepted.
pub const MAX_REQUEST_ID: usize = 128;

/// A caller's request id (idempotency key, usually a UUID), checked once for every service: at
/// most [`MAX_REQUEST_ID`] printable ASCII characters, surrounding spaces ignored. Empty means
/// the caller sent none.
pub fn request_id<'a>(violations: &mut Violations, field: &str, value: &'a str) -> Option<&'a str> {
    let value = value.trim();
    if value.is_empty() {
        return None;
    }
    if value.len() > MAX_REQUEST_ID || !value.bytes().all(|b| b.is_ascii_graphic()) {
        violations.add(field, format!("at most {MAX_REQUEST_ID} printable ASCII characters"));
        return None;
    }
    Some(value)
}

/// The id in `name`, which must be `{collection}{id}` with a non-empty id and no further segment;
/// `field` names the request field in the error.
pub fn id_in<'a>(field: &str, name: &'a str, collection: &str) -> Result<&'a str, Violations> {
    match name.strip_prefix(collection) {
        Some(id) if !id.is_empty() && !id.contains('/') && id.len() <= 64 => Ok(id),
        _ => Err(Violations::one(field, format!("must be a resource name like {collection}{{id}}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_only_names_of_the_collection() {
        assert_eq!(id_in("name", "cases/42", "cases/").unwrap(), "42");
        assert!(id_in("name", "cases/", "cases/").is_err());
        assert!(id_in("name", "workOrders/42", "cases/").is_err());
        assert!(id_in("name", "cases/42/x", "cases/").is_err());
    }

    #[test]
    fn a_name_tells_its_resource_type() {
        assert_eq!(resource_type("workOrders/42"), "WorkOrder");
        assert_eq!(resource_type("workOrders/42/classification"), "Classification");
        assert_eq!(resource_type("cases/1/subTasks/2"), "SubTask");
        assert_eq!(resource_type("indicators/nps"), "Indicator");
        assert_eq!(resource_type("elsewhere/1"), "Resource");
    }

    #[test]
    fn request_ids_are_short_printable_ascii() {
        let mut violations = Violations::new();
        assert_eq!(request_id(&mut violations, "request_id", ""), None);
        assert_eq!(request_id(&mut violations, "request_id", "0190-a"), Some("0190-a"));
        assert!(violations.is_empty());
        assert_eq!(request_id(&mut violations, "request_id", &"x".repeat(129)), None);
        assert_eq!(request_id(&mut violations, "request_id", "有 空格"), None);
        assert_eq!(violations.fields().count(), 2);
        assert_eq!(request_id(&mut violations, "request_id", &"x".repeat(128)).map(str::len), Some(128));
    }
}
