//! Training jobs and the parts of their examples.

use csm_kit::names::TRAINING_JOBS;
use csm_proto::classification::v1::CreateTrainingJobRequest;
use prost::Message;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, Set,
};

use super::entity::{training_job, training_job_part};

/// Job states as stored: each `TrainingJobState`'s name in the contract, as `StoredEnum` stores
/// every enum (spelt out here because the conditional updates compare them in SQL).
pub mod state {
    pub const COLLECTING: &str = "TRAINING_JOB_STATE_COLLECTING";
    pub const PENDING: &str = "TRAINING_JOB_STATE_PENDING";
    pub const RUNNING: &str = "TRAINING_JOB_STATE_RUNNING";
    pub const SUCCEEDED: &str = "TRAINING_JOB_STATE_SUCCEEDED";
    pub const FAILED: &str = "TRAINING_JOB_STATE_FAILED";
    pub const CANCELLED: &str = "TRAINING_JOB_STATE_CANCELLED";

    /// A job in this state will not change again.
    pub fn ended(state: &str) -> bool {
        matches!(state, SUCCEEDED | FAILED | CANCELLED)
    }
}

/// A new job asking for `request` (a job of `kind` with `examples` sent with it), queued unless it
/// collects its examples first; `request_id` is the caller's idempotency key, if any.
pub fn new_job(
    request: &CreateTrainingJobRequest,
    kind: &str,
    examples: i64,
    created_by: &str,
    request_id: Option<String>,
    now: i64,
) -> training_job::Model {
    let id = uuid::Uuid::now_v7();
    training_job::Model {
        name: format!("{TRAINING_JOBS}{id}"),
        // Unique: a job created without a key gets one of its own.
        request_id: request_id.unwrap_or_else(|| format!("job:{id}")),
        kind: kind.into(),
        state: if request.collect_examples { state::COLLECTING } else { state::PENDING }.into(),
        request: request.encode_to_vec(),
        examples,
        created_by: created_by.to_string(),
        created_at: now,
        started_at: 0,
        ended_at: 0,
        error: String::new(),
        outcome: String::new(),
        result: Vec::new(),
        activated: false,
    }
}

pub async fn insert_job(db: &impl ConnectionTrait, row: training_job::Model) -> Result<(), DbErr> {
    training_job::Entity::insert(training_job::ActiveModel::from(row)).exec_without_returning(db).await?;
    Ok(())
}

pub async fn job(db: &impl ConnectionTrait, name: &str) -> Result<Option<training_job::Model>, DbErr> {
    training_job::Entity::find_by_id(name.to_string()).one(db).await
}

pub async fn job_by_request(db: &impl ConnectionTrait, request_id: &str) -> Result<Option<training_job::Model>, DbErr> {
    training_job::Entity::find().filter(training_job::Column::RequestId.eq(request_id)).one(db).await
}

/// The newest job of `kind`.
pub async fn latest_of_kind(db: &impl ConnectionTrait, kind: &str) -> Result<Option<training_job::Model>, DbErr> {
    training_job::Entity::find()
        .filter(training_job::Column::Kind.eq(kind))
        .order_by_desc(training_job::Column::CreatedAt)
        .order_by_desc(training_job::Column::Name)
        .one(db)
        .await
}

/// Newest first.
pub async fn list_jobs(db: &impl ConnectionTrait, limit: u64) -> Result<Vec<training_job::Model>, DbErr> {
    training_job::Entity::find()
        .order_by_desc(training_job::Column::CreatedAt)
        .order_by_desc(training_job::Column::Name)
        .limit(limit)
        .all(db)
        .await
}

/// The job that has waited longest.
pub async fn next_pending(db: &impl ConnectionTrait) -> Result<Option<training_job::Model>, DbErr> {
    training_job::Entity::find()
        .filter(training_job::Column::State.eq(state::PENDING))
        .order_by_asc(training_job::Column::CreatedAt)
        .order_by_asc(training_job::Column::Name)
        .one(db)
        .await
}

