//! The three upstream feeds' events for a month of work orders, in the batches measurement's
//! consumers apply when behind.

use std::collections::VecDeque;

use csm_kit::time;
use csm_proto::{
    classification::v1::{Classification, WorkOrderClassified},
    feed::v1::Event,
    intake::v1::{
        Activation, Channel, ContactType, CustomerProfile, QualitySample, SurveyAnswer, SurveyAnswered, SurveyScale,
        UsageEvent, UsageEventRecorded, WorkOrder, WorkOrderKind, WorkOrderOpened, usage_event::Detail,
    },
    recovery::v1::{Case, CaseResolved},
};
use prost::{Message, Name};

use super::BATCH;

const LEAVES: [(&str, &str, &str); 8] = [
    ("system", "billing_error", "billing"),
    ("system", "activation_failure", "it_systems"),
    ("system", "network_coverage", "network"),
    ("system", "broadband_outage", "operations_maintenance"),
    ("business", "tariff_unclear", "marketing"),
    ("business", "sp_fee_dispute", "partner_management"),
    ("service", "slow_handling", "service_centre"),
    ("service", "staff_attitude", "service_centre"),
];
const REGIONS: [&str; 6] = ["GD-SZ", "GD-GZ", "GD-FS", "GD-DG", "GD-ZH", "GD-HZ"];
pub const HOUR: i64 = 3_600_000_000;

fn event<M: Message + Name>(sequence: u64, subject: &str, payload: &M) -> Event {
    Event {
        sequence,
        subject: subject.to_string(),
        payload: Some(prost_types::Any { type_url: M::type_url(), value: payload.encode_to_vec() }),
        ..Event::default()
    }
}

/// The events of order `n` of `orders` on each feed, opened in October 2026 (Beijing). Orders
/// arrive as they are opened, through the month; one in ten arrives late, from any earlier day.
fn order_events(n: u64, orders: u64, month_start: i64, sequence: u64) -> [Vec<Event>; 3] {
    let mix = n.wrapping_mul(2_654_435_761);
    let on_time = month_start + (n as f64 / orders as f64 * (31 * 24 * HOUR) as f64) as i64;
    let opened = if (mix / 7).is_multiple_of(10) {
        month_start + ((mix / 11) % (on_time - month_start).max(1) as u64) as i64
    } else {
        on_time
    };
    let name = format!("workOrders/{n}");
    let phone = format!("138{:08}", mix % 5_000_000);
    let profile = CustomerProfile {
        region: REGIONS[(mix % 6) as usize].into(),
        segment: ["premium", "youth", "prepaid", "family"][(mix % 4) as usize].into(),
        products: vec![["mobile", "broadband"][(mix % 2) as usize].into()],
        ..Default::default()
    };
    let work_order = WorkOrder {
        name: name.clone(),
        kind: if mix.is_multiple_of(20) { WorkOrderKind::Repeat } else { WorkOrderKind::New } as i32,
        channel: [Channel::HotlineAgent, Channel::Wechat, Channel::MobileApp][(mix % 3) as usize] as i32,
        contact_type: ContactType::Complaint as i32,
        phone_number: phone.clone(),
        open_time: Some(time::timestamp_from_micros(opened)),
        customer_profile: Some(profile.clone()),
        ..Default::default()
    };
    let (category, leaf, department) = LEAVES[((mix / 7) % 8) as usize];
    let survey = SurveyAnswered {
        survey_answer: Some(SurveyAnswer {
            phone_number: phone.clone(),
            scale: SurveyScale::Csat5 as i32,
            score: (1 + mix % 5) as f64,
            question: "overall".into(),
            indicator: "csat".into(),
            occurred_at: Some(time::timestamp_from_micros(opened + 30 * HOUR)),
            ..Default::default()
        }),
        profile: Some(profile.clone()),
    };
    let usage = |detail: Detail| UsageEventRecorded {
        usage_event: Some(UsageEvent {
            phone_number: phone.clone(),
            product_code: "5G-199".into(),
            occurred_at: Some(time::timestamp_from_micros(opened - 2 * HOUR)),
            detail: Some(detail),
            ..Default::default()
        }),
        profile: Some(profile.clone()),
    };
    let drop_rate =
        QualitySample { metric: "call_drop_rate".into(), value: (mix % 50) as f64 / 1000.0, unit: String::new() };
    let activation = Activation { success: !mix.is_multiple_of(50), failure_reason: String::new() };
    let classified = WorkOrderClassified {
        classification: Some(Classification {
            work_order: name.clone(),
            leaf: leaf.into(),
            path: vec![category.into(), leaf.into()],
            responsible_department: department.into(),
            ..Default::default()
        }),
        work_order: Some(work_order.clone()),
    };
    let resolved = CaseResolved {
        case: Some(Case {
            work_order: name.clone(),
            leaf: leaf.into(),
            path: vec![category.into(), leaf.into()],
            department: department.into(),
            open_time: work_order.open_time,
            resolve_time: Some(time::timestamp_from_micros(opened + (4 + mix % 60) as i64 * HOUR)),
            resolved_on_time: !mix.is_multiple_of(10),
            ..Default::default()
        }),
    };
    [
        vec![
            event(sequence, &name, &WorkOrderOpened { work_order: Some(work_order) }),
            event(sequence + 1, &phone, &survey),
            event(sequence + 2, &phone, &usage(Detail::QualitySample(drop_rate))),
            event(sequence + 3, &phone, &usage(Detail::Activation(activation))),
        ],
        vec![event(sequence, &name, &classified)],
        vec![event(sequence, &name, &resolved)],
    ]
}

/// The three feeds' batches of work orders' events, in the order the consumers apply them: the
/// intake feed's every `BATCH / 4` orders (four events each), the two others' every `BATCH` events.
pub struct Batches {
    next_order: u64,
    orders: u64,
    month_start: i64,
    /// Intake's, classification's and recovery's events not yet in a batch.
    feeds: [Vec<Event>; 3],
    ready: VecDeque<Vec<Event>>,
}

impl Batches {
    pub fn new(orders: u64, month_start: i64) -> Self {
        Self { next_order: 0, orders, month_start, feeds: Default::default(), ready: VecDeque::new() }
    }
}

impl Iterator for Batches {
    type Item = Vec<Event>;

    fn next(&mut self) -> Option<Vec<Event>> {
        let chunk = (BATCH / 4) as u64;
        while self.ready.is_empty() && self.next_order < self.orders {
            let n = self.next_order;
            self.next_order += 1;
            let last = n + 1 == self.orders;
            for (feed, events) in self.feeds.iter_mut().zip(order_events(n, self.orders, self.month_start, n * 4 + 1)) {
                feed.extend(events);
            }
            let [intake, others @ ..] = &mut self.feeds;
            if (n + 1).is_multiple_of(chunk) || last {
                self.ready.push_back(std::mem::take(intake));
            }
            for feed in others {
                if feed.len() == BATCH || (last && !feed.is_empty()) {
                    self.ready.push_back(std::mem::take(feed));
                }
            }
        }
        self.ready.pop_front()
    }
}
