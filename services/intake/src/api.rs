//! The gRPC face of intake: who may call what, and the handlers that turn calls into domain work.

use csm_kit::{Principal, Role, auth::Policy};
use csm_proto::intake::v1::{
    GetWorkOrderRequest, SubmitContactRequest, SubmitContactResponse, WorkOrder, intake_service_server::IntakeService,
};
use tonic::{Request, Response, Status};

use crate::contacts::Contacts;

pub use csm_proto::intake::v1::intake_service_server::SERVICE_NAME as SERVICE;

/// The roles allowed on each method.
pub fn policy() -> Policy {
    use Role::*;
    Policy::new()
        .allow(SERVICE, "SubmitContact", &[ChannelSystem, Agent, Administrator])
        .allow(SERVICE, "GetWorkOrder", &[ChannelSystem, Agent, Department, Analyst, Administrator])
        .allow_feed()
}

#[derive(Debug, Clone)]
pub struct IntakeApi {
    contacts: Contacts,
}

impl IntakeApi {
    pub fn new(contacts: Contacts) -> Self {
        Self { contacts }
    }
}

#[tonic::async_trait]
impl IntakeService for IntakeApi {
    async fn submit_contact(
        &self,
        request: Request<SubmitContactRequest>,
    ) -> Result<Response<SubmitContactResponse>, Status> {
        let caller = Principal::of(&request)?;
        let response = self.contacts.submit(request.into_inner(), &caller).await?;
        Ok(Response::new(response))
    }

    async fn get_work_order(&self, request: Request<GetWorkOrderRequest>) -> Result<Response<WorkOrder>, Status> {
        let work_order = self.contacts.work_order(&request.get_ref().name).await?;
        Ok(Response::new(work_order))
    }
}
