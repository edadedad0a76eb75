//! The taxonomy in force, announced on the feed when it never was. The shipped taxonomy is put in
//! force at first start without a request, so without this no `TaxonomyActivated` would ever tell
//! followers its leaves' names and departments (measurement's report names causes by them).

use csm_kit::feed::{Publisher, schema::outbox_event};
use csm_proto::classification::v1::{Taxonomy, TaxonomyActivated};
use prost::{Message, Name};
use sea_orm::{ColumnTrait, DbErr, EntityTrait, QueryFilter, QueryOrder};

/// Who is named as having activated a taxonomy put in force at start.
const AT_START: &str = "classification";

/// Publishes `TaxonomyActivated` for `taxonomy` unless the last one on the feed already names it.
/// Two replicas starting at once may both publish it; followers apply it idempotently.
pub async fn taxonomy_in_force(publisher: &Publisher, taxonomy: Taxonomy) -> Result<(), DbErr> {
    let db = publisher.database().writer();
    let last = outbox_event::Entity::find()
        .filter(outbox_event::Column::EventType.eq(TaxonomyActivated::full_name()))
        .order_by_desc(outbox_event::Column::Sequence)
        .one(db)
        .await?;
    let announced = last
        .and_then(|event| TaxonomyActivated::decode(event.payload.as_slice()).ok())
        .and_then(|event| event.taxonomy)
        .is_some_and(|announced| announced.name == taxonomy.name);
    if announced {
        return Ok(());
    }
    let mut uow = publisher.begin().await?;
    let name = taxonomy.name.clone();
    uow.publish(name, &TaxonomyActivated { taxonomy: Some(taxonomy), activated_by: AT_START.to_string() });
    uow.commit().await?;
    Ok(())
}
