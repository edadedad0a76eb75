//! Classifying work orders as intake opens them, with the snapshot in force (see `engine`): the
//! routing leaf gives the root cause, the responsible department and the deadline (the time limit
//! counted on the department's working hours from when the customer raised the problem). Each order also counts towards its leaf's
//! day in the operator's calendar, where a sudden rise is published as an emerging problem.

use std::{
    collections::{HashMap, HashSet},
    sync::Arc,
};

use csm_kit::{
    Masked,
    calendar::{LocalDays, OperatorCalendar},
    feed::{EventHandler, HandleError, UnitOfWork, decode, id_from_event, time_from_event},
    names,
    telemetry::TraceContext,
    time,
};
use csm_proto::{
    StoredEnum,
    classification::v1::{Classification, EmergingProblem, WorkOrderClassified},
    feed::v1::Event,
    intake::v1::{Channel, ContactType, WorkOrderOpened},
};
use prost::Name;
use sea_orm::ConnectionTrait;

use crate::{
    config::ProblemSettings,
    engine::{Decision, InForce, ViewDecision},
    rules::Subject,
    store::{
        self, StoredView, classification, emerging_problem,
        statistics::{self, Counted},
    },
    taxonomy::Leaf,
};

/// Applies intake's WorkOrderOpened events.
#[derive(Debug, Clone)]
pub struct WorkOrderOpenedHandler {
    in_force: Arc<InForce>,
    problems: ProblemSettings,
    calendar: OperatorCalendar,
}

impl WorkOrderOpenedHandler {
    pub fn new(in_force: Arc<InForce>, problems: ProblemSettings, calendar: OperatorCalendar) -> Self {
        Self { in_force, problems, calendar }
    }
}

impl EventHandler for WorkOrderOpenedHandler {
    fn work(&self) -> &'static str {
        "classify"
    }

    fn event_types(&self) -> Vec<String> {
        vec![WorkOrderOpened::full_name()]
    }

    /// Classifies the order and sets it aside for [`Self::flush`], which writes the batch's orders
    /// and counts them at once.
    async fn handle(&self, uow: &mut UnitOfWork, event: &Event) -> Result<(), HandleError> {
        let opened: WorkOrderOpened = decode(event)?;
        let work_order =
            opened.work_order.ok_or_else(|| HandleError::Reject("WorkOrderOpened without a work order".into()))?;
        let id = id_from_event(&work_order.name, names::WORK_ORDERS)?;
        let opened_at = time_from_event(work_order.open_time.as_ref(), "work order open_time")?;
        let classifier = self.in_force.classifier();
        let channel = Channel::try_from(work_order.channel).unwrap_or_default().as_str_name();
        let contact_type = ContactType::try_from(work_order.contact_type).unwrap_or_default().as_str_name();
        let subject = Subject { text: &work_order.text, channel, contact_type, problem_code: &work_order.problem_code };
        let decision =
            classifier.classify(&subject).ok_or_else(|| HandleError::Retry("taxonomy has no fallback leaf".into()))?;
        let opened_micros = time::micros(opened_at);
        let placed =
            Placed { text: &work_order.text, phone: &work_order.phone_number, channel, opened_at: opened_micros };
        let row = new_row(&id, &classifier.taxonomy.name, &decision, &placed, &self.calendar)?;
        let leaf = decision.routing().leaf;
        let classification = Classification::from(&row);
        tracing::debug!(
            work_order = %work_order.name,
            phone = %Masked(&work_order.phone_number),
            leaf = %classification.leaf,
            department = %classification.responsible_department,
            "work order classified"
        );
        let counted = Counted {
            leaf: leaf.key.clone(),
            day: self.calendar.days().day_number(opened_micros),
            phone: work_order.phone_number.clone(),
        };
        uow.stash::<Batch>().0.push(Classified {
            row,
            leaf: LeafNames::of(leaf),
            counted,
            event: WorkOrderClassified { classification: Some(classification), work_order: Some(work_order) },
            trace: TraceContext::current(),
        });
        Ok(())
    }

    /// Writes the batch's new classifications, counts them towards their leaves' days, and
    /// publishes each WorkOrderClassified, followed by the emerging problem it revealed if any, in
    /// the order the orders came. An order classified before (a redelivered event) is skipped.
    async fn flush(&self, uow: &mut UnitOfWork) -> Result<(), HandleError> {
        let batch = uow.take_stash::<Batch>().0;
        if batch.is_empty() {
            return Ok(());
        }
        let ids: Vec<String> = batch.iter().map(|c| c.row.work_order_id.clone()).collect();
        let mut done = store::classified_among(&**uow, &ids).await?;
        let fresh: Vec<Classified> = batch.into_iter().filter(|c| done.insert(c.row.work_order_id.clone())).collect();
        store::insert_classifications(&**uow, fresh.iter().map(|c| c.row.clone()).collect()).await?;
        let counted: Vec<Counted> = fresh.iter().map(|c| c.counted.clone()).collect();
        let counts = statistics::count_orders(&**uow, &counted).await?;
        let reaching: HashSet<(String, i64)> = counted
            .iter()
            .zip(&counts)
            .filter(|(_, (orders, _))| *orders >= self.problems.emerging_min_orders)
            .map(|(order, _)| (order.leaf.clone(), order.day))
            .collect();
        let mut detector = Detector {
            settings: &self.problems,
            days: self.calendar.days(),
            baselines: HashMap::new(),
            decided: statistics::emerged_on(&**uow, &reaching).await?,
        };
        for (order, (orders, customers)) in fresh.into_iter().zip(counts) {
            let subject = order.event.work_order.as_ref().map(|o| o.name.clone()).unwrap_or_default();
            uow.publish_traced(&order.trace, subject, &order.event);
            if let Some(emerging) = detector.detect(&**uow, &order, orders, customers).await? {
                tracing::info!(leaf = %emerging.leaf, orders = emerging.work_orders, "emerging problem");
                uow.publish_traced(&order.trace, format!("leaves/{}", emerging.leaf), &emerging);
            }
        }
        Ok(())
    }
}

