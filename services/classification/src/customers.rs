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

use std::{sync::Arc, time::Duration};

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

    async fn handle(&self, uow: &mut UnitOfWork, event: &Event) -> Result<(), HandleError> {
        let Some(change) = change_of(event)? else { return Ok(()) };
        if change.phone.is_empty() {
            return Ok(());
        }
        let stored = customers::features_of(&**uow, &change.phone).await?;
        let mut features: Features =
            stored.as_ref().and_then(|row| serde_json::from_str(&row.features).ok()).unwrap_or_default();
        (change.apply)(&mut features);
        let now = time::now_micros();
        let mut row = customer_features::Model {
            phone_number: change.phone.clone(),
            customer: if change.customer.is_empty() {
                stored.as_ref().map(|r| r.customer.clone()).unwrap_or_default()
            } else {
                change.customer.clone()
            },
            features: serde_json::to_string(&features).map_err(|e| HandleError::Reject(e.to_string()))?,
            updated_at: now,
            score: stored.as_ref().and_then(|r| r.score),
            flagged_at: stored.as_ref().and_then(|r| r.flagged_at),
        };
        if let Some(risk) = self.in_force.risk() {
            let score = risk.model.score(&features);
            row.score = Some(score);
            let cooled = row.flagged_at.is_none_or(|at| now - at >= time::duration_micros(self.cooldown));
            if score >= risk.threshold && cooled {
                row.flagged_at = Some(now);
                let at_risk = at_risk(&risk, &row, &features, score);
                tracing::info!(phone = %Masked(&row.phone_number), score, "customer at risk of dissatisfaction");
                uow.publish(format!("customers/{}", Masked(&row.phone_number)), &at_risk);
            }
        }
        customers::save_features(&**uow, row).await?;
        Ok(())
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
