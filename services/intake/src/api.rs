//! The gRPC face of intake: who may call what, and the handlers that turn calls into domain work.

use chrono::Utc;
use csm_kit::{Principal, Role, auth::Policy, group_commit::GroupCommit, handler::serve, names};
use csm_proto::intake::v1::{
    AddCustomerTagRequest, CreateProductEventRequest, CreateSurveyAnswerRequest, CreateUsageEventRequest, Customer,
    GetCustomerRequest, GetWorkOrderRequest, IngestRequest, ListHighFrequencyComplainantsRequest,
    ListHighFrequencyComplainantsResponse, ListWorkOrdersRequest, ListWorkOrdersResponse, ProductEvent,
    RemoveCustomerTagRequest, SubmitContactRequest, SubmitContactResponse, SurveyAnswer, UsageEvent, WorkOrder,
    intake_service_server::IntakeService,
};
use tonic::{Request, Response, Status, Streaming};

use crate::{
    customers::Customers,
    error::Error,
    ingest,
    queries::Queries,
    store,
    validate::Rules,
    write::{IntakeWriter, Item, Stored, Write},
};

pub use csm_proto::intake::v1::intake_service_server::SERVICE_NAME as SERVICE;

/// The roles allowed on each method.
pub fn policy() -> Policy {
    use Role::*;
    let readers = [ChannelSystem, Agent, Department, Analyst, Administrator];
    let recorders = [ChannelSystem, Agent, Administrator];
    Policy::new()
        .allow(SERVICE, "SubmitContact", &recorders)
        .allow(SERVICE, "GetWorkOrder", &readers)
        .allow(SERVICE, "ListWorkOrders", &readers)
        .allow(SERVICE, "GetCustomer", &[Agent, Department, Analyst, Administrator])
        .audit(SERVICE, "AddCustomerTag", &[Agent, Administrator])
        .audit(SERVICE, "RemoveCustomerTag", &[Agent, Administrator])
        .allow(SERVICE, "ListHighFrequencyComplainants", &[Agent, Department, Analyst, Administrator])
        .allow(SERVICE, "CreateUsageEvent", &[ChannelSystem, Administrator])
        .allow(SERVICE, "CreateProductEvent", &[ChannelSystem, Administrator])
        .allow(SERVICE, "CreateSurveyAnswer", &recorders)
        .allow(SERVICE, "Ingest", &[ChannelSystem, Administrator])
        .allow_feed()
}

#[derive(Debug, Clone)]
pub struct IntakeApi {
    rules: Rules,
    writer: GroupCommit<IntakeWriter>,
    customers: Customers,
    queries: Queries,
}

impl IntakeApi {
    pub fn new(rules: Rules, writer: GroupCommit<IntakeWriter>, customers: Customers, queries: Queries) -> Self {
        Self { rules, writer, customers, queries }
    }

    /// Stores `item` through the group commit, traced as the current request.
    async fn store(&self, item: Item) -> Result<Stored, Error> {
        Ok(self.writer.write(Write::traced(item)).await??.stored)
    }

    /// The work order `name`, if `caller` may see it: a department caller sees only the orders
    /// whose root cause its department is responsible for, and is refused the others whether or
    /// not they exist (AIP-211), so nothing leaks across departments.
    async fn work_order(&self, name: &str, caller: &Principal) -> Result<WorkOrder, Error> {
        let id = names::id_in("name", name, names::WORK_ORDERS)?;
        let db = self.queries_db();
        let found = store::work_order_by_id(db, id).await?;
        if let Some(own) = caller.confined_department()
            && found.as_ref().and_then(|order| order.department.as_deref()) != Some(own)
        {
            return Err(Error::PermissionDenied(format!("{name} is not a work order of the {own} department")));
        }
        found.as_ref().map(WorkOrder::from).ok_or_else(|| Error::NotFound(name.to_string()))
    }

    fn queries_db(&self) -> &sea_orm::DatabaseConnection {
        self.queries.database().reader()
    }

