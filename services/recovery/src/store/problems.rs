//! Service problems (重大故障), the cases linked to them, and the customers known by region.

use std::collections::{BTreeMap, HashMap};

use csm_proto::{
    StoredEnum,
    recovery::v1::{CaseStatus, ServiceProblemStatus},
};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DbErr, EntityTrait, ExprTrait, IntoActiveModel,
    PaginatorTrait, QueryFilter, QueryOrder, QuerySelect,
    sea_query::{Alias, Expr, OnConflict},
};

use super::{case, known_customer, service_problem};

/// Statuses before RESOLVED: the problem still explains new complaints.
pub const OPEN: [ServiceProblemStatus; 5] = [
    ServiceProblemStatus::Submitted,
    ServiceProblemStatus::Acknowledged,
    ServiceProblemStatus::InProgress,
    ServiceProblemStatus::Held,
    ServiceProblemStatus::Pending,
];

/// Case statuses a problem's resolution no longer touches.
pub const ANSWERED: [CaseStatus; 4] =
    [CaseStatus::Resolved, CaseStatus::CallbackDone, CaseStatus::Closed, CaseStatus::Cancelled];

pub async fn insert(db: &impl ConnectionTrait, row: service_problem::Model) -> Result<(), DbErr> {
    service_problem::Entity::insert(row.into_active_model()).exec_without_returning(db).await?;
    Ok(())
}

pub async fn by_id(db: &impl ConnectionTrait, id: &str) -> Result<Option<service_problem::Model>, DbErr> {
    service_problem::Entity::find_by_id(id.to_string()).one(db).await
}

pub async fn by_request(db: &impl ConnectionTrait, request_id: &str) -> Result<Option<service_problem::Model>, DbErr> {
    service_problem::Entity::find().filter(service_problem::Column::RequestId.eq(request_id)).one(db).await
}

/// The open problems of `leaf` in `region`, oldest first.
pub async fn open_for(
    db: &impl ConnectionTrait,
    leaf: &str,
    region: &str,
) -> Result<Vec<service_problem::Model>, DbErr> {
    service_problem::Entity::find()
        .filter(service_problem::Column::Leaf.eq(leaf))
        .filter(service_problem::Column::Region.eq(region))
        .filter(service_problem::Column::Status.is_in(OPEN.map(StoredEnum::stored)))
        .order_by_asc(service_problem::Column::CreatedAt)
        .all(db)
        .await
}

/// The open problems of any of `leaves`, in every region, oldest first: what a batch of
/// dispatches may link its cases to, read in one query rather than one per leaf and region.
pub async fn open_for_leaves(
    db: &impl ConnectionTrait,
    leaves: &[String],
) -> Result<Vec<service_problem::Model>, DbErr> {
    let open =
        service_problem::Entity::find().filter(service_problem::Column::Status.is_in(OPEN.map(StoredEnum::stored)));
    let mut found = csm_kit::bulk::find_in(db, open, service_problem::Column::Leaf, leaves).await?;
    found.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
    Ok(found)
}

/// Whether a problem of `leaf` in `region` (in any status) was opened at or after `since`.
pub async fn opened_since(db: &impl ConnectionTrait, leaf: &str, region: &str, since: i64) -> Result<bool, DbErr> {
    let count = service_problem::Entity::find()
        .filter(service_problem::Column::Leaf.eq(leaf))
        .filter(service_problem::Column::Region.eq(region))
        .filter(service_problem::Column::CreatedAt.gte(since))
        .count(db)
        .await?;
    Ok(count > 0)
}

/// Writes `row` over the stored problem if nobody changed it since it was read at
/// `read_version` (`row.version` must be the next one); false when somebody did.
pub async fn save(db: &impl ConnectionTrait, read_version: i64, row: service_problem::Model) -> Result<bool, DbErr> {
    let id = row.id.clone();
    let mut model = row.into_active_model().reset_all();
    model.id = sea_orm::ActiveValue::NotSet;
    let result = service_problem::Entity::update_many()
        .set(model)
        .filter(service_problem::Column::Id.eq(id))
        .filter(service_problem::Column::Version.eq(read_version))
        .exec(db)
        .await?;
    Ok(result.rows_affected == 1)
}

