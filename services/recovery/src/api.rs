//! The gRPC face of recovery.

use csm_kit::{Principal, Role, auth::Policy};
use csm_proto::recovery::v1::{
    Case, GetCaseRequest, ListCasesRequest, ListCasesResponse, ResolveCaseRequest,
    recovery_service_server::RecoveryService,
};
use tonic::{Request, Response, Status};

use crate::cases::Cases;

pub use csm_proto::recovery::v1::recovery_service_server::SERVICE_NAME as SERVICE;

pub fn policy() -> Policy {
    use Role::*;
    let readers = [Agent, Department, Analyst, Administrator];
    Policy::new()
        .allow(SERVICE, "GetCase", &readers)
        .allow(SERVICE, "ListCases", &readers)
        .allow(SERVICE, "ResolveCase", &[Department, Administrator])
        .allow_feed()
}

#[derive(Debug, Clone)]
pub struct RecoveryApi {
    cases: Cases,
}

impl RecoveryApi {
    pub fn new(cases: Cases) -> Self {
        Self { cases }
    }
}

#[tonic::async_trait]
impl RecoveryService for RecoveryApi {
    async fn get_case(&self, request: Request<GetCaseRequest>) -> Result<Response<Case>, Status> {
        let caller = Principal::of(&request)?;
        Ok(Response::new(self.cases.get(&request.get_ref().name, &caller).await?))
    }

    async fn list_cases(&self, request: Request<ListCasesRequest>) -> Result<Response<ListCasesResponse>, Status> {
        let caller = Principal::of(&request)?;
        Ok(Response::new(self.cases.list(request.get_ref(), &caller).await?))
    }

    async fn resolve_case(&self, request: Request<ResolveCaseRequest>) -> Result<Response<Case>, Status> {
        let caller = Principal::of(&request)?;
        Ok(Response::new(self.cases.resolve(request.get_ref(), &caller).await?))
    }
}
