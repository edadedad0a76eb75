//! The gRPC face of recovery. Roles are checked per method here; finer rules (which department
//! may take which step on which case) are checked where the step is taken.

use csm_kit::{Role, auth::Policy, group_commit::GroupCommit, handler::serve};
use csm_proto::recovery::v1::{
    CareTask, Case, CompleteProgrammeActionRequest, CompleteRecoveryActionRequest, CompleteSubTaskRequest,
    CreateProgrammeRequest, CreateRecoveryActionRequest, CreateServiceProblemRequest, DecideRecoveryActionRequest,
    GetCaseRequest, GetProgrammeRequest, GetServiceProblemRequest, ListCareTasksRequest, ListCareTasksResponse,
    ListCaseHistoryRequest, ListCaseHistoryResponse, ListCasesRequest, ListCasesResponse, ListProgrammesRequest,
    ListProgrammesResponse, ListRecoveryActionsRequest, ListRecoveryActionsResponse, ListServiceProblemsRequest,
    ListServiceProblemsResponse, ListSubTasksRequest, ListSubTasksResponse, Programme, RecordCallbackRequest,
    RecordCareOutcomeRequest, RecoveryAction, RequestHelpRequest, ResolveCaseRequest, ResolveServiceProblemRequest,
    ServiceProblem, SubTask, TransferCaseRequest, TransitionCaseRequest, TransitionServiceProblemRequest,
    recovery_service_server::RecoveryService,
};
use tonic::{Request, Response, Status};

use crate::{
    care::Care,
    cases::{Cases, write::CaseWriter},
    problems::Problems,
    programmes::Programmes,
    rules::Context,
};

pub use csm_proto::recovery::v1::recovery_service_server::SERVICE_NAME as SERVICE;

pub fn policy() -> Policy {
    use Role::*;
    let readers = [Agent, Department, Supervisor, Analyst, Administrator];
    let workers = [Agent, Department, Supervisor, Administrator];
    // Outside systems (a CRM, the network operations centre, through the TM Forum adapter) read
    // the cases behind their tickets and problems.
    let case_readers = [Agent, Department, Supervisor, Analyst, Administrator, Service];
    Policy::new()
        .allow(SERVICE, "GetCase", &case_readers)
        .allow(SERVICE, "ListCases", &case_readers)
        .allow(SERVICE, "ListCaseHistory", &case_readers)
        .allow(SERVICE, "TransitionCase", &workers)
        .allow(SERVICE, "ResolveCase", &[Department, Administrator])
        .allow(SERVICE, "RecordCallback", &[Agent, Service, Administrator])
        .audit(SERVICE, "TransferCase", &[Supervisor, Administrator])
        .allow(SERVICE, "RequestHelp", &[Department, Administrator])
        .allow(SERVICE, "CompleteSubTask", &[Department, Administrator])
        .allow(SERVICE, "ListSubTasks", &readers)
        .allow(SERVICE, "CreateRecoveryAction", &workers)
        .audit(SERVICE, "DecideRecoveryAction", &[Supervisor, Administrator])
        .allow(SERVICE, "CompleteRecoveryAction", &workers)
        .allow(SERVICE, "ListRecoveryActions", &readers)
        .audit(SERVICE, "CreateProgramme", &[Supervisor, Administrator])
        .allow(SERVICE, "GetProgramme", &readers)
        .allow(SERVICE, "ListProgrammes", &readers)
        .allow(SERVICE, "CompleteProgrammeAction", &[Department, Supervisor, Administrator])
        .allow(SERVICE, "ListCareTasks", &readers)
        .allow(SERVICE, "RecordCareOutcome", &workers)
        .allow(SERVICE, "CreateServiceProblem", &[Service, Supervisor, Administrator])
        .allow(SERVICE, "GetServiceProblem", &[Agent, Department, Supervisor, Analyst, Administrator, Service])
        .allow(SERVICE, "ListServiceProblems", &[Agent, Department, Supervisor, Analyst, Administrator, Service])
        .allow(SERVICE, "TransitionServiceProblem", &[Service, Department, Supervisor, Administrator])
        .allow(SERVICE, "ResolveServiceProblem", &[Service, Department, Supervisor, Administrator])
        .allow_feed()
}

#[derive(Debug, Clone)]
pub struct RecoveryApi {
    cases: Cases,
    programmes: Programmes,
    care: Care,
    problems: Problems,
}

impl RecoveryApi {
    pub fn new(context: Context, changes: GroupCommit<CaseWriter>) -> Self {
        Self {
            cases: Cases::new(context.clone(), changes),
            programmes: Programmes::new(context.clone()),
            care: Care::new(context.clone()),
            problems: Problems::new(context),
        }
    }
}

#[tonic::async_trait]
impl RecoveryService for RecoveryApi {
    async fn get_case(&self, request: Request<GetCaseRequest>) -> Result<Response<Case>, Status> {
        serve(request, async |caller, body| self.cases.get(&body.name, &caller).await).await
    }

    async fn list_cases(&self, request: Request<ListCasesRequest>) -> Result<Response<ListCasesResponse>, Status> {
        serve(request, async |caller, body| self.cases.list(&body, &caller).await).await
    }

    async fn list_case_history(
        &self,
        request: Request<ListCaseHistoryRequest>,
    ) -> Result<Response<ListCaseHistoryResponse>, Status> {
        serve(request, async |caller, body| self.cases.history(&body.name, &caller).await).await
    }

