//! Recovery's tables. Times are microseconds since the epoch; a case not yet dispatched has the
//! deadline `NO_DEADLINE`, which sorts it after every dispatched case in a queue.

/// Stored deadline of a case that has none yet.
pub const NO_DEADLINE: i64 = i64::MAX;

pub mod case {
    use sea_orm::entity::prelude::*;

    /// A handling case: one per work order.
    #[sea_orm::model]
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "case_file")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        #[sea_orm(unique)]
        pub work_order_id: String,
        pub phone_number: String,
        pub channel: String,
        pub text: String,
        pub status: String,
        pub department: String,
        pub leaf: String,
        /// Taxonomy keys from the root to the leaf, joined by '/'.
        pub path: String,
        pub taxonomy_version: String,
        pub opened_at: i64,
        pub dispatched_at: Option<i64>,
        pub deadline: i64,
        pub resolved_at: Option<i64>,
        pub resolution: Option<String>,
        pub resolved_by: Option<String>,
        pub resolved_on_time: Option<bool>,
        pub resolve_request_id: Option<String>,
        /// The department that accepted the case and owns it (首问责任部门).
        pub owner_department: Option<String>,
        pub contact_type: String,
        /// Handling time limit of the leaf, in microseconds.
        pub time_limit: i64,
        /// The time limit told to the customer.
        pub promised_at: Option<i64>,
        /// Set while pending on the customer: the deadline clock stopped then.
        pub paused_at: Option<i64>,
        pub pause_reason: Option<String>,
        pub escalation_level: i32,
        pub callback_due: Option<i64>,
        pub callback_outcome: Option<String>,
        pub callback_at: Option<i64>,
        pub reopen_count: i32,
        /// Bumped by every change, so concurrent changes of one case cannot both succeed.
        pub version: i64,
        /// The regulator's clock: by when the complaint must be answered.
        pub answer_due: i64,
        /// How far the regulator's clock has been announced: 0 not yet, 1 at appeal risk, 2 past due.
        pub appeal_risk_level: i32,
        /// The customer's region when the order was opened ("" when intake knew none).
        pub region: String,
        /// The service problem (重大故障) the case is linked to, if any.
        pub service_problem_id: Option<String>,
    }

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod case_transition {
    use sea_orm::entity::prelude::*;

    /// Audit trail: every change of a case's status, who made it, when and why.
    #[sea_orm::model]
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "case_transition")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub case_id: String,
        pub from_status: Option<String>,
        pub to_status: String,
        pub actor: String,
        pub reason: String,
        pub at: i64,
        /// What happened ("accept", "resolve", "escalated", ...).
        pub action: String,
        /// The caller's idempotency key: a retry with the same key changes nothing.
        pub request_id: Option<String>,
    }

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod sub_task {
    use sea_orm::entity::prelude::*;

    /// Help the owner of a case asked another department for.
    #[sea_orm::model]
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "sub_task")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub case_id: String,
        pub department: String,
        pub request: String,
        pub requested_by: String,
        pub created_at: i64,
        pub deadline: i64,
        pub completed_at: Option<i64>,
        pub reply: Option<String>,
        pub completed_by: Option<String>,
        pub request_id: Option<String>,
    }

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod recovery_action {
    use sea_orm::entity::prelude::*;

    /// A service-recovery action for a customer (服务补救).
    #[sea_orm::model]
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "recovery_action")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub phone_number: String,
        pub case_id: Option<String>,
        pub kind: String,
        pub description: String,
        /// In fen.
        pub amount: i64,
        pub status: String,
        pub created_by: String,
        pub department: Option<String>,
        pub created_at: i64,
        pub decided_by: Option<String>,
        pub first_approved_by: Option<String>,
        pub decision_note: Option<String>,
        pub outcome: Option<String>,
        pub outcome_note: Option<String>,
        pub completed_at: Option<i64>,
        #[sea_orm(unique)]
        pub request_id: Option<String>,
    }

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod programme {
    use sea_orm::entity::prelude::*;

    /// A remediation programme (整改) for a root cause or a service shortfall.
    #[sea_orm::model]
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "programme")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub title: String,
        pub leaf: String,
        pub shortfall: String,
        pub owner_department: String,
        pub status: String,
        pub deadline: i64,
        pub created_at: i64,
        pub created_by: String,
        pub completed_at: Option<i64>,
        /// Length of the baseline and verification windows, in microseconds.
        pub verification_window: i64,
        pub escalation_level: i32,
        #[sea_orm(unique)]
        pub request_id: Option<String>,
    }

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod programme_action {
    use sea_orm::entity::prelude::*;

    #[sea_orm::model]
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "programme_action")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub programme_id: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub position: i32,
        pub description: String,
        pub deadline: i64,
        pub completed_at: Option<i64>,
        pub completed_by: Option<String>,
        pub note: Option<String>,
    }

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod care_task {
    use sea_orm::entity::prelude::*;

    /// Proactive care of a customer predicted to be dissatisfied.
    #[sea_orm::model]
    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "care_task")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub phone_number: String,
        pub department: String,
        pub risk_score: f64,
        /// JSON array of the factors, most important first.
        pub factors: String,
        pub model_version: String,
        pub created_at: i64,
        pub outcome: Option<String>,
        pub note: Option<String>,
        pub completed_at: Option<i64>,
        pub completed_by: Option<String>,
        /// The CareReason name.
        pub reason: String,
        /// For a detractor task: the answer's id, the answer and the customer's history
        /// (protobuf-encoded DetractorAnswer and CustomerHistory), as they were when it arrived.
        pub survey_answer_id: Option<String>,
        pub answer: Option<Vec<u8>>,
        pub history: Option<Vec<u8>>,
        /// The ContactMethod name, and why it was chosen.
        pub contact_method: String,
        pub contact_reason: String,
        pub follow_up_at: Option<i64>,
        pub recover_at: Option<i64>,
        pub case_id: Option<String>,
        /// For a service-problem task: the problem's id.
        pub service_problem_id: Option<String>,
    }

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod detractor {
    use sea_orm::entity::prelude::*;

    /// The closed loop of one dissatisfied answer (闭环).
    #[sea_orm::model]
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "detractor")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub survey_answer_id: String,
        pub phone_number: String,
        /// Protobuf-encoded DetractorAnswer.
        pub answer: Vec<u8>,
        pub answered_at: i64,
        /// The DetractorRoute name.
        pub route: String,
        pub case_id: Option<String>,
        pub care_task_id: Option<String>,
        pub department: String,
        pub contact_method: String,
        pub contact_at: Option<i64>,
        pub close_at: Option<i64>,
        pub recover_at: Option<i64>,
        pub region: String,
        pub segment: String,
    }

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod customer_flag {
    use sea_orm::entity::prelude::*;

    /// What recovery keeps of a customer from intake's feed: whether they are an active
    /// high-frequency complainant, for choosing how to reach them.
    #[sea_orm::model]
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "customer_flag")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub phone_number: String,
        pub high_frequency: bool,
        /// Feed time of the change applied last, so an older one arriving late changes nothing.
        pub changed_at: i64,
    }

    impl ActiveModelBehavior for ActiveModel {}
}
