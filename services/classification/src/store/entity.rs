//! Classification's tables. Times are microseconds since the epoch; a taxonomy path is stored as
//! its keys joined by '/', which keys never contain.

pub mod taxonomy_version {
    use sea_orm::entity::prelude::*;

    /// A published taxonomy version; the document is the validated TOML, re-read as JSON.
    #[sea_orm::model]
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "taxonomy_version")]
    pub struct Model {
        /// "taxonomies/{key}/versions/{version}".
        #[sea_orm(primary_key, auto_increment = false)]
        pub name: String,
        pub taxonomy_key: String,
        pub version: i64,
        pub document: String,
        pub published_at: i64,
        /// The version new work orders are classified with.
        pub active: bool,
    }

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod classification {
    use sea_orm::entity::prelude::*;

    /// The classification of one work order.
    #[sea_orm::model]
    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "classification")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub work_order_id: String,
        pub taxonomy_version: String,
        pub leaf: String,
        pub path: String,
        pub leaf_name_zh: String,
        pub leaf_name_en: String,
        pub department: String,
        pub time_limit_secs: i64,
        pub opened_at: i64,
        pub deadline: i64,
        pub method: String,
        pub confidence: f64,
        /// JSON array of {rule, matched_terms}.
        pub hits: String,
        pub needs_review: bool,
        pub classified_at: i64,
        pub phone_number: String,
        pub channel: String,
    }

    impl ActiveModelBehavior for ActiveModel {}
}
