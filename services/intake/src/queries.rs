//! Listings: work orders newest first, and high-frequency complainants most recently complaining
//! first; both paginated with tokens tied to their filters.

use csm_kit::{Database, Principal, error::Violations, names, paging, time};
use csm_proto::intake::v1::{
    Channel, HighFrequencyComplainant, HighFrequencyStatus, ListHighFrequencyComplainantsRequest,
    ListHighFrequencyComplainantsResponse, ListWorkOrdersRequest, ListWorkOrdersResponse, WorkOrder, WorkOrderKind,
    WorkOrderStatus,
};
use sea_orm::{ColumnTrait, Condition, EntityTrait, QueryFilter, QueryOrder, QuerySelect, sea_query::Query};

use crate::{
    error::Error,
    high_frequency,
    store::{self, customer, work_order},
    validate,
};

#[derive(Debug, Clone)]
pub struct Queries {
    db: Database,
}

/// Before `(at, id)` in (time, id) descending order.
fn before<C: ColumnTrait>(time: C, id: C, at: i64, last: String) -> Condition {
    Condition::any().add(time.lt(at)).add(Condition::all().add(time.eq(at)).add(id.lt(last)))
}

fn enum_filter<E>(
    field: &str,
    raw: i32,
    parse: fn(i32) -> Result<E, prost::UnknownEnumValue>,
    v: &mut Violations,
) -> Option<E>
where
    E: Default + PartialEq,
{
    match parse(raw) {
        Ok(value) if value == E::default() => None,
        Ok(value) => Some(value),
        Err(_) => {
            v.add(field, format!("unknown value {raw}"));
            None
        }
    }
}

impl Queries {
    pub fn new(db: Database) -> Self {
        Self { db }
    }

    pub fn database(&self) -> &Database {
        &self.db
    }

    /// Work orders by the request's filters; a department caller's list holds only the orders its
    /// department is responsible for.
    pub async fn work_orders(
        &self,
        request: &ListWorkOrdersRequest,
        caller: &Principal,
    ) -> Result<ListWorkOrdersResponse, Error> {
        let mut v = Violations::new();
        let page_size = paging::page_size(request.page_size, 50, 500).unwrap_or_else(|e| {
            v.merge(e);
            0
        });
        let status = enum_filter("status", request.status, WorkOrderStatus::try_from, &mut v);
        let kind = enum_filter("kind", request.kind, WorkOrderKind::try_from, &mut v);
        let channel = enum_filter("channel", request.channel, Channel::try_from, &mut v);
        let start = request.start_time.as_ref().map(time::from_timestamp);
        let end = request.end_time.as_ref().map(time::from_timestamp);
        if matches!(start, Some(None)) {
            v.add("start_time", "not a valid timestamp");
        }
        if matches!(end, Some(None)) {
            v.add("end_time", "not a valid timestamp");
        }
        let customer_id = match (request.customer.trim(), request.phone_number.trim()) {
            ("", "") => None,
            ("", phone) => Some(
                store::customer_by_phone(self.db.reader(), &validate::normalise_phone(phone))
                    .await?
                    .map(|c| c.id)
                    .unwrap_or_default(),
            ),
            (name, _) => match names::id_in("customer", name, names::CUSTOMERS) {
                Ok(id) => Some(id.to_string()),
                Err(e) => {
                    v.merge(e);
                    None
                }
            },
        };
        v.into_result()?;

        let department = caller.confined_department();
        let filters = paging::fingerprint(&[
            department.unwrap_or_default(),
            customer_id.as_deref().unwrap_or_default(),
            &request.status.to_string(),
            &request.kind.to_string(),
            &request.channel.to_string(),
            &format!("{:?}{:?}", request.start_time, request.end_time),
        ]);
        let after = paging::decode_keyset(&request.page_token, &filters)?;
        let mut query = work_order::Entity::find();
        if let Some(own) = department {
            query = query.filter(work_order::Column::Department.eq(own));
        }
        if let Some(id) = &customer_id {
            query = query.filter(work_order::Column::CustomerId.eq(id.as_str()));
        }
        if let Some(status) = status {
            query = query.filter(work_order::Column::Status.eq(status.as_str_name()));
        }
        if let Some(kind) = kind {
            query = query.filter(work_order::Column::Kind.eq(kind.as_str_name()));
        }
        if let Some(channel) = channel {
            query = query.filter(work_order::Column::Channel.eq(channel.as_str_name()));
        }
        if let Some(Some(start)) = start {
            query = query.filter(work_order::Column::OpenedAt.gte(time::micros(start)));
        }
        if let Some(Some(end)) = end {
            query = query.filter(work_order::Column::OpenedAt.lt(time::micros(end)));
        }
        if let Some((at, id)) = after {
            query = query.filter(before(work_order::Column::OpenedAt, work_order::Column::Id, at, id));
        }
        let mut rows = query
            .order_by_desc(work_order::Column::OpenedAt)
            .order_by_desc(work_order::Column::Id)
            .limit(page_size + 1)
            .all(self.db.reader())
            .await?;
        let next_page_token = paging::next_page(&mut rows, page_size, &filters, |last| (last.opened_at, &last.id));
        Ok(ListWorkOrdersResponse { work_orders: rows.iter().map(WorkOrder::from).collect(), next_page_token })
    }

