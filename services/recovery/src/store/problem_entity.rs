//! The tables of service problems (重大故障) and of the customers recovery knows of, for
//! reaching an affected area. Times are microseconds since the epoch.

pub mod service_problem {
    use sea_orm::entity::prelude::*;

    /// One fault behind many customers' complaints.
    #[sea_orm::model]
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "service_problem")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        /// The ServiceProblemStatus name.
        pub status: String,
        pub description: String,
        pub category: String,
        pub priority: i32,
        pub leaf: String,
        pub region: String,
        /// JSON array of product keys.
        pub products: String,
        pub start_at: i64,
        pub end_at: Option<i64>,
        /// The ServiceProblemOrigin name.
        pub origin: String,
        pub originator: String,
        /// JSON array of alarm identifiers.
        pub underlying_alarms: String,
        pub root_cause_service: String,
        pub department: String,
        pub linked_cases: i32,
        pub cared_customers: i32,
        pub created_at: i64,
        pub status_changed_at: i64,
        pub status_change_reason: String,
        pub resolved_at: Option<i64>,
        pub resolution: Option<String>,
        /// The creator's idempotency key.
        #[sea_orm(unique)]
        pub request_id: Option<String>,
        /// The idempotency key of the last change, so a retried change changes nothing.
        pub change_request_id: Option<String>,
        /// Bumped by every change, so concurrent changes cannot both succeed.
        pub version: i64,
    }

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod known_customer {
    use sea_orm::entity::prelude::*;

    /// A customer as intake's events last showed them: where they live and what they hold, so a
    /// service problem's area can be reached before its customers complain.
    #[sea_orm::model]
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "known_customer")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub phone_number: String,
        pub region: String,
        /// JSON array of product keys.
        pub products: String,
        pub vip_level: i32,
        /// Feed time of the profile applied last, so an older one arriving late changes nothing.
        pub changed_at: i64,
    }

    impl ActiveModelBehavior for ActiveModel {}
}
