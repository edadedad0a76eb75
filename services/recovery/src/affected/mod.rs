//! What a service problem (重大故障) affects, kept up on the dispatch path: the cases of its leaf
//! and region raised within its window are linked to it as they are dispatched ([`linking`]); when
//! a leaf's complaints surge in a region recovery opens a problem itself ([`detection`]). A problem,
//! raised or detected, is opened one way ([`opening`]): the open cases in its window linked, and
//! the customers of its area who have not complained given proactive care ([`care`]).

pub mod care;
pub mod detection;
pub mod linking;
pub mod opening;

use csm_kit::{names::SERVICE_PROBLEMS, time};
use csm_proto::{
    StoredEnum,
    recovery::v1::{ServiceProblem, ServiceProblemOrigin, ServiceProblemStatus},
};

use crate::store::{case, service_problem};

/// Whether a case has an area (a leaf and a region): only such a case can fall under a problem or
/// be part of a surge.
fn has_area(row: &case::Model) -> bool {
    !row.region.is_empty() && !row.leaf.is_empty()
}

/// A JSON array of strings as stored; empty when it does not parse.
pub fn list_of(stored: &str) -> Vec<String> {
    serde_json::from_str(stored).unwrap_or_default()
}

/// The stored form of a list of strings.
pub fn stored_list(values: &[String]) -> String {
    serde_json::to_string(values).unwrap_or_else(|_| "[]".into())
}

/// A stored problem as the API and the feed show it.
pub fn view(row: &service_problem::Model) -> ServiceProblem {
    let timestamp = time::timestamp_from_micros;
    ServiceProblem {
        name: format!("{SERVICE_PROBLEMS}{}", row.id),
        status: ServiceProblemStatus::from_stored(&row.status) as i32,
        description: row.description.clone(),
        category: row.category.clone(),
        priority: row.priority,
        leaf: row.leaf.clone(),
        region: row.region.clone(),
        products: list_of(&row.products),
        start_time: Some(timestamp(row.start_at)),
        end_time: row.end_at.map(timestamp),
        origin: ServiceProblemOrigin::from_stored(&row.origin) as i32,
        originator: row.originator.clone(),
        underlying_alarms: list_of(&row.underlying_alarms),
        root_cause_service: row.root_cause_service.clone(),
        department: row.department.clone(),
        linked_cases: row.linked_cases,
        cared_customers: row.cared_customers,
        create_time: Some(timestamp(row.created_at)),
        status_change_time: Some(timestamp(row.status_changed_at)),
        status_change_reason: row.status_change_reason.clone(),
        resolve_time: row.resolved_at.map(timestamp),
        resolution: row.resolution.clone().unwrap_or_default(),
    }
}