    async fn transition_case(&self, request: Request<TransitionCaseRequest>) -> Result<Response<Case>, Status> {
        serve(request, async |caller, body| self.cases.transition(&body, &caller).await).await
    }

    async fn resolve_case(&self, request: Request<ResolveCaseRequest>) -> Result<Response<Case>, Status> {
        serve(request, async |caller, body| self.cases.resolve(&body, &caller).await).await
    }

    async fn record_callback(&self, request: Request<RecordCallbackRequest>) -> Result<Response<Case>, Status> {
        serve(request, async |caller, body| self.cases.record_callback(&body, &caller).await).await
    }

    async fn transfer_case(&self, request: Request<TransferCaseRequest>) -> Result<Response<Case>, Status> {
        serve(request, async |caller, body| self.cases.transfer(&body, &caller).await).await
    }

    async fn request_help(&self, request: Request<RequestHelpRequest>) -> Result<Response<SubTask>, Status> {
        serve(request, async |caller, body| self.cases.request_help(&body, &caller).await).await
    }

    async fn complete_sub_task(&self, request: Request<CompleteSubTaskRequest>) -> Result<Response<SubTask>, Status> {
        serve(request, async |caller, body| self.cases.complete_sub_task(&body, &caller).await).await
    }

    async fn list_sub_tasks(
        &self,
        request: Request<ListSubTasksRequest>,
    ) -> Result<Response<ListSubTasksResponse>, Status> {
        serve(request, async |caller, body| self.cases.list_sub_tasks(&body, &caller).await).await
    }

    async fn create_recovery_action(
        &self,
        request: Request<CreateRecoveryActionRequest>,
    ) -> Result<Response<RecoveryAction>, Status> {
        serve(request, async |caller, body| self.cases.create_recovery_action(&body, &caller).await).await
    }

    async fn decide_recovery_action(
        &self,
        request: Request<DecideRecoveryActionRequest>,
    ) -> Result<Response<RecoveryAction>, Status> {
        serve(request, async |caller, body| self.cases.decide_recovery_action(&body, &caller).await).await
    }

    async fn complete_recovery_action(
        &self,
        request: Request<CompleteRecoveryActionRequest>,
    ) -> Result<Response<RecoveryAction>, Status> {
        serve(request, async |caller, body| self.cases.complete_recovery_action(&body, &caller).await).await
    }

    async fn list_recovery_actions(
        &self,
        request: Request<ListRecoveryActionsRequest>,
    ) -> Result<Response<ListRecoveryActionsResponse>, Status> {
        serve(request, async |caller, body| self.cases.list_recovery_actions(&body, &caller).await).await
    }

    async fn create_programme(&self, request: Request<CreateProgrammeRequest>) -> Result<Response<Programme>, Status> {
        serve(request, async |caller, body| self.programmes.create(&body, &caller).await).await
    }

    async fn get_programme(&self, request: Request<GetProgrammeRequest>) -> Result<Response<Programme>, Status> {
        serve(request, async |caller, body| self.programmes.get(&body, &caller).await).await
    }

    async fn list_programmes(
        &self,
        request: Request<ListProgrammesRequest>,
    ) -> Result<Response<ListProgrammesResponse>, Status> {
        serve(request, async |caller, body| self.programmes.list(&body, &caller).await).await
    }

    async fn complete_programme_action(
        &self,
        request: Request<CompleteProgrammeActionRequest>,
    ) -> Result<Response<Programme>, Status> {
        serve(request, async |caller, body| self.programmes.complete_action(&body, &caller).await).await
    }

    async fn list_care_tasks(
        &self,
        request: Request<ListCareTasksRequest>,
    ) -> Result<Response<ListCareTasksResponse>, Status> {
        serve(request, async |caller, body| self.care.list(&body, &caller).await).await
    }

    async fn record_care_outcome(
        &self,
        request: Request<RecordCareOutcomeRequest>,
    ) -> Result<Response<CareTask>, Status> {
        serve(request, async |caller, body| self.care.record_outcome(&body, &caller).await).await
    }

    async fn create_service_problem(
        &self,
        request: Request<CreateServiceProblemRequest>,
    ) -> Result<Response<ServiceProblem>, Status> {
        serve(request, async |caller, body| self.problems.create(&body, &caller).await).await
    }

    async fn get_service_problem(
        &self,
        request: Request<GetServiceProblemRequest>,
    ) -> Result<Response<ServiceProblem>, Status> {
        serve(request, async |caller, body| self.problems.get(&body, &caller).await).await
    }

    async fn list_service_problems(
        &self,
        request: Request<ListServiceProblemsRequest>,
    ) -> Result<Response<ListServiceProblemsResponse>, Status> {
        serve(request, async |caller, body| self.problems.list(&body, &caller).await).await
    }

    async fn transition_service_problem(
        &self,
        request: Request<TransitionServiceProblemRequest>,
    ) -> Result<Response<ServiceProblem>, Status> {
        serve(request, async |caller, body| self.problems.transition(&body, &caller).await).await
    }

    async fn resolve_service_problem(
        &self,
        request: Request<ResolveServiceProblemRequest>,
    ) -> Result<Response<ServiceProblem>, Status> {
        serve(request, async |caller, body| self.problems.resolve(&body, &caller).await).await
    }
}
