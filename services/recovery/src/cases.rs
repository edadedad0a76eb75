//! Working cases: reading them and resolving them, as a department or an administrator.
//!
//! A caller confined to a department (the department role without a wider one) sees and acts on
//! that department's cases only. Following AIP-211, such a caller gets PERMISSION_DENIED for any
//! case outside its reach, whether or not the case exists, so nothing leaks across departments.

use csm_kit::{Masked, Principal, error::Violations, feed::Publisher, names, paging, time};
use csm_proto::recovery::v1::{
    Case, CaseResolved, CaseStatus, ListCasesRequest, ListCasesResponse, ResolveCaseRequest,
};

use crate::{
    error::Error,
    store::{self, CaseFilter, Resolution, case},
};

const MAX_RESOLUTION_CHARS: usize = 2000;
const MAX_REQUEST_ID: usize = 128;

#[derive(Debug, Clone)]
pub struct Cases {
    publisher: Publisher,
}

impl Cases {
    pub fn new(publisher: Publisher) -> Self {
        Self { publisher }
    }

    pub async fn get(&self, name: &str, caller: &Principal) -> Result<Case, Error> {
        let row = self.visible_case(name, caller).await?;
        Ok(Case::from(&row))
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

        let department = match caller.confined_department() {
            Some(own) if !request.department.is_empty() && request.department != own => {
                return Err(Error::PermissionDenied(format!(
                    "a {own} caller may list only its own department's cases"
                )));
            }
            Some(own) => Some(own.to_string()),
            None => (!request.department.is_empty()).then(|| request.department.clone()),
        };
        let filter = CaseFilter {
            department,
            status,
            phone_number: (!request.phone_number.is_empty()).then(|| request.phone_number.clone()),
        };
        let filters = paging::fingerprint(&[
            filter.department.as_deref().unwrap_or_default(),
            &request.status.to_string(),
            filter.phone_number.as_deref().unwrap_or_default(),
        ]);
        let after = match paging::decode_token(&request.page_token, &filters)? {
            None => None,
            Some(position) => Some(parse_position(&position)?),
        };

        let mut rows = store::list_cases(self.publisher.database().reader(), &filter, after, page_size + 1).await?;
        let more = rows.len() as u64 > page_size;
        rows.truncate(usize::try_from(page_size).unwrap_or(usize::MAX));
        let next_page_token = match rows.last() {
            Some(last) if more => paging::encode_token(&filters, &format!("{}:{}", last.deadline, last.id)),
            _ => String::new(),
        };
        Ok(ListCasesResponse { cases: rows.iter().map(Case::from).collect(), next_page_token })
    }

    pub async fn resolve(&self, request: &ResolveCaseRequest, caller: &Principal) -> Result<Case, Error> {
        let mut violations = Violations::new();
        let resolution = request.resolution.trim();
        if resolution.is_empty() {
            violations.add("resolution", "must say what was done");
        } else if resolution.chars().count() > MAX_RESOLUTION_CHARS {
            violations.add("resolution", format!("at most {MAX_RESOLUTION_CHARS} characters"));
        }
        let request_id = request.request_id.trim();
        if request_id.chars().count() > MAX_REQUEST_ID || request_id.chars().any(|c| !c.is_ascii_graphic()) {
            violations.add("request_id", format!("at most {MAX_REQUEST_ID} printable ASCII characters"));
        }
        violations.into_result()?;

        let row = self.visible_case(&request.name, caller).await?;
        let status = store::status_of(&row);
        if status == CaseStatus::Resolved
            && !request_id.is_empty()
            && row.resolve_request_id.as_deref() == Some(request_id)
        {
            return Ok(Case::from(&row));
        }
        if status != CaseStatus::Dispatched {
            return Err(Error::NotResolvable { name: request.name.clone(), status });
        }

        let resolved_at = time::now_micros();
        let on_time = resolved_at <= row.deadline;
        let mut uow = self.publisher.begin().await?;
        let resolved = store::resolve(
            &*uow,
            &row.id,
            Resolution {
                resolution: resolution.to_string(),
                resolved_by: caller.subject.clone(),
                resolved_at,
                on_time,
                request_id: (!request_id.is_empty()).then(|| request_id.to_string()),
            },
        )
        .await?;
        if !resolved {
            // Another caller changed the case between our read and our write.
            uow.rollback().await?;
            let current = store::case_by_id(self.publisher.database().reader(), &row.id).await?;
            return Err(Error::NotResolvable {
                name: request.name.clone(),
                status: current.as_ref().map_or(CaseStatus::Unspecified, store::status_of),
            });
        }
        store::record_transition(
            &*uow,
            &row.id,
            Some(CaseStatus::Dispatched),
            CaseStatus::Resolved,
            &caller.subject,
            resolution,
        )
        .await?;
        let updated = store::case_by_id(&*uow, &row.id).await?.ok_or_else(|| Error::NotFound(request.name.clone()))?;
        let case = Case::from(&updated);
        uow.publish(case.name.clone(), &CaseResolved { case: Some(case.clone()) });
        uow.commit().await?;
        tracing::info!(
            case = %case.name,
            phone = %Masked(&case.phone_number),
            department = %case.department,
            on_time,
            by = %caller.subject,
            "case resolved"
        );
        Ok(case)
    }

    /// The case named `name`, if `caller` may see it.
    async fn visible_case(&self, name: &str, caller: &Principal) -> Result<case::Model, Error> {
        let id = names::id_in("name", name, store::CASES)?;
        let row = store::case_by_id(self.publisher.database().reader(), id).await?;
        match (caller.confined_department(), row) {
            (Some(own), Some(row)) if row.department == own => Ok(row),
            (Some(own), _) => Err(Error::PermissionDenied(format!("{name} is not a case of the {own} department"))),
            (None, Some(row)) => Ok(row),
            (None, None) => Err(Error::NotFound(name.to_string())),
        }
    }
}

fn parse_position(position: &str) -> Result<(i64, String), Violations> {
    let invalid = || Violations::one("page_token", "not a token this listing issued");
    let (deadline, id) = position.split_once(':').ok_or_else(invalid)?;
    Ok((deadline.parse().map_err(|_| invalid())?, id.to_string()))
}