/// The orders of one feed transaction, classified and waiting to be written together.
#[derive(Debug, Clone, Default)]
struct Batch(Vec<Classified>);

#[derive(Debug, Clone)]
struct Classified {
    row: classification::Model,
    leaf: LeafNames,
    counted: Counted,
    event: WorkOrderClassified,
    /// The trace of the event it came from, which its own events carry on.
    trace: TraceContext,
}

/// What an emerging-problem event says of its leaf.
#[derive(Debug, Clone)]
struct LeafNames {
    name_zh: String,
    name_en: String,
    department: String,
}

impl LeafNames {
    fn of(leaf: &Leaf) -> Self {
        Self { name_zh: leaf.name_zh.clone(), name_en: leaf.name_en.clone(), department: leaf.department.clone() }
    }
}

/// The order a decision was made for.
#[derive(Debug, Clone, Copy)]
pub struct Placed<'a> {
    pub text: &'a str,
    pub phone: &'a str,
    pub channel: &'a str,
    pub opened_at: i64,
}

/// The stored classification of a decision.
pub fn new_row(
    work_order_id: &str,
    taxonomy_version: &str,
    decision: &Decision<'_>,
    placed: &Placed<'_>,
    calendar: &OperatorCalendar,
) -> Result<classification::Model, HandleError> {
    let routing = decision.routing();
    let views: Vec<StoredView> = decision.views.iter().map(stored_view).collect();
    let method = routing.method.stored();
    let mut row = classification::Model {
        work_order_id: work_order_id.to_string(),
        taxonomy_version: taxonomy_version.to_string(),
        // The route is filled in by `route_to` below.
        leaf: String::new(),
        path: String::new(),
        leaf_name_zh: String::new(),
        leaf_name_en: String::new(),
        department: String::new(),
        time_limit_secs: 0,
        opened_at: placed.opened_at,
        deadline: 0,
        method: method.clone(),
        confidence: routing.confidence,
        hits: serde_json::to_string(&decision.hits).map_err(|e| HandleError::Reject(e.to_string()))?,
        needs_review: routing.needs_review,
        classified_at: time::now_micros(),
        phone_number: placed.phone.to_string(),
        channel: placed.channel.to_string(),
        text: placed.text.to_string(),
        views: serde_json::to_string(&views).map_err(|e| HandleError::Reject(e.to_string()))?,
        first_method: method,
        corrected: false,
    };
    route_to(&mut row, routing.leaf, calendar)
        .map_err(|e| HandleError::Reject(format!("time limit out of range: {e}")))?;
    Ok(row)
}

