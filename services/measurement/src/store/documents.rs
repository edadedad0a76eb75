//! The `document` table: reference documents by kind and key (catalogue indicators, index
//! models, audits, benchmarks, programmes and their effects, alerts, leaf departments), each an
//! encoded message with the time it concerns.

use sea_orm::{
    ConnectionTrait, DbErr,
    sea_query::{Expr, ExprTrait, OnConflict, Order, Query},
};

use super::{fetch, schema::Document};

/// Kinds of reference document.
pub mod kind {
    /// A catalogue indicator (encoded `Indicator`), keyed by its key.
    pub const INDICATOR: &str = "indicator";
    pub const INDEX_MODEL: &str = "index_model";
    pub const CHECKLIST: &str = "audit_checklist";
    pub const AUDIT: &str = "audit";
    pub const BENCHMARK: &str = "benchmark";
    pub const PROGRAMME: &str = "programme";
    pub const EFFECT: &str = "programme_effect";
    pub const ALERT: &str = "alert";
    /// The department responsible for a root-cause leaf, as classification last said.
    pub const LEAF_DEPARTMENT: &str = "leaf_department";
    /// A node of the routing view (encoded `TaxonomyNode` without children), keyed by its key,
    /// as the taxonomy classification last announced has it.
    pub const LEAF_NAME: &str = "leaf_name";
    /// A fallback leaf of an announced taxonomy (empty body): work sent there awaits review.
    pub const REVIEW_LEAF: &str = "review_leaf";
}

/// Stores a document; with `create_only`, an existing one is kept and false returned.
pub async fn put_document(
    db: &impl ConnectionTrait,
    kind: &str,
    key: &str,
    body: Vec<u8>,
    at: i64,
    now: i64,
    create_only: bool,
) -> Result<bool, DbErr> {
    let mut insert = Query::insert();
    insert
        .into_table(Document::Table)
        .columns([Document::Kind, Document::Key, Document::Body, Document::At, Document::UpdateTime])
        .values_panic([kind.into(), key.into(), body.into(), at.into(), now.into()]);
    let mut conflict = OnConflict::columns([Document::Kind, Document::Key]);
    insert.on_conflict(if create_only {
        conflict.do_nothing().to_owned()
    } else {
        conflict.update_columns([Document::Body, Document::At, Document::UpdateTime]).to_owned()
    });
    Ok(db.execute(&insert).await?.rows_affected() > 0)
}

pub async fn get_document(db: &impl ConnectionTrait, kind: &str, key: &str) -> Result<Option<Vec<u8>>, DbErr> {
    let query = Query::select()
        .column(Document::Body)
        .from(Document::Table)
        .and_where(Expr::col(Document::Kind).eq(kind))
        .and_where(Expr::col(Document::Key).eq(key))
        .to_owned();
    fetch(db, query).await?.first().map(|row| row.try_get("", "body")).transpose()
}

/// Documents of a kind (whose `at` lies in `[from, to)` when given), by `at` then key.
pub async fn list_documents(
    db: &impl ConnectionTrait,
    kind: &str,
    window: Option<(i64, i64)>,
) -> Result<Vec<(String, Vec<u8>)>, DbErr> {
    let mut query = Query::select();
    query
        .columns([Document::Key, Document::Body])
        .from(Document::Table)
        .and_where(Expr::col(Document::Kind).eq(kind))
        .order_by(Document::At, Order::Asc)
        .order_by(Document::Key, Order::Asc);
    if let Some((from, to)) = window {
        query.and_where(Expr::col(Document::At).gte(from)).and_where(Expr::col(Document::At).lt(to));
    }
    fetch(db, query).await?.iter().map(|row| Ok((row.try_get("", "key")?, row.try_get("", "body")?))).collect()
}
