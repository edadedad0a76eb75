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
    }

    impl ActiveModelBehavior for ActiveModel {}
}