    /// High-frequency complainants by status and region; a department caller's list holds only
    /// the customers with a work order its department is responsible for (as GetCustomer allows).
    pub async fn high_frequency(
        &self,
        request: &ListHighFrequencyComplainantsRequest,
        caller: &Principal,
    ) -> Result<ListHighFrequencyComplainantsResponse, Error> {
        let mut v = Violations::new();
        let page_size = paging::page_size(request.page_size, 50, 500).unwrap_or_else(|e| {
            v.merge(e);
            0
        });
        let statuses = match enum_filter("status", request.status, HighFrequencyStatus::try_from, &mut v) {
            None => vec![HighFrequencyStatus::Active, HighFrequencyStatus::Inactive],
            Some(HighFrequencyStatus::None) => {
                v.add("status", "list active or inactive high-frequency complainants");
                Vec::new()
            }
            Some(status) => vec![status],
        };
        v.into_result()?;
        let department = caller.confined_department();
        let filters =
            paging::fingerprint(&[department.unwrap_or_default(), &request.status.to_string(), request.region.trim()]);
        let after = paging::decode_keyset(&request.page_token, &filters)?;

        let mut query =
            customer::Entity::find().filter(customer::Column::HfStatus.is_in(statuses.iter().map(|s| s.as_str_name())));
        if let Some(own) = department {
            let customers_of_own = Query::select()
                .column(work_order::Column::CustomerId)
                .from(work_order::Entity)
                .and_where(work_order::Column::Department.eq(own))
                .to_owned();
            query = query.filter(customer::Column::Id.in_subquery(customers_of_own));
        }
        if !request.region.trim().is_empty() {
            query = query.filter(customer::Column::Region.eq(request.region.trim()));
        }
        if let Some((at, id)) = after {
            query = query.filter(before(customer::Column::LastComplaintAt, customer::Column::Id, at, id));
        }
        let mut rows = query
            .order_by_desc(customer::Column::LastComplaintAt)
            .order_by_desc(customer::Column::Id)
            .limit(page_size + 1)
            .all(self.db.reader())
            .await?;
        let next_page_token =
            paging::next_page(&mut rows, page_size, &filters, |last| (last.last_complaint_at.unwrap_or(0), &last.id));
        let ids: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
        let recent = high_frequency::recent_complaints(self.db.reader(), &ids, time::now_micros()).await?;
        Ok(ListHighFrequencyComplainantsResponse {
            complainants: rows
                .iter()
                .map(|row| HighFrequencyComplainant {
                    customer: names::name_of(names::CUSTOMERS, &row.id),
                    phone_number: row.phone_number.clone(),
                    profile: Some(store::profile(&row.segment, row.vip_level, &row.region, &row.products)),
                    high_frequency: Some(high_frequency::view(row, recent.get(&row.id).copied().unwrap_or_default())),
                })
                .collect(),
            next_page_token,
        })
    }
}