/// Counts more linked cases on each problem of `added` (id, cases) in one statement; the
/// problems as they now are, in no set order (a problem deleted meanwhile is missing). Each id
/// appears once, as one statement may not update a row twice.
pub async fn count_links(
    db: &impl ConnectionTrait,
    added: &[(String, usize)],
) -> Result<Vec<service_problem::Model>, DbErr> {
    let Some(((first_id, first_n), rest)) = added.split_first() else {
        return Ok(Vec::new());
    };
    let count = |n: usize| i64::try_from(n).unwrap_or(i64::MAX);
    let id = || Expr::col(service_problem::Column::Id);
    let increments = rest
        .iter()
        .fold(Expr::case(id().eq(first_id.as_str()), count(*first_n)), |case, (problem, n)| {
            case.case(id().eq(problem.as_str()), count(*n))
        })
        .finally(0i64);
    let ids: Vec<String> = added.iter().map(|(problem, _)| problem.clone()).collect();
    let update = service_problem::Entity::update_many()
        .col_expr(service_problem::Column::LinkedCases, Expr::col(service_problem::Column::LinkedCases).add(increments))
        .col_expr(service_problem::Column::Version, Expr::col(service_problem::Column::Version).add(1))
        .filter(service_problem::Column::Id.is_in(ids.iter().map(String::as_str)));
    if db.support_returning() {
        return update.exec_with_returning(db).await;
    }
    update.exec(db).await?;
    csm_kit::bulk::find_in(db, service_problem::Entity::find(), service_problem::Column::Id, &ids).await
}

#[derive(Debug, Clone, Default)]
pub struct ProblemFilter {
    pub status: Option<String>,
    pub region: Option<String>,
    pub open_only: bool,
}

/// Newest first, strictly before `before` (creation time, id).
pub async fn list(
    db: &impl ConnectionTrait,
    filter: &ProblemFilter,
    before: Option<(i64, String)>,
    limit: u64,
) -> Result<Vec<service_problem::Model>, DbErr> {
    use service_problem::Column as C;
    let mut query = service_problem::Entity::find();
    if let Some(status) = &filter.status {
        query = query.filter(C::Status.eq(status.as_str()));
    }
    if let Some(region) = &filter.region {
        query = query.filter(C::Region.eq(region.as_str()));
    }
    if filter.open_only {
        query = query.filter(C::Status.is_in(OPEN.map(StoredEnum::stored)));
    }
    if let Some((at, id)) = before {
        query = query.filter(
            Condition::any().add(C::CreatedAt.lt(at)).add(Condition::all().add(C::CreatedAt.eq(at)).add(C::Id.lt(id))),
        );
    }
    query.order_by_desc(C::CreatedAt).order_by_desc(C::Id).limit(limit).all(db).await
}

/// Dispatched cases of `leaf` in `region` opened in [`from`, `to`).
pub async fn count_cases(
    db: &impl ConnectionTrait,
    leaf: &str,
    region: &str,
    from: i64,
    to: i64,
) -> Result<u64, DbErr> {
    case::Entity::find()
        .filter(case::Column::Leaf.eq(leaf))
        .filter(case::Column::Region.eq(region))
        .filter(case::Column::OpenedAt.gte(from))
        .filter(case::Column::OpenedAt.lt(to))
        .count(db)
        .await
}

/// Cases opened at or after `from`, counted for each (leaf, region) of `areas`: what
/// [`count_cases`] says for each, for a whole batch in one query (one per [`csm_kit::bulk::IN_LIST`]
/// areas), each pair probed on its own in the leaf and region index. An area with no case is
/// absent.
pub async fn count_recent_cases_by_area(
    db: &impl ConnectionTrait,
    areas: &[(String, String)],
    from: i64,
) -> Result<HashMap<(String, String), u64>, DbErr> {
    let mut counted = HashMap::new();
    for areas in csm_kit::bulk::in_lists(areas) {
        let area = Expr::tuple([Expr::col(case::Column::Leaf), Expr::col(case::Column::Region)]);
        let counts: Vec<(String, String, i64)> = case::Entity::find()
            .select_only()
            .column(case::Column::Leaf)
            .column(case::Column::Region)
            .column_as(case::Column::Id.count(), "cases")
            .filter(area.in_tuples(areas))
            .filter(case::Column::OpenedAt.gte(from))
            .group_by(case::Column::Leaf)
            .group_by(case::Column::Region)
            .into_tuple()
            .all(db)
            .await?;
        counted.extend(counts.into_iter().map(|(leaf, region, n)| ((leaf, region), u64::try_from(n).unwrap_or(0))));
    }
    Ok(counted)
}

