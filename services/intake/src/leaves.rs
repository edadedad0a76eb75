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
//! with everything it changed and published, or not at all. A transaction's orders that can link
//! nothing (see [`LeafHandler::flush`]) are written together.

use std::collections::HashMap;

use csm_kit::{
    feed::{EventHandler, HandleError, UnitOfWork, decode, id_from_event},
    names,
    telemetry::TraceContext,
    time,
};
use csm_proto::{
    classification::v1::WorkOrderClassified,
    feed::v1::Event,
    intake::v1::{WorkOrder, WorkOrderKind},
};
use prost::Name;
use sea_orm::{
    ActiveModelTrait,
    ActiveValue::Set,
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, ExprTrait, IntoActiveModel, QueryFilter,
    sea_query::{Expr, OnConflict},
};

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

    /// Reads the batch's orders in one query.
    async fn prepare(&self, uow: &mut UnitOfWork, events: &[Event]) -> Result<(), HandleError> {
        let ids: Vec<String> = events
            .iter()
            .filter_map(|event| decode::<WorkOrderClassified>(event).ok()?.classification)
            .filter_map(|classification| id_from_event(&classification.work_order, names::WORK_ORDERS).ok())
            .collect();
        uow.stash::<Read>().0 = store::work_orders_by_ids(&**uow, &ids).await?;
        Ok(())
    }

    /// Takes the order as read (an order intake does not know is rejected) and sets it aside for
    /// [`Self::flush`], which learns the batch's leaves together.
    async fn handle(&self, uow: &mut UnitOfWork, event: &Event) -> Result<(), HandleError> {
        let classified: WorkOrderClassified = decode(event)?;
        let Some(classification) = classified.classification else {
            return Err(HandleError::Reject("WorkOrderClassified without classification".into()));
        };
        let id = id_from_event(&classification.work_order, names::WORK_ORDERS)?;
        let Some(order) = uow.stash::<Read>().0.get(&id).cloned() else {
            return Err(HandleError::Reject(format!("{} is not an intake work order", classification.work_order)));
        };
        let learned = Learned {
            learns: Learns::of(&order, &classification.responsible_department, &classification.leaf),
            order,
            department: classification.responsible_department,
            leaf: classification.leaf,
            trace: TraceContext::current(),
        };
        uow.stash::<Learning>().0.push(learned);
        Ok(())
    }

    /// Learns the batch's leaves, in their order. Repeats only ever link orders of one customer,
    /// so an order whose customer has no other order in the batch and no stored order on the new
    /// topic within the repeat window (one query finds them all) can link nothing: its department
    /// and topic are written with those of the others in one statement. The rest are learned one by
    /// one, each reading what the ones before it wrote, exactly as when every event came alone.
    async fn flush(&self, uow: &mut UnitOfWork) -> Result<(), HandleError> {
        let batch = uow.take_stash::<Learning>().0;
        if batch.is_empty() {
            return Ok(());
        }
        let window = self.repeat.window();
        let mut orders_of: HashMap<String, usize> = HashMap::new();
        batch.iter().for_each(|l| *orders_of.entry(l.order.customer_id.clone()).or_default() += 1);
        let topical: Vec<&Learned> = batch.iter().filter(|l| l.learns.topic.is_some()).collect();
        let customers: Vec<String> = topical.iter().map(|l| l.order.customer_id.clone()).collect();
        let opened = topical.iter().map(|l| l.order.opened_at);
        let span = (opened.clone().min().unwrap_or(0) - window, opened.max().unwrap_or(0) + window);
        let stored = if customers.is_empty() { Vec::new() } else { topics_of(&**uow, &customers, span).await? };
        let neighbours = |l: &Learned| {
            let topic = l.learns.topic.as_deref();
            stored.iter().any(|s| {
                s.customer_id == l.order.customer_id
                    && s.topic.as_deref() == topic
                    && s.id != l.order.id
                    && (s.opened_at - l.order.opened_at).abs() <= window
            })
        };
        let (alone, linked): (Vec<Learned>, Vec<Learned>) = batch.into_iter().partition(|l| {
            let alone = orders_of.get(l.order.customer_id.as_str()).is_none_or(|&orders| orders == 1);
            l.learns.topic.is_none() || (alone && !neighbours(l))
        });
        store_taught(&**uow, taught(&alone)).await?;
        for learned in linked {
            self.learn(uow, &learned).await?;
        }
        Ok(())
    }
}

/// An order classified, waiting for its feed transaction's flush.
#[derive(Debug, Clone)]
struct Learned {
    order: work_order::Model,
    department: String,
    leaf: String,
    /// The trace a repeat it reveals continues.
    trace: TraceContext,
    /// What the classification changes of the order as it was read.
    learns: Learns,
}

#[derive(Debug, Clone, Default)]
struct Learning(Vec<Learned>);

/// The orders of a feed transaction's events, as read before any was handled (nothing in the
/// transaction writes them before its flush).
#[derive(Debug, Clone, Default)]
struct Read(HashMap<String, work_order::Model>);

/// What a classification teaches intake of one order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Learns {
    department: Option<String>,
    topic: Option<String>,
}

impl Learns {
    /// The department the classification names, when it is new to the order, and the topic of its
    /// leaf, when the order has none (a problem code may have given it one).
    fn of(order: &work_order::Model, department: &str, leaf: &str) -> Self {
        Self {
            department: (!department.is_empty() && order.department.as_deref() != Some(department))
                .then(|| department.to_string()),
            topic: (order.topic.is_none() && !leaf.is_empty()).then(|| topic_of_leaf(leaf)),
        }
    }

