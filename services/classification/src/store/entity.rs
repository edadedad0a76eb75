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
        /// The text classified, kept so a correction can teach the next model.
        pub text: String,
        /// JSON array of the placement in every view (`store::StoredView`).
        pub views: String,
        /// How the order was first placed, kept when an agent corrects it.
        pub first_method: String,
        pub corrected: bool,
    }

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod text_model {
    use sea_orm::entity::prelude::*;

    /// A trained text model of one view; `body` is the model itself (postcard-encoded).
    #[sea_orm::model]
    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "text_model")]
    pub struct Model {
        /// "textModels/{id}".
        #[sea_orm(primary_key, auto_increment = false)]
        pub name: String,
        pub view: String,
        pub taxonomy_version: String,
        pub created_at: i64,
        pub active: bool,
        pub examples: i64,
        pub corrections: i64,
        pub features: i64,
        /// JSON array of leaf keys, in the model's label order.
        pub leaves: String,
        pub review_threshold: f64,
        pub temperature: f64,
        pub training_seconds: f64,
        pub body: Vec<u8>,
        /// "trainingJobs/{id}"; empty for the starter model.
        pub training_job: String,
        /// When it was last put in force (microseconds), 0 if never: a taxonomy version put back in
        /// force brings back the models last in force with it.
        pub activated_at: i64,
    }

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod training_job {
    use sea_orm::entity::prelude::*;

    /// A training job; `request` is the CreateTrainingJobRequest as protobuf, `result` the
    /// TrainingJob's outputs (models, comparison) as protobuf.
    #[sea_orm::model]
    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "training_job")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub name: String,
        pub request_id: String,
        /// "text_models", "risk_model" or "retrain_from_corrections".
        pub kind: String,
        /// A TrainingJobState name.
        pub state: String,
        pub request: Vec<u8>,
        pub examples: i64,
        pub created_by: String,
        pub created_at: i64,
        pub started_at: i64,
        pub ended_at: i64,
        pub error: String,
        pub outcome: String,
        pub result: Vec<u8>,
        pub activated: bool,
    }

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod training_job_part {
    use sea_orm::entity::prelude::*;

    /// One part of a job's examples, an AddTrainingExamplesRequest as protobuf.
    #[sea_orm::model]
    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "training_job_part")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub job: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub part: i32,
        pub body: Vec<u8>,
    }

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod risk_model {
    use sea_orm::entity::prelude::*;

    /// A fitted dissatisfaction-risk model; `body` is the model itself (postcard-encoded).
    #[sea_orm::model]
    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "risk_model")]
    pub struct Model {
        /// "riskModels/{id}".
        #[sea_orm(primary_key, auto_increment = false)]
        pub name: String,
        pub created_at: i64,
        pub active: bool,
        pub examples: i64,
        pub positives: i64,
        pub threshold: f64,
        /// JSON object: feature name to department.
        pub factor_departments: String,
        pub training_seconds: f64,
        pub body: Vec<u8>,
        /// "trainingJobs/{id}" of the job that trained it ("" before jobs recorded it), whose
        /// request and parts hold the examples it learned from.
        pub training_job: String,
    }

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod correction {
    use sea_orm::entity::prelude::*;

    /// An agent's correction of one view of a classification, kept with the text for retraining.
    #[sea_orm::model]
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "correction")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub work_order_id: String,
        pub taxonomy_version: String,
        pub view: String,
        pub from_leaf: String,
        pub to_leaf: String,
        pub text: String,
        pub corrected_by: String,
        pub reason: String,
        pub corrected_at: i64,
    }

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod leaf_day {
    use sea_orm::entity::prelude::*;

    /// Work orders per routing leaf per UTC day (by when the customer raised them).
    #[sea_orm::model]
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "leaf_day")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub leaf: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub day: i64,
        pub work_orders: i64,
        pub customers: i64,
    }

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod leaf_day_customer {
    use sea_orm::entity::prelude::*;

    /// Which customers raised a leaf on a day, so distinct customers are counted once.
    #[sea_orm::model]
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "leaf_day_customer")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub leaf: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub day: i64,
        #[sea_orm(primary_key, auto_increment = false)]
        pub phone_number: String,
    }

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod emerging_problem {
    use sea_orm::entity::prelude::*;

    /// A leaf's sudden rise on one day, published once.
    #[sea_orm::model]
    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "emerging_problem")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub leaf: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub day: i64,
        pub work_orders: i64,
        pub baseline: f64,
        pub published_at: i64,
    }

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod customer_features {
    use sea_orm::entity::prelude::*;

    /// What intake's events say about one customer, as risk-model features, and the last score.
    #[sea_orm::model]
    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "customer_features")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub phone_number: String,
        pub customer: String,
        /// JSON of `model::risk::Features`.
        pub features: String,
        pub updated_at: i64,
        pub score: Option<f64>,
        /// When an AtRiskCustomer was last published, so a customer is flagged once per cool-down.
        pub flagged_at: Option<i64>,
    }

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod risk_outcome {
    use sea_orm::entity::prelude::*;

    /// What recovery last found of one customer (dissatisfied or recovered), learned from its
    /// feed, with the customer's features as classification knew them then: a labelled example
    /// for the risk model.
    #[sea_orm::model]
    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "risk_outcome")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub phone_number: String,
        pub dissatisfied: bool,
        /// What taught it, for example "care_still_dissatisfied" (`outcomes::Source`).
        pub source: String,
        /// The resource of recovery's event, for example "careTasks/{id}".
        pub subject: String,
        /// The event of recovery's feed that taught it: its sequence, and when it occurred. A
        /// later label replaces an earlier one; the same event again changes nothing.
        pub sequence: i64,
        pub labelled_at: i64,
        /// JSON of `model::risk::Features`, as they were when the outcome was learned.
        pub features: String,
        pub learned_at: i64,
    }

    impl ActiveModelBehavior for ActiveModel {}
}
