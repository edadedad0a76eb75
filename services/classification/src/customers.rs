//! Predicted dissatisfaction, live: what intake publishes about each customer (usage-quality
//! samples, bill disputes, failed activations, complaints and repeats, tags, high-frequency
//! status, profile) is kept as risk-model features, and each change is scored with the active
//! risk model. A score at or above the model's threshold publishes AtRiskCustomer, at most once
//! per cool-down, so recovery can open a proactive-care task before the customer complains.
//!
//! Feature names, for operators exporting training data in the same shape:
//! numeric `kqi.{metric}` (latest sample), `work_orders`, `repeat_work_orders`, `appeals`,
//! `bill_disputes`, `activation_failures`, `unsubscriptions`, `vip_level`, `tag.{tag}` (1 when
//! tagged); categorical `segment`, `region`, `high_frequency` ("active", "inactive", "none").

use std::{collections::BTreeMap, sync::Arc, time::Duration};

use csm_kit::{
    Masked,
    feed::{EventHandler, HandleError, UnitOfWork, carries, decode},
    time,
};
use csm_proto::{
    classification::v1::AtRiskCustomer,
    feed::v1::Event,
    intake::v1::{
        CustomerProfile, CustomerTagsChanged, HighFrequencyStatus, HighFrequencyStatusChanged, UsageEventRecorded,
        WorkOrderKind, WorkOrderOpened, usage_event::Detail,
    },
};
use prost::Name;

use crate::{
    engine::{InForce, LoadedRiskModel},
    model::risk::Features,
    store::{customer_features, customers},
};

/// Keeps customer features from intake's feed and flags customers at risk.
#[derive(Debug, Clone)]
pub struct CustomerFeaturesHandler {
    in_force: Arc<InForce>,
    cooldown: Duration,
}

impl CustomerFeaturesHandler {
    pub fn new(in_force: Arc<InForce>, cooldown: Duration) -> Self {
        Self { in_force, cooldown }
    }
}

/// One event's change to a customer's features.
struct Change {
    phone: String,
    customer: String,
    apply: Box<dyn FnOnce(&mut Features) + Send>,
}

impl EventHandler for CustomerFeaturesHandler {
    fn work(&self) -> &'static str {
        "profile"
    }

    fn event_types(&self) -> Vec<String> {
        vec![
            WorkOrderOpened::full_name(),
            UsageEventRecorded::full_name(),
            CustomerTagsChanged::full_name(),
            HighFrequencyStatusChanged::full_name(),
        ]
    }

    /// Reads the stored features of every customer the batch's events are about, in one query.
    async fn prepare(&self, uow: &mut UnitOfWork, events: &[Event]) -> Result<(), HandleError> {
        let phones: Vec<String> = events
            .iter()
            .filter_map(|event| change_of(event).ok().flatten())
            .map(|change| change.phone)
            .filter(|phone| !phone.is_empty())
            .collect();
        let stored = customers::features_of_all(&**uow, &phones).await?;
        let batch = uow.stash::<Batch>();
        for phone in phones {
            let row = stored.get(&phone).cloned();
            batch.0.entry(phone.clone()).or_insert_with(|| Customer::read(phone, row));
        }
        Ok(())
    }

    async fn handle(&self, uow: &mut UnitOfWork, event: &Event) -> Result<(), HandleError> {
        let Some(change) = change_of(event)? else { return Ok(()) };
        if change.phone.is_empty() {
            return Ok(());
        }
        if !uow.stash::<Batch>().0.contains_key(&change.phone) {
            let stored = customers::features_of(&**uow, &change.phone).await?;
            uow.stash::<Batch>().0.insert(change.phone.clone(), Customer::read(change.phone.clone(), stored));
        }
        let now = time::now_micros();
        let cooldown = time::duration_micros(self.cooldown);
        let risk = self.in_force.risk();
        let Some(customer) = uow.stash::<Batch>().0.get_mut(&change.phone) else { return Ok(()) };
        (change.apply)(&mut customer.features);
        let row = &mut customer.row;
        if !change.customer.is_empty() {
            row.customer = change.customer;
        }
        row.updated_at = now;
        customer.changed = true;
        let mut flagged = None;
        if let Some(risk) = &risk {
            let score = risk.model.score(&customer.features);
            row.score = Some(score);
            let cooled = row.flagged_at.is_none_or(|at| now - at >= cooldown);
            if score >= risk.threshold && cooled {
                row.flagged_at = Some(now);
                flagged = Some(at_risk(risk, row, &customer.features, score));
            }
        }
        if let Some(at_risk) = flagged {
            let phone = Masked(&at_risk.phone_number);
            tracing::info!(%phone, score = at_risk.score, "customer at risk of dissatisfaction");
            uow.publish(format!("customers/{phone}"), &at_risk);
        }
        Ok(())
    }

    /// Writes the features of every customer the batch changed, in a few statements.
    async fn flush(&self, uow: &mut UnitOfWork) -> Result<(), HandleError> {
        let batch = uow.take_stash::<Batch>().0;
        let mut rows = Vec::with_capacity(batch.len());
        for customer in batch.into_values().filter(|customer| customer.changed) {
            let features = serde_json::to_string(&customer.features).map_err(|e| HandleError::Retry(e.to_string()))?;
            rows.push(customer_features::Model { features, ..customer.row });
        }
        customers::save_all_features(&**uow, rows).await?;
        Ok(())
    }
}

