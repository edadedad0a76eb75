//! Intake's tables. Times are microseconds since the epoch (see `csm_kit::time`); enums are stored
//! by their protobuf names, which stay readable in SQL and stable across releases.

pub mod contact {
    use sea_orm::entity::prelude::*;

    /// A contact, whatever its channel and type.
    #[sea_orm::model]
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "contact")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        #[sea_orm(unique)]
        pub request_id: Option<String>,
        pub request_fingerprint: String,
        pub channel: String,
        pub phone_number: String,
        pub contact_type: String,
        pub text: String,
        pub problem_code: Option<String>,
        pub occurred_at: i64,
        pub created_at: i64,
        /// The caller that submitted it.
        pub recorded_by: String,
        pub work_order_id: Option<String>,
    }

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod work_order {
    use sea_orm::entity::prelude::*;

    /// A work order (工单) as registered.
    #[sea_orm::model]
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "work_order")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub contact_id: String,
        pub kind: String,
        pub status: String,
        pub channel: String,
        pub contact_type: String,
        pub phone_number: String,
        pub text: String,
        pub problem_code: Option<String>,
        pub opened_at: i64,
        pub created_at: i64,
        pub first_work_order_id: Option<String>,
    }

    impl ActiveModelBehavior for ActiveModel {}
}
