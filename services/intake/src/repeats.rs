//! Repeat / dissatisfied work orders (重复投诉 / 不满意工单): a customer raising the same problem
//! again. The same problem means the same customer and the same topic (the channel's problem code,
//! or the classification leaf once known) within the repeat window (30 days by default, inclusive),
//! or an earlier order the caller names. The repeat is linked to the *first* order of the problem,
//! which is reopened.
//!
//! This is the one home of the rule and of what a link does to the orders. Repeats are recognised
//! on two paths, when a complaint opens its order (the writer's plan) and when classification's
//! feed gives an order its root-cause leaf ([`crate::leaves`]); both read orders as [`Earlier`],
//! ask [`RepeatRule::repeated`], and link with [`link_to_first`] and [`reopen_first`], so the two
//! cannot disagree.

use csm_proto::{
    StoredEnum,
    intake::v1::{WorkOrder, WorkOrderKind, WorkOrderReopened, WorkOrderStatus},
};

use crate::store::work_order;

/// What identifies a problem: the channel's problem code, else the root-cause leaf.
pub fn topic_of_code(problem_code: &str) -> String {
    format!("code:{problem_code}")
}

pub fn topic_of_leaf(leaf: &str) -> String {
    format!("leaf:{leaf}")
}

/// An order a new one may repeat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Earlier {
    pub id: String,
    pub customer_id: String,
    pub topic: Option<String>,
    pub opened_at: i64,
    /// Set when this order is itself a repeat.
    pub first_work_order_id: Option<String>,
}

impl Earlier {
    /// The first order of this order's problem.
    pub fn first(&self) -> &str {
        self.first_work_order_id.as_deref().unwrap_or(&self.id)
    }
}

impl From<&work_order::Model> for Earlier {
    fn from(order: &work_order::Model) -> Self {
        Earlier {
            id: order.id.clone(),
            customer_id: order.customer_id.clone(),
            topic: order.topic.clone(),
            opened_at: order.opened_at,
            first_work_order_id: order.first_work_order_id.clone(),
        }
    }
}

/// Makes `order` a repeat of the problem whose first order is `first_id`.
pub fn link_to_first(order: &mut work_order::Model, first_id: &str) {
    order.kind = WorkOrderKind::Repeat.stored();
    order.first_work_order_id = Some(first_id.to_string());
}

