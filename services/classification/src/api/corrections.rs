//! Classifications: read one, preview a text, correct one, and the figures built on them (the
//! correction rate, common and emerging leaves).

use csm_kit::{error::Violations, names, time};
use csm_proto::StoredEnum;
use csm_proto::classification::v1::{
    Classification, ClassificationCorrected, ClassifyRequest, CorrectClassificationRequest, CorrectionStatistics,
    GetCorrectionStatisticsRequest, LeafStatistics, ListLeafStatisticsRequest, ListLeafStatisticsResponse, Method,
    MethodCorrections,
};

use super::ClassificationApi;
use crate::{
    classify::{self, Placed},
    engine::MAX_TEXT_CHARS,
    engine::ViewDecision,
    error::Error,
    rules::Subject,
    store::{self, StoredView, correction, statistics},
};

impl ClassificationApi {
    pub(super) async fn classification(&self, name: &str) -> Result<Classification, Error> {
        let id = work_order_id(name)?;
        store::classification_of(self.publisher.database().reader(), id)
            .await?
            .as_ref()
            .map(Classification::from)
            .ok_or_else(|| Error::NotFound(name.to_string()))
    }

    pub(super) fn preview(&self, request: &ClassifyRequest) -> Result<Classification, Error> {
        let chars = request.text.chars().count();
        if request.text.trim().is_empty() || chars > MAX_TEXT_CHARS {
            return Err(Violations::one("text", format!("must have 1 to {MAX_TEXT_CHARS} characters")).into());
        }
        let classifier = self.in_force.classifier();
        let subject = Subject {
            text: &request.text,
            channel: &request.channel,
            contact_type: &request.contact_type,
            problem_code: &request.problem_code,
        };
        let decision = classifier
            .classify(&subject)
            .ok_or_else(|| Error::precondition(&classifier.taxonomy.name, "the taxonomy has no fallback leaf"))?;
        let now = time::now_micros();
        let placed = Placed { text: &request.text, phone: "", channel: &request.channel, opened_at: now };
        let row = classify::new_row("", &classifier.taxonomy.name, &decision, &placed, &self.calendar)
            .map_err(|e| Error::Internal(e.to_string()))?;
        Ok(Classification { name: String::new(), work_order: String::new(), ..Classification::from(&row) })
    }

    pub(super) async fn correct(
        &self,
        request: &CorrectClassificationRequest,
        by: &str,
    ) -> Result<Classification, Error> {
        let id = work_order_id(&request.name)?.to_string();
        let mut violations = Violations::new();
        if request.leaf.is_empty() {
            violations.add("leaf", "required");
        }
        if request.reason.chars().count() > 1000 {
            violations.add("reason", "at most 1000 characters");
        }
        violations.into_result()?;
        // Read inside the transaction that writes it, so two corrections of one order (of different
        // views) cannot both start from the same row and lose one another's change.
        let mut uow = self.publisher.begin().await?;
        let before =
            store::classification_of(&*uow, &id).await?.ok_or_else(|| Error::NotFound(request.name.clone()))?;
        let (taxonomy, _) = self.taxonomy_version(&before.taxonomy_version).await?;
        let view = if request.view.is_empty() { taxonomy.routing_view().to_string() } else { request.view.clone() };
        if !taxonomy.has_view(&view) {
            return Err(Violations::one("view", format!("no view {view} in {}", taxonomy.name)).into());
        }
        let leaf = taxonomy
            .leaf_in(&view, &request.leaf)
            .ok_or_else(|| Violations::one("leaf", format!("{} is not a leaf of view {view}", request.leaf)))?
            .clone();
        let mut views: Vec<StoredView> = serde_json::from_str(&before.views).unwrap_or_default();
        let from_leaf = views.iter().find(|v| v.view == view).map(|v| v.leaf.clone()).unwrap_or_default();
        let corrected_view = classify::stored_view(&ViewDecision {
            view: &view,
            leaf: &leaf,
            method: Method::Corrected,
            confidence: 1.0,
            needs_review: false,
            text_model: "",
        });
        match views.iter_mut().find(|v| v.view == view) {
            Some(existing) => *existing = corrected_view,
            None => views.push(corrected_view),
        }
        let mut after = before.clone();
        after.views = serde_json::to_string(&views).map_err(|e| Error::Internal(e.to_string()))?;
        after.corrected = true;
        if view == taxonomy.routing_view() {
            classify::route_to(&mut after, &leaf, &self.calendar).map_err(|e| Error::Internal(e.to_string()))?;
            after.method = Method::Corrected.stored();
            after.confidence = 1.0;
            after.needs_review = false;
        }
        let now = time::now_micros();
        store::update_classification(&*uow, after.clone()).await?;
        statistics::insert_correction(
            &*uow,
            correction::Model {
                id: uuid::Uuid::now_v7().to_string(),
                work_order_id: id,
                taxonomy_version: before.taxonomy_version.clone(),
                view: view.clone(),
                from_leaf,
                to_leaf: leaf.key.clone(),
                text: before.text.clone(),
                corrected_by: by.to_string(),
                reason: request.reason.clone(),
                corrected_at: now,
            },
        )
        .await?;
        let after_proto = Classification::from(&after);
        uow.publish(
            after_proto.work_order.clone(),
            &ClassificationCorrected {
                before: Some(Classification::from(&before)),
                after: Some(after_proto.clone()),
                view,
                corrected_by: by.to_string(),
                reason: request.reason.clone(),
                correct_time: Some(time::timestamp_from_micros(now)),
            },
        );
        uow.commit().await?;
        Ok(after_proto)
    }

