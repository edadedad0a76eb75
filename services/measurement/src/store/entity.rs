//! Measurement's tables. Times are microseconds since the epoch; days are calendar dates in the
//! reporting time zone, written `YYYY-MM-DD` so they sort and compare as text.

pub mod work_order_fact {
    use sea_orm::entity::prelude::*;

    /// What measurement knows of one work order, merged from the three upstream feeds in
    /// whatever order their events arrive.
    #[sea_orm::model]
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "work_order_fact")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub work_order_id: String,
        pub opened_at: i64,
        pub opened_day: String,
        pub channel: String,
        /// Top level of the root-cause path (system side, business design, service side, ...).
        pub category: Option<String>,
        pub root_cause: Option<String>,
        pub department: Option<String>,
        pub deadline: Option<i64>,
        pub resolved_at: Option<i64>,
        pub resolved_day: Option<String>,
        pub resolved_on_time: Option<bool>,
    }

    impl ActiveModelBehavior for ActiveModel {}
}
