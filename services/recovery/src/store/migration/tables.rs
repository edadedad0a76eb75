//! The names of recovery's tables and columns, as the migrations create them.

use sea_orm_migration::prelude::*;

#[derive(DeriveIden)]
pub enum CaseFile {
    Table,
    Id,
    WorkOrderId,
    PhoneNumber,
    Channel,
    Text,
    Status,
    Department,
    Leaf,
    Path,
    TaxonomyVersion,
    OpenedAt,
    DispatchedAt,
    Deadline,
    ResolvedAt,
    Resolution,
    ResolvedBy,
    ResolvedOnTime,
    ResolveRequestId,
    OwnerDepartment,
    ContactType,
    TimeLimit,
    PromisedAt,
    PausedAt,
    PauseReason,
    EscalationLevel,
    CallbackDue,
    CallbackOutcome,
    CallbackAt,
    ReopenCount,
    Version,
    AnswerDue,
    AppealRiskLevel,
    Region,
    ServiceProblemId,
}

#[derive(DeriveIden)]
pub enum CaseTransition {
    Table,
    Id,
    CaseId,
    FromStatus,
    ToStatus,
    Actor,
    Reason,
    At,
    Action,
    RequestId,
}

#[derive(DeriveIden)]
pub enum SubTask {
    Table,
    Id,
    CaseId,
    Department,
    Request,
    RequestedBy,
    CreatedAt,
    Deadline,
    CompletedAt,
    Reply,
    CompletedBy,
    RequestId,
}

#[derive(DeriveIden)]
pub enum RecoveryAction {
    Table,
    Id,
    PhoneNumber,
    CaseId,
    Kind,
    Description,
    Amount,
    Status,
    CreatedBy,
    Department,
    CreatedAt,
    DecidedBy,
    FirstApprovedBy,
    DecisionNote,
    Outcome,
    OutcomeNote,
    CompletedAt,
    RequestId,
}

#[derive(DeriveIden)]
pub enum Programme {
    Table,
    Id,
    Title,
    Leaf,
    Shortfall,
    OwnerDepartment,
    Status,
    Deadline,
    CreatedAt,
    CreatedBy,
    CompletedAt,
    VerificationWindow,
    EscalationLevel,
    RequestId,
}

#[derive(DeriveIden)]
pub enum ProgrammeAction {
    Table,
    ProgrammeId,
    Position,
    Description,
    Deadline,
    CompletedAt,
    CompletedBy,
    Note,
}

#[derive(DeriveIden)]
pub enum CareTask {
    Table,
    Id,
    PhoneNumber,
    Department,
    RiskScore,
    Factors,
    ModelVersion,
    CreatedAt,
    Outcome,
    Note,
    CompletedAt,
    CompletedBy,
    Reason,
    SurveyAnswerId,
    Answer,
    History,
    ContactMethod,
    ContactReason,
    FollowUpAt,
    RecoverAt,
    CaseId,
    ServiceProblemId,
}

#[derive(DeriveIden)]
pub enum Detractor {
    Table,
    SurveyAnswerId,
    PhoneNumber,
    Answer,
    AnsweredAt,
    Route,
    CaseId,
    CareTaskId,
    Department,
    ContactMethod,
    ContactAt,
    CloseAt,
    RecoverAt,
    Region,
    Segment,
}

#[derive(DeriveIden)]
pub enum CustomerFlag {
    Table,
    PhoneNumber,
    HighFrequency,
    ChangedAt,
}

#[derive(DeriveIden)]
pub enum ServiceProblem {
    Table,
    Id,
    Status,
    Description,
    Category,
    Priority,
    Leaf,
    Region,
    Products,
    StartAt,
    EndAt,
    Origin,
    Originator,
    UnderlyingAlarms,
    RootCauseService,
    Department,
    LinkedCases,
    CaredCustomers,
    CreatedAt,
    StatusChangedAt,
    StatusChangeReason,
    ResolvedAt,
    Resolution,
    RequestId,
    ChangeRequestId,
    Version,
}

#[derive(DeriveIden)]
pub enum KnownCustomer {
    Table,
    PhoneNumber,
    Region,
    Products,
    VipLevel,
    ChangedAt,
}