    pub(super) async fn correction_statistics(
        &self,
        request: &GetCorrectionStatisticsRequest,
    ) -> Result<CorrectionStatistics, Error> {
        let from = request.start_time.as_ref().map_or(Ok(i64::MIN), |t| micros_of("start_time", t))?;
        let to = request.end_time.as_ref().map_or(Ok(i64::MAX), |t| micros_of("end_time", t))?;
        if from >= to {
            return Err(Violations::one("end_time", "must be after start_time").into());
        }
        let counts = statistics::correction_counts(self.publisher.database().reader(), from, to).await?;
        let classifications: i64 = counts.iter().map(|c| c.1).sum();
        let corrected: i64 = counts.iter().map(|c| c.2).sum();
        Ok(CorrectionStatistics {
            classifications,
            corrected,
            correction_rate: rate(corrected, classifications),
            by_method: counts
                .into_iter()
                .map(|(method, total, fixed)| MethodCorrections {
                    method: Method::from_stored(&method) as i32,
                    classifications: total,
                    corrected: fixed,
                    correction_rate: rate(fixed, total),
                })
                .collect(),
        })
    }

    pub(super) async fn leaf_statistics(
        &self,
        request: &ListLeafStatisticsRequest,
    ) -> Result<ListLeafStatisticsResponse, Error> {
        let mut violations = Violations::new();
        if request.start_time.is_none() {
            violations.add("start_time", "required");
        }
        if request.end_time.is_none() {
            violations.add("end_time", "required");
        }
        violations.into_result()?;
        let from = request.start_time.as_ref().map_or(Ok(0), |t| micros_of("start_time", t))?;
        let to = request.end_time.as_ref().map_or(Ok(0), |t| micros_of("end_time", t))?;
        if from >= to {
            return Err(Violations::one("end_time", "must be after start_time").into());
        }
        let days = self.calendar.days();
        let (first_day, end_day) = (days.day_number(from), days.day_number(to - 1) + 1);
        let periods = statistics::leaf_periods(self.publisher.database().reader(), first_day, end_day).await?;
        let taxonomy = self.in_force.classifier().taxonomy.clone();
        let mut leaves: Vec<LeafStatistics> = periods
            .into_iter()
            .map(|(key, period)| {
                let leaf = taxonomy.leaf(&key);
                LeafStatistics {
                    leaf_name_zh: leaf.map(|l| l.name_zh.clone()).unwrap_or_default(),
                    leaf_name_en: leaf.map(|l| l.name_en.clone()).unwrap_or_default(),
                    leaf: key,
                    work_orders: period.work_orders,
                    distinct_customers: period.distinct_customers,
                    common: period.busiest_day_customers >= self.problems.common_customers,
                    emerging: period.emerging,
                }
            })
            .collect();
        leaves.sort_by(|a, b| b.work_orders.cmp(&a.work_orders).then_with(|| a.leaf.cmp(&b.leaf)));
        Ok(ListLeafStatisticsResponse { leaves })
    }
}

fn work_order_id(name: &str) -> Result<&str, Error> {
    let work_order = name.strip_suffix("/classification").unwrap_or_default();
    names::id_in("name", work_order, names::WORK_ORDERS)
        .map_err(|_| Violations::one("name", "must look like workOrders/{id}/classification").into())
}

fn micros_of(field: &str, timestamp: &prost_types::Timestamp) -> Result<i64, Error> {
    time::from_timestamp(timestamp).map(time::micros).ok_or_else(|| Violations::one(field, "not a valid time").into())
}

fn rate(part: i64, whole: i64) -> f64 {
    if whole == 0 { 0.0 } else { part as f64 / whole as f64 }
}