/// A job's state alone, for polling without reading its examples.
pub async fn state_of(db: &impl ConnectionTrait, name: &str) -> Result<Option<String>, DbErr> {
    training_job::Entity::find_by_id(name.to_string())
        .select_only()
        .column(training_job::Column::State)
        .into_tuple()
        .one(db)
        .await
}

/// Moves a job from one of `from` to `to`, setting `columns` too; whether it was in one of them.
/// Every change of state goes through here, so two changes racing cannot undo each other.
pub async fn transition(
    db: &impl ConnectionTrait,
    name: &str,
    from: &[&str],
    to: &str,
    columns: Vec<(training_job::Column, sea_orm::Value)>,
) -> Result<bool, DbErr> {
    let mut update = training_job::Entity::update_many()
        .col_expr(training_job::Column::State, to.into())
        .filter(training_job::Column::Name.eq(name))
        .filter(training_job::Column::State.is_in(from.iter().copied()));
    for (column, value) in columns {
        update = update.col_expr(column, sea_orm::sea_query::Expr::value(value));
    }
    Ok(update.exec(db).await?.rows_affected == 1)
}

/// Counts `added` more examples on a job still collecting them; whether it was.
pub async fn count_examples(db: &impl ConnectionTrait, name: &str, added: i64) -> Result<bool, DbErr> {
    let result = training_job::Entity::update_many()
        .col_expr(
            training_job::Column::Examples,
            sea_orm::sea_query::ExprTrait::add(sea_orm::sea_query::Expr::col(training_job::Column::Examples), added),
        )
        .filter(training_job::Column::Name.eq(name))
        .filter(training_job::Column::State.eq(state::COLLECTING))
        .exec(db)
        .await?;
    Ok(result.rows_affected == 1)
}

/// Jobs left RUNNING by a replica that stopped mid-way: nothing of them was stored (a job stores
/// its models in the transaction that ends it), so they are failed.
pub async fn fail_interrupted(db: &impl ConnectionTrait, now: i64) -> Result<u64, DbErr> {
    let result = training_job::Entity::update_many()
        .col_expr(training_job::Column::State, state::FAILED.into())
        .col_expr(training_job::Column::Error, "interrupted by a restart of the service; nothing was stored".into())
        .col_expr(training_job::Column::EndedAt, now.into())
        .filter(training_job::Column::State.eq(state::RUNNING))
        .exec(db)
        .await?;
    Ok(result.rows_affected)
}

/// Appends a part of a job's examples; returns how many parts it now has.
pub async fn add_part(db: &impl ConnectionTrait, job: &str, body: Vec<u8>) -> Result<i32, DbErr> {
    let parts = training_job_part::Entity::find().filter(training_job_part::Column::Job.eq(job)).count(db).await?;
    let part = i32::try_from(parts).map_err(|_| DbErr::Custom("too many parts".into()))?;
    let row = training_job_part::ActiveModel { job: Set(job.to_string()), part: Set(part), body: Set(body) };
    training_job_part::Entity::insert(row).exec_without_returning(db).await?;
    Ok(part + 1)
}

/// A job's parts, in order.
pub async fn parts(db: &impl ConnectionTrait, job: &str) -> Result<Vec<Vec<u8>>, DbErr> {
    training_job_part::Entity::find()
        .filter(training_job_part::Column::Job.eq(job))
        .order_by_asc(training_job_part::Column::Part)
        .select_only()
        .column(training_job_part::Column::Body)
        .into_tuple()
        .all(db)
        .await
}

#[cfg(test)]
mod tests {
    use csm_proto::{StoredEnum, classification::v1::TrainingJobState as S};

    use super::state;

    #[test]
    fn states_are_stored_by_their_contract_names() {
        let pairs = [
            (state::COLLECTING, S::Collecting),
            (state::PENDING, S::Pending),
            (state::RUNNING, S::Running),
            (state::SUCCEEDED, S::Succeeded),
            (state::FAILED, S::Failed),
            (state::CANCELLED, S::Cancelled),
        ];
        for (stored, value) in pairs {
            assert_eq!(stored, value.stored());
            assert_eq!(S::from_stored(stored), value);
        }
    }
}
