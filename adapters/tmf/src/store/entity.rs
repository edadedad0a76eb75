//! The adapter's tables.

pub mod ticket {
    use sea_orm::entity::prelude::*;

    /// A trouble ticket: one per work order that became (or will become) a case. Its id is the
    /// work order's, known as soon as intake registers the complaint.
    #[sea_orm::model]
    #[derive(Clone, Debug, Default, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "ticket")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        /// The creator's external id: a second create with it returns this ticket.
        #[sea_orm(unique)]
        pub external_id: Option<String>,
        /// "cases/{id}", once recovery's feed has told it.
        pub case_name: Option<String>,
        /// TMF621 status, as recovery's case last showed it.
        pub status: String,
        pub status_changed_at: i64,
        pub status_change_reason: Option<String>,
        pub severity: String,
        pub ticket_type: String,
        pub name: Option<String>,
        pub description: String,
        pub priority: Option<String>,
        pub channel: String,
        pub phone_number: Option<String>,
        pub department: String,
        pub created_at: i64,
        pub updated_at: i64,
        pub expected_resolution_at: Option<i64>,
        pub requested_resolution_at: Option<i64>,
        pub resolved_at: Option<i64>,
        /// Notes added through TMF621, as a JSON array of {id, author, date, text}.
        pub notes: String,
        /// "serviceProblems/{id}" the case is linked to.
        pub service_problem: Option<String>,
    }

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod listener {
    use sea_orm::entity::prelude::*;

    /// A hub registration (POST /hub): where to send which notifications.
    #[sea_orm::model]
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "hub_listener")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub callback: String,
        pub query: String,
        pub created_at: i64,
        /// Who registered it (the caller's subject).
        pub owner: String,
        /// The API version it registered on ("v4" or "v5"), whose shapes its notifications take.
        pub api_version: String,
    }

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod notification {
    use sea_orm::entity::prelude::*;

    /// A notification to deliver to one listener. The id grows in the order the changes were
    /// learned, so delivering a listener's notifications in id order keeps each ticket's in order.
    #[sea_orm::model]
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "hub_notification")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub listener_id: String,
        pub ticket_id: String,
        pub event_type: String,
        /// The JSON body posted to the callback.
        pub body: String,
        pub attempts: i32,
        pub next_attempt_at: i64,
        pub created_at: i64,
        pub last_error: Option<String>,
    }

    impl ActiveModelBehavior for ActiveModel {}
}