/// Unanswered cases of `leaf` in `region` opened in [`from`, `to` or ever) and linked to no
/// problem, oldest first.
pub async fn linkable_cases(
    db: &impl ConnectionTrait,
    leaf: &str,
    region: &str,
    from: i64,
    to: Option<i64>,
) -> Result<Vec<case::Model>, DbErr> {
    let mut query = case::Entity::find()
        .filter(case::Column::Leaf.eq(leaf))
        .filter(case::Column::Region.eq(region))
        .filter(case::Column::OpenedAt.gte(from))
        .filter(case::Column::ServiceProblemId.is_null())
        .filter(case::Column::DispatchedAt.is_not_null())
        .filter(case::Column::Status.is_not_in(ANSWERED.map(StoredEnum::stored)));
    if let Some(to) = to {
        query = query.filter(case::Column::OpenedAt.lt(to));
    }
    query.order_by_asc(case::Column::OpenedAt).order_by_asc(case::Column::Id).all(db).await
}

/// Links the cases `ids` to the problem `problem_id` (their versions move on, so a change planned
/// from before the link is planned again).
pub async fn link_cases(db: &impl ConnectionTrait, ids: &[String], problem_id: &str) -> Result<(), DbErr> {
    for chunk in ids.chunks(500) {
        case::Entity::update_many()
            .col_expr(case::Column::ServiceProblemId, Expr::value(problem_id))
            .col_expr(case::Column::Version, Expr::col(case::Column::Version).add(1))
            .filter(case::Column::Id.is_in(chunk.iter().map(String::as_str)))
            .filter(case::Column::ServiceProblemId.is_null())
            .exec(db)
            .await?;
    }
    Ok(())
}

/// Releases every case linked to the problem `problem_id`.
pub async fn release_cases(db: &impl ConnectionTrait, problem_id: &str) -> Result<u64, DbErr> {
    let result = case::Entity::update_many()
        .col_expr(case::Column::ServiceProblemId, Expr::value(Option::<String>::None))
        .col_expr(case::Column::Version, Expr::col(case::Column::Version).add(1))
        .filter(case::Column::ServiceProblemId.eq(problem_id))
        .exec(db)
        .await?;
    Ok(result.rows_affected)
}

/// The cases linked to the problem `problem_id`.
pub async fn linked_cases(db: &impl ConnectionTrait, problem_id: &str) -> Result<Vec<case::Model>, DbErr> {
    case::Entity::find()
        .filter(case::Column::ServiceProblemId.eq(problem_id))
        .order_by_asc(case::Column::OpenedAt)
        .order_by_asc(case::Column::Id)
        .all(db)
        .await
}

/// Remembers a customer's region, products and VIP level as of `changed_at`.
pub async fn remember_customer(db: &impl ConnectionTrait, row: known_customer::Model) -> Result<(), DbErr> {
    remember_customers(db, vec![row]).await
}

/// Remembers many profiles in a few statements, with the outcome of remembering them one by one
/// in their order: of a phone number's profiles the latest is kept (of those seen at the same
/// time, the last), and a stored one seen later still wins. Rows go in phone-number order, so
/// two transactions remembering the same customers take their locks in the same order.
pub async fn remember_customers(db: &impl ConnectionTrait, rows: Vec<known_customer::Model>) -> Result<(), DbErr> {
    use known_customer::Column as C;
    let mut latest: BTreeMap<String, known_customer::Model> = BTreeMap::new();
    for row in rows {
        if latest.get(&row.phone_number).is_none_or(|kept| kept.changed_at <= row.changed_at) {
            latest.insert(row.phone_number.clone(), row);
        }
    }
    let on_conflict = OnConflict::column(C::PhoneNumber)
        .update_columns([C::Region, C::Products, C::VipLevel, C::ChangedAt])
        .action_and_where(
            Expr::col((known_customer::Entity, C::ChangedAt)).lte(Expr::col((Alias::new("excluded"), C::ChangedAt))),
        )
        .to_owned();
    let rows = latest.into_values().map(IntoActiveModel::into_active_model).collect();
    csm_kit::bulk::upsert_all(db, rows, on_conflict).await?;
    Ok(())
}

/// Up to `limit` customers known in `region`, by phone number after `after`.
pub async fn customers_in(
    db: &impl ConnectionTrait,
    region: &str,
    after: &str,
    limit: u64,
) -> Result<Vec<known_customer::Model>, DbErr> {
    known_customer::Entity::find()
        .filter(known_customer::Column::Region.eq(region))
        .filter(known_customer::Column::PhoneNumber.gt(after))
        .order_by_asc(known_customer::Column::PhoneNumber)
        .limit(limit)
        .all(db)
        .await
}