    /// Records a contact (and the work order it opens, if any).
    async fn submit(&self, request: &SubmitContactRequest, caller: &Principal) -> Result<SubmitContactResponse, Error> {
        let contact = self.rules.contact(request, Utc::now())?;
        match self.store(Item::Contact { contact, caller: caller.subject.clone() }).await? {
            Stored::Contact { contact, work_order } => Ok(SubmitContactResponse { contact: Some(contact), work_order }),
            other => Err(Error::Unexpected(other.kind())),
        }
    }

    async fn record_usage(&self, request: &CreateUsageEventRequest) -> Result<UsageEvent, Error> {
        let event = self.rules.usage_event(request, Utc::now())?;
        match self.store(Item::Usage(event)).await? {
            Stored::Usage(event) => Ok(event),
            other => Err(Error::Unexpected(other.kind())),
        }
    }

    async fn record_product(&self, request: &CreateProductEventRequest) -> Result<ProductEvent, Error> {
        let event = self.rules.product_event(request, Utc::now())?;
        match self.store(Item::Product(event)).await? {
            Stored::Product(event) => Ok(event),
            other => Err(Error::Unexpected(other.kind())),
        }
    }

    async fn record_survey(&self, request: &CreateSurveyAnswerRequest) -> Result<SurveyAnswer, Error> {
        let answer = self.rules.survey_answer(request, Utc::now())?;
        match self.store(Item::Survey(answer)).await? {
            Stored::Survey(answer) => Ok(answer),
            other => Err(Error::Unexpected(other.kind())),
        }
    }
}

#[tonic::async_trait]
impl IntakeService for IntakeApi {
    async fn submit_contact(
        &self,
        request: Request<SubmitContactRequest>,
    ) -> Result<Response<SubmitContactResponse>, Status> {
        serve(request, async |caller, body| self.submit(&body, &caller).await).await
    }

    async fn get_work_order(&self, request: Request<GetWorkOrderRequest>) -> Result<Response<WorkOrder>, Status> {
        serve(request, async |caller, body| self.work_order(&body.name, &caller).await).await
    }

    async fn list_work_orders(
        &self,
        request: Request<ListWorkOrdersRequest>,
    ) -> Result<Response<ListWorkOrdersResponse>, Status> {
        serve(request, async |caller, body| self.queries.work_orders(&body, &caller).await).await
    }

    async fn get_customer(&self, request: Request<GetCustomerRequest>) -> Result<Response<Customer>, Status> {
        serve(request, async |caller, body| self.customers.get(&body, &caller).await).await
    }

    async fn add_customer_tag(&self, request: Request<AddCustomerTagRequest>) -> Result<Response<Customer>, Status> {
        serve(request, async |caller, body| self.customers.add_tag(&body, &caller).await).await
    }

    async fn remove_customer_tag(
        &self,
        request: Request<RemoveCustomerTagRequest>,
    ) -> Result<Response<Customer>, Status> {
        serve(request, async |_, body| self.customers.remove_tag(&body).await).await
    }

    async fn list_high_frequency_complainants(
        &self,
        request: Request<ListHighFrequencyComplainantsRequest>,
    ) -> Result<Response<ListHighFrequencyComplainantsResponse>, Status> {
        serve(request, async |caller, body| self.queries.high_frequency(&body, &caller).await).await
    }

    async fn create_usage_event(
        &self,
        request: Request<CreateUsageEventRequest>,
    ) -> Result<Response<UsageEvent>, Status> {
        serve(request, async |_, body| self.record_usage(&body).await).await
    }

    async fn create_product_event(
        &self,
        request: Request<CreateProductEventRequest>,
    ) -> Result<Response<ProductEvent>, Status> {
        serve(request, async |_, body| self.record_product(&body).await).await
    }

    async fn create_survey_answer(
        &self,
        request: Request<CreateSurveyAnswerRequest>,
    ) -> Result<Response<SurveyAnswer>, Status> {
        serve(request, async |_, body| self.record_survey(&body).await).await
    }

    type IngestStream = ingest::ResultStream;

    async fn ingest(&self, request: Request<Streaming<IngestRequest>>) -> Result<Response<Self::IngestStream>, Status> {
        let caller = Principal::of(&request)?;
        let stream = ingest::start(self.writer.clone(), self.rules.clone(), &caller, request.into_inner());
        Ok(Response::new(stream))
    }
}