    /// Teaches `order` what this holds; whether that changed it.
    fn apply(self, order: &mut work_order::Model) -> bool {
        let changed = self.department.is_some() || self.topic.is_some();
        if let Some(department) = self.department {
            order.department = Some(department);
        }
        if let Some(topic) = self.topic {
            order.topic = Some(topic);
        }
        changed
    }
}

/// The orders of `learned` as their classifications leave them, each changed order once. An order
/// classified twice among them learns from each classification in turn, as when the events came one
/// by one: the later department stands, and the first leaf gives the topic. (Those written together
/// are learned before the rest of the batch; so a classification without a leaf comes before one
/// with a leaf of the same order whatever their order, which only events made by hand can show:
/// classification always names a leaf.)
fn taught(learned: &[Learned]) -> Vec<work_order::Model> {
    let mut orders: HashMap<&str, (work_order::Model, bool)> = HashMap::new();
    for l in learned {
        let (order, changed) = orders.entry(l.order.id.as_str()).or_insert_with(|| (l.order.clone(), false));
        *changed |= Learns::of(order, &l.department, &l.leaf).apply(order);
    }
    orders.into_values().filter_map(|(order, changed)| changed.then_some(order)).collect()
}

impl LeafHandler {
    /// Learns one order's leaf, reading the order and its neighbours as they now are: its
    /// department and topic stored, then the repeats the topic reveals linked.
    async fn learn(&self, uow: &mut UnitOfWork, learned: &Learned) -> Result<(), HandleError> {
        let id = learned.order.id.as_str();
        let Some(mut order) = store::work_order_by_id(&**uow, id).await? else {
            return Err(HandleError::Retry(format!("work order {id} vanished while its leaf was learned")));
        };
        let learns = Learns::of(&order, &learned.department, &learned.leaf);
        let topic = learns.topic.clone();
        if learns.apply(&mut order) {
            store_taught(&**uow, vec![order.clone()]).await?;
        }
        let Some(topic) = topic else {
            return Ok(());
        };

        let window = self.repeat.window();
        let customer = [order.customer_id.clone()];
        let mut neighbours = topics_of(&**uow, &customer, (order.opened_at - window, order.opened_at + window)).await?;
        neighbours.retain(|n| n.topic.as_deref() == Some(topic.as_str()) && n.id != order.id);

        // This order repeats an earlier one.
        if order.first_work_order_id.is_none() {
            let earlier_orders: Vec<Earlier> = neighbours.iter().map(Earlier::from).collect();
            if let Some(repeated) =
                self.repeat.repeated(&earlier_orders, &order.customer_id, &topic, order.opened_at, &order.id)
            {
                let first = repeated.first().to_string();
                link(uow, &learned.trace, &mut order, &first).await?;
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
                link(uow, &learned.trace, &mut later, &first).await?;
            }
        }
        Ok(())
    }
}

/// Makes `repeat` a repeat of `first_id`, reopens the first order and publishes the link, by the
/// rule of [`repeats`]; what is stored is written here, in the follower's transaction.
async fn link(
    uow: &mut UnitOfWork,
    trace: &TraceContext,
    repeat: &mut work_order::Model,
    first_id: &str,
) -> Result<(), HandleError> {
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
    uow.publish_traced(trace, names::name_of(names::WORK_ORDERS, &first.id), &reopened);
    Ok(())
}

/// Stores the departments and topics classifications taught `orders` (as read in this transaction,
/// then taught), in one statement for all of them: each order's two columns are written over its
/// stored row, matched by id, and nothing else of the row changes. One `UPDATE` for each department
/// and topic was a round trip for every two orders or so on PostgreSQL (docs/performance.md).
async fn store_taught(db: &impl ConnectionTrait, orders: Vec<work_order::Model>) -> Result<(), DbErr> {
    if orders.is_empty() {
        return Ok(());
    }
    let learned = OnConflict::column(work_order::Column::Id)
        .update_columns([work_order::Column::Department, work_order::Column::Topic])
        .to_owned();
    let rows: Vec<work_order::ActiveModel> = orders.into_iter().map(IntoActiveModel::into_active_model).collect();
    csm_kit::bulk::upsert_all(db, rows, learned).await?;
    Ok(())
}

/// The stored orders with a topic of these customers opened within `span`.
///
/// The span is the repeat window, a month of orders. A prepared statement's generic plan cannot
/// see that: PostgreSQL takes a range with parameters for a two-hundredth of the table and, as
/// orders are stored in the order they were opened, prefers reading that range through
/// `work_order_by_opened` to a few lookups by customer. Each batch then read every order of the
/// month (75 ms at 30,000 orders, growing with the table). The range is written as
/// `opened_at + 0`, which no index serves, so the customers' index is the only way in.
async fn topics_of(
    db: &impl ConnectionTrait,
    customers: &[String],
    (from, to): (i64, i64),
) -> Result<Vec<work_order::Model>, DbErr> {
    let opened_at = Expr::col(work_order::Column::OpenedAt).add(0);
    let query =
        work_order::Entity::find().filter(work_order::Column::Topic.is_not_null()).filter(opened_at.between(from, to));
    csm_kit::bulk::find_in(db, query, work_order::Column::CustomerId, customers).await
}
