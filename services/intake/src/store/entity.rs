//! Intake's tables. Times are microseconds since the epoch (see `csm_kit::time`); enums are stored
//! by their protobuf names, which stay readable in SQL and stable across releases.

pub mod customer {
    use sea_orm::entity::prelude::*;

    /// A customer as known from their contacts, with their high-frequency complainant status.
    #[sea_orm::model]
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, serde::Deserialize)]
    #[sea_orm(table_name = "customer")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        #[sea_orm(unique)]
        pub phone_number: String,
        pub segment: Option<String>,
        pub vip_level: Option<i32>,
        pub region: Option<String>,
        /// Comma-separated product keys.
        pub products: Option<String>,
        pub first_contact_at: i64,
        pub last_contact_at: i64,
        pub last_complaint_at: Option<i64>,
        /// HIGH_FREQUENCY_STATUS_* name.
        pub hf_status: String,
        pub hf_qualified_at: Option<i64>,
        pub hf_rule: Option<String>,
        pub hf_window_start: Option<i64>,
        pub hf_window_end: Option<i64>,
        pub hf_window_complaints: Option<i64>,
    }

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod customer_tag {
    use sea_orm::entity::prelude::*;

    #[sea_orm::model]
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "customer_tag")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub customer_id: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub tag: String,
        pub note: String,
        pub added_by: String,
        pub added_at: i64,
    }

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod contact {
    use sea_orm::entity::prelude::*;

    /// A contact, whatever its channel and type, with the customer profile given with it.
    #[sea_orm::model]
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, serde::Deserialize)]
    #[sea_orm(table_name = "contact")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        #[sea_orm(unique)]
        pub request_id: Option<String>,
        pub request_fingerprint: String,
        pub customer_id: String,
        pub channel: String,
        pub phone_number: String,
        pub contact_type: String,
        pub text: String,
        pub problem_code: Option<String>,
        pub appeal: Option<String>,
        pub segment: Option<String>,
        pub vip_level: Option<i32>,
        pub region: Option<String>,
        pub products: Option<String>,
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
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, serde::Deserialize)]
    #[sea_orm(table_name = "work_order")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub contact_id: String,
        pub customer_id: String,
        pub kind: String,
        pub status: String,
        pub channel: String,
        pub contact_type: String,
        pub phone_number: String,
        pub text: String,
        pub problem_code: Option<String>,
        /// "code:…" or "leaf:…"; what makes two orders the same problem.
        pub topic: Option<String>,
        /// The department responsible for the order's root cause, once classification has told.
        pub department: Option<String>,
        pub appeal: Option<String>,
        pub segment: Option<String>,
        pub vip_level: Option<i32>,
        pub region: Option<String>,
        pub products: Option<String>,
        pub opened_at: i64,
        pub created_at: i64,
        pub first_work_order_id: Option<String>,
        pub reopen_count: i32,
        pub reopened_at: Option<i64>,
    }

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod usage_event {
    use sea_orm::entity::prelude::*;

    /// A usage-lifecycle event; the whole event is kept encoded in `body`.
    #[sea_orm::model]
    #[derive(Clone, Debug, PartialEq, DeriveEntityModel, serde::Deserialize)]
    #[sea_orm(table_name = "usage_event")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        #[sea_orm(unique)]
        pub request_id: Option<String>,
        pub request_fingerprint: String,
        pub customer_id: String,
        pub kind: String,
        pub product_code: String,
        pub occurred_at: i64,
        pub created_at: i64,
        pub body: Vec<u8>,
    }

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod product_event {
    use sea_orm::entity::prelude::*;

    #[sea_orm::model]
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, serde::Deserialize)]
    #[sea_orm(table_name = "product_event")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        #[sea_orm(unique)]
        pub request_id: Option<String>,
        pub request_fingerprint: String,
        pub product_code: String,
        pub stage: String,
        pub occurred_at: i64,
        pub created_at: i64,
        pub body: Vec<u8>,
    }

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod survey_answer {
    use sea_orm::entity::prelude::*;

    #[sea_orm::model]
    #[derive(Clone, Debug, PartialEq, DeriveEntityModel, serde::Deserialize)]
    #[sea_orm(table_name = "survey_answer")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        #[sea_orm(unique)]
        pub request_id: Option<String>,
        pub request_fingerprint: String,
        pub customer_id: String,
        pub scale: String,
        pub score: f64,
        pub question: String,
        pub work_order_id: Option<String>,
        pub occurred_at: i64,
        pub created_at: i64,
        pub body: Vec<u8>,
    }

    impl ActiveModelBehavior for ActiveModel {}
}