/// The customers of one feed transaction, by phone number (so they are written in that order,
/// and two transactions lock the same rows in the same order).
#[derive(Debug, Clone, Default)]
struct Batch(BTreeMap<String, Customer>);

/// One customer's features as the batch has changed them so far.
#[derive(Debug, Clone)]
struct Customer {
    row: customer_features::Model,
    features: Features,
    changed: bool,
}

impl Customer {
    /// The customer as stored (or new); stored features that no longer parse start afresh.
    fn read(phone: String, stored: Option<customer_features::Model>) -> Self {
        let features = stored.as_ref().and_then(|row| serde_json::from_str(&row.features).ok()).unwrap_or_default();
        let row = stored.unwrap_or(customer_features::Model {
            phone_number: phone,
            customer: String::new(),
            features: String::new(),
            updated_at: 0,
            score: None,
            flagged_at: None,
        });
        Self { row, features, changed: false }
    }
}

fn at_risk(risk: &LoadedRiskModel, row: &customer_features::Model, features: &Features, score: f64) -> AtRiskCustomer {
    let factors = risk.model.explain(features, 3);
    let department = factors.iter().find_map(|f| department_for(risk, &f.feature)).unwrap_or_default();
    AtRiskCustomer {
        phone_number: row.phone_number.clone(),
        customer: row.customer.clone(),
        score,
        threshold: risk.threshold,
        factors: factors.iter().map(|f| format!("{} = {}", f.feature, f.value)).collect(),
        model_version: risk.name.clone(),
        department,
        score_time: Some(time::timestamp_from_micros(row.updated_at)),
    }
}

/// The department for a feature: an exact entry, or an entry ending in '*' that prefixes it.
pub fn department_for(risk: &LoadedRiskModel, feature: &str) -> Option<String> {
    risk.factor_departments.get(feature).cloned().or_else(|| {
        risk.factor_departments
            .iter()
            .filter(|(key, _)| key.ends_with('*') && feature.starts_with(key.trim_end_matches('*')))
            .max_by_key(|(key, _)| key.len())
            .map(|(_, department)| department.clone())
    })
}

fn change_of(event: &Event) -> Result<Option<Change>, HandleError> {
    if carries::<WorkOrderOpened>(event) {
        let Some(order) = decode::<WorkOrderOpened>(event)?.work_order else { return Ok(None) };
        let repeat = order.kind == WorkOrderKind::Repeat as i32;
        let appeal = order.appeal != 0;
        let profile = order.customer_profile.clone();
        return Ok(Some(Change {
            phone: order.phone_number,
            customer: order.customer,
            apply: Box::new(move |f| {
                add(f, "work_orders", 1.0);
                if repeat {
                    add(f, "repeat_work_orders", 1.0);
                }
                if appeal {
                    add(f, "appeals", 1.0);
                }
                apply_profile(f, profile.as_ref());
            }),
        }));
    }
    if carries::<UsageEventRecorded>(event) {
        let recorded = decode::<UsageEventRecorded>(event)?;
        let Some(usage) = recorded.usage_event else { return Ok(None) };
        let profile = recorded.profile;
        let detail = usage.detail;
        return Ok(Some(Change {
            phone: usage.phone_number,
            customer: usage.customer,
            apply: Box::new(move |f| {
                match detail {
                    Some(Detail::QualitySample(sample)) if sample.value.is_finite() => {
                        f.numeric.insert(format!("kqi.{}", sample.metric), sample.value);
                    }
                    Some(Detail::BillDispute(_)) => add(f, "bill_disputes", 1.0),
                    Some(Detail::Activation(activation)) if !activation.success => add(f, "activation_failures", 1.0),
                    Some(Detail::Unsubscription(_)) => add(f, "unsubscriptions", 1.0),
                    _ => {}
                }
                apply_profile(f, profile.as_ref());
            }),
        }));
    }
    if carries::<CustomerTagsChanged>(event) {
        let changed = decode::<CustomerTagsChanged>(event)?;
        let tags: Vec<String> = changed.tags.iter().map(|t| format!("tag.{}", t.tag)).collect();
        return Ok(Some(Change {
            phone: changed.phone_number,
            customer: changed.customer,
            apply: Box::new(move |f| {
                f.numeric.retain(|name, _| !name.starts_with("tag."));
                for tag in tags {
                    f.numeric.insert(tag, 1.0);
                }
            }),
        }));
    }
    if carries::<HighFrequencyStatusChanged>(event) {
        let changed = decode::<HighFrequencyStatusChanged>(event)?;
        let status = changed.high_frequency.as_ref().map_or(0, |h| h.status);
        let status = HighFrequencyStatus::try_from(status).unwrap_or_default().as_str_name();
        let status = status.trim_start_matches("HIGH_FREQUENCY_STATUS_").to_lowercase();
        let profile = changed.profile;
        return Ok(Some(Change {
            phone: changed.phone_number,
            customer: changed.customer,
            apply: Box::new(move |f| {
                f.categorical.insert("high_frequency".into(), status);
                apply_profile(f, profile.as_ref());
            }),
        }));
    }
    Ok(None)
}

