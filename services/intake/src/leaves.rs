//! Learning the root cause of work orders from classification's feed, so that complaints without
//! a channel problem code are also recognised as repeats once their cause is known.
//!
//! When an order's leaf arrives, it becomes the order's topic (unless a problem code already gave
//! it one). The order then joins the problem it belongs to: if an earlier order of the customer on
//! the same topic lies within the repeat window, this order is a repeat of that problem's first
//! order; and later orders of the customer on the same topic, still standing alone, become repeats
//! of this order's problem. Each link reopens the first order and publishes WorkOrderReopened, by
//! the rule of [`crate::repeats`] that the writer's plan follows too.
//!
//! The topic, links and reopenings are written in the follower's transaction, with its cursor
//! moved past the event, not through the group-commit writer: so an event is applied exactly once,
//! with everything it changed and published, or not at all.

use csm_kit::{
    feed::{EventHandler, HandleError, UnitOfWork, decode, id_from_event},
    names, time,
};
use csm_proto::{
    classification::v1::WorkOrderClassified,
    feed::v1::Event,
    intake::v1::{WorkOrder, WorkOrderKind},
};
use prost::Name;
use sea_orm::{ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, sea_query::Expr};

use crate::{
    repeats::{self, Earlier, RepeatRule, topic_of_leaf},
    store::{self, work_order},
};

#[derive(Debug, Clone)]
pub struct LeafHandler {
    repeat: RepeatRule,
}

impl LeafHandler {
    pub fn new(repeat: RepeatRule) -> Self {
        Self { repeat }
    }
}

impl EventHandler for LeafHandler {
    fn work(&self) -> &'static str {
        "learn"
    }

    fn event_types(&self) -> Vec<String> {
        vec![WorkOrderClassified::full_name()]
    }

    async fn handle(&self, uow: &mut UnitOfWork, event: &Event) -> Result<(), HandleError> {
        let classified: WorkOrderClassified = decode(event)?;
        let Some(classification) = classified.classification else {
            return Err(HandleError::Reject("WorkOrderClassified without classification".into()));
        };
        let id = id_from_event(&classification.work_order, names::WORK_ORDERS)?;
        let Some(mut order) = store::work_order_by_id(&**uow, &id).await? else {
            return Err(HandleError::Reject(format!("{} is not an intake work order", classification.work_order)));
        };
        let department = (!classification.responsible_department.is_empty()
            && order.department.as_deref() != Some(classification.responsible_department.as_str()))
        .then(|| classification.responsible_department.clone());
        let topic =
            (order.topic.is_none() && !classification.leaf.is_empty()).then(|| topic_of_leaf(&classification.leaf));
        if department.is_some() || topic.is_some() {
            // The department and the topic the leaf gives, in one statement that returns nothing.
            let mut changed = work_order::Entity::update_many().filter(work_order::Column::Id.eq(order.id.as_str()));
            if let Some(department) = &department {
                order.department = Some(department.clone());
                changed = changed.col_expr(work_order::Column::Department, Expr::value(department.clone()));
            }
            if let Some(topic) = &topic {
                order.topic = Some(topic.clone());
                changed = changed.col_expr(work_order::Column::Topic, Expr::value(topic.clone()));
            }
            changed.exec(&**uow).await?;
        }
        let Some(topic) = topic else {
            return Ok(());
        };

        let window = self.repeat.window();
        let neighbours: Vec<work_order::Model> = work_order::Entity::find()
            .filter(work_order::Column::CustomerId.eq(order.customer_id.as_str()))
            .filter(work_order::Column::Topic.eq(topic.as_str()))
            .filter(work_order::Column::OpenedAt.between(order.opened_at - window, order.opened_at + window))
            .filter(work_order::Column::Id.ne(order.id.as_str()))
            .all(&**uow)
            .await?;

        // This order repeats an earlier one.
        if order.first_work_order_id.is_none() {
            let earlier_orders: Vec<Earlier> = neighbours.iter().map(Earlier::from).collect();
            if let Some(repeated) =
                self.repeat.repeated(&earlier_orders, &order.customer_id, &topic, order.opened_at, &order.id)
            {
                let first = repeated.first().to_string();
                link(uow, &mut order, &first).await?;
            }
        }
        // Later orders standing alone repeat this one's problem.
        let first = order.first_work_order_id.clone().unwrap_or_else(|| order.id.clone());
        let this = Earlier::from(&order);
        for mut later in
            neighbours.into_iter().filter(|n| n.opened_at >= order.opened_at && n.first_work_order_id.is_none())
        {
            let repeated = self.repeat.repeated([&this], &later.customer_id, &topic, later.opened_at, &later.id);
            if repeated.is_some() && later.id != first && later.kind == WorkOrderKind::New.as_str_name() {
                link(uow, &mut later, &first).await?;
            }
        }
        Ok(())
    }
}

/// Makes `repeat` a repeat of `first_id`, reopens the first order and publishes the link, by the
/// rule of [`repeats`]; what is stored is written here, in the follower's transaction.
async fn link(uow: &mut UnitOfWork, repeat: &mut work_order::Model, first_id: &str) -> Result<(), HandleError> {
    let Some(mut first) = store::work_order_by_id(&**uow, first_id).await? else {
        return Ok(());
    };
    repeats::link_to_first(repeat, &first.id);
    work_order::ActiveModel {
        id: Set(repeat.id.clone()),
        kind: Set(repeat.kind.clone()),
        first_work_order_id: Set(repeat.first_work_order_id.clone()),
        ..Default::default()
    }
    .update(&**uow)
    .await?;
    // Orders that repeated this one belong to the earlier problem now.
    work_order::Entity::update_many()
        .col_expr(work_order::Column::FirstWorkOrderId, Expr::value(first.id.clone()))
        .filter(work_order::Column::FirstWorkOrderId.eq(repeat.id.as_str()))
        .exec(&**uow)
        .await?;

    let reopened = repeats::reopen_first(&mut first, &WorkOrder::from(&*repeat), time::now_micros());
    work_order::ActiveModel {
        id: Set(first.id.clone()),
        status: Set(first.status.clone()),
        reopen_count: Set(first.reopen_count),
        reopened_at: Set(first.reopened_at),
        ..Default::default()
    }
    .update(&**uow)
    .await?;
    uow.publish(names::name_of(names::WORK_ORDERS, &first.id), &reopened);
    Ok(())
}
