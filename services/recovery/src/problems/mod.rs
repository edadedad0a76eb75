//! Service problems (重大故障) as callers see them: one fault behind the complaints of many
//! customers. The network operations centre raises one ([`create`]); recovery also finds one when
//! a leaf's complaints surge in a region ([`crate::affected`], which links cases and cares for the
//! area). A problem moves along its TMF656 lifecycle ([`status`], [`change`]); resolving it
//! resolves its linked cases with its explanation and schedules their callbacks, in the same
//! transaction.

mod change;
mod create;
mod status;

use csm_kit::{
    Principal,
    error::Violations,
    names::{self, SERVICE_PROBLEMS},
    paging,
};
use csm_proto::{
    StoredEnum,
    recovery::v1::{
        GetServiceProblemRequest, ListServiceProblemsRequest, ListServiceProblemsResponse, ServiceProblem,
        ServiceProblemStatus,
    },
};

use crate::{
    affected::view,
    error::Error,
    rules::Context,
    store::{
        problems::{self, ProblemFilter},
        service_problem,
    },
};

#[derive(Debug, Clone)]
pub struct Problems {
    context: Context,
}

impl Problems {
    pub fn new(context: Context) -> Self {
        Self { context }
    }

    /// The stored problem named `name`.
    async fn load(&self, name: &str) -> Result<service_problem::Model, Error> {
        let id = names::id_in("name", name, SERVICE_PROBLEMS)?;
        problems::by_id(self.context.db().reader(), id).await?.ok_or_else(|| Error::NotFound(name.to_string()))
    }

    pub async fn get(&self, request: &GetServiceProblemRequest, _caller: &Principal) -> Result<ServiceProblem, Error> {
        Ok(view(&self.load(&request.name).await?))
    }

    pub async fn list(
        &self,
        request: &ListServiceProblemsRequest,
        _caller: &Principal,
    ) -> Result<ListServiceProblemsResponse, Error> {
        let mut violations = Violations::new();
        let page_size = paging::page_size(request.page_size, 50, 500).unwrap_or_else(|v| {
            violations.merge(v);
            0
        });
        let status = match ServiceProblemStatus::try_from(request.status) {
            Ok(ServiceProblemStatus::Unspecified) => None,
            Ok(status) => Some(status.stored()),
            Err(_) => {
                violations.add("status", format!("unknown service problem status {}", request.status));
                None
            }
        };
        let region = request.region.trim();
        if region.len() > create::MAX_REGION_CHARS {
            violations.add("region", format!("at most {} characters", create::MAX_REGION_CHARS));
        }
        violations.into_result()?;
        let filter = ProblemFilter {
            status,
            region: (!region.is_empty()).then(|| region.to_string()),
            open_only: request.open_only,
        };
        let filters = paging::fingerprint(&[
            filter.status.as_deref().unwrap_or_default(),
            filter.region.as_deref().unwrap_or_default(),
            if filter.open_only { "open" } else { "" },
        ]);
        let before = paging::decode_keyset(&request.page_token, &filters)?;
        let mut rows = problems::list(self.context.db().reader(), &filter, before, page_size + 1).await?;
        let next_page_token = paging::next_page(&mut rows, page_size, &filters, |last| (last.created_at, &last.id));
        Ok(ListServiceProblemsResponse { service_problems: rows.iter().map(view).collect(), next_page_token })
    }
}