/// Reopens `first`, the first order of a problem, for its repeat `repeat` at `now`: it counts one
/// more reopening. Returns the event announcing the link.
pub fn reopen_first(first: &mut work_order::Model, repeat: &WorkOrder, now: i64) -> WorkOrderReopened {
    first.status = WorkOrderStatus::Reopened.stored();
    first.reopen_count += 1;
    first.reopened_at = Some(now);
    WorkOrderReopened { first_work_order: Some(WorkOrder::from(&*first)), repeat_work_order: Some(repeat.clone()) }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RepeatRule {
    /// Microseconds.
    window: i64,
}

impl RepeatRule {
    pub fn new(window: std::time::Duration) -> Self {
        Self { window: csm_kit::time::duration_micros(window) }
    }

    pub fn window(&self) -> i64 {
        self.window
    }

    /// The order a new order of `customer_id` on `topic` opened at `opened_at` repeats: the most
    /// recent earlier order on the same topic opened at most the window before it. Orders opened
    /// after it (delivered earlier, occurred later) are not repeated by it.
    pub fn repeated<'a>(
        &self,
        earlier: impl IntoIterator<Item = &'a Earlier>,
        customer_id: &str,
        topic: &str,
        opened_at: i64,
        exclude_id: &str,
    ) -> Option<&'a Earlier> {
        earlier
            .into_iter()
            .filter(|e| e.id != exclude_id && e.customer_id == customer_id && e.topic.as_deref() == Some(topic))
            .filter(|e| e.opened_at <= opened_at && opened_at - e.opened_at <= self.window)
            .max_by_key(|e| (e.opened_at, e.id.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = csm_kit::time::DAY_MICROS;

    fn order(id: &str, topic: &str, opened_at: i64, first: Option<&str>) -> Earlier {
        Earlier {
            id: id.into(),
            customer_id: "c".into(),
            topic: Some(topic.into()),
            opened_at,
            first_work_order_id: first.map(str::to_string),
        }
    }

    fn rule() -> RepeatRule {
        RepeatRule::new(std::time::Duration::from_secs(30 * 86_400))
    }

    #[test]
    fn day_thirty_is_a_repeat_day_thirty_one_is_new() {
        let earlier = [order("a", "code:B1", 0, None)];
        assert_eq!(rule().repeated(&earlier, "c", "code:B1", 30 * DAY, "").unwrap().id, "a");
        assert!(rule().repeated(&earlier, "c", "code:B1", 30 * DAY + 1, "").is_none());
        assert!(rule().repeated(&earlier, "c", "code:B1", 31 * DAY, "").is_none());
    }

    #[test]
    fn another_topic_or_customer_is_another_problem() {
        let earlier = [order("a", "code:B1", 0, None)];
        assert!(rule().repeated(&earlier, "c", "code:N7", DAY, "").is_none());
        assert!(rule().repeated(&earlier, "other", "code:B1", DAY, "").is_none());
    }

    #[test]
    fn a_chain_keeps_its_first_order() {
        let earlier = [order("a", "leaf:x", 0, None), order("b", "leaf:x", 20 * DAY, Some("a"))];
        let repeated = rule().repeated(&earlier, "c", "leaf:x", 45 * DAY, "").unwrap();
        assert_eq!((repeated.id.as_str(), repeated.first()), ("b", "a"));
    }

    #[test]
    fn an_order_does_not_repeat_a_later_one_or_itself() {
        let earlier = [order("a", "leaf:x", 10 * DAY, None)];
        assert!(rule().repeated(&earlier, "c", "leaf:x", 5 * DAY, "").is_none());
        assert!(rule().repeated(&earlier, "c", "leaf:x", 10 * DAY, "a").is_none());
    }

    fn stored(id: &str) -> work_order::Model {
        work_order::Model {
            id: id.into(),
            contact_id: format!("contact-{id}"),
            customer_id: "c".into(),
            kind: WorkOrderKind::New.as_str_name().into(),
            status: WorkOrderStatus::Open.as_str_name().into(),
            channel: "CHANNEL_HOTLINE_AGENT".into(),
            contact_type: "CONTACT_TYPE_COMPLAINT".into(),
            phone_number: "13900000000".into(),
            text: "宽带断了".into(),
            problem_code: None,
            topic: Some("leaf:x".into()),
            department: None,
            appeal: None,
            segment: None,
            vip_level: None,
            region: None,
            products: None,
            opened_at: 0,
            created_at: 0,
            first_work_order_id: None,
            reopen_count: 0,
            reopened_at: None,
        }
    }

    #[test]
    fn a_link_makes_a_repeat_and_reopens_the_first_order_once_more_each_time() {
        let mut first = stored("a");
        let mut repeat = stored("b");
        link_to_first(&mut repeat, &first.id);
        assert_eq!(Earlier::from(&repeat).first(), "a");
        assert_eq!(repeat.kind, WorkOrderKind::Repeat.as_str_name());

        let event = reopen_first(&mut first, &WorkOrder::from(&repeat), 5 * DAY);
        assert_eq!(
            (first.status.as_str(), first.reopen_count, first.reopened_at),
            (WorkOrderStatus::Reopened.as_str_name(), 1, Some(5 * DAY))
        );
        assert_eq!(event.first_work_order.unwrap().name, "workOrders/a");
        assert_eq!(event.repeat_work_order.unwrap().name, "workOrders/b");
        reopen_first(&mut first, &WorkOrder::from(&repeat), 6 * DAY);
        assert_eq!((first.reopen_count, first.reopened_at), (2, Some(6 * DAY)));
    }
}