fn add(features: &mut Features, name: &str, amount: f64) {
    *features.numeric.entry(name.to_string()).or_default() += amount;
}

fn apply_profile(features: &mut Features, profile: Option<&CustomerProfile>) {
    let Some(profile) = profile else { return };
    if !profile.segment.is_empty() {
        features.categorical.insert("segment".into(), profile.segment.clone());
    }
    if !profile.region.is_empty() {
        features.categorical.insert("region".into(), profile.region.clone());
    }
    features.numeric.insert("vip_level".into(), f64::from(profile.vip_level));
}

#[cfg(test)]
mod tests {
    use csm_kit::feed::{EventHandler, Publisher};
    use csm_proto::intake::v1::{QualitySample, UsageEvent, WorkOrder};

    use super::*;
    use crate::{engine::InForce, store::migration::Migrator};

    async fn publisher(path: &std::path::Path) -> Publisher {
        let settings = csm_kit::config::DatabaseSettings::sqlite(path);
        let db = csm_kit::Database::open::<Migrator>(&settings).await.unwrap();
        Publisher::new(db, "classification").await.unwrap()
    }

    fn event<M: Name>(sequence: u64, payload: &M) -> Event {
        Event { sequence, payload: Some(prost_types::Any::from_msg(payload).unwrap()), ..Default::default() }
    }

    fn opened(phone: &str, customer: &str, kind: WorkOrderKind, region: &str) -> WorkOrderOpened {
        let profile = CustomerProfile { region: region.into(), vip_level: 2, ..Default::default() };
        let work_order = WorkOrder {
            phone_number: phone.into(),
            customer: customer.into(),
            kind: kind as i32,
            customer_profile: Some(profile),
            ..Default::default()
        };
        WorkOrderOpened { work_order: Some(work_order) }
    }

    fn sample(phone: &str, value: f64) -> UsageEventRecorded {
        let sample = QualitySample { metric: "call_drop_rate".into(), value, ..Default::default() };
        let usage = UsageEvent {
            phone_number: phone.into(),
            detail: Some(Detail::QualitySample(sample)),
            ..Default::default()
        };
        UsageEventRecorded { usage_event: Some(usage), ..Default::default() }
    }

    /// Applies `events` as the feed consumer does, in transactions of `per_transaction` events.
    async fn apply(publisher: &Publisher, events: &[Event], per_transaction: usize) {
        let in_force = InForce::load(publisher.database().reader()).await.unwrap();
        let handler = CustomerFeaturesHandler::new(in_force, Duration::from_secs(3600));
        for batch in events.chunks(per_transaction) {
            let mut uow = publisher.begin().await.unwrap();
            handler.prepare(&mut uow, batch).await.unwrap();
            for event in batch {
                handler.handle(&mut uow, event).await.unwrap();
            }
            handler.flush(&mut uow).await.unwrap();
            uow.commit().await.unwrap();
        }
    }

    async fn stored(publisher: &Publisher, phone: &str) -> (String, Features) {
        let row = customers::features_of(publisher.database().reader(), phone).await.unwrap().unwrap();
        (row.customer, serde_json::from_str(&row.features).unwrap())
    }

    #[tokio::test]
    async fn a_customers_events_arriving_together_add_up_as_if_one_by_one() {
        let dir = std::env::temp_dir().join(format!("csm-customers-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let (together, one_by_one) =
            (publisher(&dir.join("together.db")).await, publisher(&dir.join("alone.db")).await);
        let events = [
            event(1, &opened("13800000001", "", WorkOrderKind::New, "north")),
            event(2, &sample("13800000001", 1.5)),
            event(3, &opened("13800000002", "customers/2", WorkOrderKind::New, "south")),
            event(4, &opened("13800000001", "customers/1", WorkOrderKind::Repeat, "east")),
            event(5, &sample("13800000001", 4.5)),
            event(6, &opened("", "customers/9", WorkOrderKind::New, "west")),
        ];
        apply(&together, &events[..2], 2).await;
        apply(&together, &events[2..], 4).await;
        apply(&one_by_one, &events, 1).await;

        for phone in ["13800000001", "13800000002"] {
            assert_eq!(stored(&together, phone).await, stored(&one_by_one, phone).await, "{phone}");
        }
        let (customer, features) = stored(&together, "13800000001").await;
        assert_eq!(customer, "customers/1");
        assert_eq!(features.numeric.get("work_orders"), Some(&2.0));
        assert_eq!(features.numeric.get("repeat_work_orders"), Some(&1.0));
        assert_eq!(features.numeric.get("kqi.call_drop_rate"), Some(&4.5), "the latest sample");
        assert_eq!(features.categorical.get("region").map(String::as_str), Some("east"));
        assert!(customers::features_of(together.database().reader(), "").await.unwrap().is_none());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