/// Points `row` at a routing leaf: its path and names, the responsible department, the time limit
/// and the deadline it gives from when the customer raised the problem, counted on the
/// department's working hours as recovery counts it.
pub fn route_to(
    row: &mut classification::Model,
    leaf: &Leaf,
    calendar: &OperatorCalendar,
) -> Result<(), chrono::OutOfRangeError> {
    let limit = chrono::Duration::from_std(leaf.time_limit)?;
    row.leaf = leaf.key.clone();
    row.path = leaf.path.join("/");
    row.leaf_name_zh = leaf.name_zh.clone();
    row.leaf_name_en = leaf.name_en.clone();
    row.department = leaf.department.clone();
    row.time_limit_secs = limit.num_seconds();
    row.deadline = calendar.deadline(&leaf.department, row.opened_at, limit.num_microseconds().unwrap_or(i64::MAX));
    Ok(())
}

pub fn stored_view(view: &ViewDecision<'_>) -> StoredView {
    StoredView {
        view: view.view.to_string(),
        leaf: view.leaf.key.clone(),
        path: view.leaf.path.clone(),
        name_zh: view.leaf.name_zh.clone(),
        name_en: view.leaf.name_en.clone(),
        method: view.method.stored(),
        confidence: view.confidence,
        needs_review: view.needs_review,
        text_model: view.text_model.to_string(),
    }
}

/// Finds the days on which a leaf stands out (新发问题) as a batch's orders are counted: the
/// first order that takes its leaf's day to at least `emerging_min_orders` orders and
/// `emerging_factor` times the mean of the days before reveals it, once per leaf and day.
#[derive(Debug)]
struct Detector<'a> {
    settings: &'a ProblemSettings,
    days: LocalDays,
    /// The mean of the days before, per leaf and day, read once per batch.
    baselines: HashMap<(String, i64), f64>,
    /// Leaves and days already decided: recorded before the batch (read once, as a leaf's busy day
    /// would otherwise read its baseline and try to record it again in every batch until
    /// midnight), or in it.
    decided: HashSet<(String, i64)>,
}

impl Detector<'_> {
    async fn detect(
        &mut self,
        db: &impl ConnectionTrait,
        order: &Classified,
        orders: i64,
        customers: i64,
    ) -> Result<Option<EmergingProblem>, HandleError> {
        let Counted { leaf, day, .. } = &order.counted;
        let key = (leaf.clone(), *day);
        if orders < self.settings.emerging_min_orders || self.decided.contains(&key) {
            return Ok(None);
        }
        let baseline = match self.baselines.get(&key) {
            Some(baseline) => *baseline,
            None => {
                let baseline = statistics::baseline(db, leaf, *day, self.settings.emerging_window_days).await?;
                *self.baselines.entry(key.clone()).or_insert(baseline)
            }
        };
        if (orders as f64) < self.settings.emerging_factor * baseline {
            return Ok(None);
        }
        self.decided.insert(key);
        let row = emerging_problem::Model {
            leaf: leaf.clone(),
            day: *day,
            work_orders: orders,
            baseline,
            published_at: time::now_micros(),
        };
        if !statistics::record_emerging(db, row).await? {
            return Ok(None);
        }
        Ok(Some(EmergingProblem {
            leaf: leaf.clone(),
            leaf_name_zh: order.leaf.name_zh.clone(),
            leaf_name_en: order.leaf.name_en.clone(),
            responsible_department: order.leaf.department.clone(),
            day: Some(time::timestamp_from_micros(self.days.start_of_day_number(*day))),
            work_orders: orders,
            distinct_customers: customers,
            baseline,
        }))
    }
}
