//! The high-frequency status as staff and the feed see it: the `HighFrequency` message of a
//! customer (on the customer, in the complainants list and in the status-change event), and the
//! recent complaint counts shown beside it. Every `HighFrequency` intake answers or publishes is
//! built by [`view`].

use std::collections::HashMap;

use csm_kit::{names, time};
use csm_proto::StoredEnum;
use csm_proto::intake::v1::{
    ComplaintWindow, ContactType, HighFrequency, HighFrequencyRule, HighFrequencyStatus, HighFrequencyStatusChanged,
};
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, ExprTrait, QueryFilter, QuerySelect, sea_query::Expr};

use crate::store::{self, contact, customer};

/// A customer's complaints in the last 7 and 30 days.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RecentComplaints {
    pub last_7_days: i64,
    pub last_30_days: i64,
}

/// The recent complaints of each of these customers as of `now`, one query for all; customers
/// without any are left out.
pub async fn recent_complaints(
    db: &impl ConnectionTrait,
    customer_ids: &[String],
    now: i64,
) -> Result<HashMap<String, RecentComplaints>, DbErr> {
    let week = now - 7 * time::DAY_MICROS;
    let rows: Vec<(String, i64, i64)> = contact::Entity::find()
        .select_only()
        .column(contact::Column::CustomerId)
        // COUNT of a CASE without ELSE counts the rows that match: BIGINT on every database.
        .expr_as(Expr::expr(Expr::case(contact::Column::OccurredAt.gte(week), 1i64)).count(), "week")
        .expr_as(Expr::cust("COUNT(*)"), "month")
        .filter(contact::Column::CustomerId.is_in(customer_ids.to_vec()))
        .filter(contact::Column::ContactType.eq(ContactType::Complaint.as_str_name()))
        .filter(contact::Column::OccurredAt.gte(now - 30 * time::DAY_MICROS))
        .group_by(contact::Column::CustomerId)
        .into_tuple()
        .all(db)
        .await?;
    Ok(rows
        .into_iter()
        .map(|(id, week, month)| (id, RecentComplaints { last_7_days: week, last_30_days: month }))
        .collect())
}

/// The customer's high-frequency status as stored, with its `recent` complaints.
pub fn view(row: &customer::Model, recent: RecentComplaints) -> HighFrequency {
    HighFrequency {
        status: HighFrequencyStatus::from_stored(&row.hf_status) as i32,
        qualify_time: row.hf_qualified_at.map(time::timestamp_from_micros),
        qualifying_window: window_of(row),
        last_complaint_time: row.last_complaint_at.map(time::timestamp_from_micros),
        complaints_last_7_days: recent.last_7_days,
        complaints_last_30_days: recent.last_30_days,
    }
}

/// The event announcing a customer's new high-frequency status, changed from `previous` at `now`.
/// It carries no recent complaint counts (zero): those are read when a customer is looked at.
pub fn status_changed(row: &customer::Model, previous: HighFrequencyStatus, now: i64) -> HighFrequencyStatusChanged {
    HighFrequencyStatusChanged {
        customer: names::name_of(names::CUSTOMERS, &row.id),
        phone_number: row.phone_number.clone(),
        previous_status: previous as i32,
        high_frequency: Some(view(row, RecentComplaints::default())),
        change_time: Some(time::timestamp_from_micros(now)),
        profile: Some(store::profile(&row.segment, row.vip_level, &row.region, &row.products)),
    }
}

/// The window that first met a threshold, as stored on the customer.
fn window_of(row: &customer::Model) -> Option<ComplaintWindow> {
    Some(ComplaintWindow {
        rule: row.hf_rule.as_deref().and_then(HighFrequencyRule::from_str_name).unwrap_or_default() as i32,
        start_time: Some(time::timestamp_from_micros(row.hf_window_start?)),
        end_time: Some(time::timestamp_from_micros(row.hf_window_end?)),
        complaints: row.hf_window_complaints?,
    })
}
